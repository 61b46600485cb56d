//! One template of a look at an Experiment: its ReplicaSet and Service
//! written as the rules of [`super::template`] decide, and its status.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::phase::{self, Event};
use super::spec::{self, TemplateStatus};
use super::template::{self, Assessment, DeadlineAction, ServiceAction};
use super::{Look, objects, writes};

/// Argo's `reconcileTemplate` (see [`super::template`]): the template's status,
/// and its ReplicaSet as it is now.
pub(super) async fn reconcile_template(
    look: &mut Look<'_>,
    template: &spec::TemplateSpec,
    rs: Option<ReplicaSet>,
    service: Option<String>,
) -> (TemplateStatus, Option<ReplicaSet>) {
    let previous = look
        .old
        .template(&template.name)
        .cloned()
        .unwrap_or_else(|| TemplateStatus {
            name: template.name.clone(),
            ..TemplateStatus::default()
        });
    let mut status = previous.clone();
    let desired = phase::template_replicas(look.spec, look.old, template);
    let rs = match rs {
        None => {
            let body = objects::replica_set(&look.owner, template, status.collision_count);
            match writes::create_replica_set(look.r, &look.owner, &template.name, &body).await {
                Ok(created) => {
                    tracing::info!(
                        experiment = look.owner.name,
                        replicaset = created.metadata.name.as_deref().unwrap_or_default(),
                        "created the ReplicaSet"
                    );
                    status.last_transition_time = Some(look.now);
                    Some(created)
                }
                Err(message) => {
                    let rs_name = objects::replica_set_name(look.owner.name, &template.name);
                    look.record(Event {
                        warning: false,
                        reason: "ReplicaSetCreateError".into(),
                        message: format!("Failed to create new replica set {rs_name:?}: {message}"),
                    })
                    .await;
                    status.status = Some(spec::TemplateCode::Error);
                    status.message = format!(
                        "Failed to create ReplicaSet for template '{}': {message}",
                        template.name
                    );
                    None
                }
            }
        }
        Some(rs) => {
            Some(existing_template(look, template, rs, service, desired, &mut status).await)
        }
    };
    let observed = rs.as_ref().map(writes::observe);
    let assessment = Assessment {
        desired,
        passed_duration: phase::passed_duration(look.spec, look.old, look.now).0,
        terminating: look.terminating,
        deadline_seconds: phase::progress_deadline_seconds(look.spec),
        now: look.now,
    };
    let (status, event) = template::finish(
        &template.name,
        &previous,
        status,
        observed.as_ref(),
        assessment,
    );
    if let Some(event) = event {
        look.record(event).await;
    }
    (status, rs)
}

/// The Service, scale-down deadline and scale of a template whose
/// ReplicaSet exists.
async fn existing_template(
    look: &mut Look<'_>,
    template: &spec::TemplateSpec,
    mut rs: ReplicaSet,
    service: Option<String>,
    desired: i32,
    status: &mut TemplateStatus,
) -> ReplicaSet {
    let observed = writes::observe(&rs);
    let pod_template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or_default();
    let ports = objects::service_ports(&pod_template);
    let namespace = look.owner.namespace;
    match template::service_action(
        template,
        desired,
        &observed,
        !ports.is_empty(),
        service.as_deref(),
    ) {
        ServiceAction::Keep => {}
        ServiceAction::Create(name) => {
            let created = if service.as_deref() == Some(name.as_str()) {
                Ok(name.clone())
            } else {
                let selector = serde_json::to_value(&rs.metadata.labels).unwrap_or_default();
                let body = objects::service(&look.owner, &template.name, &name, &selector, ports);
                writes::create_service(look.r, &look.owner, &template.name, &body).await
            };
            match created {
                Ok(name) => {
                    status.service_name = name;
                    status
                        .pod_template_hash
                        .clone_from(&observed.pod_template_hash);
                }
                Err(message) => {
                    status.status = Some(spec::TemplateCode::Error);
                    status.message = format!(
                        "Failed to create Service {name} for template '{}': {message}",
                        template.name
                    );
                }
            }
        }
        ServiceAction::Delete => {
            let name = service.unwrap_or_default();
            match writes::delete_service(look.r, namespace, &name).await {
                Ok(()) => {
                    status.service_name.clear();
                    status.pod_template_hash.clear();
                }
                Err(e) => {
                    status.status = Some(spec::TemplateCode::Error);
                    status.message = format!(
                        "Failed to delete Service for template '{}': {e}",
                        template.name
                    );
                }
            }
        }
    }
    let mut observed = observed;
    if desired == 0 {
        let delay = look
            .spec
            .scale_down_delay_seconds
            .unwrap_or(spec::DEFAULT_SCALE_DOWN_DELAY_SECONDS);
        let value = match template::deadline_action(delay, &observed, look.now) {
            DeadlineAction::Keep => None,
            DeadlineAction::Set(at) => Some(Some(template::deadline_annotation(at).1)),
            DeadlineAction::Remove => Some(None),
        };
        if let Some(value) = value {
            match writes::set_deadline(look.r, namespace, &observed.name, value.clone()).await {
                Ok(()) => {
                    observed.scale_down_deadline.clone_from(&value);
                    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
                    match value {
                        Some(v) => {
                            annotations.insert(spec::SCALE_DOWN_DEADLINE_ANNOTATION.into(), v)
                        }
                        None => annotations.remove(spec::SCALE_DOWN_DEADLINE_ANNOTATION),
                    };
                }
                Err(e) => {
                    tracing::warn!(replicaset = %observed.name, error = %e, "unable to set the scale-down deadline")
                }
            }
        }
    }
    if observed.spec_replicas != desired {
        let target = match template::scale_target(
            desired,
            template.replicas_or_default(),
            &observed,
            look.now,
        ) {
            Ok((target, wait)) => {
                if let Some(wait) = wait {
                    look.wake_in(wait);
                }
                target
            }
            Err(e) => {
                tracing::warn!(error = %e, "scaling down at once");
                desired
            }
        };
        if target != observed.spec_replicas {
            match writes::scale(look.r, namespace, &observed.name, target).await {
                Ok(()) => {
                    look.record(Event {
                        warning: false,
                        reason: "ScalingReplicaSet".into(),
                        message: template::scaled_message(
                            &observed.name,
                            observed.spec_replicas,
                            target,
                        ),
                    })
                    .await;
                    if let Some(spec) = rs.spec.as_mut() {
                        spec.replicas = Some(target);
                    }
                }
                Err(kube::Error::Api(e)) if e.code == 409 => look.wake_in(Duration::from_secs(1)),
                Err(e) => {
                    let direction = if observed.spec_replicas < target {
                        "up"
                    } else {
                        "down"
                    };
                    look.record(Event {
                        warning: true,
                        reason: "ReplicaSetUpdateError".into(),
                        message: format!("Failed to scale {} {direction}: {e}", observed.name),
                    })
                    .await;
                    status.status = Some(spec::TemplateCode::Error);
                    status.message = format!(
                        "Unable to scale ReplicaSet for template '{}' to desired replica count '{target}': {e}",
                        template.name
                    );
                }
            }
        }
        status.last_transition_time = Some(look.now);
    }
    rs
}

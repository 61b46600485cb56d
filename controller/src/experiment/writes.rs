//! The Experiment reconciler's writes: its ReplicaSets, Services and
//! status, each one request, with Argo's outcome on failure.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Map, Value, json};

use super::Reconciler;
use super::objects::Owner;
use super::spec::{EXPERIMENT_NAME_ANNOTATION, ExperimentStatus, TEMPLATE_NAME_ANNOTATION};
use super::template::ObservedReplicaSet;
use crate::Error;
use crate::reconcile::FIELD_MANAGER;

fn post() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// A ReplicaSet as the template rules see it.
pub(super) fn observe(rs: &ReplicaSet) -> ObservedReplicaSet {
    let status = rs.status.as_ref();
    ObservedReplicaSet {
        name: rs.metadata.name.clone().unwrap_or_default(),
        spec_replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        replicas: status.map_or(0, |s| s.replicas),
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        available_replicas: status.and_then(|s| s.available_replicas).unwrap_or(0),
        pod_template_hash: label(&rs.metadata, crate::workload::POD_TEMPLATE_HASH_LABEL),
        scale_down_deadline: rs
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(super::spec::SCALE_DOWN_DEADLINE_ANNOTATION))
            .cloned(),
    }
}

fn label(meta: &kube::api::ObjectMeta, key: &str) -> String {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .cloned()
        .unwrap_or_default()
}

/// Whether an object is the template's: controlled by the Experiment (its
/// uid) and annotated with its and the template's names, as Argo claims
/// them.
pub(super) fn template_of(meta: &kube::api::ObjectMeta, owner: &Owner<'_>) -> Option<String> {
    let controlled = meta
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == owner.uid);
    let annotations = meta.annotations.as_ref()?;
    if !controlled
        || annotations
            .get(EXPERIMENT_NAME_ANNOTATION)
            .map(String::as_str)
            != Some(owner.name)
    {
        return None;
    }
    annotations
        .get(TEMPLATE_NAME_ANNOTATION)
        .filter(|t| !t.is_empty())
        .cloned()
}

/// Creates a template's ReplicaSet. A ReplicaSet of that name that is
/// already the template's (a create the cache had not shown) is taken;
/// any other is an error.
///
/// Argo bumps the template's `collisionCount` on a name taken by another
/// ReplicaSet, which cannot help (the name has no hash in it) and repeats
/// forever; here the template errors instead.
pub(super) async fn create_replica_set(
    r: &Reconciler,
    owner: &Owner<'_>,
    template: &str,
    body: &Value,
) -> Result<ReplicaSet, String> {
    let api: Api<ReplicaSet> = Api::namespaced(r.client.clone(), owner.namespace);
    let rs: ReplicaSet = serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
    match api.create(&post(), &rs).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let name = rs.metadata.name.clone().unwrap_or_default();
            let existing = api.get(&name).await.map_err(|e| e.to_string())?;
            if template_of(&existing.metadata, owner).as_deref() == Some(template) {
                Ok(existing)
            } else {
                Err(e.message)
            }
        }
        Err(kube::Error::Api(e)) => Err(e.message),
        Err(e) => Err(e.to_string()),
    }
}

/// Sets `spec.replicas` of a ReplicaSet (a merge patch, as Argo's update
/// of the one field).
pub(super) async fn scale(
    r: &Reconciler,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> Result<(), kube::Error> {
    let api: Api<ReplicaSet> = Api::namespaced(r.client.clone(), namespace);
    api.patch(
        name,
        &patch_params(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .map(drop)
}

/// Sets (`Some`) or removes (`None`) a ReplicaSet's `scale-down-deadline`.
pub(super) async fn set_deadline(
    r: &Reconciler,
    namespace: &str,
    name: &str,
    value: Option<String>,
) -> Result<(), kube::Error> {
    let api: Api<ReplicaSet> = Api::namespaced(r.client.clone(), namespace);
    let patch = json!({"metadata": {"annotations": {
        super::spec::SCALE_DOWN_DEADLINE_ANNOTATION: value,
    }}});
    api.patch(name, &patch_params(), &Patch::Merge(patch))
        .await
        .map(drop)
}

/// Creates a template's Service; one of that name that is the template's
/// is taken as it is. Errors in Argo's words.
pub(super) async fn create_service(
    r: &Reconciler,
    owner: &Owner<'_>,
    template: &str,
    body: &Value,
) -> Result<String, String> {
    let api: Api<Service> = Api::namespaced(r.client.clone(), owner.namespace);
    let service: Service = serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
    let name = service.metadata.name.clone().unwrap_or_default();
    match api.create(&post(), &service).await {
        Ok(_) => Ok(name),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api
                .get(&name)
                .await
                .map_err(|e| format!("did not get existing service with name {name}: {e}"))?;
            if template_of(&existing.metadata, owner).as_deref() == Some(template) {
                Ok(name)
            } else {
                Err(format!(
                    "service {name} already exists and is not owned by experiment template {template}"
                ))
            }
        }
        Err(e) => Err(format!("cannot create service: {e}")),
    }
}

/// Deletes a template's Service (already gone is fine).
pub(super) async fn delete_service(
    r: &Reconciler,
    namespace: &str,
    name: &str,
) -> Result<(), kube::Error> {
    let api: Api<Service> = Api::namespaced(r.client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The status patch from `old` to `new`: the whole new status, with `null`
/// for each top-level field that is gone (lists are replaced whole by a
/// merge patch, as Argo's two-way merge patch replaces them), over the
/// resourceVersion read. `None` when nothing changed.
pub(super) fn status_patch(
    old: &ExperimentStatus,
    new: &ExperimentStatus,
    resource_version: Option<&str>,
) -> Option<Value> {
    if old == new {
        return None;
    }
    let old = serde_json::to_value(old).unwrap_or_default();
    let mut fields: Map<String, Value> = match serde_json::to_value(new) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for key in old.as_object().into_iter().flat_map(|o| o.keys()) {
        fields.entry(key.clone()).or_insert(Value::Null);
    }
    let mut patch = json!({"status": fields});
    if let Some(version) = resource_version {
        patch["metadata"] = json!({"resourceVersion": version});
    }
    Some(patch)
}

/// Writes the status patch (the Experiment CRD has no status subresource:
/// a merge patch of the object, as Argo writes it); the resourceVersion
/// written.
pub(super) async fn write_status(
    r: &Reconciler,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<Option<String>, Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(r.client.clone(), namespace, &super::experiment_resource());
    let written = api
        .patch(name, &patch_params(), &Patch::Merge(patch))
        .await
        .map_err(Error::api(format!(
            "write the status of experiment {namespace}/{name}"
        )))?;
    Ok(written.metadata.resource_version)
}

/// The Experiment (or a Rollout owning it) as the object Events are about.
pub(super) fn reference(kind: &str, namespace: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("argoproj.io/v1alpha1".into()),
        kind: Some(kind.into()),
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        uid: Some(uid.into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::AnalysisPhase;

    #[test]
    fn a_status_patch_clears_what_is_gone_and_nothing_is_written_unchanged() {
        let old = ExperimentStatus {
            phase: Some(AnalysisPhase::Running),
            message: "waiting".into(),
            ..Default::default()
        };
        let new = ExperimentStatus {
            phase: Some(AnalysisPhase::Successful),
            ..Default::default()
        };
        assert_eq!(
            status_patch(&old, &new, Some("42")),
            Some(json!({"status": {"phase": "Successful", "message": null},
                        "metadata": {"resourceVersion": "42"}}))
        );
        assert_eq!(status_patch(&new, &new, Some("42")), None);
    }
}

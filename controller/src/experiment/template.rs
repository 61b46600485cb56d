//! One template of an Experiment, pure: what to do with its ReplicaSet and
//! Service, and its status afterwards, as Argo's `reconcileTemplate`
//! (`experiments/experiment.go`) decides them.
//!
//! The controller observes the template's ReplicaSet and Service, asks
//! [`service_action`], [`deadline_action`] and [`scale_target`] what to
//! write, writes it, and gives the outcome to [`finish`] for the template's
//! status and Event.

use std::time::Duration;

use rollout_core::Time;

use super::phase::Event;
use super::spec::{SCALE_DOWN_DEADLINE_ANNOTATION, TemplateCode, TemplateSpec, TemplateStatus};

/// A template's ReplicaSet as observed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedReplicaSet {
    /// Its name.
    pub name: String,
    /// `spec.replicas`.
    pub spec_replicas: i32,
    /// `status.replicas`.
    pub replicas: i32,
    /// `status.readyReplicas`.
    pub ready_replicas: i32,
    /// `status.availableReplicas`.
    pub available_replicas: i32,
    /// Its `rollouts-pod-template-hash` label.
    pub pod_template_hash: String,
    /// Its `scale-down-deadline` annotation, as written.
    pub scale_down_deadline: Option<String>,
}

/// What to do with a template's Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAction {
    /// Nothing.
    Keep,
    /// Create the Service of this name (unless it is there, owned by the template).
    Create(String),
    /// Delete the template's Service (it exists).
    Delete,
}

/// Argo's Service rules for a template whose ReplicaSet exists: while the
/// template wants pods, a `service` gets a Service (named `service.name`,
/// else as the ReplicaSet) when it has none named as the ReplicaSet and the
/// pod template declares ports; once it wants none, the Service is deleted
/// when no pod is available any more; a template without `service` has
/// none. `service` is the name of the template's Service, if it has one.
pub fn service_action(
    template: &TemplateSpec,
    desired: i32,
    rs: &ObservedReplicaSet,
    has_ports: bool,
    service: Option<&str>,
) -> ServiceAction {
    match &template.service {
        Some(wanted) if desired != 0 => {
            if service != Some(rs.name.as_str()) && has_ports {
                ServiceAction::Create(wanted.name.clone().unwrap_or_else(|| rs.name.clone()))
            } else {
                ServiceAction::Keep
            }
        }
        Some(_) if rs.available_replicas != 0 => ServiceAction::Keep,
        _ if service.is_some() => ServiceAction::Delete,
        _ => ServiceAction::Keep,
    }
}

/// What to do with the `scale-down-deadline` annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineAction {
    /// Nothing.
    Keep,
    /// Set it to this time.
    Set(Time),
    /// Remove it.
    Remove,
}

/// Argo's `addScaleDownDelay`, for a template that wants no pods: with a
/// delay of 0 the annotation is removed; otherwise it is set to `now +
/// delay` unless it is there already.
pub fn deadline_action(delay_seconds: i32, rs: &ObservedReplicaSet, now: Time) -> DeadlineAction {
    match (delay_seconds, &rs.scale_down_deadline) {
        (0, Some(_)) => DeadlineAction::Remove,
        (0, None) | (_, Some(_)) => DeadlineAction::Keep,
        (delay, None) => {
            DeadlineAction::Set(now + Duration::from_secs(u64::try_from(delay).unwrap_or_default()))
        }
    }
}

/// An annotation that is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to read scaleDownAt label on rs '{0}'")]
pub struct UnreadableDeadline(pub String);

/// Argo's `scaleTemplateRS` target: `desired`, except that a scale to 0
/// before the ReplicaSet's scale-down deadline keeps `replicas` (the
/// template's) and asks to look again when the deadline comes.
///
/// # Errors
///
/// [`UnreadableDeadline`] when the annotation is not an RFC 3339 time
/// (Argo logs it and scales to 0 at once; so does the caller).
pub fn scale_target(
    desired: i32,
    replicas: i32,
    rs: &ObservedReplicaSet,
    now: Time,
) -> Result<(i32, Option<Duration>), UnreadableDeadline> {
    if desired != 0 {
        return Ok((desired, None));
    }
    let Some(deadline) = &rs.scale_down_deadline else {
        return Ok((0, None));
    };
    let at: Time = deadline
        .parse()
        .map_err(|_| UnreadableDeadline(rs.name.clone()))?;
    if at > now {
        Ok((replicas, Some(at.saturating_since(now))))
    } else {
        Ok((0, None))
    }
}

/// The words of Argo's scaling Event: `Scaled up ReplicaSet web-a from 0 to 1`.
pub fn scaled_message(name: &str, from: i32, to: i32) -> String {
    let direction = if from < to { "up" } else { "down" };
    format!("Scaled {direction} ReplicaSet {name} from {from} to {to}")
}

/// What [`finish`] needs besides the statuses.
#[derive(Debug, Clone, Copy)]
pub struct Assessment {
    /// The pods the template wants now.
    pub desired: i32,
    /// Whether the Experiment's duration has passed.
    pub passed_duration: bool,
    /// Whether the Experiment is ending.
    pub terminating: bool,
    /// `progressDeadlineSeconds`.
    pub deadline_seconds: i32,
    /// Now.
    pub now: Time,
}

/// The end of Argo's `reconcileTemplate`: `current` (the status after this
/// look's writes) gets the ReplicaSet's counts (zeros without one), a new
/// transition time when they changed from `previous`, and, unless it has
/// completed, its state: Successful once all wanted pods are available and
/// the duration passed or the Experiment ends; Running when they are all
/// available; Failed when not, past the progress deadline from the last
/// transition; Successful when ending; else Progressing. A state change is
/// an Event (`Template<State>`, a Warning for Failed and Error).
pub fn finish(
    template: &str,
    previous: &TemplateStatus,
    mut current: TemplateStatus,
    rs: Option<&ObservedReplicaSet>,
    a: Assessment,
) -> (TemplateStatus, Option<Event>) {
    let counts = rs.map_or((0, 0, 0, 0), |rs| {
        (
            rs.replicas,
            rs.replicas,
            rs.ready_replicas,
            rs.available_replicas,
        )
    });
    current.replicas = counts.0;
    current.updated_replicas = counts.1;
    current.ready_replicas = counts.2;
    current.available_replicas = counts.3;
    if (
        previous.replicas,
        previous.updated_replicas,
        previous.ready_replicas,
        previous.available_replicas,
    ) != counts
    {
        current.last_transition_time = Some(a.now);
    }
    if !current.status.is_some_and(TemplateCode::is_completed) {
        current.status = Some(if a.desired == current.available_replicas {
            if a.passed_duration || a.terminating {
                TemplateCode::Successful
            } else {
                TemplateCode::Running
            }
        } else {
            let from = current.last_transition_time.unwrap_or(a.now);
            let deadline =
                from + Duration::from_secs(u64::try_from(a.deadline_seconds).unwrap_or_default());
            if a.now > deadline {
                current.message = format!(
                    "Template '{template}' exceeded its progressDeadlineSeconds ({})",
                    a.deadline_seconds
                );
                TemplateCode::Failed
            } else if a.terminating {
                TemplateCode::Successful
            } else {
                TemplateCode::Progressing
            }
        });
    }
    let event = (previous.status != current.status).then(|| {
        let code = current.status.map_or("", TemplateCode::as_str);
        let mut message = format!(
            "Template '{template}' transitioned from {} -> {code}",
            previous.status.map_or("", TemplateCode::as_str)
        );
        if !current.message.is_empty() {
            message = format!("{message}: {}", current.message);
        }
        Event {
            warning: matches!(
                current.status,
                Some(TemplateCode::Failed | TemplateCode::Error)
            ),
            reason: format!("Template{code}"),
            message,
        }
    });
    (current, event)
}

/// The annotation a [`DeadlineAction::Set`] writes, and its value.
pub fn deadline_annotation(at: Time) -> (&'static str, String) {
    (SCALE_DOWN_DEADLINE_ANNOTATION, at.to_string())
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;

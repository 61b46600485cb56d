//! Kubernetes Events on a Rollout, as Argo's controller records them: the
//! engine's events (step completed, paused, aborted, ...) and the
//! controller's own (`NewReplicaSetCreated`, `ScalingReplicaSet`,
//! `RolloutUpdated`, `ReplicaSetCreateError`), each with its reason, message
//! and type.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

/// Records one event on the Rollout `regarding`. A failure to record is
/// logged, not returned: events are for people and must not hold up the
/// rollout.
pub(crate) async fn record(
    recorder: &Recorder,
    regarding: &ObjectReference,
    warning: bool,
    reason: &str,
    message: String,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(message),
        action: reason.to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, regarding).await {
        tracing::warn!(
            rollout = regarding.name.as_deref().unwrap_or_default(),
            reason,
            error = %e,
            "could not record an event"
        );
    }
}

/// `Scaled up|down ReplicaSet <name> (revision <n>) from <a> to <b>`.
pub(crate) fn scaled_message(name: &str, revision: u64, from: i32, to: i32) -> String {
    let direction = if from < to { "up" } else { "down" };
    format!("Scaled {direction} ReplicaSet {name} (revision {revision}) from {from} to {to}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn scaling_is_worded_as_argo_words_it() {
        assert_eq!(
            super::scaled_message("web-abc", 2, 0, 1),
            "Scaled up ReplicaSet web-abc (revision 2) from 0 to 1"
        );
        assert_eq!(
            super::scaled_message("web-old", 1, 5, 4),
            "Scaled down ReplicaSet web-old (revision 1) from 5 to 4"
        );
    }
}

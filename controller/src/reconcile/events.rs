//! Kubernetes Events on a Rollout, as Argo's controller records them: the
//! engine's events (step completed, paused, aborted, ...) and the
//! controller's own (`NewReplicaSetCreated`, `ScalingReplicaSet`,
//! `RolloutUpdated`, `ReplicaSetCreateError`), each with its reason, message
//! and type, as `v1` Events from the component `rollgate-controller`.
//!
//! Every event is its own object, whatever its reason: kube-runtime's
//! recorder folds events of the same reason on an object into one series and
//! keeps only the first message ("Created ReplicaSet web-abc (revision 1)"
//! would stand for every later revision), which is why it is not used here.

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Client;
use kube::api::{Api, PostParams};

/// Records Events for the controller.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
}

impl Recorder {
    /// A recorder reporting as `component`.
    pub fn new(client: Client, component: &str) -> Self {
        Self {
            client,
            component: component.to_owned(),
        }
    }

    /// Records one event on `regarding`. A failure to record is logged, not
    /// returned: events are for people and must not hold up the rollout.
    pub async fn record(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let namespace = regarding.namespace.clone().unwrap_or_default();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{nanos:x}",
                    regarding.name.as_deref().unwrap_or("rollout")
                )),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: regarding.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_owned()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(
                rollout = regarding.name.as_deref().unwrap_or_default(),
                reason,
                error = %e,
                "could not record an event"
            );
        }
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

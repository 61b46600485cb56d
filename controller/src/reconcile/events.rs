//! Kubernetes Events on a Rollout, as Argo's controller records them: the
//! engine's events (step completed, paused, aborted, ...) and the
//! controller's own (`NewReplicaSetCreated`, `ScalingReplicaSet`,
//! `RolloutUpdated`, `ReplicaSetCreateError`), each with its reason, message
//! and type, as `v1` Events from the component `rollgate-controller`.
//!
//! Events are folded as client-go's recorder (the one Argo's controller
//! uses) folds them (module `correlate`): an identical event is a patch of the
//! earlier Event's `count` and `lastTimestamp`, the tenth distinct message
//! of one reason on an object within 10 minutes is "(combined from similar
//! events): ..." and further ones patch that Event, and an object has 25
//! events at once, then one every 5 minutes. kube-runtime's recorder is not
//! used: it folds every event of one reason into a series that keeps only
//! the first message ("Created ReplicaSet web-abc (revision 1)" would stand
//! for every later revision).
//!
//! Unlike client-go, whose broadcaster writes events one at a time in the
//! background, [`Recorder::record`] writes at once from the reconcile that
//! records it; two identical events recorded at the same moment by two
//! workers may race (the second patch finding no Event yet and its create
//! being refused), which loses one from the count, never a reconcile.

mod correlate;

use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};

use correlate::{Correlated, Correlator};

/// Records Events for the controller. Clones share one correlator.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    correlator: Arc<Mutex<Correlator>>,
}

impl Recorder {
    /// A recorder reporting as `component`.
    pub fn new(client: Client, component: &str) -> Self {
        Self {
            client,
            component: component.to_owned(),
            correlator: Arc::default(),
        }
    }

    /// Records one event on `regarding`: a create, a patch of an earlier
    /// Event, or nothing when the object's spam filter is spent. A failure
    /// to record is logged, not returned: events are for people and must not
    /// hold up the rollout.
    pub async fn record(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let now = Timestamp::now();
        let event = self.event(regarding, warning, reason, message, now);
        let correlated = self.correlator().correlate(event, now);
        let written = match correlated {
            Correlated::Skip => {
                tracing::debug!(
                    rollout = regarding.name.as_deref().unwrap_or_default(),
                    reason,
                    "event dropped by the spam filter"
                );
                return;
            }
            Correlated::Create(event) => self.create(event).await,
            Correlated::Patch { event, patch } => self.patch(event, patch).await,
        };
        match written {
            Ok(event) => self.correlator().written(&event),
            Err(kube::Error::Api(status)) if status.code == 409 => tracing::debug!(
                rollout = regarding.name.as_deref().unwrap_or_default(),
                reason,
                "event already recorded"
            ),
            Err(e) => tracing::warn!(
                rollout = regarding.name.as_deref().unwrap_or_default(),
                reason,
                error = %e,
                "could not record an event"
            ),
        }
    }

    fn correlator(&self) -> std::sync::MutexGuard<'_, Correlator> {
        self.correlator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new Event of count 1 at `now`, as client-go makes it.
    fn event(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        message: String,
        now: Timestamp,
    ) -> Event {
        let namespace = regarding.namespace.clone().unwrap_or_default();
        let mut event = Event {
            involved_object: regarding.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_owned()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            ..Default::default()
        };
        event.metadata = ObjectMeta {
            name: Some(correlate::event_name(&event, now)),
            namespace: Some(namespace),
            ..Default::default()
        };
        event
    }

    fn api(&self, event: &Event) -> Api<Event> {
        let namespace = event.metadata.namespace.as_deref().unwrap_or_default();
        Api::namespaced(self.client.clone(), namespace)
    }

    async fn create(&self, mut event: Event) -> kube::Result<Event> {
        event.metadata.resource_version = None;
        self.api(&event)
            .create(&PostParams::default(), &event)
            .await
    }

    /// Patches the Event; creates it as `event` says when it is gone (e.g.
    /// expired after the API server's event TTL).
    async fn patch(&self, event: Event, patch: serde_json::Value) -> kube::Result<Event> {
        let name = event.metadata.name.clone().unwrap_or_default();
        match self
            .api(&event)
            .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            Err(kube::Error::Api(status)) if status.code == 404 => self.create(event).await,
            written => written,
        }
    }
}

/// `Scaled up|down ReplicaSet <name> (revision <n>) from <a> to <b>`.
pub(crate) fn scaled_message(name: &str, revision: u64, from: i32, to: i32) -> String {
    let direction = if from < to { "up" } else { "down" };
    format!("Scaled {direction} ReplicaSet {name} (revision {revision}) from {from} to {to}")
}

#[cfg(test)]
#[path = "events/recorder_tests.rs"]
mod recorder_tests;

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

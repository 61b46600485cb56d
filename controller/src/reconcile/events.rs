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
//! As client-go's broadcaster does, [`Recorder::record`] only queues the
//! event and returns; writers in the background correlate and write them,
//! one at a time per involved object (an object's events keep their order,
//! so a patch never overtakes the create it counts on), a few objects at
//! once. A queue holds at most [`QUEUED_EVENTS`] events in all, as
//! client-go's; an event recorded when its queue is full is dropped, as
//! client-go drops it: a busy API server delays or loses events, never a
//! reconcile. [`Recorder::flushed`] waits until every event recorded
//! before it is written (or given up), for a graceful shutdown.

mod correlate;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::{mpsc, oneshot};

use correlate::{Correlated, Correlator};

/// Events queued at most, over all writers (client-go's `maxQueuedEvents`).
pub const QUEUED_EVENTS: usize = 1000;
/// Writers in the background; an object's events all go to one of them.
const WRITERS: usize = 4;

/// What a writer is given.
enum Queued {
    /// An event to correlate and write.
    Event(Box<Event>),
    /// Answered once everything queued before it is done.
    Flush(oneshot::Sender<()>),
}

/// Records Events for the controller. Clones share the queues, the writers
/// and one correlator; the writers end when the last clone is dropped,
/// after writing what is queued.
#[derive(Clone)]
pub struct Recorder {
    component: String,
    queues: Arc<[mpsc::Sender<Queued>]>,
}

impl Recorder {
    /// A recorder reporting as `component`, its writers spawned on the
    /// current Tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn new(client: Client, component: &str) -> Self {
        Self::with_queues(client, component, WRITERS, QUEUED_EVENTS / WRITERS)
    }

    /// A recorder with `writers` writers, each with a queue of `queued`.
    pub(crate) fn with_queues(
        client: Client,
        component: &str,
        writers: usize,
        queued: usize,
    ) -> Self {
        let writer = Arc::new(Writer {
            client,
            correlator: Mutex::default(),
        });
        let queues = (0..writers.max(1))
            .map(|_| {
                let (queue, mut events) = mpsc::channel(queued.max(1));
                let writer = writer.clone();
                tokio::spawn(async move {
                    while let Some(queued) = events.recv().await {
                        match queued {
                            Queued::Event(event) => writer.write(*event).await,
                            Queued::Flush(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                });
                queue
            })
            .collect();
        Self {
            component: component.to_owned(),
            queues,
        }
    }

    /// Queues one event on `regarding`; it is written in the background: a
    /// create, a patch of an earlier Event, or nothing when the object's
    /// spam filter is spent. An event that finds its queue full is dropped,
    /// and a failure to write is logged: events are for people and must not
    /// hold up the rollout.
    pub fn record(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let event = self.event(regarding, warning, reason, message, Timestamp::now());
        let queue = &self.queues[lane(regarding, self.queues.len())];
        if queue.try_send(Queued::Event(Box::new(event))).is_err() {
            tracing::debug!(
                rollout = regarding.name.as_deref().unwrap_or_default(),
                reason,
                "event dropped: the queue of events to write is full"
            );
        }
    }

    /// Waits until every event recorded before this call is written,
    /// refused or dropped by the spam filter.
    pub async fn flushed(&self) {
        for queue in self.queues.iter() {
            let (done, written) = oneshot::channel();
            if queue.send(Queued::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
        }
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
}

/// The writer an object's events go to: by its namespace, name and uid.
fn lane(regarding: &ObjectReference, lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&regarding.namespace, &regarding.name, &regarding.uid).hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// What the background writers share: the client and the correlator.
struct Writer {
    client: Client,
    correlator: Mutex<Correlator>,
}

impl Writer {
    /// Correlates `event` (made when it was recorded) now and writes what
    /// that decides.
    async fn write(&self, event: Event) {
        let name = event.involved_object.name.clone().unwrap_or_default();
        let reason = event.reason.clone().unwrap_or_default();
        let correlated = self.correlator().correlate(event, Timestamp::now());
        let written = match correlated {
            Correlated::Skip => {
                tracing::debug!(rollout = name, reason, "event dropped by the spam filter");
                return;
            }
            Correlated::Create(event) => self.create(event).await,
            Correlated::Patch { event, patch } => self.patch(event, patch).await,
        };
        match written {
            Ok(event) => self.correlator().written(&event),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::debug!(rollout = name, reason, "event already recorded");
            }
            Err(e) => {
                tracing::warn!(rollout = name, reason, error = %e, "could not record an event")
            }
        }
    }

    fn correlator(&self) -> std::sync::MutexGuard<'_, Correlator> {
        self.correlator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

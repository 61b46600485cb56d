//! How the controllers take their triggers: every watch that feeds a
//! controller backs off on its own, and the controller does not back off
//! over all of them together.
//!
//! kube-runtime's `Controller` merges its own watch and every `owns` and
//! `watches` stream into one, and by default puts one more backoff over the
//! merged stream: an error from any of them stops the controller reading
//! all of them for 0.8 s, doubling with each further error up to 30 s (and
//! as much again of jitter), until one of them delivers an object. Each
//! watch here already backs off on its own (`default_backoff`, the
//! reflector's backoff of client-go, which Argo's informers use), so that
//! second backoff only ever stalls the healthy watches behind a failing
//! one. After a kube-apiserver restart it did: every watch failed a few
//! times at once (connections refused, 403 until the restarted server's
//! authorizer had synced, 410 for the resource versions of before), the
//! merged backoff grew to its ceiling, and a Rollout's own status change
//! waited behind it for two minutes at its `verified: false` weight. With
//! [`Unmerged`] an error of one watch delays only that watch.

use std::time::Duration;

use kube::Resource;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::utils::Backoff;
use serde::de::DeserializeOwned;

/// The backoff of a controller's merged triggers: none (each watch feeding
/// it has its own).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unmerged;

impl Iterator for Unmerged {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for Unmerged {
    fn reset(&mut self) {}
}

/// `controller` reconciling at most `threads` objects at once (at least
/// one), reading its triggers without a backoff of their own ([`Unmerged`]).
pub fn configured<K>(controller: Controller<K>, threads: u16) -> Controller<K>
where
    K: Clone + Resource + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    controller
        .with_config(Config::default().concurrency(threads.max(1)))
        .trigger_backoff(Unmerged)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::StreamExt as _;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::controller::Action;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher;

    use super::*;

    /// The clock (paused: it moves only to the next timer when everything
    /// waits) when the object of the controller's own watch is first
    /// reconciled, its watch delivering it after `errors` errors of another
    /// trigger stream.
    async fn reconciled_at(errors: usize, unmerged: bool) -> Duration {
        let start = tokio::time::Instant::now();
        let object = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some("web".into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut writer: Writer<ConfigMap> = Writer::default();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(object.clone()));
        writer.apply_watcher_event(&watcher::Event::InitDone);
        // Another trigger stream fails `errors` times (as a watch that
        // cannot list does); then the object comes.
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let other =
            futures::stream::iter((0..errors).map(|_| Err(watcher::Error::NoResourceVersion)))
                .chain(futures::stream::once(async move {
                    let _ = tx.unbounded_send(Ok(object));
                    Err(watcher::Error::NoResourceVersion)
                }))
                .chain(futures::stream::pending());
        let own = rx.boxed();
        let controller = Controller::for_stream(own, writer.as_reader());
        let controller = if unmerged {
            configured(controller, 1)
        } else {
            controller
        };
        let (done_tx, mut done_rx) = futures::channel::mpsc::unbounded();
        let running = controller
            .watches_stream(other, |cm: ConfigMap| {
                Some(kube::runtime::reflector::ObjectRef::from_obj(&cm))
            })
            .run(
                move |_, done: Arc<futures::channel::mpsc::UnboundedSender<()>>| async move {
                    let _ = done.unbounded_send(());
                    Ok::<_, std::convert::Infallible>(Action::await_change())
                },
                |_, _, _| Action::await_change(),
                Arc::new(done_tx),
            )
            .for_each(|_| async {});
        tokio::select! {
            () = running => panic!("the controller stopped"),
            _ = done_rx.next() => start.elapsed(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn another_watch_failing_does_not_hold_back_the_controllers_own() {
        // Twelve errors of one watch, as after an API server restart.
        let ours = reconciled_at(12, true).await;
        assert!(ours < Duration::from_secs(1), "reconciled after {ours:?}");
        // kube-runtime's default: its backoff over the merged triggers
        // holds the object back for the sum of its growing waits.
        let default = reconciled_at(12, false).await;
        assert!(
            default > Duration::from_secs(120),
            "reconciled after {default:?}"
        );
    }
}

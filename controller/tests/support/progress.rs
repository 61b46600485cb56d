//! Moving a Rollout along as a user does, and waiting for what follows.

use std::future::Future;
use std::time::{Duration, Instant};

use rollgate_testkit::Cluster;
use serde_json::Value;

use super::{kubectl_argo_rollouts, wait_for};

/// `kubectl argo rollouts set image NAME app=IMAGE`: the update that starts
/// the canary steps.
pub(crate) fn set_image(cluster: &Cluster, name: &str, image: &str) {
    kubectl_argo_rollouts(cluster, &["set", "image", name, &format!("app={image}")]);
}

/// Whether the Rollout is paused at step `step` (counted from 0).
pub(crate) fn paused_at(o: &Value, step: u64) -> bool {
    o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == step
}

/// [`set_image`], then waits for the pause at step `step`; the Rollout then.
pub(crate) async fn update_to_pause(
    cluster: &Cluster,
    name: &str,
    image: &str,
    step: u64,
) -> Value {
    set_image(cluster, name, image);
    wait_for(cluster, name, &format!("paused at step {step}"), |o| {
        paused_at(o, step)
    })
    .await
}

/// Asks `probe` every 50 ms until it answers; its answer and how long that
/// took. Panics naming `what` when `limit` passes first.
pub(crate) async fn eventually<T, F, Fut>(
    limit: Duration,
    what: &str,
    mut probe: F,
) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(answer) = probe().await {
            return (answer, start.elapsed());
        }
        assert!(start.elapsed() < limit, "not {what} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

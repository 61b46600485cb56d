//! The operations a user types during an update, on seed 001's HTTPRoute
//! set-up with two pauses (setWeight 20, pause, setWeight 60, pause):
//! `promote` step by step, `promote --full`, `abort` then `retry`, and a
//! template change in the middle of an update.

use std::time::{Duration, Instant};

use rollgate_e2e::gateway::Gateway;
use rollgate_e2e::{Scene, Under, View, condition, expected, phase, replicas, scenario, status};
use serde_json::{Value, json};

use crate::gateway_api::{ROLLOUT, assert_users_rule_untouched, in_order, scene, set_image, web};

/// The scenario's set-up, Healthy on its first revision, then updated to
/// `example.com/web:2` and paused at its first pause (20 % to the canary):
/// the scene, the gateway, the stable and the canary pod template hashes.
async fn paused_at_20(name: &str, under: Under) -> Option<(Scene, Gateway, Value, Value)> {
    let steps = json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]);
    let (s, gateway) = scene(name, under, steps, &[], false, &[]).await?;
    let first = s
        .until("first revision Healthy", |v| {
            phase(v) == "Healthy" && web(v) == (100, 0)
        })
        .await;
    let stable = status(&first)["stableRS"].clone();
    set_image(&s, "example.com/web:2").await;
    let paused = s
        .until("paused at step 1, 80/20", |v| at_pause(v, 1, (80, 20)))
        .await;
    let canary = status(&paused)["currentPodHash"].clone();
    assert_eq!(replicas(&paused, &canary), 1, "{paused:#}");
    assert_eq!(replicas(&paused, &stable), 2, "{paused:#}");
    Some((s, gateway, stable, canary))
}

/// Paused at step `index` with rule `web` at `weights` (stable, canary).
fn at_pause(v: &View, index: i64, weights: (i64, i64)) -> bool {
    phase(v) == "Paused" && status(v)["currentStepIndex"] == index && web(v) == weights
}

/// Healthy with `hash` as the stable ReplicaSet and all traffic on it.
fn promoted_to(v: &View, hash: &Value) -> bool {
    phase(v) == "Healthy"
        && status(v)["stableRS"] == *hash
        && status(v)["currentPodHash"] == *hash
        && web(v) == (100, 0)
}

scenario!(promote_step_by_step);

/// `kubectl argo rollouts promote` at each pause: 20, then 60, then the
/// whole traffic to the canary, then Healthy on the new revision.
async fn promote_step_by_step(under: Under) {
    let Some((s, gateway, _, canary)) = paused_at_20("promote", under).await else {
        return;
    };
    assert_eq!(s.shown_status(), "Paused");
    s.kubectl(&["promote", ROLLOUT]);
    let second = s
        .until("paused at step 3, 40/60", |v| at_pause(v, 3, (40, 60)))
        .await;
    assert_eq!(replicas(&second, &canary), 2, "{second:#}");
    s.kubectl(&["promote", ROLLOUT]);
    s.until("Healthy on the new revision", |v| promoted_to(v, &canary))
        .await;
    assert_eq!(s.shown_status(), "Healthy");
    let seen = gateway.weights_seen("web").await;
    assert!(
        in_order(&seen, &[(80, 20), (40, 60), (0, 100), (100, 0)]),
        "the gateway saw each step's weights in order: {seen:?}"
    );
    assert_users_rule_untouched(&gateway).await;
}

scenario!(promote_full);

/// `kubectl argo rollouts promote --full` at the first pause skips the
/// remaining steps: the 60 % step never reaches the route.
async fn promote_full(under: Under) {
    let Some((s, gateway, _, canary)) = paused_at_20("promote-full", under).await else {
        return;
    };
    s.kubectl(&["promote", ROLLOUT, "--full"]);
    let done = s
        .until("Healthy on the new revision", |v| promoted_to(v, &canary))
        .await;
    assert_eq!(replicas(&done, &canary), 2, "{done:#}");
    let seen = gateway.weights_seen("web").await;
    assert!(
        !seen.contains(&(40, 60)),
        "the skipped step's weight never reached the route: {seen:?}"
    );
    assert!(in_order(&seen, &[(80, 20), (100, 0)]), "{seen:?}");
    assert_users_rule_untouched(&gateway).await;
}

scenario!(abort_then_retry);

/// `kubectl argo rollouts abort` at the pause: all traffic back to stable,
/// Degraded, the canary ReplicaSet scaled down after Argo's
/// `abortScaleDownDelaySeconds` default (30 s with traffic routing); then
/// `kubectl argo rollouts retry rollout` runs the steps again from the
/// first, and `promote --full` finishes the update.
async fn abort_then_retry(under: Under) {
    let Some((s, gateway, stable, canary)) = paused_at_20("abort-retry", under).await else {
        return;
    };
    let aborted_at = Instant::now();
    s.kubectl(&["abort", ROLLOUT]);
    let aborted = s
        .until("aborted: Degraded, all traffic on stable", |v| {
            phase(v) == "Degraded" && status(v)["abort"] == true && web(v) == (100, 0)
        })
        .await;
    assert_eq!(status(&aborted)["stableRS"], stable);
    assert!(
        status(&aborted)["message"]
            .as_str()
            .is_some_and(|m| m.contains("Rollout aborted update to revision 2")),
        "{:#}",
        status(&aborted)
    );
    assert_eq!(
        condition(&aborted, "Progressing"),
        expected(
            "False",
            "RolloutAborted",
            "Rollout aborted update to revision 2"
        )
    );
    assert_eq!(s.shown_status(), "Degraded");
    s.until("the canary ReplicaSet scaled down", |v| {
        replicas(v, &canary) == 0 && replicas(v, &stable) == 2
    })
    .await;
    assert!(
        aborted_at.elapsed() >= Duration::from_secs(25),
        "the canary is scaled down after abortScaleDownDelaySeconds (30 s), not {:?}",
        aborted_at.elapsed()
    );

    s.kubectl(&["retry", "rollout", ROLLOUT]);
    let again = s
        .until("retried: paused at step 1, 80/20 again", |v| {
            at_pause(v, 1, (80, 20)) && status(v)["abort"] != true && replicas(v, &canary) == 1
        })
        .await;
    assert_eq!(status(&again)["currentPodHash"], canary);
    s.kubectl(&["promote", ROLLOUT, "--full"]);
    s.until("Healthy on the new revision", |v| promoted_to(v, &canary))
        .await;
    let seen = gateway.weights_seen("web").await;
    assert!(
        in_order(&seen, &[(80, 20), (100, 0), (80, 20), (100, 0)]),
        "20 %, back to 0 on the abort, 20 % on the retry: {seen:?}"
    );
    assert_users_rule_untouched(&gateway).await;
}

scenario!(template_change_mid_rollout);

/// A new image while the update is paused at its second pause
/// (`kubectl argo rollouts set image`): the old canary ReplicaSet goes to 0,
/// the new one starts at step 0, and the update pauses again at 20 %.
async fn template_change_mid_rollout(under: Under) {
    let Some((s, gateway, stable, canary)) = paused_at_20("template-change", under).await else {
        return;
    };
    s.kubectl(&["promote", ROLLOUT]);
    s.until("paused at step 3, 40/60", |v| at_pause(v, 3, (40, 60)))
        .await;
    set_image(&s, "example.com/web:3").await;
    let restarted = s
        .until("the new template from step 0, paused at 80/20", |v| {
            status(v)["currentPodHash"] != canary
                && replicas(v, &canary) == 0
                && at_pause(v, 1, (80, 20))
        })
        .await;
    let newest = status(&restarted)["currentPodHash"].clone();
    assert_eq!(status(&restarted)["stableRS"], stable);
    assert_eq!(replicas(&restarted, &newest), 1, "{restarted:#}");
    assert_eq!(replicas(&restarted, &stable), 2, "{restarted:#}");
    assert_eq!(
        status(&restarted)["canary"]["weights"]["canary"]["podTemplateHash"],
        newest
    );
    let seen = gateway.weights_seen("web").await;
    assert!(in_order(&seen, &[(40, 60), (80, 20)]), "{seen:?}");
    assert_users_rule_untouched(&gateway).await;
}

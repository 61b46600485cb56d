//! `spec.rollbackWindow` (`kubectl argo rollouts undo`), by Argo's
//! `isRollbackWithinWindow`: going back to a ReplicaSet created before the
//! stable one, with fewer than `revisions` ReplicaSets created between
//! them, skips the steps; otherwise the update runs its steps. The order is
//! the ReplicaSets' creation time, not their revision: `undo` raises the
//! old ReplicaSet's revision above the stable one's.

use rollout_core::{Decision, Observations, ReplicaSetState, Rollout, Time, decide, steps};
use serde_json::json;

fn t(s: u64) -> Time {
    Time::from_unix_seconds(s)
}

/// Fully promoted at `stable`, now on the template of `current`.
fn rollout(window: Option<i32>) -> Rollout {
    let mut spec = json!({"replicas": 4, "strategy": {"canary": {
        "steps": [{"setWeight": 25}, {"pause": {}}]}}});
    if let Some(revisions) = window {
        spec["rollbackWindow"] = json!({"revisions": revisions});
    }
    let mut rollout = Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "shop", "generation": 3},
               "spec": spec,
               "status": {"stableRS": "ccc", "currentPodHash": "ccc", "currentStepIndex": 2,
                          "observedGeneration": "3"}}),
        "web.yaml",
    )
    .unwrap();
    let hash = steps::step_hash(&rollout.canary().unwrap().steps);
    rollout.status.as_mut().unwrap().current_step_hash = Some(hash);
    rollout
}

/// A ReplicaSet created at `created` with `revision`, `pods` asked and available.
fn rs(hash: &str, revision: u64, created: Option<u64>, pods: i32) -> ReplicaSetState {
    ReplicaSetState {
        pod_template_hash: hash.into(),
        revision,
        spec_replicas: pods,
        replicas: pods,
        ready_replicas: pods,
        available_replicas: pods,
        created: created.map(t),
        ..Default::default()
    }
}

/// `aaa` (created first, raised to revision 4 by `undo`), `bbb`, then the
/// stable `ccc`; `bbb` is left out when `with_bbb` is false.
fn observed(aaa_pods: i32, with_bbb: bool, created: bool) -> Observations {
    let at = |s| created.then_some(s);
    let mut replica_sets = vec![rs("aaa", 4, at(100), aaa_pods), rs("ccc", 3, at(300), 4)];
    if with_bbb {
        replica_sets.push(rs("bbb", 2, at(200), 0));
    }
    Observations {
        current_pod_hash: "aaa".into(),
        replica_sets,
        ..Default::default()
    }
}

/// Decides, and decides again on the status just decided.
fn two_passes(mut rollout: Rollout, observed: &Observations) -> (Decision, Decision) {
    let first = decide(&rollout, observed, t(1_000)).unwrap();
    rollout.status = Some(first.status.clone());
    let second = decide(&rollout, observed, t(1_001)).unwrap();
    (first, second)
}

fn events(d: &Decision) -> Vec<String> {
    d.events
        .iter()
        .map(|e| format!("{}: {}", e.reason, e.message))
        .collect()
}

#[test]
fn inside_the_window_the_steps_are_skipped_after_the_reset() {
    // Only `bbb` lies between `aaa` and `ccc`: one ReplicaSet, fewer than 2.
    let (first, second) = two_passes(rollout(Some(2)), &observed(0, true, true));
    // The reset pass: the old ReplicaSet has no pods asked of it, so it
    // starts at step 0 (Argo's IsActive), ...
    assert_eq!(first.status.current_step_index, Some(0));
    // ... and the next pass goes to the end of the steps.
    assert_eq!(second.status.current_step_index, Some(2));
    assert!(second.status.pause_conditions.is_empty());
}

#[test]
fn inside_the_window_an_active_replica_set_skips_the_steps_at_once_and_is_promoted() {
    let (first, second) = two_passes(rollout(Some(1)), &observed(4, false, true));
    assert_eq!(first.status.current_step_index, Some(2));
    let seen: Vec<String> = events(&first).into_iter().chain(events(&second)).collect();
    assert!(
        seen.contains(
            &"SkipSteps: Rollback to active ReplicaSets within RollbackWindow".to_owned()
        ),
        "{seen:?}"
    );
    // Its pods are all available: promoted, by Argo's reason.
    assert_eq!(second.status.stable_rs.as_deref(), Some("aaa"));
    assert!(
        seen.iter()
            .any(|e| e.ends_with("(aaa): Rollback within window")),
        "{seen:?}"
    );
}

#[test]
fn outside_the_window_the_update_runs_its_steps() {
    // `bbb` lies between: one ReplicaSet, not fewer than 1.
    let (first, second) = two_passes(rollout(Some(1)), &observed(0, true, true));
    assert_eq!(first.status.current_step_index, Some(0));
    assert_eq!(
        second.status.current_step_index,
        Some(0),
        "at step 0 until its canary pods are available"
    );
    // Without a window, likewise.
    let (_, second) = two_passes(rollout(None), &observed(0, true, true));
    assert_eq!(second.status.current_step_index, Some(0));
}

#[test]
fn the_creation_time_orders_the_replica_sets_not_the_raised_revision() {
    // By revision, `aaa` (4) is newer than the stable `ccc` (3): no rollback.
    let (_, second) = two_passes(rollout(Some(2)), &observed(0, true, false));
    assert_eq!(second.status.current_step_index, Some(0));
    // By creation time it is older: a rollback inside the window.
    let (_, second) = two_passes(rollout(Some(2)), &observed(0, true, true));
    assert_eq!(second.status.current_step_index, Some(2));
}

#[test]
fn replica_sets_created_in_the_same_second_are_not_a_rollback() {
    // Creation times have one-second resolution and Argo compares them
    // strictly (`CreationTimestamp.Before`): `aaa` made in the same second as
    // the stable `ccc` is not older than it, so the update runs its steps.
    let mut observed = observed(4, false, true);
    observed.replica_sets[0].created = Some(t(300));
    let (first, second) = two_passes(rollout(Some(1)), &observed);
    assert_eq!(first.status.current_step_index, Some(0));
    assert_eq!(second.status.current_step_index, Some(0));
}

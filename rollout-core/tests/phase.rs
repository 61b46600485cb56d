//! The phase as Argo computes it: the controller's `CalculateRolloutPhase`
//! (written to `status.phase`) and the reader's `GetRolloutPhase`, which
//! also checks `status.observedGeneration` against `metadata.generation`.

use std::borrow::Cow;

use rollout_core::conditions::{phase, rollout_phase};
use rollout_core::{Observations, Phase, ReplicaSetState, Rollout, Time, decide};
use serde_json::{Value, json};

fn rollout(metadata: Value, status: Value) -> Rollout {
    Rollout::from_value(
        json!({"metadata": metadata,
            "spec": {"replicas": 1, "strategy": {"canary": {"steps": [{"setWeight": 50}]}}},
            "status": status}),
        "web.yaml",
    )
    .unwrap()
}

fn progressing(message: &str) -> (Phase, Cow<'_, str>) {
    (Phase::Progressing, Cow::Borrowed(message))
}

#[test]
fn a_spec_newer_than_the_status_is_waiting_to_be_observed() {
    let r = rollout(
        json!({"name": "web", "generation": 3}),
        json!({"observedGeneration": "2", "phase": "Healthy"}),
    );
    assert_eq!(
        rollout_phase(&r),
        progressing("waiting for rollout spec update to be observed")
    );
}

#[test]
fn an_observed_generation_gives_the_recorded_phase_and_message() {
    let r = rollout(
        json!({"name": "web", "generation": 3}),
        json!({"observedGeneration": "3", "phase": "Paused", "message": "CanaryPauseStep",
               "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T05:00:00Z"}]}),
    );
    assert_eq!(
        rollout_phase(&r),
        (Phase::Paused, Cow::Borrowed("CanaryPauseStep"))
    );
}

#[test]
fn a_status_ahead_of_the_generation_or_not_a_number_counts_as_observed() {
    for observed in [json!("4"), json!("5d8f6c7b9"), Value::Null] {
        let r = rollout(
            json!({"name": "web", "generation": 3}),
            json!({"observedGeneration": observed, "phase": "Healthy"}),
        );
        assert_eq!(
            rollout_phase(&r),
            (Phase::Healthy, Cow::Borrowed("")),
            "{observed}"
        );
    }
}

#[test]
fn cleared_pause_conditions_with_controller_pause_are_waiting_to_unpause() {
    let r = rollout(
        json!({"name": "web", "generation": 3}),
        json!({"observedGeneration": "3", "phase": "Paused", "controllerPause": true}),
    );
    assert_eq!(
        rollout_phase(&r),
        progressing("waiting for rollout to unpause")
    );
}

#[test]
fn a_status_without_a_phase_gets_one_computed() {
    let r = rollout(
        json!({"name": "web"}),
        json!({"pauseConditions": [
        {"reason": "CanaryPauseStep", "startTime": "2026-11-22T05:00:00Z"}]}),
    );
    assert_eq!(
        rollout_phase(&r),
        (Phase::Paused, Cow::Borrowed("CanaryPauseStep"))
    );
}

#[test]
fn conditions_are_read_in_the_order_recorded() {
    // Argo returns on the first condition that is InvalidSpec or carries an
    // abort or deadline reason, whatever its type or status.
    let conditions = |first: Value, second: Value| {
        rollout(
            json!({"name": "web"}),
            json!({"conditions": [first, second]}),
        )
    };
    let aborted = json!({"type": "Progressing", "status": "False", "reason": "RolloutAborted",
        "message": "Rollout aborted update to revision 2",
        "lastTransitionTime": "2026-11-22T05:00:00Z", "lastUpdateTime": "2026-11-22T05:00:00Z"});
    let invalid = json!({"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec",
        "message": "bad", "lastTransitionTime": "2026-11-22T05:00:00Z",
        "lastUpdateTime": "2026-11-22T05:00:00Z"});
    let r = conditions(aborted.clone(), invalid.clone());
    let st = r.status.clone().unwrap();
    assert_eq!(
        phase(&r, &st),
        (
            Phase::Degraded,
            Cow::Owned("RolloutAborted: Rollout aborted update to revision 2".into())
        )
    );
    let r = conditions(invalid, aborted);
    let st = r.status.clone().unwrap();
    assert_eq!(
        phase(&r, &st),
        (Phase::Degraded, Cow::Owned("InvalidSpec: bad".into()))
    );
}

fn observed() -> Observations {
    Observations {
        current_pod_hash: "abc".into(),
        replica_sets: vec![ReplicaSetState {
            pod_template_hash: "abc".into(),
            revision: 1,
            spec_replicas: 1,
            replicas: 1,
            ready_replicas: 1,
            available_replicas: 1,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn the_decision_records_the_generation_as_a_decimal_string() {
    let r = rollout(json!({"name": "web", "generation": 7}), Value::Null);
    let d = decide(&r, &observed(), Time::from_unix_seconds(0)).unwrap();
    assert_eq!(d.status.observed_generation.as_deref(), Some("7"));
    let mut written = r.clone();
    written.status = Some(d.status);
    assert_eq!(rollout_phase(&written).0, Phase::Healthy);
    // The user edits the spec: the API server bumps the generation and the
    // recorded phase no longer answers until the controller writes again.
    written.metadata.generation = Some(8);
    assert_eq!(
        rollout_phase(&written),
        progressing("waiting for rollout spec update to be observed")
    );
}

#[test]
fn an_object_without_a_generation_is_recorded_as_generation_zero() {
    // Argo formats the generation field, which is 0 when unset.
    let r = rollout(json!({"name": "web"}), Value::Null);
    let d = decide(&r, &observed(), Time::from_unix_seconds(0)).unwrap();
    assert_eq!(d.status.observed_generation.as_deref(), Some("0"));
}

//! The Completed and Paused conditions as Argo Rollouts writes them
//! (`rollout/sync.go`): Completed is worded with its reason, true or false;
//! Paused appears with the first pause, then follows it, always worded
//! "Rollout is paused".

use rollout_core::{Observations, ReplicaSetState, Rollout, RolloutStatus, Time, decide};
use serde_json::{Value, json};

fn rollout(paused: bool, status: Value) -> Rollout {
    Rollout::from_value(
        json!({"metadata": {"name": "web", "generation": 1},
            "spec": {"replicas": 1, "paused": paused,
                     "strategy": {"canary": {"steps": [{"setWeight": 50}]}}},
            "status": status}),
        "web.yaml",
    )
    .unwrap()
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

/// (status, reason, message) of the condition of type `kind`, if any.
fn condition(st: &RolloutStatus, kind: &str) -> Option<(String, String, String)> {
    let st = serde_json::to_value(st).unwrap();
    let c = st["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?
        .clone();
    let text = |f: &str| c[f].as_str().unwrap_or_default().to_owned();
    Some((text("status"), text("reason"), text("message")))
}

fn owned(status: &str, reason: &str, message: &str) -> Option<(String, String, String)> {
    Some((status.into(), reason.into(), message.into()))
}

#[test]
fn completed_is_worded_with_its_reason() {
    let d = decide(
        &rollout(false, Value::Null),
        &observed(),
        Time::from_unix_seconds(0),
    )
    .unwrap();
    assert_eq!(
        condition(&d.status, "Completed"),
        owned("True", "RolloutCompleted", "RolloutCompleted")
    );
}

#[test]
fn paused_appears_with_the_first_pause_and_keeps_its_wording() {
    let now = Time::from_unix_seconds(0);
    let never = decide(&rollout(false, Value::Null), &observed(), now).unwrap();
    assert_eq!(
        condition(&never.status, "Paused"),
        None,
        "no Paused condition before any pause"
    );

    let paused = decide(&rollout(true, Value::Null), &observed(), now).unwrap();
    assert_eq!(
        condition(&paused.status, "Paused"),
        owned("True", "RolloutPaused", "Rollout is paused")
    );

    let status = serde_json::to_value(&paused.status).unwrap();
    let resumed = decide(&rollout(false, status), &observed(), now).unwrap();
    assert_eq!(
        condition(&resumed.status, "Paused"),
        owned("False", "RolloutPaused", "Rollout is paused")
    );
}

//! The end of a traffic-routed canary's steps, as Argo's
//! `reconcileTrafficRouting` runs it: the whole traffic goes to the canary
//! first, and the stable ReplicaSet changes only once the router has that
//! weight in place and has not reported it unverified.

use rollout_core::{Observations, ReplicaSetState, Rollout, Time, decide};
use serde_json::{Value, json};

fn rollout(canary_weight: i64) -> Rollout {
    Rollout::from_value(
        json!({"metadata": {"name": "web", "generation": 1},
            "spec": {"replicas": 1, "strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "trafficRouting": {"plugins": {"acme/router": {}}},
                "steps": [{"setWeight": 50}]}}},
            "status": {"stableRS": "old", "currentPodHash": "new", "currentStepIndex": 1,
                "currentStepHash": "74c84c9d5b",
                "canary": {"weights": {
                    "canary": {"weight": canary_weight, "podTemplateHash": "new", "serviceName": "web-canary"},
                    "stable": {"weight": 100 - canary_weight, "podTemplateHash": "old", "serviceName": "web-stable"}}}}}),
        "web.yaml",
    )
    .unwrap()
}

fn observed(verified: Option<bool>) -> Observations {
    let rs = |hash: &str, revision| ReplicaSetState {
        pod_template_hash: hash.into(),
        revision,
        spec_replicas: 1,
        replicas: 1,
        ready_replicas: 1,
        available_replicas: 1,
        ..Default::default()
    };
    Observations {
        current_pod_hash: "new".into(),
        replica_sets: vec![rs("old", 1), rs("new", 2)],
        traffic_verified: verified,
        ..Default::default()
    }
}

fn decided(canary_weight: i64, verified: Option<bool>) -> Value {
    let d = decide(
        &rollout(canary_weight),
        &observed(verified),
        Time::from_unix_seconds(0),
    )
    .unwrap();
    serde_json::to_value(d.status).unwrap()
}

#[test]
fn the_whole_traffic_goes_to_the_canary_before_the_stable_changes() {
    let st = decided(50, None);
    assert_eq!(st["stableRS"], "old", "{st:#}");
    assert_eq!(st["canary"]["weights"]["canary"]["weight"], 100, "{st:#}");
}

#[test]
fn the_stable_changes_only_once_the_router_has_verified_the_weight() {
    let st = decided(100, Some(false));
    assert_eq!(st["stableRS"], "old", "not yet verified: {st:#}");
    let st = decided(100, Some(true));
    assert_eq!(st["stableRS"], "new", "verified: {st:#}");
}

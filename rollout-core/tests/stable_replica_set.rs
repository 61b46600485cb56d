//! Canary sizing follows `status.stableRS`, as Argo's
//! `GetCanaryReplicasOrWeight` does: a stable ReplicaSet the status names
//! keeps the canary on its step's weight even when that ReplicaSet is not
//! observed (deleted by hand, or not in the controller's cache yet).

use rollout_core::{ReplicaSetRole, decide};

mod support;

use support::{deployed, rollout};

#[test]
fn a_named_stable_replica_set_that_is_not_observed_keeps_the_step_weight() {
    let mut sim = deployed(rollout(serde_json::json!({
        "replicas": 10,
        "strategy": {"canary": {
            "canaryService": "web-canary", "stableService": "web-stable",
            "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
            "steps": [{"setWeight": 20}, {"pause": {}}]
        }}
    })));
    let stable = sim.current_hash().to_owned();
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.pods(), (2, 10));

    // The stable ReplicaSet disappears from what the controller sees.
    sim.replica_sets.retain(|rs| rs.hash != stable);
    let decision = decide(&sim.rollout, &sim.observe(), sim.now).unwrap();
    let canary = decision
        .replica_sets
        .iter()
        .find(|t| t.role == ReplicaSetRole::Current)
        .unwrap();
    assert_eq!(
        canary.replicas, 2,
        "sized by setWeight 20 of 10 pods in the pass that sees the stable gone, as Argo scales before it promotes"
    );
    // Argo then promotes ("Initial deploy"), and the next pass sizes fully.
    assert_eq!(
        decision.status.stable_rs.as_deref(),
        Some(sim.current_hash())
    );
    sim.rollout.status = Some(decision.status);
    let next = decide(&sim.rollout, &sim.observe(), sim.now).unwrap();
    assert_eq!(next.replica_sets[0].replicas, 10);
}

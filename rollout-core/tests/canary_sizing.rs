//! Canary sizing as Argo's `GetCanaryReplicasOrWeight` and
//! `UseSetCanaryScale` do it: `setCanaryScale` fields in Argo's precedence,
//! and `status.stableRS` (not the observed ReplicaSet) deciding whether the
//! canary follows its steps.

use rollout_core::{ReplicaSetRole, decide};

mod support;

use support::{deployed, rollout};

/// 10 pods behind a traffic router, and these steps.
fn routed(steps: serde_json::Value) -> rollout_core::Rollout {
    rollout(serde_json::json!({
        "replicas": 10,
        "strategy": {"canary": {
            "canaryService": "web-canary", "stableService": "web-stable",
            "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
            "steps": steps
        }}
    }))
}

#[test]
fn set_canary_scale_fields_apply_in_argos_precedence() {
    let mut sim = deployed(routed(serde_json::json!([
        {"setWeight": 30},
        {"setCanaryScale": {"replicas": 2, "weight": 80}},
        {"pause": {}},
        {"setCanaryScale": {"replicas": 5, "matchTrafficWeight": true}},
        {"pause": {}},
        {"setCanaryScale": {}},
        {"pause": {}}
    ])));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.step_index(), Some(2));
    assert_eq!(sim.pods(), (2, 10), "replicas wins over weight");
    sim.promote();
    sim.settle();
    assert_eq!(sim.step_index(), Some(4));
    assert_eq!(
        sim.pods(),
        (3, 10),
        "matchTrafficWeight wins over replicas: 30% of 10 pods"
    );
    sim.promote();
    sim.settle();
    assert_eq!(sim.step_index(), Some(6));
    assert_eq!(
        sim.pods(),
        (3, 10),
        "an empty setCanaryScale follows traffic"
    );
}

#[test]
fn a_named_stable_replica_set_that_is_not_observed_keeps_the_step_weight() {
    let mut sim = deployed(routed(
        serde_json::json!([{"setWeight": 20}, {"pause": {}}]),
    ));
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

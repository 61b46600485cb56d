//! Property tests: invariants that hold for any canary and any sequence of
//! operations a person or the cluster can throw at it.

use std::time::Duration;

use proptest::prelude::*;
use rollout_core::sim::Sim;
use rollout_core::spec::{
    CanaryStep, HeaderMatch, ManagedRoute, Pause, SetCanaryScale, SetHeaderRoute, StepAction,
    StringMatch, TrafficRouting,
};
use rollout_core::{AnalysisPhase, Decision, Observations, Rollout, Time, decide, replicas};

const T0: Time = Time::from_unix_seconds(1_790_000_000);

#[derive(Debug, Clone)]
enum Op {
    Run(u8),
    Promote,
    PromoteFull,
    Abort,
    Retry,
    NewImage,
    CrashRouter,
    Scale(i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..30).prop_map(Op::Run),
        2 => Just(Op::Promote),
        1 => Just(Op::PromoteFull),
        1 => Just(Op::Abort),
        1 => Just(Op::Retry),
        1 => Just(Op::NewImage),
        1 => Just(Op::CrashRouter),
        1 => (0i32..8).prop_map(Op::Scale),
    ]
}

/// A step: a `setWeight` or `pause` and, with traffic routing, any of a
/// `setCanaryScale` and a `setHeaderRoute` sharing it (as Argo allows).
fn step(max_weight: i32, replicas: i32, routed: bool) -> impl Strategy<Value = CanaryStep> {
    let weight = (0..=max_weight).prop_map(StepAction::SetWeight);
    let pause = prop_oneof![Just(None), (0i64..120).prop_map(Some)].prop_map(|d| {
        StepAction::Pause(Pause {
            duration: d.map(Into::into),
        })
    });
    let scale = (0..=replicas.max(1)).prop_map(|r| {
        StepAction::SetCanaryScale(SetCanaryScale {
            replicas: Some(r),
            ..Default::default()
        })
    });
    let header = any::<bool>().prop_map(|on| {
        StepAction::SetHeaderRoute(SetHeaderRoute {
            name: "beta".into(),
            matches: if on {
                vec![HeaderMatch {
                    header_name: "x-beta".into(),
                    header_value: StringMatch {
                        exact: Some("1".into()),
                        ..Default::default()
                    },
                }]
            } else {
                vec![]
            },
        })
    });
    let exclusive = prop_oneof![2 => weight, 1 => pause];
    if routed {
        (
            prop::option::weighted(0.8, exclusive),
            prop::option::weighted(0.2, scale),
            prop::option::weighted(0.2, header),
        )
            .prop_filter_map("a step sets at least one action", |(a, b, c)| {
                CanaryStep::new([a, b, c].into_iter().flatten()).ok()
            })
            .boxed()
    } else {
        exclusive.prop_map(CanaryStep::from).boxed()
    }
}

fn rollout() -> impl Strategy<Value = Rollout> {
    (
        1i32..12,
        any::<bool>(),
        prop_oneof![Just(100), 1i32..1000],
        any::<bool>(),
    )
        .prop_flat_map(|(replicas, routed, max_weight, dynamic)| {
            let max_weight = if routed { max_weight } else { 100 };
            (
                Just((replicas, routed, max_weight, dynamic)),
                prop::collection::vec(step(max_weight, replicas, routed), 0..8),
                prop_oneof![
                    Just(serde_json::json!(1)),
                    Just(serde_json::json!("25%")),
                    Just(serde_json::json!(0))
                ],
            )
        })
        .prop_map(|((replicas, routed, max_weight, dynamic), steps, surge)| {
            let mut r = Rollout::from_value(
                serde_json::json!({
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"replicas": replicas,
                        "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                        "strategy": {"canary": {"canaryService": "c", "stableService": "s",
                            "maxSurge": surge, "maxUnavailable": 1}}}
                }),
                "generated",
            )
            .unwrap();
            let c = r.spec.strategy.canary.as_mut().unwrap();
            c.steps = steps;
            if routed {
                c.traffic_routing = Some(TrafficRouting {
                    plugins: [("rollgate/test".to_owned(), serde_json::json!({}))].into(),
                    managed_routes: vec![ManagedRoute {
                        name: "beta".into(),
                    }],
                    max_traffic_weight: Some(max_weight),
                    ..Default::default()
                });
                c.dynamic_stable_scale = Some(dynamic);
            }
            r
        })
}

/// Checks one decision; `observed` is what it was made from.
fn check_decision(r: &Rollout, observed: &Observations, d: &Decision) -> Result<(), TestCaseError> {
    let c = r.canary().unwrap();
    let max_w = c.max_weight();
    if let Some(t) = &d.traffic {
        let sum =
            t.canary.weight + t.stable.weight + t.additional.iter().map(|a| a.weight).sum::<i32>();
        prop_assert!(
            (0..=max_w).contains(&t.canary.weight),
            "canary weight {} of {max_w}",
            t.canary.weight
        );
        prop_assert!(
            (0..=max_w).contains(&t.stable.weight),
            "stable weight {} of {max_w}",
            t.stable.weight
        );
        prop_assert_eq!(sum, max_w);
        prop_assert_eq!(t.max_weight, max_w);
    }
    let (surge, _) = replicas::surge_and_unavailable(
        c.max_surge.as_ref(),
        c.max_unavailable.as_ref(),
        r.replicas(),
    )
    .unwrap();
    // `setCanaryScale.replicas` is honoured as written, as Argo does, even above `replicas`.
    let explicit = c
        .steps
        .iter()
        .filter_map(|s| s.set_canary_scale().and_then(|s| s.replicas))
        .max()
        .unwrap_or(0);
    let bound = (r.replicas() + surge).max(explicit);
    for target in &d.replica_sets {
        prop_assert!(target.replicas >= 0, "{target:?}");
        // Never grows a ReplicaSet past the budget (shrinking toward it may take several steps).
        let current = observed
            .replica_set(&target.pod_template_hash)
            .map_or(0, |rs| rs.spec_replicas);
        prop_assert!(
            target.replicas <= bound.max(current),
            "{target:?} grows above {} + {surge}",
            r.replicas()
        );
    }
    if !c.routes_traffic() {
        let before: i32 = observed
            .replica_sets
            .iter()
            .map(|rs| rs.spec_replicas)
            .sum();
        let total: i32 = d.replica_sets.iter().map(|t| t.replicas).sum();
        prop_assert!(
            total <= (r.replicas() + surge).max(before),
            "basic canary total {total} (was {before})"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_any_operations(r in rollout(), ops in prop::collection::vec(op(), 1..25)) {
        let mut sim = Sim::new(r, T0);
        sim.script_analysis(|_| (AnalysisPhase::Successful, Duration::from_secs(30)));
        let mut image = 1;
        for op in ops {
            match op {
                Op::Run(n) => {
                    for _ in 0..n {
                        let observed = sim.observe();
                        let d = decide(&sim.rollout, &observed, sim.now).unwrap();
                        let again = decide(&sim.rollout, &observed, sim.now).unwrap();
                        prop_assert_eq!(&d, &again, "decide is deterministic");
                        check_decision(&sim.rollout, &observed, &d)?;
                        let (tick, more) = sim.step().unwrap();
                        prop_assert_eq!(&tick.decision, &d);
                        if !more { break; }
                    }
                }
                Op::Promote => sim.promote(),
                Op::PromoteFull => sim.promote_full(),
                Op::Abort => {
                    // A newer template clears an abort (as in Argo): abort what the controller has seen.
                    sim.reconcile().unwrap();
                    sim.abort();
                    let c = sim.rollout.canary().unwrap().clone();
                    let observed = sim.observe();
                    let tick = sim.reconcile().unwrap();
                    check_decision(&sim.rollout, &observed, &tick.decision)?;
                    if let Some(t) = &tick.decision.traffic {
                        prop_assert!(t.header_routes.is_empty() && t.mirror_routes.is_empty());
                        if !c.dynamic_stable_scale() {
                            let promoted = tick.decision.status.stable_rs.as_deref() == Some(sim.current_hash());
                            prop_assert!(promoted || t.canary.weight == 0 || held_by_gate(&sim),
                                "abort sends traffic back at once: {}", t.canary.weight);
                        }
                    }
                }
                Op::Retry => sim.retry(),
                Op::NewImage => {
                    image += 1;
                    sim.set_image(&format!("web:{image}"));
                }
                Op::CrashRouter => sim.router.crash(),
                Op::Scale(n) => sim.edit_spec(|s| s.replicas = Some(n.max(1))),
            }
        }
        // Whatever happened, an aborted rollout ends with no canary traffic.
        sim.reconcile().unwrap();
        sim.abort();
        sim.run(2_000).unwrap();
        if let Some(w) = sim.router.canary_weight() {
            let promoted = sim.rollout.status.as_ref().unwrap().stable_rs.as_deref() == Some(sim.current_hash());
            prop_assert!(promoted || w == 0, "aborted rollout still sends {w} to the canary");
        }
    }
}

/// The traffic gate holds the previous weights while the stable side lacks pods.
fn held_by_gate(sim: &Sim) -> bool {
    let st = sim.rollout.status.as_ref().unwrap();
    let Some(stable) = st.stable_rs.as_deref().and_then(|h| sim.replica_set(h)) else {
        return true;
    };
    stable.available(sim.now) < sim.rollout.replicas()
}

//! Table tests: the building blocks a controller calls (step shapes, step
//! strings, progress checks, weights, scale-down, experiment and starting
//! step lookups) against Argo Rollouts' own test cases, transcribed as data
//! in `tests/data/argo_replica_cases.json` and `tests/data/argo_step_cases.json`.

mod support;

use rollout_core::intstr::IntOrString;
use rollout_core::progress::{
    CanaryReplicaCounts, all_desired_available, at_desired_replica_counts,
    replica_progress_threshold_met, replicas_available_for_weight,
};
use rollout_core::replicas::{
    BasicCanary, Pods, TrafficRoutedCanary, basic_canary_counts, replicas_for_scale_down,
    surge_and_unavailable, traffic_routed_counts,
};
use rollout_core::scale_down::{OldReplicaSet, OldReplicaSetPlan, scale_down_old_replica_sets};
use rollout_core::spec::{
    BackgroundAnalysis, CanaryStep, CanaryStrategy, ReplicaProgressThreshold, ThresholdKind,
    TrafficRouting,
};
use rollout_core::steps::{before_starting_step, experiment_at};
use rollout_core::weights::{
    CanaryState, RouterWeight, canary_replicas_or_weight, current_set_weight, router_weight,
};
use rollout_core::{ReplicaSetState, Rollout};
use serde_json::Value;
use support::cases::int;

fn cases(file: &str, section: &str) -> Vec<Value> {
    let text = match file {
        "replica" => include_str!("data/argo_replica_cases.json"),
        _ => include_str!("data/argo_step_cases.json"),
    };
    support::cases::section(text, section)
}

fn index(v: &Value) -> usize {
    v.as_u64().map_or(0, |n| usize::try_from(n).unwrap())
}

fn steps(v: &Value) -> Vec<CanaryStep> {
    serde_json::from_value(v.clone()).unwrap()
}

/// A ReplicaSet as the cases record it; a null `spec` is an unset
/// `spec.replicas`, which Kubernetes (and Argo) read as 1.
fn replica_set(v: &Value) -> Option<ReplicaSetState> {
    if v.is_null() {
        return None;
    }
    let spec = if v["spec"].is_null() {
        1
    } else {
        int(&v["spec"])
    };
    Some(ReplicaSetState {
        spec_replicas: spec,
        replicas: v.get("statusReplicas").map_or(spec, int),
        available_replicas: int(&v["available"]),
        ..Default::default()
    })
}

fn threshold(v: &Value) -> Option<ReplicaProgressThreshold> {
    (!v.is_null()).then(|| ReplicaProgressThreshold {
        kind: if v["type"] == "Pods" {
            ThresholdKind::Pods
        } else {
            ThresholdKind::Percent
        },
        value: int(&v["value"]),
    })
}

/// Runs every case, collecting every mismatch before failing.
fn expect_all<T: std::fmt::Debug + PartialEq>(all: &[Value], run: impl Fn(&Value) -> (T, T)) {
    let failures: Vec<String> = all
        .iter()
        .filter_map(|c| {
            let (got, want) = run(c);
            (got != want).then(|| format!("{}: got {got:?}, want {want:?}", c["name"]))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn step_shapes_match_argos_validation() {
    expect_all(&cases("step", "stepShapes"), |c| {
        let parsed = Rollout::from_value(
            serde_json::json!({"metadata": {"name": "r"},
                "spec": {"strategy": {"canary": {"steps": [c["step"]]}}}}),
            "r.yaml",
        );
        let got = match parsed {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        };
        let want = if c["accepted"] == true {
            "accepted".to_owned()
        } else {
            let names: Vec<_> = c["refused"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            format!(
                "r.yaml: spec.strategy.canary.steps[0]: a step may set only one of setWeight, \
                 pause, experiment, analysis; this one sets {}",
                names.join(" and ")
            )
        };
        (got, want)
    });
}

#[test]
fn step_strings_match_argos_canary_step_string() {
    expect_all(&cases("step", "canaryStepString"), |c| {
        let step: CanaryStep = serde_json::from_value(c["step"].clone()).unwrap();
        (step.to_string(), c["expected"].as_str().unwrap().to_owned())
    });
}

#[test]
fn replica_progress_threshold_matches_argo() {
    expect_all(&cases("replica", "replicaProgressThreshold"), |c| {
        let rs = replica_set(&c["rs"]);
        let got = replica_progress_threshold_met(
            threshold(&c["threshold"]).as_ref(),
            rs.as_ref(),
            int(&c["desired"]),
        );
        (got, c["expected"] == true)
    });
}

#[test]
fn all_desired_available_matches_argo() {
    expect_all(&cases("replica", "allDesiredAreAvailable"), |c| {
        let rs = replica_set(&c["rs"]);
        (
            all_desired_available(rs.as_ref(), int(&c["desired"])),
            c["expected"] == true,
        )
    });
}

#[test]
fn at_desired_replica_counts_matches_argo() {
    expect_all(&cases("replica", "atDesiredReplicaCounts"), |c| {
        let r = int(&c["replicas"]);
        let (surge, unavailable) = surge_and_unavailable(
            Some(&IntOrString::Int(c["maxSurge"].as_i64().unwrap())),
            Some(&IntOrString::Int(c["maxUnavailable"].as_i64().unwrap())),
            r,
        )
        .unwrap();
        let (new, stable) = (replica_set(&c["newRS"]), replica_set(&c["stableRS"]));
        let pods = |rs: &Option<ReplicaSetState>| {
            rs.as_ref()
                .map(|rs| Pods::new(rs.spec_replicas, rs.available_replicas))
        };
        // A basic canary: Argo compares with the counts of this reconcile.
        let desired = basic_canary_counts(&BasicCanary {
            replicas: r,
            weight: int(&c["weight"]),
            max_weight: 100,
            max_surge: surge,
            max_unavailable: unavailable,
            new: pods(&new),
            stable: pods(&stable),
            others: Pods::default(),
        });
        let got = at_desired_replica_counts(&CanaryReplicaCounts {
            desired,
            canary: new.as_ref(),
            stable: stable.as_ref(),
            ..Default::default()
        });
        (got, c["expected"] == true)
    });
}

#[test]
fn replicas_available_for_weight_matches_argo() {
    expect_all(&cases("replica", "checkReplicasAvailable"), |c| {
        let rs = replica_set(&c["rs"]);
        let got = replicas_available_for_weight(
            rs.as_ref(),
            int(&c["desiredWeight"]),
            int(&c["replicas"]),
            int(&c["maxWeight"]),
            threshold(&c["threshold"]).as_ref(),
        );
        (got, c["expected"] == true)
    });
}

#[test]
fn replicas_for_scale_down_matches_argo() {
    expect_all(&cases("replica", "replicasForScaleDown"), |c| {
        let rs = replica_set(&c["rs"]).map(|rs| Pods::new(rs.spec_replicas, rs.available_replicas));
        (
            replicas_for_scale_down(rs, c["ignoreAvailability"] == true),
            int(&c["expected"]),
        )
    });
}

#[test]
fn scale_down_of_old_replica_sets_matches_argo() {
    expect_all(&cases("step", "scaleDownOldReplicaSets"), |c| {
        let r = int(&c["replicas"]);
        let (_, unavailable) = surge_and_unavailable(
            Some(&IntOrString::Int(c["maxSurge"].as_i64().unwrap())),
            Some(&IntOrString::Int(c["maxUnavailable"].as_i64().unwrap())),
            r,
        )
        .unwrap();
        let olds: Vec<_> = c["olds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| OldReplicaSet {
                pods: Pods::new(int(&o["spec"]), int(&o["available"])),
                plan: match o["plan"].as_str().unwrap() {
                    "keep" => OldReplicaSetPlan::Keep,
                    "zero" => OldReplicaSetPlan::Zero,
                    _ => OldReplicaSetPlan::WithinBudget,
                },
            })
            .collect();
        let want: Vec<i32> = c["expected"].as_array().unwrap().iter().map(int).collect();
        (
            scale_down_old_replica_sets(&olds, r, unavailable, int(&c["totalAvailable"])),
            want,
        )
    });
}

#[test]
fn current_set_weight_matches_argo() {
    expect_all(&cases("replica", "currentSetWeight"), |c| {
        let got = current_set_weight(
            &steps(&c["steps"]),
            index(&c["currentStepIndex"]),
            c["abort"] == true,
            100,
        );
        (got, int(&c["expected"]))
    });
}

fn canary(steps_json: &Value, routed: bool) -> CanaryStrategy {
    CanaryStrategy {
        steps: steps(steps_json),
        traffic_routing: routed.then(TrafficRouting::default),
        ..Default::default()
    }
}

#[test]
fn canary_replicas_or_weight_matches_argo() {
    expect_all(&cases("replica", "canaryReplicasOrWeight"), |c| {
        let strategy = canary(&c["steps"], c["trafficRouting"] == true);
        let state = CanaryState {
            canary: &strategy,
            replicas: 10,
            index: index(&c["currentStepIndex"]),
            aborted: c["abort"] == true,
            promote_full: c["promoteFull"] == true,
            stable_differs: c["stableHashState"] == "differs",
            available: None,
        };
        let want = (
            (!c["expectedReplicas"].is_null()).then(|| int(&c["expectedReplicas"])),
            int(&c["expectedWeight"]),
        );
        (canary_replicas_or_weight(&state), want)
    });
}

#[test]
fn router_weight_matches_argo() {
    expect_all(&cases("replica", "trafficRoutingDesiredWeight"), |c| {
        let mut strategy = canary(&c["steps"], true);
        strategy.dynamic_stable_scale = Some(c["dynamicStableScale"] == true);
        let r = int(&c["replicas"]);
        let (new, stable) = (replica_set(&c["newRS"]), replica_set(&c["stableRS"]));
        let fully_promoted = c["fullyPromoted"] == true;
        let state = CanaryState {
            canary: &strategy,
            replicas: r,
            index: index(&c["currentStepIndex"]),
            aborted: false,
            promote_full: c["promoteFull"] == true,
            stable_differs: !fully_promoted,
            available: new
                .as_ref()
                .zip(stable.as_ref())
                .map(|(n, s)| (n.available_replicas, s.available_replicas)),
        };
        let current = (!c["currentWeights"].is_null()).then(|| int(&c["currentWeights"]["canary"]));
        let (canary_replicas, weight) = canary_replicas_or_weight(&state);
        let desired = traffic_routed_counts(&TrafficRoutedCanary {
            replicas: r,
            weight,
            canary_replicas,
            max_weight: 100,
            dynamic_stable_scale: strategy.dynamic_stable_scale(),
            current_weights: (!c["currentWeights"].is_null()).then(|| {
                (
                    int(&c["currentWeights"]["canary"]),
                    int(&c["currentWeights"]["stable"]),
                )
            }),
            ..Default::default()
        });
        let at_desired_replicas = at_desired_replica_counts(&CanaryReplicaCounts {
            desired,
            canary: new.as_ref(),
            stable: stable.as_ref(),
            routes_traffic: true,
            dynamic_stable_scale: strategy.dynamic_stable_scale(),
            ..Default::default()
        });
        let got = router_weight(&RouterWeight {
            state,
            fully_promoted,
            rolling_back_to_stable: false,
            at_desired_replicas,
            canary_available: new.as_ref().map(|rs| rs.available_replicas),
            stable_available: stable.as_ref().map(|rs| rs.available_replicas),
            current_weight: current,
        });
        (got, int(&c["expectedWeight"]))
    });
}

#[test]
fn current_experiment_step_matches_argo() {
    expect_all(&cases("step", "currentExperimentStep"), |c| {
        let steps = steps(&c["steps"]);
        let got = experiment_at(&steps, index(&c["currentStepIndex"])).cloned();
        let want = (!c["expected"].is_null()).then(|| c["expected"].clone());
        (got, want)
    });
}

#[test]
fn before_starting_step_matches_argo() {
    expect_all(&cases("step", "beforeStartingStep"), |c| {
        let strategy = CanaryStrategy {
            steps: steps(&c["steps"]),
            analysis: Some(BackgroundAnalysis {
                starting_step: (!c["startingStep"].is_null()).then(|| int(&c["startingStep"])),
                ..Default::default()
            }),
            ..Default::default()
        };
        (
            before_starting_step(&strategy, index(&c["currentStepIndex"])),
            c["expected"] == true,
        )
    });
}

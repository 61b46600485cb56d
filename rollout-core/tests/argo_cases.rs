//! Table tests: Argo Rollouts' replica and weight cases, transcribed as data
//! in `tests/data/argo_replica_cases.json`, against rollout-core's math.

mod support;

use rollout_core::intstr::IntOrString;
use rollout_core::replicas::{
    BasicCanary, Pods, TrafficRoutedCanary, approximate_weighted_counts, basic_canary_counts,
    surge_and_unavailable, traffic_routed_counts,
};
use rollout_core::spec::CanaryStep;
use rollout_core::weights::{AbortWeight, abort_step_weight, abort_weight};
use serde_json::Value;
use support::cases::int;

fn cases(section: &str) -> Vec<Value> {
    support::cases::section(include_str!("data/argo_replica_cases.json"), section)
}

fn int_or_string(v: &Value) -> Option<IntOrString> {
    match v {
        Value::Null => None,
        Value::Number(n) => Some(IntOrString::Int(n.as_i64().unwrap())),
        Value::String(s) => Some(IntOrString::String(s.clone())),
        other => panic!("not an int-or-string: {other}"),
    }
}

/// Runs every case, collecting every mismatch before failing, so one run
/// shows all the cases that differ.
fn expect_all<T: std::fmt::Debug + PartialEq>(all: &[Value], run: impl Fn(&Value) -> (T, T)) {
    let failures: Vec<String> = all
        .iter()
        .filter_map(|c| {
            let (got, want) = run(c);
            (got != want)
                .then(|| format!("{}: got {got:?}, want {want:?} ({})", c["name"], c["notes"]))
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

fn pods(v: &Value) -> Option<Pods> {
    (!v.is_null()).then(|| Pods::new(int(&v["spec"]), int(&v["available"])))
}

#[test]
fn approximate_weighted_counts_match_argo() {
    let mut all = cases("approximate");
    let data: Value = serde_json::from_str(include_str!("data/argo_replica_cases.json")).unwrap();
    all.extend(
        data["supplementalVerified"]["approximate"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    expect_all(&all, |c| {
        let (r, w) = (int(&c["replicas"]), int(&c["weight"]));
        let got = approximate_weighted_counts(r, w, int(&c["maxWeight"]), int(&c["maxSurge"]));
        let want = if c["canary"].as_i64().is_some_and(|n| n < 0) {
            // Go wraps replicas * weight in 32 bits for huge weights; the Rust
            // math does not overflow and gives the sane split instead.
            (r, 0)
        } else {
            (int(&c["canary"]), int(&c["stable"]))
        };
        (got, want)
    });
}

#[test]
fn surge_and_unavailable_match_argo() {
    let mut checked = 0;
    for c in cases("maxSurgeUnavailable") {
        if c["strategy"] == "blueGreen" {
            continue; // the blue-green engine reads neither maxSurge nor maxUnavailable
        }
        // resolveFenceposts reads an unset value as 0; the rollout helpers use the 25% default.
        let fence = c["function"] == "resolveFenceposts";
        let read = |v: &Value| int_or_string(v).or_else(|| fence.then_some(IntOrString::Int(0)));
        let (surge, unavailable) = (read(&c["maxSurge"]), read(&c["maxUnavailable"]));
        let got = surge_and_unavailable(surge.as_ref(), unavailable.as_ref(), int(&c["replicas"]));
        if c["expectError"] == true {
            assert!(got.is_err(), "{}: expected an error", c["name"]);
        } else {
            let want = (int(&c["expectedSurge"]), int(&c["expectedUnavailable"]));
            let got = got.unwrap();
            let asserted = c["asserted"].as_array().unwrap();
            if asserted.contains(&Value::from("surge")) {
                assert_eq!(got.0, want.0, "{}: surge", c["name"]);
            }
            // Argo's resolveFenceposts alone does not cap at 0 replicas; the
            // rollout's MaxUnavailable (which this function is) does.
            let uncapped = fence && int(&c["replicas"]) == 0;
            if asserted.contains(&Value::from("unavailable")) && !uncapped {
                assert_eq!(got.1, want.1, "{}: unavailable", c["name"]);
            }
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked}");
}

#[test]
fn basic_canary_counts_match_argo() {
    expect_all(&cases("basic"), |c| {
        let r = int(&c["replicas"]);
        let (surge, unavailable) = surge_and_unavailable(
            int_or_string(&c["maxSurge"]).as_ref(),
            int_or_string(&c["maxUnavailable"]).as_ref(),
            r,
        )
        .unwrap();
        let others = c["others"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(pods)
            .fold(Pods::default(), |a, p| {
                Pods::new(a.spec + p.spec, a.available + p.available)
            });
        let input = BasicCanary {
            replicas: r,
            weight: int(&c["weight"]),
            max_weight: 100,
            max_surge: surge,
            max_unavailable: unavailable,
            new: pods(&c["newRS"]),
            // The engine passes no stable ReplicaSet when it is the new one.
            stable: if c["stableIsNew"] == true {
                None
            } else {
                pods(&c["stableRS"])
            },
            others,
        };
        (
            basic_canary_counts(&input),
            (int(&c["expectedNew"]), int(&c["expectedStable"])),
        )
    });
}

#[test]
fn traffic_routed_counts_match_argo() {
    expect_all(&cases("trafficRouted"), |c| {
        let scale = &c["setCanaryScale"];
        let canary_replicas = scale.get("replicas").filter(|v| !v.is_null()).map(int);
        let weight = match (
            canary_replicas,
            scale.get("weight").filter(|v| !v.is_null()),
        ) {
            (Some(_), _) => 0,
            (None, Some(w)) => int(w),
            (None, None) => int(&c["weight"]),
        };
        let input = TrafficRoutedCanary {
            replicas: int(&c["replicas"]),
            weight,
            canary_replicas,
            max_weight: int(&c["maxWeight"]),
            min_pods_per_replica_set: (!c["minPodsPerReplicaSet"].is_null())
                .then(|| int(&c["minPodsPerReplicaSet"])),
            dynamic_stable_scale: c["dynamicStableScale"] == true,
            current_weights: (!c["currentWeights"].is_null()).then(|| {
                (
                    int(&c["currentWeights"]["canary"]),
                    int(&c["currentWeights"]["stable"]),
                )
            }),
            aborted: c["aborted"] == true,
        };
        (
            traffic_routed_counts(&input),
            (int(&c["expectedNew"]), int(&c["expectedStable"])),
        )
    });
}

#[test]
fn abort_weights_match_argo() {
    let mut checked = 0;
    for c in cases("abortWeight") {
        let steps: Vec<CanaryStep> = serde_json::from_value(c["steps"].clone()).unwrap();
        let r = int(&c["replicas"]);
        let max = int(&c["maxWeight"]);
        let delay = (!c["abortScaleDownDelaySeconds"].is_null())
            .then(|| int(&c["abortScaleDownDelaySeconds"]));
        let (new, stable) = (pods(&c["newRS"]).unwrap(), pods(&c["stableRS"]).unwrap());
        let want = int(&c["expectedWeight"]);
        if c["function"] == "GetDesiredCanaryWeight" {
            let got = abort_step_weight(&steps, r, max, stable.available, new.available, delay);
            assert_eq!(got, want, "{}", c["name"]);
        } else {
            let desired = if c["aborted"] == true {
                abort_step_weight(&steps, r, max, stable.available, new.available, delay)
            } else {
                let index = c["currentStepIndex"].as_u64().unwrap_or(0) as usize;
                rollout_core::steps::set_weight_at(&steps, index, max)
            };
            let got = abort_weight(&AbortWeight {
                dynamic_stable_scale: c["dynamicStableScale"] == true,
                replicas: r,
                max_weight: max,
                desired,
                stable_available: Some(stable.available),
                canary_exists: true,
                current: (!c["currentWeights"].is_null())
                    .then(|| int(&c["currentWeights"]["canary"])),
            });
            assert_eq!(got, want, "{}", c["name"]);
        }
        checked += 1;
    }
    assert_eq!(checked, 11);
}

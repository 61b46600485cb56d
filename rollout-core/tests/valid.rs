//! `ValidRollout`: validated once, it decides exactly as `decide` does.

use rollout_core::sim::Sim;
use rollout_core::{Error, Observations, Rollout, Time, ValidRollout, decide};
use serde_json::json;

fn canary() -> Rollout {
    Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"replicas": 5,
                "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                    "trafficRouting": {"managedRoutes": [{"name": "beta"}],
                        "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
                    "steps": [{"setWeight": 20}, {"pause": {"duration": "30s"}},
                        {"setHeaderRoute": {"name": "beta",
                            "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
                        {"setWeight": 60}, {"pause": {}}, {"setWeight": 100}]}}}}),
        "web.yaml",
    )
    .unwrap()
}

#[test]
fn a_valid_rollout_decides_as_decide_does_at_every_tick() {
    let mut sim = Sim::new(canary(), Time::from_unix_seconds(1_790_000_000));
    sim.settle();
    sim.set_image("web:2");
    let mut compared = 0;
    for _ in 0..200 {
        let (observed, now) = (sim.observe(), sim.now);
        let valid = ValidRollout::new(sim.rollout.clone()).unwrap();
        assert_eq!(
            valid.decide(&observed, now),
            decide(&sim.rollout, &observed, now).unwrap()
        );
        compared += 1;
        let (_, more) = sim.step().unwrap();
        if !more {
            sim.promote();
            if sim.run(1).unwrap().is_empty() {
                break;
            }
        }
        if sim
            .rollout
            .status
            .as_ref()
            .and_then(|s| s.stable_rs.as_deref())
            == Some(sim.current_hash())
        {
            break;
        }
    }
    assert!(compared > 10, "compared {compared} ticks");
}

#[test]
fn the_status_can_change_under_a_valid_rollout() {
    let seen = Observations {
        current_pod_hash: "abc".into(),
        ..Default::default()
    };
    let now = Time::from_unix_seconds(0);
    let mut valid = ValidRollout::new(canary()).unwrap();
    let first = valid.decide(&seen, now);
    valid.set_status(Some(first.status.clone()));
    let mut written = canary();
    written.status = Some(first.status);
    assert_eq!(valid.rollout(), &written);
    assert_eq!(
        valid.decide(&seen, now),
        decide(&written, &seen, now).unwrap()
    );
    assert_eq!(valid.into_rollout(), written);
}

#[test]
fn an_invalid_rollout_is_refused_as_decide_refuses_it() {
    let mut bad = canary();
    bad.spec.replicas = Some(-1);
    let seen = Observations::default();
    let by_decide = decide(&bad, &seen, Time::from_unix_seconds(0)).unwrap_err();
    let by_valid = ValidRollout::new(bad).unwrap_err();
    assert!(matches!(by_valid, Error::Invalid { .. }), "{by_valid}");
    assert_eq!(by_valid.to_string(), by_decide.to_string());
}

#[test]
fn a_blue_green_rollout_is_run_alike() {
    let r = Rollout::from_value(
        json!({"metadata": {"name": "web"},
            "spec": {"strategy": {"blueGreen": {"activeService": "web-active"}}}}),
        "web.yaml",
    )
    .unwrap();
    let seen = Observations {
        current_pod_hash: "abc".into(),
        ..Default::default()
    };
    let by_decide = decide(&r, &seen, Time::from_unix_seconds(0)).unwrap();
    let valid = ValidRollout::new(r).unwrap();
    assert_eq!(valid.decide(&seen, Time::from_unix_seconds(0)), by_decide);
    assert_eq!(by_decide.status.stable_rs.as_deref(), Some("abc"));
}

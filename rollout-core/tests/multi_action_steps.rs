//! Steps that set several actions, as Argo Rollouts accepts and runs them:
//! at most one of setWeight/pause/experiment/analysis, plus any of
//! setCanaryScale/setHeaderRoute/setMirrorRoute/plugin.

use std::time::Duration;

use rollout_core::sim::Sim;
use rollout_core::{AnalysisPhase, Phase, Rollout};
use serde::Deserialize;

mod support;

use support::{deployed, rollout};

/// Traffic routing with two managed routes, and these steps.
fn routed(replicas: i32, steps: serde_json::Value) -> Rollout {
    rollout(serde_json::json!({
        "replicas": replicas,
        "strategy": {"canary": {
            "canaryService": "web-canary", "stableService": "web-stable",
            "trafficRouting": {
                "managedRoutes": [{"name": "beta-users"}, {"name": "shadow"}],
                "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}
            },
            "steps": steps
        }}
    }))
}

fn beta_header() -> serde_json::Value {
    serde_json::json!({"name": "beta-users",
        "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]})
}

fn completed_steps(sim: &Sim) -> Vec<String> {
    sim.events
        .iter()
        .filter(|(_, e)| e.reason == "RolloutStepCompleted")
        .map(|(_, e)| e.message.clone())
        .collect()
}

/// The shape of Argo's APISIX end-to-end test: one step scales the canary to
/// one pod, routes a header to it and pauses for 15 seconds.
#[test]
fn pause_with_canary_scale_and_header_route_runs_to_healthy() {
    let mut sim = deployed(routed(
        4,
        serde_json::json!([
            {"setCanaryScale": {"replicas": 1}, "setHeaderRoute": beta_header(),
             "pause": {"duration": 15}},
            {"pause": {}}
        ]),
    ));
    sim.set_image("web:2");
    assert!(
        sim.run_until(|s| s.step_index() == Some(0)
            && s.phase() == Some(Phase::Paused)
            && s.router.header_routes() == ["beta-users"])
            .unwrap()
    );
    assert_eq!(sim.pods(), (1, 4), "setCanaryScale replicas 1; stable full");
    assert_eq!(sim.router.canary_weight(), Some(0), "no setWeight yet");
    let paused = sim.rollout.status.as_ref().unwrap().pause_conditions[0].start_time;

    assert!(sim.run_until(|s| s.step_index() == Some(1)).unwrap());
    assert!(sim.now.saturating_since(paused) > Duration::from_secs(15));
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(
        sim.router.header_routes(),
        ["beta-users"],
        "the route stays in effect after its step"
    );
    assert_eq!(sim.pods(), (1, 4), "the canary scale stays in effect too");
    assert_eq!(
        completed_steps(&sim),
        ["Rollout step 1/2 completed (pause: 15)"]
    );

    sim.promote();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert!(sim.router.header_routes().is_empty());
    assert_eq!(sim.replica_set(sim.current_hash()).unwrap().size(), 4);
}

/// A `setWeight` that shares its step with `setCanaryScale`: traffic follows
/// the weight, pods follow the scale, and (as in Argo) the step completes
/// once the ReplicaSets are at their counts; the event names it by its weight.
#[test]
fn weight_and_canary_scale_in_one_step() {
    let mut sim = deployed(routed(
        10,
        serde_json::json!([
            {"setWeight": 20, "setCanaryScale": {"replicas": 5}},
            {"pause": {}},
            {"setWeight": 60, "setCanaryScale": {"matchTrafficWeight": true}},
            {"pause": {}}
        ]),
    ));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.step_index(), Some(1));
    assert_eq!(sim.router.canary_weight(), Some(20));
    assert_eq!(sim.pods(), (5, 10));
    sim.promote();
    sim.settle();
    assert_eq!(sim.step_index(), Some(3));
    assert_eq!(sim.router.canary_weight(), Some(60));
    assert_eq!(sim.pods(), (6, 10), "matchTrafficWeight: 60% of 10 pods");
    assert_eq!(
        completed_steps(&sim),
        [
            "Rollout step 1/4 completed (setWeight: 20)",
            "Rollout step 2/4 completed (pause)",
            "Rollout step 3/4 completed (setWeight: 60)",
        ]
    );
}

/// Header and mirror routes set by one step, and removed by one step.
#[test]
fn header_and_mirror_route_in_one_step() {
    let mut sim = deployed(routed(
        4,
        serde_json::json!([
            {"setWeight": 25},
            {"setHeaderRoute": beta_header(),
             "setMirrorRoute": {"name": "shadow", "percentage": 50,
                "match": [{"method": {"exact": "GET"}}]}},
            {"pause": {}},
            {"setHeaderRoute": {"name": "beta-users"}, "setMirrorRoute": {"name": "shadow"}},
            {"pause": {}}
        ]),
    ));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.step_index(), Some(2));
    assert_eq!(sim.router.header_routes(), ["beta-users"]);
    assert_eq!(sim.router.mirror_routes(), ["shadow"]);
    sim.promote();
    sim.settle();
    assert_eq!(sim.step_index(), Some(4));
    assert!(sim.router.header_routes().is_empty());
    assert!(sim.router.mirror_routes().is_empty());
    assert_eq!(
        completed_steps(&sim)[1],
        "Rollout step 2/5 completed (setHeaderRoute: beta-users)"
    );
}

/// An analysis that shares its step with a step plugin: the analysis decides
/// when the step completes (Argo checks it first), a failing plugin aborts.
#[test]
fn analysis_with_step_plugin() {
    let spec = |_| {
        rollout(serde_json::json!({
            "replicas": 2,
            "strategy": {"canary": {"steps": [
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "success-rate"}]},
                 "plugin": {"name": "notify"}},
                {"pause": {}}
            ]}}
        }))
    };
    let mut sim = deployed(spec(()));
    sim.step_plugin = Some((AnalysisPhase::Running, Duration::from_secs(3600)));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(
        sim.step_index(),
        Some(2),
        "the successful analysis completes the step; the running plugin does not hold it"
    );

    let mut sim = deployed(spec(()));
    sim.step_plugin = Some((AnalysisPhase::Failed, Duration::from_secs(1)));
    sim.script_analysis(|_| (AnalysisPhase::Running, Duration::from_secs(3600)));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    let status = sim.rollout.status.as_ref().unwrap();
    assert!(status.abort, "{status:?}");
}

#[test]
fn two_exclusive_actions_are_refused_naming_the_step_and_both_actions() {
    let doc = serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"strategy": {"canary": {"steps": [
            {"setWeight": 10},
            {"setWeight": 20, "analysis": {"templates": [{"templateName": "t"}]},
             "setCanaryScale": {"replicas": 1}}
        ]}}}
    });
    let err = Rollout::from_value(doc, "web.yaml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "web.yaml: spec.strategy.canary.steps[1]: a step may set only one of setWeight, pause, \
         experiment, analysis; this one sets setWeight and analysis"
    );
}

/// The corpus Rollouts whose steps combine actions run to completion: every
/// step completes once (pauses promoted by hand) and the update ends Healthy.
#[test]
fn corpus_multi_action_rollouts_run_to_healthy() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/corpus");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("canary-multi-action-") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let value = serde_json::Value::deserialize(serde_yaml_ng::Deserializer::from_str(&text))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rollout = Rollout::from_value(value, &name).unwrap();
        let steps = rollout.canary().unwrap().steps.len();
        assert!(
            rollout
                .canary()
                .unwrap()
                .steps
                .iter()
                .any(|s| s.actions().len() > 1),
            "{name}: no step with several actions"
        );
        let mut sim = deployed(rollout);
        sim.step_plugin = Some((AnalysisPhase::Successful, Duration::from_secs(5)));
        sim.set_image("registry.example.com/next:2");
        for _ in 0..steps {
            sim.settle();
            if sim.phase() == Some(Phase::Healthy) {
                break;
            }
            sim.promote();
        }
        sim.settle();
        assert_eq!(sim.phase(), Some(Phase::Healthy), "{name}");
        assert_eq!(
            completed_steps(&sim).len(),
            steps,
            "{name}: {:?}",
            completed_steps(&sim)
        );
        ran += 1;
    }
    assert_eq!(ran, 4, "the corpus has four multi-action Rollouts");
}

//! `experiment` steps end to end on the simulator: the step's Experiment is
//! created with a ReplicaSet per template, its weighted template is an
//! extra destination while it runs (taken from the stable share), a
//! Successful Experiment moves the rollout to the next step and its
//! ReplicaSets go after its scale-down delay, a failing one aborts.

use std::time::Duration;

use rollout_core::sim::Sim;
use rollout_core::{AnalysisPhase, Phase, Rollout, Time};
use serde_json::json;

fn sim() -> Sim {
    let rollout = Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 4,
                "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"canary": {
                    "canaryService": "web-canary", "stableService": "web-stable",
                    "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
                    "steps": [
                        {"setWeight": 20},
                        {"experiment": {"duration": "2m", "templates": [
                            {"name": "preview", "specRef": "canary", "weight": 10,
                                "service": {}},
                            {"name": "baseline", "specRef": "stable", "replicas": 2}]}},
                        {"setWeight": 50},
                        {"pause": {}}]}}}}),
        "web.yaml",
    )
    .unwrap();
    let mut sim = Sim::new(rollout, Time::from_unix_seconds(0));
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    sim
}

fn running(sim: &Sim) -> bool {
    sim.experiments
        .first()
        .is_some_and(|e| e.phase(sim.now) == AnalysisPhase::Running)
}

#[test]
fn a_running_experiment_adds_its_weighted_template_then_succeeds_into_the_next_step() {
    let mut sim = sim();
    sim.set_image("web:2");
    assert!(sim.run_until(running).unwrap(), "{sim:?}");
    let [experiment] = &sim.experiments.clone()[..] else {
        panic!("{:?}", sim.experiments)
    };
    let name = format!("web-{}-2-1", sim.current_hash());
    assert_eq!(experiment.name, name);
    let sizes: Vec<(&str, i32, &str)> = experiment
        .templates
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.replica_set.size(),
                t.replica_set.image.as_str(),
            )
        })
        .collect();
    assert_eq!(sizes, [("preview", 1, "web:2"), ("baseline", 2, "web:1")]);
    assert_eq!(
        sim.event_counts().get("ExperimentCreated"),
        Some(&1),
        "{:?}",
        sim.events
    );
    let status = sim.rollout.status.as_ref().unwrap();
    assert_eq!(
        status.canary.current_experiment.as_deref(),
        Some(name.as_str())
    );

    // One more reconcile routes the weighted template, from the stable share.
    sim.reconcile().unwrap();
    let traffic = sim.router.applied.clone().unwrap();
    assert_eq!(traffic.canary.weight, 20);
    assert_eq!(traffic.stable.weight, 70);
    let preview = format!("{name}-preview");
    let [extra] = &traffic.additional[..] else {
        panic!("{traffic:?}")
    };
    assert_eq!(
        (extra.weight, extra.service_name.as_deref()),
        (10, Some(preview.as_str()))
    );
    assert_eq!(
        extra.pod_template_hash.as_deref(),
        Some(experiment.templates[0].replica_set.hash.as_str())
    );

    // After its duration it is Successful: the next step, no extra destination.
    let available = experiment.available_at.unwrap();
    sim.run_until(|s| s.step_index() == Some(3)).unwrap();
    assert!(sim.now >= available + Duration::from_secs(120));
    assert_eq!(sim.experiments[0].phase(sim.now), AnalysisPhase::Successful);
    let traffic = sim.router.applied.clone().unwrap();
    assert!(traffic.additional.is_empty(), "{traffic:?}");
    assert_eq!((traffic.canary.weight, traffic.stable.weight), (50, 50));
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    let sizes: Vec<i32> = sim.experiments[0]
        .templates
        .iter()
        .map(|t| t.replica_set.size())
        .collect();
    assert_eq!(sizes, [0, 0], "scaled down after scaleDownDelaySeconds");
}

#[test]
fn a_failing_experiment_aborts_the_update() {
    let mut sim = sim();
    sim.experiment_outcome = Some((AnalysisPhase::Failed, Duration::from_secs(20)));
    let stable = sim.current_hash().to_owned();
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    let status = sim.rollout.status.as_ref().unwrap();
    assert!(status.abort);
    assert_eq!(status.stable_rs.as_deref(), Some(stable.as_str()));
    let message = status.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("Experiment analysis phase is error/failed: Experiment web-"),
        "{message}"
    );
    let traffic = sim.router.applied.clone().unwrap();
    assert_eq!(traffic.canary.weight, 0);
    assert!(traffic.additional.is_empty(), "{traffic:?}");
}

#[test]
fn an_abort_cancels_the_running_experiment() {
    let mut sim = sim();
    sim.set_image("web:2");
    assert!(sim.run_until(running).unwrap());
    sim.abort();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    let experiment = &sim.experiments[0];
    assert!(experiment.terminated);
    assert_eq!(experiment.phase(sim.now), AnalysisPhase::Successful);
    assert!(
        experiment
            .templates
            .iter()
            .all(|t| t.replica_set.size() == 0)
    );
}

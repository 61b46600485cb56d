//! Scenario tests: the engine in a simulated world on a virtual clock.

use std::time::Duration;

use rollout_core::sim::Sim;
use rollout_core::{AnalysisPhase, Phase, Rollout};

mod support;

use support::{T0, deployed, manifest, rollout};

fn weights(sim: &Sim) -> Vec<i32> {
    let mut w: Vec<i32> = sim
        .router
        .history
        .iter()
        .map(|(_, t)| t.canary.weight)
        .collect();
    w.dedup();
    w
}

fn message(sim: &Sim) -> Option<String> {
    sim.rollout.status.as_ref().and_then(|s| s.message.clone())
}

#[test]
fn seed001_half_then_pause_then_promote_to_full() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    let stable = sim.current_hash().to_owned();
    sim.set_image("hello:1.23.2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(message(&sim).as_deref(), Some("CanaryPauseStep"));
    assert_eq!(sim.step_index(), Some(1));
    assert_eq!(sim.router.canary_weight(), Some(50));
    assert_eq!(
        sim.pods(),
        (1, 2),
        "one canary pod beside two stable, as `get rollout` shows"
    );

    sim.promote();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert_eq!(sim.step_index(), Some(3));
    assert_eq!(weights(&sim), [0, 50, 100, 0]);
    let at_full = &sim
        .router
        .history
        .iter()
        .find(|(_, t)| t.canary.weight == 100)
        .unwrap()
        .1;
    assert_eq!(
        at_full.canary.pod_template_hash.as_deref(),
        Some(sim.current_hash())
    );
    assert_eq!(
        at_full.stable.pod_template_hash.as_deref(),
        Some(stable.as_str())
    );
    assert_eq!(
        sim.replica_set(&stable).unwrap().size(),
        0,
        "old stable scaled down after its delay"
    );
    assert_eq!(sim.replica_set(sim.current_hash()).unwrap().size(), 2);
}

fn step_of(sim: &Sim, reason: &str) -> usize {
    sim.event_counts().get(reason).copied().unwrap_or(0)
}

#[test]
fn seed002_basic_canary_steps_through_timed_pauses() {
    let mut sim = deployed(manifest("seed002-rollouts-demo.yaml"));
    let stable = sim.current_hash().to_owned();
    sim.set_image("argoproj/rollouts-demo:yellow");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(sim.step_index(), Some(1));
    assert_eq!(sim.pods(), (1, 4), "20% of 5 pods");
    assert!(
        sim.router.history.is_empty(),
        "a basic canary has no router"
    );

    sim.promote();
    let paused_at = |sim: &Sim, index: i32| {
        sim.step_index() == Some(index) && sim.phase() == Some(Phase::Paused)
    };
    assert!(sim.run_until(|s| paused_at(s, 3)).unwrap());
    assert_eq!(sim.pods(), (2, 3), "40%");
    let entered = sim.now;
    assert!(sim.run_until(|s| s.step_index() == Some(4)).unwrap());
    assert!(
        sim.now.saturating_since(entered) > Duration::from_secs(10),
        "the 10 s pause is honoured"
    );
    assert!(sim.run_until(|s| paused_at(s, 5)).unwrap());
    assert_eq!(sim.pods(), (3, 2), "60%");
    assert!(sim.run_until(|s| paused_at(s, 7)).unwrap());
    assert_eq!(sim.pods(), (4, 1), "80%");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert_eq!(step_of(&sim, "RolloutStepCompleted"), 8);
    assert_eq!(sim.replica_set(&stable).unwrap().size(), 0);
    assert_eq!(sim.replica_set(sim.current_hash()).unwrap().size(), 5);
}

#[test]
fn basic_canary_never_drops_below_min_available() {
    let mut sim = deployed(manifest("seed002-rollouts-demo.yaml"));
    sim.set_image("argoproj/rollouts-demo:yellow");
    sim.promote(); // nothing paused yet: skips nothing harmful, just resumes
    for _ in 0..2_000 {
        let (_, more) = sim.step().unwrap();
        let available: i32 = sim
            .replica_sets
            .iter()
            .map(|rs| rs.available(sim.now))
            .sum();
        let total: i32 = sim.replica_sets.iter().map(|rs| rs.size()).sum();
        assert!(
            available >= 5 - 1,
            "maxUnavailable 25% of 5 is 1; {available} available"
        );
        assert!(total <= 5 + 2, "maxSurge 25% of 5 is 2; {total} pods");
        if sim.phase() == Some(Phase::Paused) {
            sim.promote();
        }
        if !more {
            break;
        }
    }
    assert_eq!(sim.phase(), Some(Phase::Healthy));
}

#[test]
fn abort_sends_traffic_back_at_once_and_retry_starts_over() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    let stable = sim.current_hash().to_owned();
    sim.set_image("hello:1.23.2");
    sim.settle();
    assert_eq!(sim.router.canary_weight(), Some(50));

    sim.abort();
    sim.reconcile().unwrap();
    assert_eq!(
        sim.router.canary_weight(),
        Some(0),
        "one update back to stable"
    );
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    assert_eq!(
        message(&sim).as_deref(),
        Some("RolloutAborted: Rollout aborted update to revision 2")
    );
    assert_eq!(sim.step_index(), Some(0));
    let canary = sim.current_hash().to_owned();
    assert_eq!(
        sim.replica_set(&canary).unwrap().size(),
        1,
        "the canary is kept for the abort delay"
    );
    sim.settle();
    assert_eq!(
        sim.replica_set(&canary).unwrap().size(),
        0,
        "then scaled down"
    );
    assert_eq!(sim.replica_set(&stable).unwrap().size(), 2);
    assert_eq!(sim.phase(), Some(Phase::Degraded));

    sim.retry();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(sim.step_index(), Some(1));
    assert_eq!(sim.router.canary_weight(), Some(50));
    assert_eq!(step_of(&sim, "RolloutRetry"), 1);
}

#[test]
fn promote_full_skips_the_remaining_steps() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    sim.set_image("hello:1.23.2");
    sim.settle();
    sim.promote_full();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert_eq!(
        weights(&sim),
        [0, 50, 0],
        "no 100% step: promotion moves the stable"
    );
    assert!(!sim.rollout.status.as_ref().unwrap().promote_full);
}

#[test]
fn reapplying_the_stable_template_rolls_back_at_once() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    let stable = sim.current_hash().to_owned();
    sim.set_image("hello:1.23.2");
    sim.settle();
    let canary = sim.current_hash().to_owned();
    sim.set_image("hello:1.23.1");
    assert_eq!(sim.current_hash(), stable);
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert_eq!(step_of(&sim, "SkipSteps"), 1);
    assert_eq!(sim.router.canary_weight(), Some(0));
    assert_eq!(sim.replica_set(&canary).unwrap().size(), 0);
    assert_eq!(sim.replica_set(&stable).unwrap().size(), 2);
}

#[test]
fn a_new_template_mid_rollout_restarts_the_steps() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    let stable = sim.current_hash().to_owned();
    sim.set_image("hello:1.23.2");
    sim.settle();
    let v2 = sim.current_hash().to_owned();
    sim.set_image("hello:1.23.3");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(sim.step_index(), Some(1));
    assert_eq!(sim.router.canary_weight(), Some(50));
    let applied = sim.router.applied.clone().unwrap();
    assert_eq!(
        applied.canary.pod_template_hash.as_deref(),
        Some(sim.current_hash())
    );
    assert_eq!(
        applied.stable.pod_template_hash.as_deref(),
        Some(stable.as_str())
    );
    assert_eq!(
        sim.replica_set(&v2).unwrap().size(),
        0,
        "the abandoned canary is scaled down"
    );
    assert_eq!(
        weights(&sim),
        [0, 50, 0, 50],
        "traffic left v2 before v3 got any"
    );
}

fn header_rollout() -> Rollout {
    rollout(serde_json::json!({
        "replicas": 4,
        "strategy": {"canary": {
            "canaryService": "web-canary", "stableService": "web-stable",
            "trafficRouting": {
                "managedRoutes": [{"name": "beta-users"}, {"name": "shadow"}],
                "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}
            },
            "steps": [
                {"setWeight": 10},
                {"setHeaderRoute": {"name": "beta-users",
                    "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
                {"setMirrorRoute": {"name": "shadow", "percentage": 20,
                    "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]}},
                {"pause": {}},
                {"setHeaderRoute": {"name": "beta-users"}},
                {"setWeight": 50},
                {"pause": {}}
            ]
        }}
    }))
}

#[test]
fn header_and_mirror_routes_come_back_after_a_router_crash() {
    let mut sim = deployed(header_rollout());
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.step_index(), Some(3));
    assert_eq!(sim.router.header_routes(), ["beta-users"]);
    assert_eq!(sim.router.mirror_routes(), ["shadow"]);

    sim.router.crash();
    sim.reconcile().unwrap();
    assert_eq!(
        sim.router.header_routes(),
        ["beta-users"],
        "re-created from the step history"
    );
    assert_eq!(sim.router.mirror_routes(), ["shadow"]);
    assert_eq!(sim.router.canary_weight(), Some(10));

    sim.promote();
    sim.settle();
    assert_eq!(sim.step_index(), Some(6));
    assert!(
        sim.router.header_routes().is_empty(),
        "removed by its empty setHeaderRoute step"
    );
    assert_eq!(sim.router.mirror_routes(), ["shadow"]);

    sim.promote();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert!(
        sim.router.mirror_routes().is_empty(),
        "all managed routes go on completion"
    );
}

#[test]
fn abort_removes_managed_routes() {
    let mut sim = deployed(header_rollout());
    sim.set_image("web:2");
    sim.settle();
    sim.abort();
    sim.reconcile().unwrap();
    assert!(sim.router.header_routes().is_empty());
    assert!(sim.router.mirror_routes().is_empty());
    assert_eq!(sim.router.canary_weight(), Some(0));
}

#[test]
fn seed000_mirror_route_with_canary_scale() {
    let mut r = manifest("fragments/seed000-unnamed-5.fragment.yaml");
    r.metadata.name = "notifications-service".into();
    r.spec.replicas = Some(4);
    let mut sim = deployed(r);
    sim.set_image("notifications:v2");
    assert!(
        sim.run_until(|s| s.step_index() == Some(2) && s.phase() == Some(Phase::Paused))
            .unwrap()
    );
    assert_eq!(
        sim.pods(),
        (1, 4),
        "setCanaryScale weight 25 of 4 pods; stable stays full"
    );
    let applied = sim.router.applied.clone().unwrap();
    assert_eq!(
        applied.canary.weight, 0,
        "mirroring sends no live traffic to the canary"
    );
    assert_eq!(applied.mirror_routes.len(), 1);
    assert_eq!(applied.mirror_routes[0].percentage, Some(35));
    let paused = sim.now;
    assert!(sim.run_until(|s| s.step_index() == Some(4)).unwrap());
    assert!(sim.now.saturating_since(paused) > Duration::from_secs(600));
    assert!(sim.router.mirror_routes().is_empty());
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
}

fn analysis_rollout() -> Rollout {
    rollout(serde_json::json!({
        "replicas": 2,
        "strategy": {"canary": {
            "canaryService": "web-canary", "stableService": "web-stable",
            "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
            "steps": [
                {"setWeight": 20},
                {"analysis": {"templates": [{"templateName": "success-rate"}]}},
                {"setWeight": 60}
            ]
        }}
    }))
}

#[test]
fn successful_step_analysis_continues() {
    let mut sim = deployed(analysis_rollout());
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert_eq!(sim.analysis_runs.len(), 1);
    assert!(
        sim.analysis_runs[0].name.starts_with("web-"),
        "{}",
        sim.analysis_runs[0].name
    );
    assert!(
        sim.analysis_runs[0].name.ends_with("-2-1"),
        "{}",
        sim.analysis_runs[0].name
    );
}

#[test]
fn failed_step_analysis_aborts_and_retry_runs_a_fresh_analysis() {
    let mut sim = deployed(analysis_rollout());
    sim.script_analysis(|_| (AnalysisPhase::Failed, Duration::from_secs(30)));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    assert_eq!(
        message(&sim).as_deref(),
        Some(
            "RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed"
        )
    );
    assert_eq!(sim.router.canary_weight(), Some(0));

    sim.script_analysis(|_| (AnalysisPhase::Successful, Duration::from_secs(30)));
    sim.retry();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    let names: Vec<_> = sim.analysis_runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert_eq!(
        names[1],
        format!("{}.1", names[0]),
        "the retry gets a fresh run"
    );
}

#[test]
fn inconclusive_analysis_pauses_until_promoted() {
    let mut sim = deployed(analysis_rollout());
    sim.script_analysis(|_| (AnalysisPhase::Inconclusive, Duration::from_secs(30)));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(message(&sim).as_deref(), Some("InconclusiveAnalysisRun"));
    assert_eq!(sim.router.canary_weight(), Some(20));
    sim.promote();
    sim.settle();
    assert_eq!(
        sim.phase(),
        Some(Phase::Healthy),
        "{:#?}",
        sim.rollout.status
    );
}

#[test]
fn an_inconclusive_step_run_resumed_by_clearing_its_pause_is_measured_again() {
    // Only the pause condition is cleared (an older client, or a hand-made
    // patch): the controller's pause stays, so Argo's needsNewAnalysisRun
    // creates a fresh run for the same step rather than pausing again on
    // the inconclusive one.
    let mut sim = deployed(analysis_rollout());
    sim.script_analysis(|_| (AnalysisPhase::Inconclusive, Duration::from_secs(30)));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(message(&sim).as_deref(), Some("InconclusiveAnalysisRun"));
    let step = sim.step_index();
    sim.script_analysis(|_| (AnalysisPhase::Successful, Duration::from_secs(30)));
    let status = sim.rollout.status.as_mut().unwrap();
    assert!(status.controller_pause);
    status.pause_conditions.clear();
    sim.settle();
    let names: Vec<_> = sim.analysis_runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        names[1],
        format!("{}.1", names[0]),
        "a fresh run of the same step"
    );
    assert!(
        names[0].ends_with(&format!("-{}", step.unwrap())),
        "{names:?}"
    );
    assert_eq!(
        sim.phase(),
        Some(Phase::Healthy),
        "{:#?}",
        sim.rollout.status
    );
}

#[test]
fn failing_background_analysis_aborts() {
    let mut r = manifest("seed001-rollout-canary.yaml");
    r.spec.strategy.canary.as_mut().unwrap().analysis =
        Some(rollout_core::spec::BackgroundAnalysis {
            run: rollout_core::spec::AnalysisStep {
                templates: vec![rollout_core::spec::AnalysisTemplateRef {
                    template_name: "error-rate".into(),
                    cluster_scope: None,
                }],
                ..Default::default()
            },
            starting_step: Some(1),
        });
    let mut sim = deployed(r);
    sim.script_analysis(|_| (AnalysisPhase::Failed, Duration::from_secs(120)));
    sim.set_image("hello:1.23.2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    assert!(
        message(&sim)
            .unwrap()
            .ends_with("Background analysis phase error/failed"),
        "{:?}",
        message(&sim)
    );
    assert_eq!(sim.router.canary_weight(), Some(0));
}

#[test]
fn manual_pause_holds_everything() {
    let mut sim = deployed(manifest("seed002-rollouts-demo.yaml"));
    sim.pause();
    sim.set_image("argoproj/rollouts-demo:yellow");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(message(&sim).as_deref(), Some("manually paused"));
    assert_eq!(sim.pods().0, 0, "no canary pods while paused");
    sim.promote();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(message(&sim).as_deref(), Some("CanaryPauseStep"));
    assert_eq!(sim.pods(), (1, 4));
}

#[test]
fn progress_deadline_abort_gives_up_on_pods_that_never_become_ready() {
    let mut r = manifest("seed001-rollout-canary.yaml");
    r.spec.progress_deadline_seconds = Some(120);
    r.spec.progress_deadline_abort = Some(true);
    let mut sim = deployed(r);
    sim.pod_ready_after = Duration::from_secs(100_000);
    sim.set_image("hello:1.23.2");
    assert!(
        sim.run_until(|s| s.phase() == Some(Phase::Degraded))
            .unwrap()
    );
    assert!(
        message(&sim).unwrap().contains("has timed out progressing"),
        "{:?}",
        message(&sim)
    );
    assert!(sim.now.saturating_since(T0) < Duration::from_secs(1_000));
}

#[test]
fn an_idle_rollout_costs_no_router_writes_and_asks_for_no_wakeup() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    sim.set_image("hello:1.23.2");
    sim.settle();
    let writes = sim.router.writes;
    let status = sim.rollout.status.clone();
    for _ in 0..5 {
        let tick = sim.reconcile().unwrap();
        assert_eq!(tick.decision.requeue_after, None);
        assert!(tick.decision.events.is_empty());
    }
    assert_eq!(sim.router.writes, writes);
    assert_eq!(sim.rollout.status, status, "the status is stable too");
}

#[test]
fn timed_pause_asks_to_be_woken_when_it_ends() {
    let mut sim = deployed(manifest("seed002-rollouts-demo.yaml"));
    sim.set_image("argoproj/rollouts-demo:yellow");
    sim.settle();
    sim.promote();
    assert!(
        sim.run_until(|s| s.step_index() == Some(3) && s.phase() == Some(Phase::Paused))
            .unwrap()
    );
    let tick = sim.reconcile().unwrap();
    assert_eq!(tick.decision.requeue_after, Some(Duration::from_secs(11)));
}

#[test]
fn verify_weight_false_holds_the_step() {
    let mut sim = deployed(analysis_rollout());
    sim.router.verify = Some(false);
    sim.set_image("web:2");
    sim.run(20).unwrap();
    assert_eq!(
        sim.step_index(),
        Some(0),
        "setWeight waits for the router to confirm"
    );
    assert_eq!(sim.router.canary_weight(), Some(20));
    sim.router.verify = Some(true);
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
}

#[test]
fn promote_full_overrides_a_manual_pause() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    sim.set_image("hello:1.23.2");
    sim.settle();
    sim.pause();
    sim.promote_full();
    sim.settle();
    assert_eq!(
        sim.phase(),
        Some(Phase::Healthy),
        "{:#?}",
        sim.rollout.status
    );
}

#[test]
fn promote_full_does_not_wait_for_an_inconclusive_step_analysis() {
    let mut sim = deployed(analysis_rollout());
    sim.script_analysis(|_| (AnalysisPhase::Inconclusive, Duration::from_secs(30)));
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    sim.promote_full();
    sim.settle();
    assert_eq!(
        sim.phase(),
        Some(Phase::Healthy),
        "{:#?}",
        sim.rollout.status
    );
}

#[test]
fn new_steps_on_a_promoted_rollout_leave_it_promoted() {
    let mut sim = deployed(manifest("seed001-rollout-canary.yaml"));
    let writes = sim.router.history.len();
    sim.edit_spec(|spec| {
        let canary = spec.strategy.canary.as_mut().unwrap();
        canary.steps.insert(
            0,
            serde_json::from_value(serde_json::json!({"setWeight": 10})).unwrap(),
        );
    });
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    let steps = sim
        .rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .unwrap()
        .steps
        .len();
    assert_eq!(sim.step_index(), Some(i32::try_from(steps).unwrap()));
    assert_eq!(sim.router.history.len(), writes, "no traffic moves");
    assert_eq!(step_of(&sim, "SkipSteps"), 0, "not a rollback");
}

#[test]
fn abort_scale_down_delay_zero_keeps_the_canary_pods() {
    let mut r = manifest("seed001-rollout-canary.yaml");
    r.spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .abort_scale_down_delay_seconds = Some(0);
    let mut sim = deployed(r);
    sim.set_image("hello:1.23.2");
    sim.settle();
    let canary = sim.current_hash().to_owned();
    let before = sim.replica_set(&canary).unwrap().size();
    assert!(before > 0);
    sim.abort();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    assert_eq!(sim.router.canary_weight(), Some(0));
    assert_eq!(sim.replica_set(&canary).unwrap().size(), before);
}

#[test]
fn resumed_inconclusive_background_analysis_runs_again() {
    let mut r = analysis_rollout();
    let canary = r.spec.strategy.canary.as_mut().unwrap();
    canary.steps = serde_json::from_value(serde_json::json!([
        {"setWeight": 20}, {"pause": {"duration": "10m"}}, {"setWeight": 60}
    ]))
    .unwrap();
    canary.analysis = Some(rollout_core::spec::BackgroundAnalysis {
        run: rollout_core::spec::AnalysisStep {
            templates: vec![rollout_core::spec::AnalysisTemplateRef {
                template_name: "error-rate".into(),
                cluster_scope: None,
            }],
            ..Default::default()
        },
        starting_step: None,
    });
    let mut sim = deployed(r);
    sim.script_analysis(|_| (AnalysisPhase::Inconclusive, Duration::from_secs(30)));
    sim.set_image("web:2");
    sim.run_until(|s| message(s).as_deref() == Some("InconclusiveAnalysisRun"))
        .unwrap();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    sim.script_analysis(|_| (AnalysisPhase::Successful, Duration::from_secs(30)));
    sim.promote();
    sim.settle();
    let names: Vec<_> = sim.analysis_runs.iter().map(|r| r.name.as_str()).collect();
    assert!(names.len() >= 2, "a fresh run after the resume: {names:?}");
    assert_ne!(names[0], names[1]);
    assert_eq!(
        sim.phase(),
        Some(Phase::Healthy),
        "{:#?}",
        sim.rollout.status
    );
}

#[test]
fn extreme_surge_and_traffic_weight_do_not_overflow() {
    for (surge, max_weight) in [
        (serde_json::json!(2_147_483_647), 100),
        (serde_json::json!("100%"), 2_147_483_647),
        (serde_json::json!(2_147_483_647), 2_147_483_647),
    ] {
        let r = rollout(serde_json::json!({
            "replicas": 1_000_000,
            "strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "maxSurge": surge, "maxUnavailable": 0,
                "trafficRouting": {
                    "maxTrafficWeight": max_weight,
                    "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}
                },
                "steps": [{"setWeight": 20}, {"pause": {}}]
            }}
        }));
        let mut sim = Sim::new(r, T0);
        sim.run(50).unwrap();
        sim.set_image("web:2");
        sim.run(50).unwrap();
        sim.promote_full();
        sim.run(50).unwrap();
    }
}

#[test]
fn dynamic_stable_scale_keeps_pods_behind_traffic_on_a_new_template() {
    let r = rollout(serde_json::json!({
        "replicas": 4,
        "strategy": {"canary": {
            "canaryService": "web-canary", "stableService": "web-stable",
            "dynamicStableScale": true,
            "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
            "steps": [{"setWeight": 50}, {"pause": {}}]
        }}
    }));
    let mut sim = deployed(r);
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.router.canary_weight(), Some(50));
    let second = sim.current_hash().to_owned();
    let serving = sim.replica_set(&second).unwrap().size();
    assert!(serving > 0);
    sim.set_image("web:3");
    sim.reconcile().unwrap();
    assert_eq!(
        sim.replica_set(&second).unwrap().size(),
        serving,
        "revision 2 still receives traffic, so it keeps its pods"
    );
}

//! Blue-green updates end to end on the simulator, as Argo's e2e
//! scenarios run them: promote, abort, auto-promotion, pre-promotion
//! analysis failing, post-promotion analysis failing (back to the old
//! pods), and the old pods going after `scaleDownDelaySeconds`.

use std::time::Duration;

use rollout_core::sim::Sim;
use rollout_core::{AnalysisKind, AnalysisPhase, Phase, Rollout, Time};
use serde_json::{Value, json};

fn sim(extra: Value) -> Sim {
    let mut strategy = json!({"activeService": "web", "previewService": "web-preview"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        strategy[k] = v.clone();
    }
    let rollout = Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 3,
                "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"blueGreen": strategy}}}),
        "web.yaml",
    )
    .unwrap();
    let mut sim = Sim::new(rollout, Time::from_unix_seconds(0));
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    sim
}

fn active(sim: &Sim) -> Option<&str> {
    sim.services.get("web").map(String::as_str)
}

fn size(sim: &Sim, hash: &str) -> i32 {
    sim.replica_set(hash).map_or(0, |rs| rs.size())
}

#[test]
fn a_manual_promotion_switches_then_the_old_pods_go_after_the_delay() {
    let mut sim = sim(json!({"autoPromotionEnabled": false}));
    let blue = sim.current_hash().to_owned();
    assert_eq!(active(&sim), Some(blue.as_str()));
    sim.set_image("web:2");
    let green = sim.current_hash().to_owned();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Paused));
    assert_eq!(sim.services.get("web-preview"), Some(&green));
    assert_eq!(active(&sim), Some(blue.as_str()));
    assert_eq!((size(&sim, &blue), size(&sim, &green)), (3, 3));

    sim.promote();
    let switched_at = sim.now;
    sim.run_until(|s| s.phase() == Some(Phase::Healthy))
        .unwrap();
    assert_eq!(active(&sim), Some(green.as_str()));
    assert_eq!(size(&sim, &blue), 3, "kept for scaleDownDelaySeconds");
    sim.settle();
    assert_eq!(size(&sim, &blue), 0);
    let deadline = sim.replica_set(&blue).unwrap().scale_down_deadline.unwrap();
    assert_eq!(deadline, switched_at + Duration::from_secs(30));
}

#[test]
fn auto_promotion_seconds_switch_on_their_own() {
    let mut sim = sim(json!({"autoPromotionSeconds": 20}));
    sim.set_image("web:2");
    let green = sim.current_hash().to_owned();
    sim.run_until(|s| s.phase() == Some(Phase::Paused)).unwrap();
    let paused_at = sim.now;
    sim.run_until(|s| s.services.get("web") == Some(&green))
        .unwrap();
    assert!(sim.now >= paused_at + Duration::from_secs(20));
    sim.settle();
    assert_eq!(
        sim.phase(),
        Some(Phase::Healthy),
        "{:#?}",
        sim.rollout.status
    );
}

#[test]
fn an_abort_goes_back_to_the_old_pods_and_scales_the_preview_down() {
    let mut sim = sim(json!({"autoPromotionEnabled": false}));
    let blue = sim.current_hash().to_owned();
    sim.set_image("web:2");
    let green = sim.current_hash().to_owned();
    sim.settle();
    sim.abort();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    assert_eq!(active(&sim), Some(blue.as_str()));
    assert_eq!(size(&sim, &green), 0, "after abortScaleDownDelaySeconds");
    assert_eq!(size(&sim, &blue), 3);
}

#[test]
fn a_failing_pre_promotion_analysis_never_switches() {
    let mut sim = sim(json!({"prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]}}));
    sim.script_analysis(|_| (AnalysisPhase::Failed, Duration::from_secs(30)));
    let blue = sim.current_hash().to_owned();
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    assert_eq!(active(&sim), Some(blue.as_str()));
    let status = sim.rollout.status.as_ref().unwrap();
    assert_eq!(status.stable_rs.as_deref(), Some(blue.as_str()));
    assert!(
        status
            .message
            .as_deref()
            .unwrap()
            .contains("Blue/green pre-promotion analysis phase error/failed")
    );
}

#[test]
fn a_failing_post_promotion_analysis_switches_back() {
    let mut sim = sim(json!({"postPromotionAnalysis": {"templates": [{"templateName": "smoke"}]}}));
    let kinds = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = kinds.clone();
    sim.script_analysis(move |req| {
        seen.borrow_mut().push(req.kind);
        (AnalysisPhase::Failed, Duration::from_secs(30))
    });
    let blue = sim.current_hash().to_owned();
    sim.set_image("web:2");
    let green = sim.current_hash().to_owned();
    sim.run_until(|s| s.services.get("web") == Some(&green))
        .unwrap();
    assert_eq!(
        size(&sim, &blue),
        3,
        "the old pods stay while the run measures"
    );
    sim.settle();
    assert_eq!(*kinds.borrow(), [AnalysisKind::PostPromotion]);
    assert_eq!(sim.phase(), Some(Phase::Degraded));
    assert_eq!(active(&sim), Some(blue.as_str()));
    let status = sim.rollout.status.as_ref().unwrap();
    assert_eq!(status.stable_rs.as_deref(), Some(blue.as_str()));
}

#[test]
fn passing_analyses_complete_the_update() {
    let mut sim = sim(json!({
        "prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]},
        "postPromotionAnalysis": {"templates": [{"templateName": "smoke"}]}}));
    sim.set_image("web:2");
    let green = sim.current_hash().to_owned();
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert_eq!(active(&sim), Some(green.as_str()));
    let names: Vec<&str> = sim.analysis_runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].ends_with("-pre") && names[1].ends_with("-post"),
        "{names:?}"
    );
}

//! Blue-green decisions, one pass at a time, for the cases Argo Rollouts'
//! `rollout/bluegreen_test.go` and `rollout/analysis_test.go` check: the
//! scale-down delays and their revision limit, abort, and pre- and
//! post-promotion analysis.

mod support;

use rollout_core::{AnalysisKind, AnalysisPhase, Phase, ReplicaSetRole, decide};
use serde_json::{Value, json};
use support::blue_green::*;

#[test]
fn the_previous_active_replica_set_is_scaled_down_after_its_delay() {
    let promoted = json!({"currentPodHash": "new", "stableRS": "new",
        "blueGreen": {"activeSelector": "new", "previewSelector": "new"}});
    for (spec, deadline, now, want) in [
        // No deadline yet: one is set 30 s (the default) ahead, the pods stay.
        (json!({}), None, 0, (2, Some(at(30)))),
        (
            json!({"scaleDownDelaySeconds": 5}),
            None,
            0,
            (2, Some(at(5))),
        ),
        // Before the deadline the pods stay; after it they go.
        (json!({}), Some(at(30)), 29, (2, Some(at(30)))),
        (json!({}), Some(at(30)), 30, (0, Some(at(30)))),
        // A delay of 0 sets no deadline, and Argo then keeps the pods.
        (json!({"scaleDownDelaySeconds": 0}), None, 0, (2, None)),
    ] {
        let r = rollout(spec.clone(), promoted.clone());
        let mut old = rs("old", 1, 2, 2);
        old.scale_down_deadline = deadline;
        let d = decide(
            &r,
            &seen(vec![old, rs("new", 2, 2, 2)], "new", "new", &[]),
            at(now),
        )
        .unwrap();
        assert_eq!(size(&d, "old"), Some(want), "{spec} at {now}");
        assert_eq!(d.replica_sets[0].role, ReplicaSetRole::Current);
    }
}

#[test]
fn beyond_the_revision_limit_old_replica_sets_go_at_once() {
    let r = rollout(
        json!({"scaleDownDelayRevisionLimit": 1}),
        json!({"currentPodHash": "new", "stableRS": "new",
            "blueGreen": {"activeSelector": "new", "previewSelector": "new"}}),
    );
    let replica_sets = vec![rs("a", 1, 2, 2), rs("b", 2, 2, 2), rs("new", 3, 2, 2)];
    let d = decide(&r, &seen(replica_sets, "new", "new", &[]), at(0)).unwrap();
    assert_eq!(
        size(&d, "b"),
        Some((2, Some(at(30)))),
        "the newest keeps its delay"
    );
    assert_eq!(size(&d, "a"), Some((0, None)));
}

#[test]
fn a_replica_set_a_service_still_selects_is_not_scaled_down() {
    let r = rollout(
        json!({}),
        json!({"currentPodHash": "new", "stableRS": "new",
            "blueGreen": {"activeSelector": "new", "previewSelector": "new"}}),
    );
    let d = decide(&r, &seen(both_ready(), "new", "old", &[]), at(0)).unwrap();
    assert_eq!(size(&d, "old"), None);
}

#[test]
fn an_abort_sends_the_active_service_back_and_keeps_the_preview_for_its_delay() {
    let aborted = json!({"currentPodHash": "new", "stableRS": "old", "abort": true,
        "abortedAt": "1970-01-01T00:00:00Z",
        "blueGreen": {"activeSelector": "new", "previewSelector": "new"}});
    let r = rollout(json!({}), aborted.clone());
    let d = decide(&r, &seen(both_ready(), "new", "new", &[]), at(0)).unwrap();
    assert_eq!(service(&d, "web").as_deref(), Some("old"));
    assert_eq!(size(&d, "new"), Some((2, Some(at(30)))));
    assert_eq!(size(&d, "old"), Some((2, None)));
    assert_eq!(d.status.phase, Some(Phase::Degraded));
    assert!(
        d.status
            .message
            .as_deref()
            .unwrap()
            .starts_with("RolloutAborted: Rollout aborted update to revision 2")
    );

    let mut preview = rs("new", 2, 2, 2);
    preview.scale_down_deadline = Some(at(30));
    let d = decide(
        &r,
        &seen(vec![rs("old", 1, 2, 2), preview], "old", "new", &[]),
        at(30),
    )
    .unwrap();
    assert_eq!(size(&d, "new"), Some((0, Some(at(30)))));

    // 0 keeps the preview's pods for as long as the rollout stays aborted.
    let r = rollout(json!({"abortScaleDownDelaySeconds": 0}), aborted);
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(100)).unwrap();
    assert_eq!(size(&d, "new"), Some((2, None)));
}

#[test]
fn pre_promotion_analysis_gates_the_switch() {
    let spec = json!({"prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]}});
    let r = rollout(spec.clone(), updating(json!({})));
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(0)).unwrap();
    assert_eq!(d.analysis_runs.len(), 1);
    assert_eq!(d.analysis_runs[0].name, "web-new-2-pre");
    assert_eq!(d.analysis_runs[0].kind, AnalysisKind::PrePromotion);
    assert_eq!(service(&d, "web").as_deref(), Some("old"));

    let with_run = |phase: &str| {
        updating(
            json!({"blueGreen": {"activeSelector": "old", "previewSelector": "new",
            "prePromotionAnalysisRunStatus": {"name": "web-new-2-pre", "status": phase}}}),
        )
    };
    let r = rollout(spec.clone(), with_run("Running"));
    let running = [("web-new-2-pre", AnalysisPhase::Running)];
    let d = decide(&r, &seen(both_ready(), "old", "new", &running), at(10)).unwrap();
    assert_eq!(service(&d, "web").as_deref(), Some("old"));
    assert_eq!(d.analysis_runs[0].name, "web-new-2-pre");

    let passed = [("web-new-2-pre", AnalysisPhase::Successful)];
    let d = decide(&r, &seen(both_ready(), "old", "new", &passed), at(20)).unwrap();
    assert_eq!(service(&d, "web").as_deref(), Some("new"));

    let failed = [("web-new-2-pre", AnalysisPhase::Failed)];
    let d = decide(&r, &seen(both_ready(), "old", "new", &failed), at(20)).unwrap();
    assert!(d.status.abort);
    assert_eq!(service(&d, "web").as_deref(), Some("old"));
    let message = &d
        .status
        .conditions
        .iter()
        .find(|c| c.reason.as_str() == "RolloutAborted")
        .unwrap()
        .message;
    assert_eq!(
        message,
        "Rollout aborted update to revision 2: Blue/green pre-promotion analysis phase error/failed: run Failed"
    );
}

#[test]
fn an_inconclusive_run_pauses_and_holds_the_services() {
    let spec = json!({"prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]}});
    let r = rollout(
        spec,
        updating(
            json!({"blueGreen": {"activeSelector": "old", "previewSelector": "new",
        "prePromotionAnalysisRunStatus": {"name": "web-new-2-pre", "status": "Running"}}}),
        ),
    );
    let runs = [("web-new-2-pre", AnalysisPhase::Inconclusive)];
    let d = decide(&r, &seen(both_ready(), "old", "new", &runs), at(0)).unwrap();
    assert_eq!(pauses(&d), ["InconclusiveAnalysisRun"]);
    assert_eq!(d.status.phase, Some(Phase::Paused));
}

#[test]
fn post_promotion_analysis_decides_whether_the_new_replica_set_becomes_stable() {
    let spec = json!({"postPromotionAnalysis": {"templates": [{"templateName": "smoke"}]}});
    let switched = |run: Value| {
        json!({"currentPodHash": "new", "stableRS": "old",
            "blueGreen": {"activeSelector": "new", "previewSelector": "new",
                "postPromotionAnalysisRunStatus": run}})
    };
    // Switched, run not started yet: it is requested; old pods stay up.
    let r = rollout(spec.clone(), switched(Value::Null));
    let d = decide(&r, &seen(both_ready(), "new", "new", &[]), at(0)).unwrap();
    assert_eq!(d.analysis_runs[0].name, "web-new-2-post");
    assert_eq!(d.analysis_runs[0].kind, AnalysisKind::PostPromotion);
    assert_eq!(d.status.stable_rs.as_deref(), Some("old"));
    assert_eq!(d.status.phase, Some(Phase::Progressing));
    assert_eq!(
        d.status.message.as_deref(),
        Some("waiting for analysis to complete")
    );
    assert_eq!(size(&d, "old"), Some((2, None)));

    let r = rollout(
        spec.clone(),
        switched(json!({"name": "web-new-2-post", "status": "Running"})),
    );
    let passed = [("web-new-2-post", AnalysisPhase::Successful)];
    let d = decide(&r, &seen(both_ready(), "new", "new", &passed), at(60)).unwrap();
    assert_eq!(d.status.stable_rs.as_deref(), Some("new"));

    let failed = [("web-new-2-post", AnalysisPhase::Error)];
    let d = decide(&r, &seen(both_ready(), "new", "new", &failed), at(60)).unwrap();
    assert!(d.status.abort);
    assert_eq!(d.status.stable_rs.as_deref(), Some("old"));
    // The next pass switches the active Service back to the stable pods.
    let r = rollout(spec, serde_json::to_value(&d.status).unwrap());
    let d = decide(&r, &seen(both_ready(), "new", "new", &failed), at(61)).unwrap();
    assert_eq!(service(&d, "web").as_deref(), Some("old"));
    assert!(d.analysis_runs.is_empty());
}

#[test]
fn while_post_promotion_analysis_runs_without_a_delay_old_replica_sets_stay() {
    let spec = json!({"postPromotionAnalysis": {"templates": [{"templateName": "smoke"}]}});
    let r = rollout(
        spec,
        json!({"currentPodHash": "new", "stableRS": "stable",
        "blueGreen": {"activeSelector": "new", "previewSelector": "new",
            "postPromotionAnalysisRunStatus": {"name": "web-new-3-post", "status": "Running"}}}),
    );
    let replica_sets = vec![
        rs("older", 1, 2, 2),
        rs("stable", 2, 2, 2),
        rs("new", 3, 2, 2),
    ];
    let d = decide(
        &r,
        &seen(
            replica_sets,
            "new",
            "new",
            &[("web-new-3-post", AnalysisPhase::Running)],
        ),
        at(0),
    )
    .unwrap();
    assert_eq!(size(&d, "older"), None);
}

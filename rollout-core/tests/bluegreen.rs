//! Blue-green decisions, one pass at a time, for the cases Argo Rollouts'
//! `rollout/bluegreen_test.go` checks: the first deploy, a new template,
//! the pause and auto-promotion, the active Service switch,
//! `previewReplicaCount`, fast rollback, `promote --full` and a healthy
//! rollout.

mod support;

use std::time::Duration;

use rollout_core::{Observations, Phase, decide};
use serde_json::{Value, json};
use support::blue_green::*;

#[test]
fn a_first_deploy_is_stable_at_once_and_the_active_service_follows_once_available() {
    let r = rollout(json!({}), Value::Null);
    let nothing = Observations {
        current_pod_hash: "new".into(),
        ..Default::default()
    };
    let d = decide(&r, &nothing, at(0)).unwrap();
    assert_eq!(d.status.stable_rs.as_deref(), Some("new"));
    assert_eq!(
        size(&d, "new"),
        Some((0, None)),
        "created empty, as Argo creates it"
    );
    assert_eq!(reasons(&d), ["SwitchService", "RolloutCompleted"]);
    assert_eq!(service(&d, "web-preview").as_deref(), Some("new"));
    assert_eq!(
        service(&d, "web"),
        None,
        "no active switch before the pods exist"
    );

    let r = rollout(json!({}), serde_json::to_value(&d.status).unwrap());
    let up = seen(vec![rs("new", 1, 0, 0)], "", "new", &[]);
    let d = decide(&r, &up, at(1)).unwrap();
    assert_eq!(size(&d, "new"), Some((2, None)));
    assert_eq!(service(&d, "web"), None);

    let r = rollout(json!({}), serde_json::to_value(&d.status).unwrap());
    let ready = seen(vec![rs("new", 1, 2, 2)], "", "new", &[]);
    let d = decide(&r, &ready, at(20)).unwrap();
    assert_eq!(service(&d, "web").as_deref(), Some("new"));
    assert_eq!(d.status.blue_green.active_selector.as_deref(), Some("new"));
    assert_eq!(
        d.status.phase,
        Some(Phase::Healthy),
        "{:?}",
        d.status.message
    );
}

#[test]
fn a_new_template_points_the_preview_service_at_it_and_resets_the_update() {
    let r = rollout(
        json!({}),
        json!({"currentPodHash": "old", "stableRS": "old",
            "blueGreen": {"activeSelector": "old", "previewSelector": "old",
                "prePromotionAnalysisRunStatus": {"name": "web-old-1-pre", "status": "Successful"}}}),
    );
    let d = decide(
        &r,
        &seen(vec![rs("old", 1, 2, 2)], "old", "old", &[]),
        at(0),
    )
    .unwrap();
    assert_eq!(service(&d, "web-preview").as_deref(), Some("new"));
    assert_eq!(
        d.events[0].message,
        "Switched selector for service 'web-preview' from 'old' to 'new'"
    );
    assert_eq!(d.status.current_pod_hash.as_deref(), Some("new"));
    assert_eq!(d.status.blue_green.pre_promotion_analysis_run_status, None);
    assert_eq!(size(&d, "new"), Some((0, None)));
    assert_eq!(
        size(&d, "old"),
        None,
        "nothing else is scaled in the pass that resets"
    );
    assert_eq!(d.requeue_after, Some(Duration::ZERO));
}

#[test]
fn the_pause_waits_for_the_new_replica_set_to_be_available() {
    let r = rollout(json!({"autoPromotionEnabled": false}), updating(json!({})));
    let d = decide(
        &r,
        &seen(
            vec![rs("old", 1, 2, 2), rs("new", 2, 2, 1)],
            "old",
            "new",
            &[],
        ),
        at(0),
    )
    .unwrap();
    assert!(pauses(&d).is_empty());
    assert_eq!(service(&d, "web"), None);
    assert_eq!(d.status.phase, Some(Phase::Progressing));
}

#[test]
fn auto_promotion_disabled_pauses_until_a_person_promotes() {
    let r = rollout(json!({"autoPromotionEnabled": false}), updating(json!({})));
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(0)).unwrap();
    assert_eq!(pauses(&d), ["BlueGreenPause"]);
    assert!(d.status.controller_pause);
    assert_eq!(d.status.phase, Some(Phase::Paused));
    assert_eq!(d.status.message.as_deref(), Some("BlueGreenPause"));
    assert_eq!(
        service(&d, "web").as_deref(),
        Some("old"),
        "the active Service stays on the old pods"
    );

    // Nothing moves while the pause holds, however long.
    let paused = serde_json::to_value(&d.status).unwrap();
    let r = rollout(json!({"autoPromotionEnabled": false}), paused.clone());
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(3600)).unwrap();
    assert_eq!(pauses(&d), ["BlueGreenPause"]);
    assert_eq!(service(&d, "web").as_deref(), Some("old"));

    // `promote` removes the pause condition and leaves controllerPause.
    let mut promoted = paused;
    promoted["pauseConditions"] = Value::Null;
    let r = rollout(json!({"autoPromotionEnabled": false}), promoted);
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(3601)).unwrap();
    assert_eq!(service(&d, "web").as_deref(), Some("new"));
    assert!(!d.status.controller_pause);
    assert_eq!(d.status.stable_rs.as_deref(), Some("new"));
    assert!(d.events.iter().any(|e| e.message
        == "Rollout completed update to revision 2 (new): Completed blue-green update"));
}

#[test]
fn auto_promotion_seconds_promote_once_they_have_passed() {
    let spec = json!({"autoPromotionSeconds": 10});
    let paused = updating(json!({"controllerPause": true,
        "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "1970-01-01T00:00:00Z"}]}));
    let r = rollout(spec.clone(), paused.clone());
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(4)).unwrap();
    assert_eq!(pauses(&d), ["BlueGreenPause"]);
    // Once the status is written, the pass asks to be woken when the time is up.
    let written = rollout(spec.clone(), serde_json::to_value(&d.status).unwrap());
    let again = decide(&written, &seen(both_ready(), "old", "new", &[]), at(4)).unwrap();
    assert_eq!(again.requeue_after, Some(Duration::from_secs(6)));

    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(11)).unwrap();
    assert!(pauses(&d).is_empty());
    assert_eq!(service(&d, "web").as_deref(), Some("new"));
    assert_eq!(d.status.stable_rs.as_deref(), Some("new"));

    // A person's `spec.paused` holds the switch even after the time.
    let mut held = rollout(spec, paused);
    held.spec.paused = Some(true);
    let d = decide(&held, &seen(both_ready(), "old", "new", &[]), at(11)).unwrap();
    assert_eq!(service(&d, "web"), None, "left as it is");
    assert_eq!(d.status.phase, Some(Phase::Paused));
}

#[test]
fn without_a_pause_the_active_service_switches_once_the_new_pods_are_available() {
    let r = rollout(json!({}), updating(json!({})));
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(0)).unwrap();
    assert!(pauses(&d).is_empty());
    assert_eq!(service(&d, "web").as_deref(), Some("new"));
    assert_eq!(d.status.blue_green.active_selector.as_deref(), Some("new"));
    assert_eq!(d.status.stable_rs.as_deref(), Some("new"));
    assert_eq!(
        size(&d, "old"),
        Some((2, None)),
        "the old stable is sized as stable in this pass"
    );
}

#[test]
fn an_active_service_already_on_the_new_pods_skips_the_pause() {
    let r = rollout(json!({"autoPromotionEnabled": false}), updating(json!({})));
    let d = decide(&r, &seen(both_ready(), "new", "new", &[]), at(0)).unwrap();
    assert!(pauses(&d).is_empty());
    assert_eq!(d.status.stable_rs.as_deref(), Some("new"));
}

#[test]
fn preview_replica_count_sizes_the_preview_until_the_checkpoint() {
    let spec = json!({"previewReplicaCount": 1, "autoPromotionEnabled": false});
    let r = rollout(spec.clone(), updating(json!({})));
    let d = decide(
        &r,
        &seen(
            vec![rs("old", 1, 2, 2), rs("new", 2, 0, 0)],
            "old",
            "new",
            &[],
        ),
        at(0),
    )
    .unwrap();
    assert_eq!(size(&d, "new"), Some((1, None)));

    let d = decide(
        &r,
        &seen(
            vec![rs("old", 1, 2, 2), rs("new", 2, 1, 1)],
            "old",
            "new",
            &[],
        ),
        at(10),
    )
    .unwrap();
    assert_eq!(pauses(&d), ["BlueGreenPause"], "paused at the preview size");
    assert!(!d.status.blue_green.scale_up_preview_check_point);

    // Promoted: the checkpoint is passed and the preview scales up before the switch.
    let r = rollout(spec.clone(), updating(json!({"controllerPause": true})));
    let d = decide(
        &r,
        &seen(
            vec![rs("old", 1, 2, 2), rs("new", 2, 1, 1)],
            "old",
            "new",
            &[],
        ),
        at(20),
    )
    .unwrap();
    assert!(d.status.blue_green.scale_up_preview_check_point);
    assert_eq!(service(&d, "web"), None);
    let r = rollout(spec, serde_json::to_value(&d.status).unwrap());
    let d = decide(
        &r,
        &seen(
            vec![rs("old", 1, 2, 2), rs("new", 2, 1, 1)],
            "old",
            "new",
            &[],
        ),
        at(21),
    )
    .unwrap();
    assert_eq!(size(&d, "new"), Some((2, None)));
}

#[test]
fn the_counts_follow_the_active_replica_set() {
    let r = rollout(json!({"autoPromotionEnabled": false}), updating(json!({})));
    let d = decide(
        &r,
        &seen(
            vec![rs("old", 1, 2, 2), rs("new", 2, 2, 1)],
            "old",
            "new",
            &[],
        ),
        at(0),
    )
    .unwrap();
    assert_eq!(
        d.status.available_replicas,
        Some(2),
        "the active (old) ReplicaSet's"
    );
    assert_eq!(d.status.replicas, Some(4));
    assert_eq!(d.status.updated_replicas, Some(2));
}

#[test]
fn going_back_to_a_replica_set_within_its_delay_switches_at_once() {
    // `new` was the previous active ReplicaSet, still within its scale-down delay.
    let r = rollout(
        json!({"autoPromotionEnabled": false}),
        json!({"currentPodHash": "new", "stableRS": "later",
            "blueGreen": {"activeSelector": "later", "previewSelector": "new"}}),
    );
    let mut back = rs("new", 1, 2, 2);
    back.scale_down_deadline = Some(at(30));
    let d = decide(
        &r,
        &seen(vec![back, rs("later", 2, 2, 2)], "later", "new", &[]),
        at(0),
    )
    .unwrap();
    assert!(pauses(&d).is_empty());
    assert_eq!(service(&d, "web").as_deref(), Some("new"));
    assert!(
        d.events
            .iter()
            .any(|e| e.message.ends_with("(new): Fast rollback"))
    );
}

#[test]
fn promote_full_skips_the_pause_and_the_analysis() {
    let r = rollout(
        json!({"autoPromotionEnabled": false,
            "prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]}}),
        updating(json!({"promoteFull": true})),
    );
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(0)).unwrap();
    assert!(pauses(&d).is_empty());
    assert!(d.analysis_runs.is_empty());
    assert_eq!(service(&d, "web").as_deref(), Some("new"));
    assert!(!d.status.promote_full);
    assert!(
        d.events
            .iter()
            .any(|e| e.message.ends_with("Full promotion requested"))
    );
}

#[test]
fn a_promoted_rollout_is_healthy_and_completed() {
    let r = rollout(
        json!({}),
        json!({"currentPodHash": "new", "stableRS": "new", "observedGeneration": "1",
            "blueGreen": {"activeSelector": "new", "previewSelector": "new"}}),
    );
    let d = decide(
        &r,
        &seen(vec![rs("new", 2, 2, 2)], "new", "new", &[]),
        at(0),
    )
    .unwrap();
    assert_eq!(d.status.phase, Some(Phase::Healthy));
    let condition = |kind: &str| {
        d.status
            .conditions
            .iter()
            .find(|c| c.kind.as_str() == kind)
            .map(|c| (c.status.as_str().to_owned(), c.reason.as_str().to_owned()))
    };
    assert_eq!(
        condition("Healthy"),
        Some(("True".into(), "RolloutHealthy".into()))
    );
    assert_eq!(
        condition("Completed"),
        Some(("True".into(), "RolloutCompleted".into()))
    );
    assert_eq!(
        condition("Available"),
        Some(("True".into(), "AvailableReason".into()))
    );
    assert_eq!(
        condition("Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
    // A fixed point: deciding again changes nothing and asks for no call.
    let again = rollout(json!({}), serde_json::to_value(&d.status).unwrap());
    let d2 = decide(
        &again,
        &seen(vec![rs("new", 2, 2, 2)], "new", "new", &[]),
        at(5),
    )
    .unwrap();
    assert_eq!(d2.status, d.status);
    assert_eq!(d2.requeue_after, None);
}

/// Deliberate difference: Argo resets `scaleUpPreviewCheckPoint` on a new
/// template and then reads the old value back; here the new preview starts
/// over at `previewReplicaCount`.
#[test]
fn a_new_template_starts_the_preview_over_at_its_count() {
    let spec = json!({"previewReplicaCount": 1});
    let r = rollout(
        spec.clone(),
        json!({"currentPodHash": "mid", "stableRS": "old",
            "blueGreen": {"activeSelector": "old", "previewSelector": "mid",
                "scaleUpPreviewCheckPoint": true}}),
    );
    let replica_sets = vec![rs("old", 1, 2, 2), rs("mid", 2, 2, 2)];
    let d = decide(&r, &seen(replica_sets.clone(), "old", "mid", &[]), at(0)).unwrap();
    assert!(!d.status.blue_green.scale_up_preview_check_point);
    let r = rollout(spec, serde_json::to_value(&d.status).unwrap());
    let mut replica_sets = replica_sets;
    replica_sets.push(rs("new", 3, 0, 0));
    let d = decide(&r, &seen(replica_sets, "old", "new", &[]), at(1)).unwrap();
    assert_eq!(size(&d, "new"), Some((1, None)));
}

/// Deliberate difference: `autoPromotionSeconds` ends at its very second
/// (Argo waits until strictly after it).
#[test]
fn auto_promotion_seconds_end_at_their_second() {
    let r = rollout(
        json!({"autoPromotionSeconds": 10}),
        updating(json!({"controllerPause": true,
            "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "1970-01-01T00:00:00Z"}]})),
    );
    let d = decide(&r, &seen(both_ready(), "old", "new", &[]), at(10)).unwrap();
    assert_eq!(service(&d, "web").as_deref(), Some("new"));
}

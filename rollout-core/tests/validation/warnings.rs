//! What the engine does not run, and settings that only warn.

use rollout_core::{Error, WarningKind, check, lint, validate};
use serde_json::json;

use super::*;

#[test]
fn argo_features_the_engine_does_not_run_are_warnings() {
    let bg = with_strategy(json!({"blueGreen": {"activeService": "a", "previewService": "p"}}));
    let report = lint(&rollout(bg.clone()));
    assert!(report.is_valid() && report.is_runnable(), "{report:?}");
    let mut restarted = rollout(bg);
    restarted.spec.restart_at = Some("2024-01-01T00:00:00Z".into());
    let report = lint(&restarted);
    assert!(report.is_valid() && !report.is_runnable());
    assert_eq!(report.warnings[0].kind, WarningKind::Unsupported);
    assert_eq!(
        report.warnings[0].field.to_string(),
        "spec.restartAt: restarting the pods of a blue-green Rollout is not run by this engine yet"
    );
    let experiment = canary(json!({"steps": [{"setWeight": 10},
        {"experiment": {"templates": [{"name": "c", "specRef": "canary"}], "duration": "10m"}}]}));
    assert_valid(experiment.clone());
    // Experiment steps run: no warning.
    assert!(warnings(experiment).is_empty());
}

#[test]
fn check_refuses_unsupported_rollouts() {
    let bg = with_strategy(json!({"blueGreen": {"activeService": "a"}}));
    let mut restarted = rollout(bg);
    restarted.spec.restart_at = Some("2024-01-01T00:00:00Z".into());
    match check(&restarted) {
        Err(Error::Unsupported { object, field }) => {
            assert_eq!(object, "shop/web");
            assert_eq!(field.path, "spec.restartAt");
        }
        other => panic!("{other:?}"),
    }
    let seen = rollout_core::Observations {
        current_pod_hash: "abc".into(),
        ..Default::default()
    };
    let err = rollout_core::decide(&restarted, &seen, rollout_core::Time::from_unix_seconds(0))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rollout shop/web: spec.restartAt: restarting the pods of a blue-green Rollout is not run by this engine yet"
    );
    let experiment = rollout(canary(json!({"steps": [
        {"experiment": {"templates": [{"name": "c", "specRef": "canary"}]}}]})));
    assert!(check(&experiment).is_ok());
    let invalid = rollout(canary(json!({"steps": [{"setWeight": 300}]})));
    assert!(matches!(check(&invalid), Err(Error::Invalid { .. })));
}

#[test]
fn check_leaves_the_object_rules_to_validate() {
    // Only the strategy: what a library caller may hand the engine.
    let bare = rollout(json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 10}]}}}}));
    assert_eq!(check(&bare), Ok(()));
    assert_eq!(
        validate(&bare)
            .iter()
            .map(|e| e.path.as_str())
            .collect::<Vec<_>>(),
        [
            "metadata.name",
            "spec.selector",
            "spec.template.spec.containers"
        ]
    );
}

#[test]
fn settings_without_effect_are_warnings() {
    let doc = canary(json!({
        "abortScaleDownDelaySeconds": -1,
        "minPodsPerReplicaSet": 2,
        "replicaProgressThreshold": {"type": "Percent", "value": -5},
        "analysis": {"templates": [], "startingStep": 9},
        "steps": [{"setWeight": 10}, {"analysis": {"templates": [{"templateName": ""}]}}]
    }));
    assert_valid(doc.clone());
    assert_eq!(
        warnings(doc),
        [
            "Suspicious spec.strategy.canary.abortScaleDownDelaySeconds: -1 is negative",
            "Suspicious spec.strategy.canary.abortScaleDownDelaySeconds: has no effect without trafficRouting",
            "Suspicious spec.strategy.canary.minPodsPerReplicaSet: has no effect without trafficRouting",
            "Suspicious spec.strategy.canary.replicaProgressThreshold.value: -5 is negative: every desired pod must be available, as without a threshold",
            "Suspicious spec.strategy.canary.analysis.templates: names no template: the AnalysisRun has no metrics and ends in Error",
            "Suspicious spec.strategy.canary.analysis.startingStep: 9 is beyond the steps (0 to 2): the background analysis never starts",
            "Suspicious spec.strategy.canary.steps[1].analysis.templates[0].templateName: is empty",
        ]
    );
    let routed = canary(
        json!({"trafficRouting": {"plugins": {"p": {}}, "maxTrafficWeight": 0,
        "managedRoutes": [{"name": "a"}, {"name": "a"}]}}),
    );
    assert_valid(routed.clone());
    assert_eq!(
        warnings(routed),
        [
            "Suspicious spec.strategy.canary.trafficRouting.maxTrafficWeight: 0: no traffic can reach the canary",
            "Suspicious spec.strategy.canary.trafficRouting.managedRoutes[1].name: \"a\" is listed twice",
        ]
    );
}

//! Unit tests of reading and writing `status`.

use super::*;
use serde_json::json;

#[test]
fn free_text_fields_keep_values_this_crate_does_not_know() {
    let doc = json!({
        "phase": "Suspended",
        "pauseConditions": [
            {"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"},
            {"reason": "SomeFutureReason", "startTime": "2026-01-01T00:00:00Z"}
        ],
        "conditions": [{
            "type": "FutureCondition", "status": "Maybe", "reason": "BecauseOfThings",
            "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z",
            "lastUpdateTime": "2026-01-01T00:00:00Z"
        }],
        "observedGeneration": 7
    });
    let st: RolloutStatus = serde_json::from_value(doc).unwrap();
    assert_eq!(st.phase, None);
    assert!(st.has_pause(PauseReason::CanaryPauseStep));
    assert_eq!(
        st.pause_conditions[1].reason,
        PauseReason::Other("SomeFutureReason".into())
    );
    let c = &st.conditions[0];
    assert_eq!(c.kind, ConditionType::Other("FutureCondition".into()));
    assert_eq!(c.status, ConditionStatus::Other("Maybe".into()));
    assert_eq!(c.reason, ConditionReason::Other("BecauseOfThings".into()));
    assert_eq!(st.observed_generation.as_deref(), Some("7"));
    let back = serde_json::to_value(&st).unwrap();
    assert_eq!(back["pauseConditions"][1]["reason"], "SomeFutureReason");
    assert_eq!(back["conditions"][0]["type"], "FutureCondition");
}

#[test]
fn nulls_read_as_unset() {
    let doc = json!({
        "abort": null, "pauseConditions": null, "controllerPause": null,
        "promoteFull": null, "canary": null, "conditions": null, "phase": null,
        "observedGeneration": null, "currentStepIndex": null
    });
    let st: RolloutStatus = serde_json::from_value(doc).unwrap();
    assert_eq!(st, RolloutStatus::default());
    let weights: TrafficWeights = serde_json::from_value(json!({
        "canary": {"weight": 10}, "stable": {"weight": 90}, "additional": null
    }))
    .unwrap();
    assert!(weights.additional.is_empty());
}

#[test]
fn known_values_stay_typed() {
    let st: RolloutStatus = serde_json::from_value(json!({
        "phase": "Degraded",
        "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-01-01T00:00:00Z"}]
    }))
    .unwrap();
    assert_eq!(st.phase, Some(Phase::Degraded));
    assert_eq!(
        st.pause_conditions[0].reason,
        PauseReason::InconclusiveAnalysisRun
    );
    assert_eq!(
        st.pause_conditions[0].reason.to_cow(),
        "InconclusiveAnalysisRun"
    );
}

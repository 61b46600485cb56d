//! Unit tests of the step reader: which actions may share a step, the
//! errors that name them, and how a step is written back and shown.

use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<CanaryStep, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn names(step: &CanaryStep) -> Vec<&'static str> {
    step.actions().iter().map(StepAction::field_name).collect()
}

#[test]
fn one_field_makes_one_action() {
    assert_eq!(
        parse(json!({"setWeight": 20})),
        Ok(StepAction::SetWeight(20).into())
    );
    assert_eq!(
        parse(json!({"pause": {}})),
        Ok(StepAction::Pause(Pause { duration: None }).into())
    );
}

#[test]
fn argo_accepts_any_modifier_next_to_one_exclusive_action() {
    let step = parse(json!({
        "plugin": {"name": "p"},
        "setMirrorRoute": {"name": "m"},
        "setHeaderRoute": {"name": "h"},
        "setCanaryScale": {"replicas": 1},
        "setWeight": 20,
    }))
    .unwrap();
    assert_eq!(
        names(&step),
        [
            "setWeight",
            "setCanaryScale",
            "setHeaderRoute",
            "setMirrorRoute",
            "plugin"
        ]
    );
    for exclusive in [
        json!({"pause": {}}),
        json!({"experiment": {}}),
        json!({"analysis": {}}),
    ] {
        let mut doc = json!({"setCanaryScale": {"weight": 5}, "setHeaderRoute": {"name": "h"}});
        doc.as_object_mut()
            .unwrap()
            .extend(exclusive.as_object().unwrap().clone());
        assert!(parse(doc.clone()).is_ok(), "{doc}");
    }
    // Only modifiers, no exclusive action: accepted too.
    assert!(parse(json!({"setCanaryScale": {"replicas": 1}, "plugin": {"name": "p"}})).is_ok());
}

#[test]
fn two_exclusive_actions_are_refused_by_name() {
    for (a, b) in [
        ("setWeight", "pause"),
        ("pause", "analysis"),
        ("experiment", "analysis"),
    ] {
        let mut doc = json!({"setCanaryScale": {"replicas": 1}});
        let value = |k: &str| {
            if k == "setWeight" {
                json!(10)
            } else {
                json!({})
            }
        };
        doc[a] = value(a);
        doc[b] = value(b);
        let err = parse(doc).unwrap_err();
        assert!(err.contains(&format!("this one sets {a} and {b}")), "{err}");
        assert!(
            err.contains("may set only one of setWeight, pause, experiment, analysis"),
            "{err}"
        );
    }
    let err = parse(json!({"setWeight": 1, "pause": {}, "analysis": {}})).unwrap_err();
    assert!(err.contains("setWeight and pause and analysis"), "{err}");
}

#[test]
fn no_field_lists_the_choices() {
    let err = parse(json!({})).unwrap_err();
    assert!(err.contains("sets none"), "{err}");
    assert_eq!(CanaryStep::new([]), Err(StepError::Empty));
}

#[test]
fn an_action_given_twice_in_code_is_refused() {
    let err = CanaryStep::new([StepAction::SetWeight(1), StepAction::SetWeight(2)]);
    assert_eq!(err, Err(StepError::Repeated("setWeight")));
}

#[test]
fn unknown_field_is_named() {
    let err = parse(json!({"setWieght": 20})).unwrap_err();
    assert!(err.contains("setWieght"), "{err}");
}

#[test]
fn round_trips_in_argo_field_order() {
    let step = parse(json!({"setMirrorRoute": {"name": "m", "percentage": 30,
        "match": [{"method": {"exact": "GET"}}]}}))
    .unwrap();
    let back = serde_json::to_string(&step).unwrap();
    assert_eq!(
        back,
        r#"{"setMirrorRoute":{"name":"m","match":[{"method":{"exact":"GET"}}],"percentage":30}}"#
    );
    let step = parse(
        json!({"pause": {"duration": 15}, "setHeaderRoute": {"name": "h"},
        "setCanaryScale": {"replicas": 1}}),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&step).unwrap(),
        r#"{"pause":{"duration":15},"setCanaryScale":{"replicas":1},"setHeaderRoute":{"name":"h"}}"#
    );
    assert_eq!(parse(serde_json::to_value(&step).unwrap()), Ok(step));
}

#[test]
fn completion_follows_argos_order() {
    let completed = |v: Value| parse(v).unwrap().completed_by().unwrap().field_name();
    assert_eq!(
        completed(json!({"setWeight": 5, "setCanaryScale": {"replicas": 1}})),
        "setCanaryScale"
    );
    assert_eq!(
        completed(json!({"pause": {}, "setCanaryScale": {"replicas": 1}})),
        "pause"
    );
    assert_eq!(
        completed(json!({"analysis": {}, "plugin": {"name": "p"}})),
        "analysis"
    );
    assert_eq!(
        completed(json!({"setMirrorRoute": {"name": "m"}, "setHeaderRoute": {"name": "h"}})),
        "setHeaderRoute"
    );
    assert_eq!(
        completed(json!({"setHeaderRoute": {"name": "h"}, "plugin": {"name": "p"}})),
        "setHeaderRoute"
    );
}

#[test]
fn renders_as_argos_canary_step_string() {
    let text = |v: Value| parse(v).unwrap().to_string();
    assert_eq!(
        text(json!({"setWeight": 20, "pause": null})),
        "setWeight: 20"
    );
    assert_eq!(text(json!({"pause": {"duration": "30s"}})), "pause: 30s");
    assert_eq!(text(json!({"pause": {"duration": 30}})), "pause: 30");
    assert_eq!(text(json!({"pause": {}})), "pause");
    assert_eq!(
        text(json!({"analysis": {"templates": [{"templateName": "t"}]}})),
        "analysis"
    );
    assert_eq!(
        text(json!({"setCanaryScale": {"replicas": 2, "weight": 10}})),
        "setCanaryScale{weight: 10}"
    );
    assert_eq!(
        text(json!({"setCanaryScale": {"replicas": 2, "matchTrafficWeight": true}})),
        "setCanaryScale{matchTrafficWeight: true}"
    );
    assert_eq!(
        text(json!({"setCanaryScale": {}, "setMirrorRoute": {"name": "m"}})),
        "setMirrorRoute: m"
    );
    assert_eq!(
        text(json!({"setHeaderRoute": {"name": "h"}, "plugin": {"name": "p"}})),
        "plugin: p"
    );
    assert_eq!(text(json!({"setCanaryScale": {}})), "invalid");
}

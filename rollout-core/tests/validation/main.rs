//! Argo Rollouts' validation rules, one test per rule (the table in the
//! `validate` module names them). Each Rollout here is written for the rule
//! it exercises; messages are Argo's where Argo has one.

use rollout_core::{Rollout, lint, validate};

use serde_json::{Value, json};

/// A complete, valid canary Rollout with `strategy` as given.
pub(crate) fn with_strategy(strategy: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:2"}]}
            },
            "strategy": strategy
        }
    })
}

pub(crate) fn canary(c: Value) -> Value {
    with_strategy(json!({"canary": c}))
}

pub(crate) fn rollout(doc: Value) -> Rollout {
    Rollout::from_value(doc, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// The errors, each as `path: message`.
pub(crate) fn errors(doc: Value) -> Vec<String> {
    validate(&rollout(doc))
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The warnings, each as `Kind path: message`.
pub(crate) fn warnings(doc: Value) -> Vec<String> {
    lint(&rollout(doc))
        .warnings
        .iter()
        .map(|w| format!("{:?} {w}", w.kind))
        .collect()
}

/// Sets `pointer` (a JSON pointer) in `doc` to `value`, creating objects on the way.
pub(crate) fn set(mut doc: Value, pointer: &str, value: Value) -> Value {
    let mut at = &mut doc;
    for key in pointer.trim_start_matches('/').split('/') {
        at = at
            .as_object_mut()
            .expect("an object on the way")
            .entry(key)
            .or_insert_with(|| json!({}));
    }
    *at = value;
    doc
}

pub(crate) fn remove(mut doc: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(key);
    doc
}

#[track_caller]
pub(crate) fn assert_only(doc: Value, expected: &[&str]) {
    assert_eq!(errors(doc), expected);
}

#[track_caller]
pub(crate) fn assert_valid(doc: Value) {
    assert_eq!(errors(doc), Vec::<String>::new());
}

pub(crate) const ROUTED: &str = "/spec/strategy/canary/trafficRouting";

mod object;
mod steps;
mod strategy;
mod warnings;

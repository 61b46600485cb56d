//! Argo Rollouts' own test cases, transcribed as JSON under `tests/data/`.

use serde_json::Value;

/// The cases of `section` in the JSON `text`; a missing or empty section
/// fails the test rather than passing vacuously.
pub(crate) fn section(text: &str, section: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(text).unwrap();
    let list = all[section]
        .as_array()
        .unwrap_or_else(|| panic!("no {section} section"))
        .clone();
    assert!(!list.is_empty(), "no {section} cases");
    list
}

/// A case's integer field.
pub(crate) fn int(v: &Value) -> i32 {
    v.as_i64()
        .map(|n| i32::try_from(n).unwrap())
        .unwrap_or_else(|| panic!("not an int: {v}"))
}

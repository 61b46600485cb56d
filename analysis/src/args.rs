//! The arguments a Rollout passes to its analysis templates, resolved as
//! Argo's `BuildArgumentsForRolloutAnalysisRun` resolves them.
//!
//! Each Rollout argument becomes a run argument with a value:
//! - `value`: as written (an argument with neither `value` nor `valueFrom`
//!   passes the empty string, as in Argo);
//! - `valueFrom.podTemplateHashValue: Stable | Latest`: the
//!   `rollouts-pod-template-hash` of the stable or the current ReplicaSet;
//! - `valueFrom.fieldRef.fieldPath`: a field of the Rollout. Paths under
//!   `metadata` follow Kubernetes' downward API (`metadata.name`,
//!   `metadata.namespace`, `metadata.uid`, `metadata.labels`,
//!   `metadata.annotations`, `metadata.labels['app']`); any other path is
//!   walked through the Rollout's JSON (`spec.replicas`,
//!   `spec.template.spec.containers[0].image`) and must end at a string,
//!   number or boolean, written as Go's `%v` writes it (`5`, `1e+06`,
//!   `true`).
//!
//! Where Argo differs: it reports only the last of several failing
//! non-metadata field paths, and creates no run either way; here the first
//! failure is the error.

use std::collections::BTreeMap;

use rollout_core::spec::AnalysisArg;
use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::types::{Argument, FieldRef};

/// The label that carries a ReplicaSet's pod template hash.
pub use rollout_core::spec::POD_TEMPLATE_HASH_LABEL;

/// What a Rollout's arguments are resolved against.
#[derive(Debug, Clone, Copy)]
pub struct ArgSource<'a> {
    /// The Rollout as JSON (`fieldRef` reads it).
    pub rollout: &'a Value,
    /// The stable ReplicaSet's pod template hash, if there is one.
    pub stable_hash: Option<&'a str>,
    /// The current (latest) ReplicaSet's pod template hash.
    pub latest_hash: &'a str,
}

/// `valueFrom` of a Rollout's analysis argument.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RolloutValueFrom {
    #[serde(default)]
    pod_template_hash_value: Option<PodTemplateHashValue>,
    #[serde(default)]
    field_ref: Option<FieldRef>,
}

/// Which ReplicaSet's hash `podTemplateHashValue` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum PodTemplateHashValue {
    Stable,
    Latest,
}

/// Resolves the arguments of one analysis of a Rollout; `field` is where
/// they are in the Rollout (`spec.strategy.canary.steps[2].analysis`), for
/// errors.
///
/// ```
/// use rollgate_analysis::args::{rollout_arguments, ArgSource};
/// use rollout_core::spec::AnalysisArg;
/// let rollout = serde_json::json!({"metadata": {"name": "web", "labels": {"team": "shop"}},
///                                   "spec": {"replicas": 5}});
/// let args: Vec<AnalysisArg> = serde_json::from_value(serde_json::json!([
///     {"name": "service", "value": "web-canary"},
///     {"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
///     {"name": "team", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
///     {"name": "replicas", "valueFrom": {"fieldRef": {"fieldPath": "spec.replicas"}}}])).unwrap();
/// let source = ArgSource { rollout: &rollout, stable_hash: Some("aaa"), latest_hash: "bbb" };
/// let resolved = rollout_arguments(&args, "spec.strategy.canary.analysis", &source).unwrap();
/// let values: Vec<_> = resolved.iter().map(|a| a.value.as_deref().unwrap()).collect();
/// assert_eq!(values, ["web-canary", "bbb", "shop", "5"]);
/// ```
pub fn rollout_arguments(
    args: &[AnalysisArg],
    field: &str,
    source: &ArgSource<'_>,
) -> Result<Vec<Argument>, Error> {
    args.iter()
        .enumerate()
        .map(|(i, arg)| {
            let at = format!("{field}.args[{i}]");
            let value = match &arg.value_from {
                None => arg.value.clone().unwrap_or_default(),
                Some(from) => value_from(from, &at, source)?,
            };
            Ok(Argument {
                name: arg.name.clone(),
                value: Some(value),
                value_from: None,
            })
        })
        .collect()
}

fn value_from(from: &Value, at: &str, source: &ArgSource<'_>) -> Result<String, Error> {
    let at = format!("{at}.valueFrom");
    let from: RolloutValueFrom = crate::parse::rollout_field(from, &at)?;
    let problem = |field: &str, message: String| Error::RolloutField {
        field: format!("{at}.{field}"),
        message,
    };
    if let Some(which) = from.pod_template_hash_value {
        return match which {
            PodTemplateHashValue::Latest => Ok(source.latest_hash.to_owned()),
            PodTemplateHashValue::Stable => {
                source.stable_hash.map(str::to_owned).ok_or_else(|| {
                    problem(
                        "podTemplateHashValue",
                        "the Rollout has no stable ReplicaSet yet".into(),
                    )
                })
            }
        };
    }
    match from.field_ref {
        Some(FieldRef { field_path }) => field_value(source.rollout, &field_path)
            .map_err(|message| problem("fieldRef.fieldPath", message)),
        None => Ok(String::new()),
    }
}

/// The value at `path` in the Rollout's JSON, as Argo reads a `fieldRef`;
/// `Err` carries Argo's words for what is wrong.
///
/// ```
/// use rollgate_analysis::args::field_value;
/// let rollout = serde_json::json!({"metadata": {"name": "web"},
///     "spec": {"replicas": 1000000, "template": {"spec": {"containers": [{"image": "nginx:1"}]}}}});
/// assert_eq!(field_value(&rollout, "metadata.name").unwrap(), "web");
/// assert_eq!(field_value(&rollout, "spec.replicas").unwrap(), "1e+06");
/// assert_eq!(field_value(&rollout, "spec.template.spec.containers[0].image").unwrap(), "nginx:1");
/// assert_eq!(field_value(&rollout, "spec.template").unwrap_err(),
///            "path spec.template in rollout must terminate in a primitive value");
/// ```
pub fn field_value(rollout: &Value, path: &str) -> Result<String, String> {
    if path.starts_with("metadata") {
        metadata_value(rollout.get("metadata"), path)
    } else {
        walk(rollout, path)
    }
}

/// Kubernetes' `ExtractFieldPathAsString` over a Rollout's metadata.
fn metadata_value(metadata: Option<&Value>, path: &str) -> Result<String, String> {
    let map = |field: &str| -> BTreeMap<String, String> {
        metadata
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |field: &str| {
        metadata
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if let Some((base, rest)) = path.split_once("['")
        && let Some(key) = rest.strip_suffix("']")
        && matches!(base, "metadata.labels" | "metadata.annotations")
    {
        let field = base.trim_start_matches("metadata.");
        return Ok(map(field).remove(key).unwrap_or_default());
    }
    match path {
        "metadata.name" => Ok(text("name")),
        "metadata.namespace" => Ok(text("namespace")),
        "metadata.uid" => Ok(text("uid")),
        "metadata.labels" => Ok(format_map(&map("labels"))),
        "metadata.annotations" => Ok(format_map(&map("annotations"))),
        _ => Err(format!("unsupported fieldPath: {path}")),
    }
}

/// Kubernetes' `FormatMap`: `key="value"` lines, sorted by key.
fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Argo's `extractValueFromRollout`: the path split on `.`, `[` and `]`.
fn walk(rollout: &Value, path: &str) -> Result<String, String> {
    let mut at = rollout;
    for section in path.split(['.', '[', ']']).filter(|s| !s.is_empty()) {
        at = match at {
            Value::Array(items) => {
                let i: usize = section
                    .parse()
                    .map_err(|_| format!("invalid index '{section}'"))?;
                items
                    .get(i)
                    .ok_or_else(|| format!("index {i} out of range"))?
            }
            Value::Object(fields) => fields.get(section).unwrap_or(&Value::Null),
            _ => return Err(format!("invalid path {path} in rollout")),
        };
    }
    match at {
        Value::Null => Err(format!("invalid path {path} in rollout")),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "path {path} in rollout must terminate in a primitive value"
        )),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(go_float(n.as_f64().unwrap_or_default())),
    }
}

/// A number as Go's `fmt` writes a `float64` with `%v` (JSON numbers are
/// read into `float64` in Go): the shortest digits, with an exponent when
/// it is below -4 or 6 and above (`1e+06`, `1.5e-05`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{f}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_written_as_go_writes_them() {
        for (f, text) in [
            (5.0, "5"),
            (123_456.0, "123456"),
            (1_000_000.0, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.000_015, "1.5e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(go_float(f), text, "{f}");
        }
    }

    #[test]
    fn metadata_paths_follow_the_downward_api() {
        let r = json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
            "labels": {"b": "2", "a": "x\"y"}, "annotations": {"note": "hi"}}});
        assert_eq!(field_value(&r, "metadata.namespace").unwrap(), "shop");
        assert_eq!(field_value(&r, "metadata.uid").unwrap(), "u-1");
        assert_eq!(
            field_value(&r, "metadata.labels").unwrap(),
            "a=\"x\\\"y\"\nb=\"2\""
        );
        assert_eq!(
            field_value(&r, "metadata.annotations['note']").unwrap(),
            "hi"
        );
        assert_eq!(field_value(&r, "metadata.labels['none']").unwrap(), "");
        assert_eq!(
            field_value(&r, "metadata.generation").unwrap_err(),
            "unsupported fieldPath: metadata.generation"
        );
    }

    #[test]
    fn other_paths_walk_the_rollout() {
        let r = json!({"spec": {"paused": true, "strategy": {"canary": {"steps": [{"setWeight": 20}]}}}});
        assert_eq!(field_value(&r, "spec.paused").unwrap(), "true");
        assert_eq!(
            field_value(&r, "spec.strategy.canary.steps[0].setWeight").unwrap(),
            "20"
        );
        assert_eq!(
            field_value(&r, "spec.strategy.canary.steps[3].setWeight").unwrap_err(),
            "index 3 out of range"
        );
        assert_eq!(
            field_value(&r, "spec.strategy.canary.steps.first").unwrap_err(),
            "invalid index 'first'"
        );
        assert_eq!(
            field_value(&r, "spec.nothing").unwrap_err(),
            "invalid path spec.nothing in rollout"
        );
        assert_eq!(
            field_value(&r, "spec.paused.deeper").unwrap_err(),
            "invalid path spec.paused.deeper in rollout"
        );
    }

    fn args(v: Value) -> Vec<AnalysisArg> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hashes_come_from_the_replica_sets() {
        let rollout = json!({});
        let source = ArgSource {
            rollout: &rollout,
            stable_hash: Some("stable1"),
            latest_hash: "canary2",
        };
        let resolved = rollout_arguments(
            &args(json!([
                {"name": "stable", "valueFrom": {"podTemplateHashValue": "Stable"}},
                {"name": "empty"}])),
            "spec.strategy.canary.analysis",
            &source,
        )
        .unwrap();
        assert_eq!(resolved[0].value.as_deref(), Some("stable1"));
        assert_eq!(resolved[1].value.as_deref(), Some(""));
        let none = ArgSource {
            stable_hash: None,
            ..source
        };
        let err = rollout_arguments(
            &args(json!([{"name": "s", "valueFrom": {"podTemplateHashValue": "Stable"}}])),
            "spec.strategy.canary.steps[1].analysis",
            &none,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.strategy.canary.steps[1].analysis.args[0].valueFrom.podTemplateHashValue: the Rollout has no stable ReplicaSet yet"
        );
    }

    #[test]
    fn a_bad_value_from_names_its_field() {
        let rollout = json!({});
        let source = ArgSource {
            rollout: &rollout,
            stable_hash: None,
            latest_hash: "h",
        };
        let err = rollout_arguments(
            &args(json!([{"name": "h", "valueFrom": {"podTemplateHashValue": "Newest"}}])),
            "spec.strategy.canary.analysis",
            &source,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("spec.strategy.canary.analysis.args[0].valueFrom.podTemplateHashValue: \"Newest\" is not one of"),
            "{err}"
        );
        let err = rollout_arguments(
            &args(json!([{"name": "h", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])),
            "spec.strategy.canary.analysis",
            &source,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("spec.strategy.canary.analysis.args[0].valueFrom.secretKeyRef: unknown field \"secretKeyRef\""),
            "{err}"
        );
        let err = rollout_arguments(
            &args(json!([{"name": "h", "valueFrom": {"fieldRef": {"fieldPath": "spec.missing"}}}])),
            "spec.strategy.canary.analysis",
            &source,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.strategy.canary.analysis.args[0].valueFrom.fieldRef.fieldPath: invalid path spec.missing in rollout"
        );
    }
}

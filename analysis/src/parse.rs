//! Reading analysis objects from JSON (a YAML document converted to JSON
//! reads the same): strict on `spec`, lenient on `status`.
//!
//! An error names the object (`AnalysisTemplate shop/success-rate`), the
//! field path (`spec.metrics[0].provider.prometheus.qurey`) and what was
//! expected, in words.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;
use crate::types::{AnalysisRun, AnalysisRunStatus, AnalysisTemplate};

/// `Kind namespace/name` (or `Kind name` without a namespace) of a JSON
/// object, for messages; `kind` when the object says nothing.
///
/// ```
/// let v = serde_json::json!({"kind": "AnalysisTemplate", "metadata": {"name": "rate", "namespace": "shop"}});
/// assert_eq!(rollgate_analysis::parse::describe(&v, "AnalysisTemplate"), "AnalysisTemplate shop/rate");
/// ```
pub fn describe(value: &Value, kind: &str) -> String {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or(kind);
    let metadata = value.get("metadata");
    let field = |f: &str| metadata.and_then(|m| m.get(f)).and_then(Value::as_str);
    match (field("namespace"), field("name")) {
        (Some(ns), Some(name)) => format!("{kind} {ns}/{name}"),
        (None, Some(name)) => format!("{kind} {name}"),
        _ => kind.to_owned(),
    }
}

fn strict<T: DeserializeOwned>(value: Value, object: &str) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Error::Shape {
            object: object.to_owned(),
            field: if path == "." { String::new() } else { path },
            message: rollout_core::plain_words(&e.inner().to_string()),
        }
    })
}

/// Reads a part of a Rollout that `rollout-core` keeps as written (at
/// `at`), strictly, with errors naming the field path in the Rollout.
pub(crate) fn rollout_field<T: DeserializeOwned>(value: &Value, at: &str) -> Result<T, Error> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let field = match path.as_str() {
            "." => at.to_owned(),
            p if p.starts_with('[') => format!("{at}{p}"),
            p => format!("{at}.{p}"),
        };
        Error::RolloutField {
            field,
            message: rollout_core::plain_words(&e.inner().to_string()),
        }
    })
}

impl AnalysisTemplate {
    /// Reads an AnalysisTemplate or a ClusterAnalysisTemplate.
    ///
    /// ```
    /// use rollgate_analysis::AnalysisTemplate;
    /// let doc = serde_json::json!({
    ///     "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
    ///     "metadata": {"name": "rate", "namespace": "shop"},
    ///     "spec": {"metrics": [{"name": "ok", "provider": {"prometheus": {"qurey": "up"}}}]}});
    /// let err = AnalysisTemplate::from_value(doc).unwrap_err();
    /// assert!(err.to_string().starts_with(
    ///     "AnalysisTemplate shop/rate: spec.metrics[0].provider.prometheus.qurey: unknown field \"qurey\""));
    /// ```
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let object = describe(&value, "AnalysisTemplate");
        strict(value, &object)
    }
}

impl AnalysisRun {
    /// Reads an AnalysisRun: the spec strictly; the status leniently (a
    /// status that does not read as Argo writes it keeps only its `phase`
    /// and `message`, when those are strings).
    ///
    /// ```
    /// use rollgate_analysis::AnalysisRun;
    /// let doc = serde_json::json!({
    ///     "kind": "AnalysisRun", "metadata": {"name": "web-abc-2-1"},
    ///     "spec": {"metrics": []},
    ///     "status": {"phase": "Failed", "message": "boom", "runSummary": {"count": "many"}}});
    /// let run = AnalysisRun::from_value(doc).unwrap();
    /// assert_eq!(run.phase(), rollout_core::AnalysisPhase::Failed);
    /// assert_eq!(run.message(), Some("boom"));
    /// ```
    pub fn from_value(mut value: Value) -> Result<Self, Error> {
        let object = describe(&value, "AnalysisRun");
        let status = value
            .as_object_mut()
            .and_then(|o| o.remove("status"))
            .map(lenient_status);
        let mut run: Self = strict(value, &object)?;
        run.status = status;
        Ok(run)
    }
}

fn lenient_status(value: Value) -> AnalysisRunStatus {
    let text = |field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (phase, message) = (text("phase"), text("message"));
    serde_json::from_value(value).unwrap_or(AnalysisRunStatus {
        phase,
        message,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_wrong_type_is_named_in_words() {
        let doc = json!({"kind": "ClusterAnalysisTemplate", "metadata": {"name": "rate"},
            "spec": {"metrics": [{"name": "ok", "provider": {"web": {"url": "http://127.0.0.1", "timeoutSeconds": "ten"}}}]}});
        assert_eq!(
            AnalysisTemplate::from_value(doc).unwrap_err().to_string(),
            "ClusterAnalysisTemplate rate: spec.metrics[0].provider.web.timeoutSeconds: expected an integer, found the string \"ten\""
        );
    }

    #[test]
    fn a_run_spec_is_strict() {
        let doc = json!({"kind": "AnalysisRun", "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"metrics": [], "terminated": true}});
        let err = AnalysisRun::from_value(doc).unwrap_err().to_string();
        assert!(
            err.starts_with("AnalysisRun ns/r: spec.terminated: unknown field \"terminated\""),
            "{err}"
        );
    }

    #[test]
    fn a_run_status_is_lenient() {
        let doc = json!({"metadata": {"name": "r"}, "spec": {"metrics": []},
            "status": {"phase": "Running", "somethingNew": 1,
                       "metricResults": [{"name": "ok", "phase": "Running", "count": 2}]}});
        let run = AnalysisRun::from_value(doc).unwrap();
        assert_eq!(run.phase(), rollout_core::AnalysisPhase::Running);
        assert_eq!(run.status.unwrap().metric_results[0].count, 2);
        let doc =
            json!({"metadata": {"name": "r"}, "spec": {"metrics": []}, "status": {"phase": ""}});
        assert_eq!(
            AnalysisRun::from_value(doc).unwrap().phase(),
            rollout_core::AnalysisPhase::Pending
        );
    }
}

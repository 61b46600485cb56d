//! What a reconcile of an AnalysisRun writes: its status, as a JSON merge
//! patch of the object (Argo's AnalysisRun CRD has no status subresource,
//! and Argo's controller patches the object the same way), sent only when
//! the status changed; and the Events of the metrics and of the run that
//! completed, in Argo's words.

use rollgate_analysis::types::{AnalysisRunStatus, parse_phase};
use rollout_core::AnalysisPhase;
use serde_json::{Map, Value};

/// The merge patch that takes `old` to `new` (RFC 7386: changed fields,
/// `null` for removed ones, lists replaced whole), wrapped as
/// `{"status": ...}`; `None` when they are equal. Only the fields this
/// controller knows are compared, so a field written by someone else is
/// left alone.
///
/// ```
/// use rollgate_analysis::types::AnalysisRunStatus;
/// use rollgate_controller::measure::status::patch;
/// let old = AnalysisRunStatus { phase: "Running".into(), message: "x".into(), ..Default::default() };
/// let new = AnalysisRunStatus { phase: "Successful".into(), ..Default::default() };
/// assert_eq!(patch(Some(&old), &new), Some(serde_json::json!(
///     {"status": {"phase": "Successful", "message": null}})));
/// assert_eq!(patch(Some(&new), &new), None);
/// ```
pub fn patch(old: Option<&AnalysisRunStatus>, new: &AnalysisRunStatus) -> Option<Value> {
    let new_json = serde_json::to_value(new).unwrap_or(Value::Null);
    let Some(old) = old else {
        return Some(serde_json::json!({ "status": new_json }));
    };
    let old_json = serde_json::to_value(old).unwrap_or(Value::Null);
    diff(&old_json, &new_json).map(|d| serde_json::json!({ "status": d }))
}

/// RFC 7386's patch from `old` to `new`; `None` when equal.
fn diff(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return Some(new.clone());
    };
    let mut out = Map::new();
    for (key, value) in new {
        match old.get(key) {
            Some(before) => {
                if let Some(d) = diff(before, value) {
                    out.insert(key.clone(), d);
                }
            }
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        out.insert(key.clone(), Value::Null);
    }
    Some(Value::Object(out))
}

/// An Event to record on the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEvent {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// `Metric<Phase>` or `AnalysisRun<Phase>`.
    pub reason: String,
    /// Argo's text.
    pub message: String,
}

/// The Events Argo's analysis controller records between two statuses: one
/// per metric that completed (`MetricSuccessful`, `MetricFailed`, ...:
/// "Metric 'NAME' Completed. Result: PHASE"), then one for the run if it
/// completed (`AnalysisRunSuccessful`, ...: "Analysis Completed. Result:
/// PHASE"). `Failed` and `Error` are warnings.
///
/// ```
/// use rollgate_analysis::types::{AnalysisRunStatus, MetricResult};
/// use rollgate_controller::measure::status::events;
/// let new = AnalysisRunStatus { phase: "Failed".into(), metric_results: vec![
///     MetricResult { name: "rate".into(), phase: "Failed".into(), ..Default::default() }],
///     ..Default::default() };
/// let e = events(None, &new);
/// assert_eq!((e[0].reason.as_str(), e[0].message.as_str()), ("MetricFailed", "Metric 'rate' Completed. Result: Failed"));
/// assert_eq!((e[1].reason.as_str(), e[1].warning), ("AnalysisRunFailed", true));
/// assert!(events(Some(&new), &new).is_empty());
/// ```
pub fn events(old: Option<&AnalysisRunStatus>, new: &AnalysisRunStatus) -> Vec<RunEvent> {
    let completed = |phase: &str| parse_phase(phase).filter(|p| p.is_completed());
    let warning = |p: AnalysisPhase| matches!(p, AnalysisPhase::Failed | AnalysisPhase::Error);
    let mut out = Vec::new();
    for result in &new.metric_results {
        let before = old
            .and_then(|o| o.metric_results.iter().find(|r| r.name == result.name))
            .map(|r| r.phase.as_str());
        if before == Some(result.phase.as_str()) {
            continue;
        }
        if let Some(phase) = completed(&result.phase) {
            out.push(RunEvent {
                warning: warning(phase),
                reason: format!("Metric{}", phase.as_str()),
                message: format!(
                    "Metric '{}' Completed. Result: {}",
                    result.name,
                    phase.as_str()
                ),
            });
        }
    }
    let before = old.map(|o| o.phase.as_str());
    if before != Some(new.phase.as_str())
        && let Some(phase) = completed(&new.phase)
    {
        out.push(RunEvent {
            warning: warning(phase),
            reason: format!("AnalysisRun{}", phase.as_str()),
            message: format!("Analysis Completed. Result: {}", phase.as_str()),
        });
    }
    out
}

//! A verdict as a measurement: the `result` conditions read, the `value`
//! recorded and the message.

use rollgate_analysis::assess::Outcome;
use rollgate_analysis::condition::from_json;
use rollgate_judge::Verdict;
use serde_json::{Map, Value, json};

/// What the judge measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The verdict itself.
    pub verdict: Verdict,
    /// What the metric's conditions read as `result`: the verdict with its
    /// `metrics` and `groups` keyed by name (numbers that are not defined,
    /// such as the median of no samples, are null).
    pub result: Value,
    /// The measurement's `value`: `{"result":"Fail","score":40.0}`.
    pub value: String,
    /// The measurement's message: the verdict's summary line and table.
    pub message: String,
    /// Prometheus' warnings, each after its judge metric and side
    /// (`latency (canary): ...`), for the measurement's metadata.
    pub warnings: Vec<String>,
}

impl Judgement {
    pub(super) fn new(verdict: Verdict, warnings: Vec<String>) -> Self {
        let mut result = serde_json::to_value(&verdict).unwrap_or_default();
        if let Value::Object(object) = &mut result {
            for key in ["metrics", "groups"] {
                if let Some(Value::Array(items)) = object.remove(key) {
                    object.insert(key.to_owned(), Value::Object(by_name(items, key)));
                }
            }
            if object.get("reason").is_some_and(Value::is_null) {
                object.insert("reason".to_owned(), Value::String(String::new()));
            }
        }
        let value =
            json!({"result": verdict.result.to_string(), "score": verdict.score}).to_string();
        let message = verdict.to_string();
        Self {
            verdict,
            result,
            value,
            message,
            warnings,
        }
    }

    /// The measurement for an AnalysisRun: assessed on [`Judgement::result`]
    /// and recorded with the value and the table.
    pub fn outcome(self) -> Outcome {
        Outcome::Explained {
            result: from_json(&self.result),
            text: self.value,
            message: self.message,
        }
    }
}

/// `[{"name": "a", ...}]` as `{"a": {...}}`; a group is its score alone.
fn by_name(items: Vec<Value>, key: &str) -> Map<String, Value> {
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Object(mut fields) = item else {
                return None;
            };
            let Some(Value::String(name)) = fields.remove("name") else {
                return None;
            };
            let value = if key == "groups" {
                fields.remove("score").unwrap_or_default()
            } else {
                Value::Object(fields)
            };
            Some((name, value))
        })
        .collect()
}

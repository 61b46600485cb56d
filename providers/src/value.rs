//! A measurement's value: what a condition's `result` reads, and the text
//! Argo writes in the measurement's `value`.

use serde_json::Value;

/// What a provider measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// What the metric's conditions read as `result`.
    pub result: MetricResult,
    /// The measurement's `value` as Argo writes it: `0.8` for a scalar,
    /// `[0.8,1]` for a vector, the JSON of the value a web metric's
    /// `jsonPath` found, or a web response's body when it is not JSON.
    pub value: String,
    /// Prometheus' warnings, for the measurement's metadata (`warnings`),
    /// as Argo writes them: each quoted, separated by `, `. Empty when
    /// there were none.
    pub warnings: Vec<String>,
}

impl Measured {
    /// Argo's `warnings` metadata: `"w1", "w2"`; `None` without warnings.
    pub fn warnings_metadata(&self) -> Option<String> {
        if self.warnings.is_empty() {
            return None;
        }
        let quoted: Vec<String> = self.warnings.iter().map(|w| format!("\"{w}\"")).collect();
        Some(quoted.join(", "))
    }
}

/// The `result` a condition reads.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricResult {
    /// A Prometheus scalar: `result` is a number (NaN and ±Inf included,
    /// which `isNaN(result)` and `isInf(result)` test).
    Number(f64),
    /// A Prometheus vector or matrix: `result` is an array of numbers, one
    /// per sample (a matrix's samples series by series), read as
    /// `result[0]`. It is empty when the query matched nothing: Argo does
    /// not fail the measurement for that, its condition does ("metric
    /// result is nil or empty").
    Numbers(Vec<f64>),
    /// What a web metric's `jsonPath` found in a JSON body.
    Json(Value),
    /// A web response's body that is not JSON, as text.
    Text(String),
}

impl MetricResult {
    /// Argo's "nil or empty" result: an empty array, a JSON `null` or an
    /// empty JSON array. Conditions evaluated on it fail with Argo's "metric
    /// result is nil or empty: no data returned from the metric provider".
    pub fn is_nil_or_empty(&self) -> bool {
        match self {
            Self::Numbers(values) => values.is_empty(),
            Self::Json(Value::Null) => true,
            Self::Json(Value::Array(items)) => items.is_empty(),
            Self::Number(_) | Self::Json(_) | Self::Text(_) => false,
        }
    }
}

/// A sample value as Prometheus' Go client prints it: the shortest decimal
/// that reads back as the same number, never an exponent, and `NaN`,
/// `+Inf`, `-Inf`.
///
/// ```
/// use rollgate_providers::format_sample;
/// assert_eq!(format_sample(0.8), "0.8");
/// assert_eq!(format_sample(1.0), "1");
/// assert_eq!(format_sample(f64::INFINITY), "+Inf");
/// assert_eq!(format_sample(f64::NAN), "NaN");
/// ```
pub fn format_sample(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{value}")
    }
}

/// Samples as Argo writes a vector's value: `[0.8,1]`.
pub(crate) fn format_samples(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format_sample(*v)).collect();
    format!("[{}]", items.join(","))
}

impl Measured {
    /// The measurement as the analysis crate records it: `result` as the
    /// metric's conditions read it (a number, an array of numbers, the
    /// JSON found by `jsonPath` with its shape, or the body's text) and
    /// `value` as the measurement's text.
    ///
    /// ```
    /// use rollgate_analysis::assess::Outcome;
    /// use rollgate_providers::{Measured, MetricResult};
    /// let measured = Measured { result: MetricResult::Numbers(vec![0.8]), value: "[0.8]".into(),
    ///     warnings: Vec::new() };
    /// let Outcome::Value { result, text } = measured.into_outcome() else { unreachable!() };
    /// assert_eq!(result, expr::Value::Array(vec![expr::Value::Float(0.8)]));
    /// assert_eq!(text, "[0.8]");
    /// ```
    pub fn into_outcome(self) -> rollgate_analysis::assess::Outcome {
        let result = match self.result {
            MetricResult::Number(n) => expr::Value::Float(n),
            MetricResult::Numbers(values) => {
                expr::Value::Array(values.into_iter().map(expr::Value::Float).collect())
            }
            MetricResult::Json(json) => rollgate_analysis::condition::from_json(&json),
            MetricResult::Text(text) => expr::Value::String(text),
        };
        rollgate_analysis::assess::Outcome::Value {
            result,
            text: self.value,
        }
    }
}

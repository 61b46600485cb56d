//! The `rollgate/judge` block of a metric, read and checked: where the
//! samples come from (Prometheus, the window, the two scopes, a query per
//! metric) and how they are judged (the rest, read by
//! [`JudgeConfig::from_value`]).

use std::time::Duration;

use rollgate_analysis::types::{JUDGE_PLUGIN, PrometheusMetric, PrometheusRangeQuery};
use rollgate_judge::JudgeConfig;
use rollout_core::intstr::go_duration_nanos;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::substituted;
use crate::error::Failure;

/// Where a query says which pod-template-hash it reads.
pub const SCOPE: &str = "${scope}";

/// The most points Prometheus returns per series of a range query.
const MAX_POINTS: u64 = 11_000;

/// The keys of the block that are the provider's; the others are the
/// judge's ([`JudgeConfig`]).
const SOURCE_KEYS: [&str; 5] = [
    "prometheus",
    "lookback",
    "step",
    "canaryScope",
    "baselineScope",
];

/// The keys of the judge's own configuration.
const JUDGE_KEYS: [&str; 3] = ["metrics", "groupWeights", "scoreThresholds"];

/// The provider's part of the block.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Source {
    #[serde(default)]
    prometheus: PrometheusMetric,
    lookback: Option<String>,
    step: Option<String>,
    canary_scope: Option<String>,
    baseline_scope: Option<String>,
}

/// The block, checked.
#[derive(Debug, Clone)]
pub(super) struct Block {
    /// Prometheus' address, credentials, headers and timeout.
    pub(super) prometheus: PrometheusMetric,
    /// The scopes substituted for [`SCOPE`]: the canary's, then the baseline's.
    pub(super) scopes: [String; 2],
    /// One query per judge metric, in the configuration's order.
    pub(super) queries: Vec<String>,
    /// How the samples are judged.
    pub(super) judge: JudgeConfig,
}

/// `provider.plugin["rollgate/judge"]` followed by `rest`.
pub(super) fn field(rest: &str) -> String {
    if rest.is_empty() {
        format!("provider.plugin[\"{JUDGE_PLUGIN}\"]")
    } else {
        format!("provider.plugin[\"{JUDGE_PLUGIN}\"].{rest}")
    }
}

fn wrong(rest: &str, problem: impl Into<String>) -> Failure {
    Failure::Config {
        field: field(rest),
        problem: problem.into(),
    }
}

impl Block {
    /// Reads the block. Arguments (`{{args.NAME}}`) must already be
    /// substituted, as for every provider.
    pub(super) fn read(value: &Value) -> Result<Self, Failure> {
        let Value::Object(object) = value else {
            return Err(wrong(
                "",
                format!("expected a mapping, found {}", kind(value)),
            ));
        };
        let (mut source, mut judge) = (Map::new(), Map::new());
        for (key, value) in object {
            if !SOURCE_KEYS.contains(&key.as_str()) && !JUDGE_KEYS.contains(&key.as_str()) {
                let known: Vec<&str> = SOURCE_KEYS.iter().chain(&JUDGE_KEYS).copied().collect();
                return Err(wrong(
                    "",
                    format!("unknown field {key:?} (known fields: {})", known.join(", ")),
                ));
            }
            let half = if SOURCE_KEYS.contains(&key.as_str()) {
                &mut source
            } else {
                &mut judge
            };
            half.insert(key.clone(), value.clone());
        }
        let queries = take_queries(&mut judge)?;
        let source: Source = serde_path_to_error::deserialize(Value::Object(source))
            .map_err(|e| wrong(&e.path().to_string(), plain(&e.inner().to_string())))?;
        let judge = JudgeConfig::from_value(Value::Object(judge), JUDGE_PLUGIN)
            .map_err(|e| wrong(&e.path, e.message))?;
        for (i, (query, metric)) in queries.iter().zip(&judge.metrics).enumerate() {
            check_query(query, &format!("metrics[{i}].query"), &metric.name)?;
        }
        if source.prometheus.query.is_some() {
            return Err(wrong(
                "prometheus.query",
                "each judge metric has its own query (metrics[].query); prometheus holds the address, credentials, headers and timeout",
            ));
        }
        if source.prometheus.range_query.is_some() {
            return Err(wrong(
                "prometheus.rangeQuery",
                "the window is the judge's lookback and step, not a rangeQuery",
            ));
        }
        let lookback = duration(source.lookback.as_deref(), "lookback", "10m")?;
        let step = duration(source.step.as_deref(), "step", "30s")?;
        let points = lookback.as_nanos() / step.as_nanos() + 1;
        if points > u128::from(MAX_POINTS) {
            return Err(wrong(
                "step",
                format!(
                    "a lookback of {} at a step of {} is {points} points per series; Prometheus returns at most {MAX_POINTS}: make step longer",
                    source.lookback.unwrap_or_default(),
                    source.step.unwrap_or_default()
                ),
            ));
        }
        let canary = scope(source.canary_scope, "canaryScope", "{{args.canary-hash}}")?;
        let baseline = scope(
            source.baseline_scope,
            "baselineScope",
            "{{args.stable-hash}}",
        )?;
        if canary == baseline {
            return Err(wrong(
                "baselineScope",
                format!(
                    "{baseline:?} is also the canaryScope: the canary would be judged against itself"
                ),
            ));
        }
        let prometheus = PrometheusMetric {
            range_query: Some(PrometheusRangeQuery {
                start: Some(format!("now() - duration(\"{}\")", go_text(lookback))),
                end: Some("now()".to_owned()),
                step: Some(go_text(step)),
            }),
            ..source.prometheus
        };
        Ok(Self {
            prometheus,
            scopes: [canary, baseline],
            queries,
            judge,
        })
    }
}

/// Takes `query` out of every metric, so that the rest is the judge's.
fn take_queries(judge: &mut Map<String, Value>) -> Result<Vec<String>, Failure> {
    let Some(Value::Array(metrics)) = judge.get_mut("metrics") else {
        // Missing or of the wrong kind: the judge's reading names it.
        return Ok(Vec::new());
    };
    let mut queries = Vec::with_capacity(metrics.len());
    for (i, metric) in metrics.iter_mut().enumerate() {
        let Value::Object(metric) = metric else {
            return Err(wrong(
                &format!("metrics[{i}]"),
                format!("expected a mapping, found {}", kind(metric)),
            ));
        };
        match metric.remove("query") {
            Some(Value::String(query)) => queries.push(query),
            Some(other) => {
                return Err(wrong(
                    &format!("metrics[{i}].query"),
                    format!("expected a PromQL query, found {}", kind(&other)),
                ));
            }
            None => {
                return Err(wrong(
                    &format!("metrics[{i}].query"),
                    format!(
                        "expected a PromQL query with {SCOPE} where the pod-template-hash goes"
                    ),
                ));
            }
        }
    }
    Ok(queries)
}

fn check_query(query: &str, at: &str, metric: &str) -> Result<(), Failure> {
    if query.trim().is_empty() {
        return Err(wrong(
            at,
            format!("judge metric {metric:?}: expected a PromQL query"),
        ));
    }
    substituted(query, &field(at))?;
    if !query.contains(SCOPE) {
        return Err(wrong(
            at,
            format!(
                "judge metric {metric:?}: the query has no {SCOPE}; write it where the pod-template-hash goes, such as rollouts_pod_template_hash=\"{SCOPE}\", so the canary and the baseline read their own series"
            ),
        ));
    }
    Ok(())
}

fn duration(text: Option<&str>, name: &str, example: &str) -> Result<Duration, Failure> {
    let text = text.ok_or_else(|| wrong(name, format!("expected a duration such as {example}")))?;
    substituted(text, &field(name))?;
    go_duration_nanos(text)
        .filter(|n| *n > 0)
        .map(|n| Duration::from_nanos(n.unsigned_abs()))
        .ok_or_else(|| {
            wrong(
                name,
                format!("expected a duration above 0 such as {example}, found {text:?}"),
            )
        })
}

/// A scope goes between the quotes of a label matcher: it must not end
/// them.
fn scope(text: Option<String>, name: &str, example: &str) -> Result<String, Failure> {
    let text = text.ok_or_else(|| {
        wrong(
            name,
            format!("expected the pod-template-hash to read, such as \"{example}\""),
        )
    })?;
    substituted(&text, &field(name))?;
    if text.trim().is_empty() {
        return Err(wrong(
            name,
            format!(
                "expected the pod-template-hash to read, such as \"{example}\", found an empty string"
            ),
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '`' | '\\') || c.is_control())
    {
        return Err(wrong(
            name,
            format!("{text:?} holds {c:?}, which would end the query's label value"),
        ));
    }
    Ok(text)
}

/// A duration as Go's `time.Duration` prints it, for `duration("...")`.
fn go_text(d: Duration) -> String {
    format!("{}ns", d.as_nanos())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn plain(message: &str) -> String {
    rollout_core::plain_words(message)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

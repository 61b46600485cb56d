//! Measurements recorded into a run's status, and the phases of metrics
//! and of the run assessed from them, as Argo's `analysis/analysis.go` does
//! (`runMeasurements`, `assessMetricStatus`,
//! `assessMetricFailureInconclusiveOrError`, `assessRunStatus`).

use expr::Value;
use rollout_core::intstr::IntOrString;
use rollout_core::{AnalysisPhase, Time};

use crate::condition::{Conditions, describe_conditions, effective};
use crate::isolation::Evaluator;
use crate::types::{Measurement, Metric, MetricResult, RunSummary, parse_phase};

/// Errors in a row tolerated when a metric does not say (Argo's
/// `DefaultConsecutiveErrorLimit`).
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i64 = 4;

/// Kubernetes' `IntOrString.IntValue`: a string that is not a whole number
/// counts as 0.
pub(crate) fn int_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => s.parse().unwrap_or(0),
    }
}

/// Argo's `Metric.EffectiveCount`: `count` when it is not 0; otherwise one
/// measurement without an interval, and no bound with one.
pub fn effective_count(metric: &Metric) -> Option<i64> {
    match metric.count.as_ref().map(int_value) {
        Some(n) if n != 0 => Some(n),
        _ if metric.interval.as_deref().is_none_or(str::is_empty) => Some(1),
        _ => None,
    }
}

/// A metric's phase as its result records it (empty or unknown: `None`).
pub(crate) fn result_phase(result: &MetricResult) -> Option<AnalysisPhase> {
    parse_phase(&result.phase)
}

/// What a provider reports for one measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A value, assessed against the metric's conditions.
    Value {
        /// The value as conditions see it (`result`).
        result: Value,
        /// The value as the measurement records it.
        text: String,
    },
    /// A value with an account of how it was reached (the judge's
    /// per-metric table), assessed as [`Outcome::Value`] and kept as the
    /// measurement's message.
    Explained {
        /// The value as conditions see it (`result`).
        result: Value,
        /// The value as the measurement records it.
        text: String,
        /// The measurement's message.
        message: String,
    },
    /// The measurement could not be taken; the message says why.
    Error(String),
}

/// Records one finished measurement of `metric` into its result: the
/// measurement's phase from the metric's conditions, and the counters Argo
/// keeps (`count` counts all but errors; errors and successes in a row).
///
/// `conditions` are the metric's, compiled once ([`Conditions::of`]);
/// `evaluator` says where they are evaluated
/// ([`InProcess`](crate::isolation::InProcess) or in a child process).
///
/// ```
/// use rollgate_analysis::assess::{Outcome, record};
/// use rollgate_analysis::condition::Conditions;
/// use rollgate_analysis::isolation::InProcess;
/// use rollgate_analysis::types::{Metric, MetricResult};
/// let metric = Metric { name: "rate".into(), success_condition: Some("result > 0.9".into()),
///     ..Metric::default() };
/// let mut result = MetricResult { name: "rate".into(), ..MetricResult::default() };
/// let now = "2026-12-01T10:00:00Z".parse().unwrap();
/// let outcome = Outcome::Value { result: expr::Value::Float(0.5), text: "0.5".into() };
/// record(&mut result, &Conditions::of(&metric), &InProcess, outcome, now, now);
/// assert_eq!((result.count, result.failed), (1, 1));
/// assert_eq!(result.measurements[0].phase, "Failed");
/// ```
pub fn record(
    result: &mut MetricResult,
    conditions: &Conditions,
    evaluator: &dyn Evaluator,
    outcome: Outcome,
    started_at: Time,
    finished_at: Time,
) {
    let (phase, value, message) = match outcome {
        Outcome::Value { result: v, text } => match evaluator.assess(conditions, &v) {
            Ok(phase) => (phase, text, String::new()),
            Err(message) => (AnalysisPhase::Error, text, message),
        },
        Outcome::Explained {
            result: v,
            text,
            message,
        } => match evaluator.assess(conditions, &v) {
            Ok(phase) => (phase, text, message),
            Err(error) => (AnalysisPhase::Error, text, format!("{error}\n{message}")),
        },
        Outcome::Error(message) => (AnalysisPhase::Error, String::new(), message),
    };
    count(result, phase);
    let finished = finished_at.to_string();
    let started = if started_at == finished_at {
        finished.clone()
    } else {
        started_at.to_string()
    };
    result.measurements.push(Measurement {
        phase: phase.as_str().to_owned(),
        message,
        started_at: Some(started),
        finished_at: Some(finished),
        value,
        ..Measurement::default()
    });
}

/// Argo's counters for one completed measurement.
pub(crate) fn count(result: &mut MetricResult, phase: AnalysisPhase) {
    match phase {
        AnalysisPhase::Successful => {
            result.successful += 1;
            result.count += 1;
            result.consecutive_error = 0;
            result.consecutive_success += 1;
        }
        AnalysisPhase::Failed | AnalysisPhase::Inconclusive => {
            if phase == AnalysisPhase::Failed {
                result.failed += 1;
            } else {
                result.inconclusive += 1;
            }
            result.count += 1;
            result.consecutive_error = 0;
            result.consecutive_success = 0;
        }
        AnalysisPhase::Error => {
            result.error += 1;
            result.consecutive_error += 1;
            result.consecutive_success = 0;
        }
        AnalysisPhase::Pending | AnalysisPhase::Running => {}
    }
}

/// Which limit a metric exceeded: Argo's `assessMetricFailureInconclusiveOrError`.
/// The last rule that holds wins (errors over inconclusive over failed), as
/// in Argo; the message is Argo's, such as `failed (3) > failureLimit (2)`.
pub fn exceeded_limit(metric: &Metric, result: &MetricResult) -> Option<(AnalysisPhase, String)> {
    let limit = |v: &Option<IntOrString>, default| v.as_ref().map_or(default, int_value);
    let mut outcome = None;
    let failure_limit = limit(&metric.failure_limit, 0);
    if failure_limit >= 0 && i64::from(result.failed) > failure_limit {
        outcome = Some((
            AnalysisPhase::Failed,
            format!(
                "failed ({}) > failureLimit ({failure_limit})",
                result.failed
            ),
        ));
    }
    let inconclusive_limit = limit(&metric.inconclusive_limit, 0);
    if i64::from(result.inconclusive) > inconclusive_limit {
        outcome = Some((
            AnalysisPhase::Inconclusive,
            format!(
                "inconclusive ({}) > inconclusiveLimit ({inconclusive_limit})",
                result.inconclusive
            ),
        ));
    }
    let error_limit = limit(
        &metric.consecutive_error_limit,
        DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    );
    if i64::from(result.consecutive_error) > error_limit {
        outcome = Some((
            AnalysisPhase::Error,
            format!(
                "consecutiveErrors ({}) > consecutiveErrorLimit ({error_limit})",
                result.consecutive_error
            ),
        ));
    }
    outcome
}

/// A metric's phase from its measurements: Argo's `assessMetricStatus`.
/// `terminating` is true when the run was told to stop or another
/// (counted) metric already ended unsuccessfully.
pub fn metric_phase(metric: &Metric, result: &MetricResult, terminating: bool) -> AnalysisPhase {
    if let Some(phase) = result_phase(result).filter(|p| p.is_completed()) {
        return phase;
    }
    let Some(last) = result.measurements.last() else {
        return if terminating {
            AnalysisPhase::Successful
        } else {
            AnalysisPhase::Pending
        };
    };
    if !parse_phase(&last.phase).is_some_and(AnalysisPhase::is_completed) {
        return AnalysisPhase::Running;
    }
    if let Some((phase, _)) = exceeded_limit(metric, result) {
        return phase;
    }
    let success_limit = metric
        .consecutive_success_limit
        .as_ref()
        .map_or(0, int_value);
    if success_limit > 0 && i64::from(result.consecutive_success) >= success_limit {
        return AnalysisPhase::Successful;
    }
    if let Some(count) = effective_count(metric)
        && i64::from(result.count) >= count
    {
        let failure_applicable = metric
            .failure_limit
            .as_ref()
            .is_none_or(|l| int_value(l) >= 0);
        return match (failure_applicable, success_limit > 0) {
            // Neither limit reached within the count.
            (true, true) => AnalysisPhase::Inconclusive,
            (false, true) => AnalysisPhase::Failed,
            _ => AnalysisPhase::Successful,
        };
    }
    if terminating {
        AnalysisPhase::Successful
    } else {
        AnalysisPhase::Running
    }
}

/// The run's phase, message and summaries: Argo's `assessRunStatus`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAssessment {
    /// The run's phase.
    pub phase: AnalysisPhase,
    /// Why (empty while running).
    pub message: String,
    /// Counted metrics by outcome.
    pub run_summary: RunSummary,
    /// Dry-run metrics by outcome.
    pub dry_run_summary: RunSummary,
}

/// Updates each metric's phase (and message, from its last measurement,
/// when the phase changes) and assesses the run. `results[i]` is the
/// result of `metrics[i]`, `None` before its first measurement;
/// `dry_run[i]` whether the metric is a dry run.
///
/// The message of the worst metric is Argo's, such as `Metric "rate"
/// assessed Failed due to failed (3) > failureLimit (2)`, followed by
/// [`explain`]'s account of the values that made it so.
pub fn assess_run(
    metrics: &[Metric],
    results: &mut [Option<&mut MetricResult>],
    dry_run: &[bool],
    terminate: bool,
    terminating: bool,
) -> RunAssessment {
    let mut worst: Option<AnalysisPhase> = None;
    let mut message = if terminate {
        "Run Terminated".to_owned()
    } else {
        String::new()
    };
    let mut run_summary = RunSummary::default();
    let mut dry_run_summary = RunSummary::default();
    let mut everything_completed = true;
    for ((metric, result), &dry) in metrics.iter().zip(results.iter_mut()).zip(dry_run) {
        let summary = if dry {
            &mut dry_run_summary
        } else {
            &mut run_summary
        };
        summary.count += 1;
        let Some(result) = result else {
            everything_completed = false;
            continue;
        };
        let phase = metric_phase(metric, result, terminating);
        if result_phase(result) != Some(phase) {
            if let Some(last) = result.measurements.last() {
                result.message = last.message.clone();
            }
            result.phase = phase.as_str().to_owned();
        }
        if !phase.is_completed() {
            everything_completed = false;
            continue;
        }
        let limit = exceeded_limit(metric, result);
        match limit.as_ref().map(|(p, _)| *p) {
            Some(AnalysisPhase::Error) => summary.error += 1,
            Some(AnalysisPhase::Failed) => summary.failed += 1,
            Some(AnalysisPhase::Inconclusive) => summary.inconclusive += 1,
            _ => summary.successful += 1,
        }
        if dry {
            worst.get_or_insert(AnalysisPhase::Successful);
            if let Some((_, why)) = &limit {
                result.message = format!("Metric assessed {} due to {why}", phase.as_str());
            }
            continue;
        }
        if worst.is_none_or(|w| is_worse(w, phase)) {
            worst = Some(phase);
            if let Some((_, why)) = &limit {
                message = format!(
                    "Metric \"{}\" assessed {} due to {why}",
                    metric.name,
                    phase.as_str()
                );
                if !result.message.is_empty() {
                    message.push_str(&format!(": \"Error Message: {}\"", result.message));
                }
                message.push_str(&explain(metric, result, phase));
            }
        }
    }
    let message = message.trim().to_owned();
    let (phase, message) = match worst {
        _ if terminating && worst.is_none() => (AnalysisPhase::Successful, message),
        Some(w) if terminating => (w, message),
        Some(w) if everything_completed => (w, message),
        _ => (AnalysisPhase::Running, String::new()),
    };
    RunAssessment {
        phase,
        message,
        run_summary,
        dry_run_summary,
    }
}

/// Argo's order of phases from best to worst.
const ORDER: [AnalysisPhase; 6] = [
    AnalysisPhase::Successful,
    AnalysisPhase::Running,
    AnalysisPhase::Pending,
    AnalysisPhase::Inconclusive,
    AnalysisPhase::Error,
    AnalysisPhase::Failed,
];

/// Argo's `IsWorse`: whether `new` is worse than `current`.
pub fn is_worse(current: AnalysisPhase, new: AnalysisPhase) -> bool {
    let rank = |p| ORDER.iter().position(|o| *o == p).unwrap_or(0);
    rank(new) > rank(current)
}

/// Which measured values, against which conditions, made a metric end as
/// it did: ` (values [0.42, 0.40] against successCondition "result >
/// 0.95")`, from the measurements kept whose phase is the metric's. Empty
/// for an `Error` (the error message says why) or when none were kept
/// (a Job's measurements have no value).
///
/// Rollgate adds this to Argo's message so that a Rollout's abort message
/// names the values; Argo's message alone does not.
pub fn explain(metric: &Metric, result: &MetricResult, phase: AnalysisPhase) -> String {
    if phase == AnalysisPhase::Error {
        return String::new();
    }
    let values: Vec<&str> = result
        .measurements
        .iter()
        .filter(|m| m.phase == phase.as_str() && !m.value.is_empty())
        .map(|m| m.value.as_str())
        .collect();
    if values.is_empty() {
        return String::new();
    }
    let (success, failure) = effective(metric);
    let conditions = describe_conditions(success, failure);
    if conditions.is_empty() {
        format!(" (values [{}])", values.join(", "))
    } else {
        format!(" (values [{}] against {conditions})", values.join(", "))
    }
}

#[cfg(test)]
#[path = "assess_tests.rs"]
mod tests;

//! One step of an AnalysisRun, without I/O: from its spec, its status so
//! far and the time, which measurements to take now, the phases and
//! messages of its metrics and of the run, and when to look again. This is
//! Argo's `reconcileAnalysisRun` (`analysis/analysis.go`) with the
//! measuring left to the caller:
//!
//! 1. [`decide`] assesses what was recorded, trims old measurements and
//!    lists the measurements due ([`Decision::measure`]);
//! 2. the caller takes them and records each with [`record_measurement`]
//!    into [`Decision::status`];
//! 3. the caller decides again (at once if it measured, otherwise at
//!    [`Decision::next_reconcile`]).
//!
//! Where Rollgate differs: times have second precision (as Kubernetes
//! stores them), so a measurement is due once `now` has reached its time,
//! where Argo waits until `now` is strictly after it.

use std::time::Duration;

use regex::Regex;
use rollout_core::intstr::go_duration_nanos;
use rollout_core::{AnalysisPhase, Time};

use crate::Error;
use crate::assess::{self, Outcome, effective_count, result_phase};
use crate::condition::Conditions;
use crate::isolation::Evaluator;
use crate::types::{
    AnalysisRunSpec, AnalysisRunStatus, Argument, Measurement, Metric, MetricResult,
};
use crate::validate;

/// Measurements kept per metric unless `measurementRetention` says
/// otherwise (Argo's `DefaultMeasurementHistoryLimit`).
pub const DEFAULT_MEASUREMENT_RETENTION: usize = 10;

/// Time before a measurement that errored is taken again (Argo's
/// `DefaultErrorRetryInterval`).
pub const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// A measurement to take now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The metric's name.
    pub metric: String,
    /// What to do.
    pub action: Action,
}

/// What a [`Task`] asks of the metric's provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Take a new measurement.
    Measure,
    /// Complete the measurement in flight (a Job still running): see
    /// [`in_flight`](crate::in_flight).
    Resume,
    /// Stop the measurement in flight: the run is terminating. As in
    /// Argo, a stopped measurement that ends `Successful` or
    /// `Inconclusive` carries the message `Metric Terminated`
    /// ([`record_progress`](crate::in_flight::record_progress) gives it).
    Terminate,
}

/// What [`decide`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Measurements to take now, in the order of the metrics.
    pub measure: Vec<Task>,
    /// The status with the metrics' and the run's phases, messages and
    /// summaries assessed and old measurements dropped.
    pub status: AnalysisRunStatus,
    /// When to decide again, if nothing else happens; `None` when the run
    /// is complete or nothing is scheduled.
    pub next_reconcile: Option<Time>,
}

/// One step of a run (see the module documentation). A completed run is
/// left as it is. A spec whose arguments do not resolve or whose metrics,
/// dry-run or retention rules Argo refuses ends the run in `Error` with
/// Argo's message.
///
/// ```
/// use rollgate_analysis::evaluate::{Action, decide};
/// use rollgate_analysis::types::AnalysisRunSpec;
/// let spec: AnalysisRunSpec = serde_json::from_value(serde_json::json!({"metrics": [
///     {"name": "rate", "interval": "1m", "count": 3, "successCondition": "result > 0.9",
///      "provider": {"web": {"url": "http://127.0.0.1/"}}}]})).unwrap();
/// let now = "2026-12-01T10:00:00Z".parse().unwrap();
/// let first = decide(&spec, None, now);
/// assert_eq!(first.measure[0].metric, "rate");
/// assert_eq!(first.measure[0].action, Action::Measure);
/// assert_eq!(first.status.phase, "Running");
/// ```
pub fn decide(spec: &AnalysisRunSpec, status: Option<&AnalysisRunStatus>, now: Time) -> Decision {
    let mut status = status.cloned().unwrap_or_default();
    if status.phase().is_completed() {
        return Decision {
            measure: Vec::new(),
            status,
            next_reconcile: None,
        };
    }
    let rules = match resolve(spec) {
        Ok(rules) => rules,
        Err(message) => {
            status.phase = AnalysisPhase::Error.as_str().to_owned();
            status.message = message;
            return Decision {
                measure: Vec::new(),
                status,
                next_reconcile: None,
            };
        }
    };
    status.started_at.get_or_insert_with(|| now.to_string());
    if terminating(spec, &status) {
        // Argo stops measurements in flight before it assesses the run.
        let stop = tasks(&rules.metrics, &status, true, now);
        if !stop.is_empty() {
            return Decision {
                measure: stop,
                status,
                next_reconcile: None,
            };
        }
    }
    assess_status(spec, &rules, &mut status, now);
    if !status.phase().is_completed() && terminating(spec, &status) {
        // A metric has just ended the run early: Argo's controller sees its
        // own status change and assesses again at once.
        assess_status(spec, &rules, &mut status, now);
    }
    collect_garbage(&rules, &mut status);
    if status.phase().is_completed() {
        return Decision {
            measure: Vec::new(),
            status,
            next_reconcile: None,
        };
    }
    let terminating = terminating(spec, &status);
    Decision {
        measure: tasks(&rules.metrics, &status, terminating, now),
        next_reconcile: next_reconcile(&rules.metrics, &status, now),
        status,
    }
}

/// A run's metrics with their arguments put in, and which are dry runs and
/// how many measurements each keeps.
struct Rules {
    metrics: Vec<Metric>,
    dry_run: Vec<bool>,
    retention: Vec<usize>,
}

/// Argo's checks at the start of `reconcileAnalysisRun`, with its messages.
fn resolve(spec: &AnalysisRunSpec) -> Result<Rules, String> {
    let metrics = spec
        .metrics
        .iter()
        .map(|m| resolve_args(m, &spec.args, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("Unable to resolve metric arguments: {e}"))?;
    validate::metrics(&metrics).map_err(|e| format!("Analysis spec invalid: {e}"))?;
    let mut dry_run = vec![false; metrics.len()];
    for (index, rule) in spec.dry_run.iter().enumerate() {
        let matched = matching(&rule.metric_name, &metrics).ok_or_else(|| {
            format!("Analysis spec invalid: dryRun[{index}]: Rule didn't match any metric name(s)")
        })?;
        for i in matched {
            dry_run[i] = true;
        }
    }
    let mut retention = vec![DEFAULT_MEASUREMENT_RETENTION; metrics.len()];
    for (index, rule) in spec.measurement_retention.iter().enumerate() {
        let matched = matching(&rule.metric_name, &metrics).ok_or_else(|| {
            format!("Analysis spec invalid: measurementRetention[{index}]: Rule didn't match any metric name(s)")
        })?;
        for i in matched {
            // A limit of 0 or less keeps the default, as in Argo.
            retention[i] = usize::try_from(rule.limit)
                .ok()
                .filter(|l| *l > 0)
                .unwrap_or(DEFAULT_MEASUREMENT_RETENTION);
        }
    }
    Ok(Rules {
        metrics,
        dry_run,
        retention,
    })
}

/// Which of the spec's metrics are dry runs, in their order (Argo's
/// `GetDryRunMetrics`): a `dryRun` rule's `metricName` is a regular
/// expression matched anywhere in a name. A rule that matches nothing or
/// does not compile makes none a dry run (the run ends in `Error` when it
/// is decided).
///
/// ```
/// use rollgate_analysis::evaluate::dry_run;
/// use rollgate_analysis::types::AnalysisRunSpec;
/// let spec: AnalysisRunSpec = serde_json::from_value(serde_json::json!({
///     "metrics": [{"name": "rate", "provider": {"web": {"url": "http://127.0.0.1/"}}},
///                 {"name": "latency", "provider": {"web": {"url": "http://127.0.0.1/"}}}],
///     "dryRun": [{"metricName": "lat.*"}]})).unwrap();
/// assert_eq!(dry_run(&spec), [false, true]);
/// ```
pub fn dry_run(spec: &AnalysisRunSpec) -> Vec<bool> {
    let mut dry_run = vec![false; spec.metrics.len()];
    for rule in &spec.dry_run {
        let Some(matched) = matching(&rule.metric_name, &spec.metrics) else {
            return vec![false; spec.metrics.len()];
        };
        for i in matched {
            dry_run[i] = true;
        }
    }
    dry_run
}

/// The metrics whose name the pattern matches anywhere (Go's
/// `regexp.MatchString`); `None` when none does or the pattern does not
/// compile.
fn matching(pattern: &str, metrics: &[Metric]) -> Option<Vec<usize>> {
    let re = Regex::new(pattern).ok()?;
    let matched: Vec<usize> = (0..metrics.len())
        .filter(|&i| re.is_match(&metrics[i].name))
        .collect();
    (!matched.is_empty()).then_some(matched)
}

/// Argo's `ResolveMetricArgs` at measurement time: every `{{args.NAME}}`
/// in the metric replaced by the argument's value, an argument read from a
/// Secret (`valueFrom.secretKeyRef`) by its entry in `secrets` (argument
/// name to the Secret's value, read by the caller in the run's namespace).
///
/// `Err` carries Argo's words, for the run's message after "Unable to
/// resolve metric arguments: ": a placeholder naming no argument, an
/// argument without a value, or a Secret's argument missing from
/// `secrets`.
///
/// ```
/// use std::collections::BTreeMap;
/// use rollgate_analysis::evaluate::resolve_metric;
/// use rollgate_analysis::types::{Argument, Metric};
/// let metric: Metric = serde_json::from_value(serde_json::json!({"name": "rate",
///     "provider": {"web": {"url": "http://127.0.0.1/{{args.path}}",
///         "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]}}})).unwrap();
/// let args: Vec<Argument> = serde_json::from_value(serde_json::json!([
///     {"name": "path", "value": "ok"},
///     {"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}])).unwrap();
/// let secrets = BTreeMap::from([("token".to_owned(), "s3cret".to_owned())]);
/// let web = resolve_metric(&metric, &args, &secrets).unwrap().provider.web.unwrap();
/// assert_eq!(web.url, "http://127.0.0.1/ok");
/// assert_eq!(web.headers[0].value, "Bearer s3cret");
/// assert!(resolve_metric(&metric, &args, &BTreeMap::new()).is_err());
/// ```
pub fn resolve_metric(
    metric: &Metric,
    args: &[Argument],
    secrets: &std::collections::BTreeMap<String, String>,
) -> Result<Metric, String> {
    resolve_args(metric, args, Some(secrets))
}

/// Argo's `ResolveMetricArgs`: every `{{args.NAME}}` in the metric replaced
/// by the argument's value; a Secret's value comes from `secrets`, or is a
/// stand-in when there are none (the schedule does not depend on it). A
/// placeholder naming no argument, or an argument without a value, is an
/// error.
fn resolve_args(
    metric: &Metric,
    args: &[Argument],
    secrets: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Metric, String> {
    let text = serde_json::to_string(metric).map_err(|e| e.to_string())?;
    if !text.contains("{{") {
        return Ok(metric.clone());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = &after[..close];
        let name = tag.trim().strip_prefix("args.");
        let arg = name
            .and_then(|n| args.iter().find(|a| a.name == n))
            .ok_or_else(|| format!("failed to resolve {{{{{tag}}}}}"))?;
        let value = match (&arg.value, &arg.value_from) {
            (_, Some(from)) if from.secret_key_ref.is_some() => match secrets {
                None => "temp-for-secret".to_owned(),
                Some(secrets) => secrets.get(&arg.name).cloned().ok_or_else(|| {
                    format!("the Secret of argument \"{}\" was not read", arg.name)
                })?,
            },
            (Some(v), _) => v.clone(),
            (None, _) => return Err(format!("argument \"{}\" was not supplied", arg.name)),
        };
        // Escaped as a JSON string's content, then put back in place.
        let quoted = serde_json::to_string(&value).map_err(|e| e.to_string())?;
        out.push_str(&quoted[1..quoted.len() - 1]);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    serde_json::from_str(&out)
        .map_err(|e| format!("the metric does not read with its arguments put in: {e}"))
}

/// Argo's `IsTerminating`: told to stop, or a counted metric already ended
/// unsuccessfully.
fn terminating(spec: &AnalysisRunSpec, status: &AnalysisRunStatus) -> bool {
    spec.terminate
        || status.metric_results.iter().any(|r| {
            !r.dry_run
                && matches!(
                    result_phase(r),
                    Some(
                        AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
                    )
                )
        })
}

/// Argo's `assessRunStatus` on the status, with the run's phase and
/// message changed only when the phase changes (as Argo does).
fn assess_status(spec: &AnalysisRunSpec, rules: &Rules, status: &mut AnalysisRunStatus, now: Time) {
    let terminating = terminating(spec, status);
    let mut results: Vec<Option<&mut MetricResult>> = Vec::with_capacity(rules.metrics.len());
    let mut remaining: Vec<&mut MetricResult> = status.metric_results.iter_mut().collect();
    for metric in &rules.metrics {
        let found = remaining.iter().position(|r| r.name == metric.name);
        results.push(found.map(|i| remaining.swap_remove(i)));
    }
    let run = assess::assess_run(
        &rules.metrics,
        &mut results,
        &rules.dry_run,
        spec.terminate,
        terminating,
    );
    if status.phase() != run.phase || status.phase.is_empty() {
        status.phase = run.phase.as_str().to_owned();
        status.message = run.message;
        if run.phase.is_completed() {
            status.completed_at.get_or_insert_with(|| now.to_string());
        }
    }
    status.run_summary = Some(run.run_summary);
    status.dry_run_summary = Some(run.dry_run_summary);
}

/// Argo's `garbageCollectMeasurements`: the newest measurements kept.
fn collect_garbage(rules: &Rules, status: &mut AnalysisRunStatus) {
    for result in &mut status.metric_results {
        let Some(i) = rules.metrics.iter().position(|m| m.name == result.name) else {
            continue;
        };
        let limit = rules.retention[i];
        let len = result.measurements.len();
        if len > limit {
            result.measurements.drain(..len - limit);
        }
    }
}

fn result_of<'s>(status: &'s AnalysisRunStatus, name: &str) -> Option<&'s MetricResult> {
    status.metric_results.iter().find(|r| r.name == name)
}

/// A time as the status records it; one that does not read counts as the
/// epoch (the measurement it belongs to is then due).
fn time_of(text: &str) -> Time {
    text.parse().unwrap_or_default()
}

fn duration_of(text: &str) -> Option<Duration> {
    go_duration_nanos(text)
        .and_then(|n| u64::try_from(n).ok())
        .map(Duration::from_nanos)
}

/// When the next measurement of a metric whose last one finished is due,
/// or `None` when its count is reached or it is not measured again.
fn due_after_last(metric: &Metric, result: &MetricResult, last: &Measurement) -> Option<Time> {
    if effective_count(metric).is_some_and(|c| i64::from(result.count) >= c) {
        return None;
    }
    let interval = if last.phase == AnalysisPhase::Error.as_str() {
        ERROR_RETRY_INTERVAL
    } else {
        duration_of(metric.interval.as_deref().filter(|i| !i.is_empty())?)?
    };
    Some(time_of(last.finished_at.as_deref().unwrap_or_default()) + interval)
}

/// Argo's `generateMetricTasks`.
fn tasks(
    metrics: &[Metric],
    status: &AnalysisRunStatus,
    terminating: bool,
    now: Time,
) -> Vec<Task> {
    let mut tasks = Vec::new();
    for metric in metrics {
        let result = result_of(status, &metric.name);
        if result
            .and_then(result_phase)
            .is_some_and(AnalysisPhase::is_completed)
        {
            continue;
        }
        let task = |action| Task {
            metric: metric.name.clone(),
            action,
        };
        let last = result.and_then(|r| r.measurements.last());
        match (result, last) {
            (_, Some(last)) if last.finished_at.is_none() => {
                let waiting = last.resume_at.as_deref().is_some_and(|r| time_of(r) > now);
                if terminating {
                    tasks.push(task(Action::Terminate));
                } else if !waiting {
                    tasks.push(task(Action::Resume));
                }
            }
            _ if terminating => {}
            (Some(result), Some(last)) => {
                if due_after_last(metric, result, last).is_some_and(|due| due <= now) {
                    tasks.push(task(Action::Measure));
                }
            }
            _ => {
                let delay = metric.initial_delay.as_deref().filter(|d| !d.is_empty());
                let started = status.started_at.as_deref().map(time_of);
                let ready = match (delay, started) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(d), Some(started)) => duration_of(d).is_some_and(|d| started + d <= now),
                };
                if ready {
                    tasks.push(task(Action::Measure));
                }
            }
        }
    }
    tasks
}

/// Argo's `calculateNextReconcileTime`: the earliest time a metric is due.
fn next_reconcile(metrics: &[Metric], status: &AnalysisRunStatus, now: Time) -> Option<Time> {
    metrics
        .iter()
        .filter_map(|metric| {
            let result = result_of(status, &metric.name);
            if result
                .and_then(result_phase)
                .is_some_and(AnalysisPhase::is_completed)
            {
                return None;
            }
            match (result, result.and_then(|r| r.measurements.last())) {
                (_, Some(last)) if last.finished_at.is_none() => {
                    last.resume_at.as_deref().map(time_of)
                }
                (Some(result), Some(last)) => due_after_last(metric, result, last),
                _ => {
                    let delay =
                        duration_of(metric.initial_delay.as_deref().filter(|d| !d.is_empty())?)?;
                    let started = status.started_at.as_deref().map_or(now, time_of);
                    Some(started + delay)
                }
            }
        })
        .min()
}

/// Records one finished measurement of the metric named `metric` into the
/// status (Argo's bookkeeping in `runMeasurements`): its phase from the
/// metric's conditions (evaluated by `evaluator`), the metric's counters, and the metric's result
/// created (`Running`, marked dry-run as the spec says) on its first
/// measurement. A measurement in flight (one without `finishedAt`) is
/// replaced rather than added to.
///
/// `Err` when the spec has no metric of that name or its arguments do not
/// resolve; the status is then unchanged.
pub fn record_measurement(
    spec: &AnalysisRunSpec,
    status: &mut AnalysisRunStatus,
    metric: &str,
    outcome: Outcome,
    started_at: Time,
    finished_at: Time,
    evaluator: &dyn Evaluator,
) -> Result<(), Error> {
    let (metric, result) = metric_result(spec, status, metric)?;
    let in_flight = result
        .measurements
        .last()
        .is_some_and(|m| m.finished_at.is_none());
    let started_at = if in_flight {
        result
            .measurements
            .pop()
            .and_then(|m| m.started_at)
            .map_or(started_at, |s| time_of(&s))
    } else {
        started_at
    };
    let conditions = Conditions::of(&metric);
    assess::record(
        result,
        &conditions,
        evaluator,
        outcome,
        started_at,
        finished_at,
    );
    Ok(())
}

/// The metric named `metric` (its arguments put in) and its result in
/// `status`, which is created (`Running`, marked dry-run as the spec says)
/// when the metric has none yet: what recording any measurement starts
/// with. `Err` when the spec has no such metric or does not resolve; the
/// status is then unchanged.
pub(crate) fn metric_result<'s>(
    spec: &AnalysisRunSpec,
    status: &'s mut AnalysisRunStatus,
    metric: &str,
) -> Result<(Metric, &'s mut MetricResult), Error> {
    let mut rules = resolve(spec).map_err(|message| Error::InvalidRun { message })?;
    let index = rules
        .metrics
        .iter()
        .position(|m| m.name == metric)
        .ok_or_else(|| Error::UnknownMetric {
            metric: metric.to_owned(),
        })?;
    let position = match status.metric_results.iter().position(|r| r.name == metric) {
        Some(p) => p,
        None => {
            status.metric_results.push(MetricResult {
                name: metric.to_owned(),
                phase: AnalysisPhase::Running.as_str().to_owned(),
                dry_run: rules.dry_run[index],
                ..MetricResult::default()
            });
            status.metric_results.len() - 1
        }
    };
    Ok((
        rules.metrics.swap_remove(index),
        &mut status.metric_results[position],
    ))
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;

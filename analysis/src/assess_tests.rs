//! Argo's `assessMetricStatus`, `assessMetricFailureInconclusiveOrError`
//! and `assessRunStatus` cases (`analysis_test.go`), in Rollgate's own data.

use rollout_core::AnalysisPhase::{
    self, Error, Failed, Inconclusive, Pending, Running, Successful,
};

use super::*;
use crate::isolation::InProcess;

fn metric(json: serde_json::Value) -> Metric {
    serde_json::from_value(json).unwrap()
}

fn measured(phase: AnalysisPhase, value: &str) -> Measurement {
    Measurement {
        phase: phase.as_str().into(),
        value: value.into(),
        started_at: Some("2026-12-01T10:00:00Z".into()),
        finished_at: Some("2026-12-01T10:00:00Z".into()),
        ..Measurement::default()
    }
}

/// A result with the given counters and one finished measurement.
fn tally(failed: i32, successful: i32, count: i32, consecutive_success: i32) -> MetricResult {
    MetricResult {
        name: "rate".into(),
        phase: "Running".into(),
        failed,
        successful,
        count,
        consecutive_success,
        measurements: vec![measured(Successful, "1")],
        ..MetricResult::default()
    }
}

#[test]
fn effective_count_is_one_without_interval_and_unbounded_with_one() {
    let count = |json| effective_count(&metric(json));
    assert_eq!(count(serde_json::json!({"name": "a"})), Some(1));
    assert_eq!(count(serde_json::json!({"name": "a", "count": 0})), Some(1));
    assert_eq!(
        count(serde_json::json!({"name": "a", "interval": "1m"})),
        None
    );
    assert_eq!(
        count(serde_json::json!({"name": "a", "interval": "1m", "count": 0})),
        None
    );
    assert_eq!(
        count(serde_json::json!({"name": "a", "interval": "1m", "count": "5"})),
        Some(5)
    );
    // A count that is not a number reads as 0, as Kubernetes' IntValue.
    assert_eq!(
        count(serde_json::json!({"name": "a", "interval": "1m", "count": "x"})),
        None
    );
}

#[test]
fn no_measurements_is_pending_or_successful_when_terminating() {
    let m = metric(serde_json::json!({"name": "rate"}));
    let r = MetricResult::default();
    assert_eq!(metric_phase(&m, &r, false), Pending);
    assert_eq!(metric_phase(&m, &r, true), Successful);
}

#[test]
fn a_measurement_in_flight_keeps_the_metric_running() {
    let m = metric(serde_json::json!({"name": "rate"}));
    let mut r = tally(0, 0, 0, 0);
    r.measurements = vec![Measurement {
        phase: "Running".into(),
        ..Measurement::default()
    }];
    assert_eq!(metric_phase(&m, &r, false), Running);
    assert_eq!(metric_phase(&m, &r, true), Running);
}

#[test]
fn failure_limit_default_zero_and_minus_one_disables() {
    let m = metric(serde_json::json!({"name": "rate", "interval": "1m", "failureLimit": 2}));
    assert_eq!(metric_phase(&m, &tally(2, 3, 5, 0), false), Running);
    assert_eq!(metric_phase(&m, &tally(3, 3, 6, 0), false), Failed);
    let m = metric(serde_json::json!({"name": "rate", "interval": "1m"}));
    assert_eq!(metric_phase(&m, &tally(1, 0, 1, 0), false), Failed);
    let m = metric(
        serde_json::json!({"name": "rate", "interval": "1m", "failureLimit": -1,
        "consecutiveSuccessLimit": 2}),
    );
    assert_eq!(metric_phase(&m, &tally(9, 1, 10, 1), false), Running);
    assert_eq!(metric_phase(&m, &tally(9, 2, 11, 2), false), Successful);
}

#[test]
fn consecutive_success_limit_with_and_without_a_count() {
    // Indefinite: the limit reached ends the metric; failures still fail it.
    let mut m = metric(
        serde_json::json!({"name": "rate", "interval": "60s", "failureLimit": 4,
        "consecutiveSuccessLimit": 4}),
    );
    assert_eq!(metric_phase(&m, &tally(3, 4, 7, 3), false), Running);
    assert_eq!(metric_phase(&m, &tally(3, 4, 7, 3), true), Successful);
    assert_eq!(metric_phase(&m, &tally(5, 4, 9, 0), false), Failed);
    assert_eq!(metric_phase(&m, &tally(3, 5, 8, 4), false), Successful);
    assert_eq!(metric_phase(&m, &tally(5, 5, 10, 4), true), Failed);
    // With a count: reached with neither limit met is Inconclusive.
    m.count = Some(10.into());
    assert_eq!(metric_phase(&m, &tally(4, 6, 10, 3), false), Inconclusive);
    assert_eq!(metric_phase(&m, &tally(4, 6, 10, 3), true), Inconclusive);
    assert_eq!(metric_phase(&m, &tally(5, 5, 10, 3), false), Failed);
    assert_eq!(metric_phase(&m, &tally(4, 6, 10, 4), false), Successful);
    assert_eq!(metric_phase(&m, &tally(3, 5, 8, 3), false), Running);
    assert_eq!(metric_phase(&m, &tally(3, 5, 8, 3), true), Successful);
    // Failures disabled: a count reached without the successes in a row fails.
    m.failure_limit = Some((-1).into());
    assert_eq!(metric_phase(&m, &tally(7, 3, 10, 3), false), Failed);
}

#[test]
fn inconclusive_and_error_limits() {
    let m = metric(serde_json::json!({"name": "rate", "interval": "1m", "inconclusiveLimit": 2}));
    let mut r = tally(0, 0, 2, 0);
    r.inconclusive = 2;
    assert_eq!(metric_phase(&m, &r, false), Running);
    r.inconclusive = 3;
    assert_eq!(metric_phase(&m, &r, false), Inconclusive);
    let m = metric(serde_json::json!({"name": "rate", "interval": "1m"}));
    let mut r = tally(0, 0, 0, 0);
    r.consecutive_error = DEFAULT_CONSECUTIVE_ERROR_LIMIT as i32;
    assert_eq!(metric_phase(&m, &r, false), Running);
    r.consecutive_error += 1;
    assert_eq!(metric_phase(&m, &r, false), Error);
}

#[test]
fn count_reached_is_successful_and_a_completed_phase_stays() {
    let m = metric(
        serde_json::json!({"name": "rate", "interval": "1m", "count": 3, "failureLimit": 1}),
    );
    assert_eq!(metric_phase(&m, &tally(1, 2, 3, 2), false), Successful);
    let mut done = tally(5, 0, 5, 0);
    done.phase = "Successful".into();
    assert_eq!(metric_phase(&m, &done, false), Successful);
}

#[test]
fn the_last_limit_exceeded_names_the_phase() {
    let m = metric(serde_json::json!({"name": "rate"}));
    let mut r = tally(1, 0, 2, 0);
    r.inconclusive = 1;
    assert_eq!(
        exceeded_limit(&m, &r),
        Some((
            Inconclusive,
            "inconclusive (1) > inconclusiveLimit (0)".into()
        ))
    );
    r.consecutive_error = 5;
    assert_eq!(
        exceeded_limit(&m, &r),
        Some((
            Error,
            "consecutiveErrors (5) > consecutiveErrorLimit (4)".into()
        ))
    );
    assert_eq!(exceeded_limit(&m, &tally(0, 1, 1, 1)), None);
    assert_eq!(
        exceeded_limit(&m, &tally(1, 0, 1, 0)),
        Some((Failed, "failed (1) > failureLimit (0)".into()))
    );
}

#[test]
fn recording_counts_as_argo_does() {
    let m = metric(serde_json::json!({"name": "rate", "successCondition": "result > 1"}));
    let conditions = Conditions::of(&m);
    let now = "2026-12-01T10:00:00Z".parse().unwrap();
    let mut r = MetricResult::default();
    let value = |v: i64| Outcome::Value {
        result: Value::Integer(v),
        text: v.to_string(),
    };
    record(
        &mut r,
        &conditions,
        &InProcess,
        Outcome::Error("timeout".into()),
        now,
        now,
    );
    record(
        &mut r,
        &conditions,
        &InProcess,
        Outcome::Error("timeout".into()),
        now,
        now,
    );
    assert_eq!((r.count, r.error, r.consecutive_error), (0, 2, 2));
    record(&mut r, &conditions, &InProcess, value(2), now, now);
    assert_eq!(
        (
            r.count,
            r.successful,
            r.consecutive_error,
            r.consecutive_success
        ),
        (1, 1, 0, 1)
    );
    record(&mut r, &conditions, &InProcess, value(0), now, now);
    assert_eq!((r.count, r.failed, r.consecutive_success), (2, 1, 0));
    assert_eq!(r.measurements[0].message, "timeout");
    assert_eq!(r.measurements[3].value, "0");
    assert_eq!(
        r.measurements[3].finished_at.as_deref(),
        Some("2026-12-01T10:00:00Z")
    );
}

#[test]
fn worse_follows_argos_order() {
    assert!(is_worse(Successful, Failed));
    assert!(is_worse(Inconclusive, Error));
    assert!(is_worse(Error, Failed));
    assert!(!is_worse(Failed, Error));
    assert!(!is_worse(Successful, Successful));
}

/// Two metrics as in Argo's terminating run: one that runs forever and
/// one failed once.
fn two_metrics() -> (Vec<Metric>, Vec<MetricResult>) {
    let metrics = vec![
        metric(serde_json::json!({"name": "run-forever", "interval": "1m",
            "successCondition": "result > 0.9"})),
        metric(serde_json::json!({"name": "failed-metric", "successCondition": "result > 0.9"})),
    ];
    let mut forever = tally(0, 1, 1, 1);
    forever.name = "run-forever".into();
    forever.phase = "Running".into();
    let mut failed = tally(1, 0, 1, 0);
    failed.name = "failed-metric".into();
    failed.measurements = vec![measured(Failed, "0.5")];
    (metrics, vec![forever, failed])
}

fn run_of(
    metrics: &[Metric],
    results: &mut [MetricResult],
    dry: bool,
    terminate: bool,
) -> RunAssessment {
    let mut refs: Vec<Option<&mut MetricResult>> = results.iter_mut().map(Some).collect();
    assess_run(metrics, &mut refs, &[dry, dry], terminate, true)
}

#[test]
fn a_failed_metric_fails_the_run_with_argos_message_and_its_values() {
    let (metrics, mut results) = two_metrics();
    let run = run_of(&metrics, &mut results, false, false);
    assert_eq!(run.phase, Failed);
    assert_eq!(
        run.message,
        "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0) \
         (values [0.5] against successCondition \"result > 0.9\")"
    );
    assert_eq!(
        run.run_summary,
        RunSummary {
            count: 2,
            successful: 1,
            failed: 1,
            ..RunSummary::default()
        }
    );
    assert_eq!(run.dry_run_summary, RunSummary::default());
    // The metric running forever ends Successful as the run terminates.
    assert_eq!(results[0].phase, "Successful");
}

#[test]
fn a_providers_message_is_quoted_as_argo_does() {
    let (metrics, mut results) = two_metrics();
    results[1].measurements[0].message = "Provider Error".into();
    let run = run_of(&metrics, &mut results, false, false);
    assert!(run.message.starts_with(
        "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0): \"Error Message: Provider Error\""
    ), "{}", run.message);
}

#[test]
fn dry_run_failures_do_not_fail_the_run() {
    let (metrics, mut results) = two_metrics();
    let run = run_of(&metrics, &mut results, true, false);
    assert_eq!(run.phase, Successful);
    assert_eq!(run.message, "");
    assert_eq!(run.run_summary, RunSummary::default());
    assert_eq!(
        run.dry_run_summary,
        RunSummary {
            count: 2,
            successful: 1,
            failed: 1,
            ..RunSummary::default()
        }
    );
    assert_eq!(
        results[1].message,
        "Metric assessed Failed due to failed (1) > failureLimit (0)"
    );
}

#[test]
fn terminate_keeps_a_failure_and_is_otherwise_successful() {
    let (metrics, mut results) = two_metrics();
    let run = run_of(&metrics, &mut results, false, true);
    assert_eq!(run.phase, Failed);
    let (metrics, mut results) = two_metrics();
    results.truncate(1);
    let run = run_of(&metrics[..1], &mut results, false, true);
    assert_eq!(
        (run.phase, run.message.as_str()),
        (Successful, "Run Terminated")
    );
}

#[test]
fn the_run_keeps_running_until_every_metric_completes() {
    let (metrics, mut results) = two_metrics();
    results[1].measurements = vec![measured(Successful, "1")];
    results[1].failed = 0;
    results[1].successful = 1;
    let mut refs: Vec<Option<&mut MetricResult>> = results.iter_mut().map(Some).collect();
    let run = assess_run(&metrics, &mut refs, &[false, false], false, false);
    assert_eq!((run.phase, run.message.as_str()), (Running, ""));
    let mut refs: Vec<Option<&mut MetricResult>> = vec![None, None];
    let run = assess_run(&metrics, &mut refs, &[false, false], false, false);
    assert_eq!(run.phase, Running);
}

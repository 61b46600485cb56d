//! Argo's `generateMetricTasks`, `calculateNextReconcileTime`,
//! `reconcileAnalysisRun` and `garbageCollectMeasurements` cases
//! (`analysis_test.go`), in Rollgate's own data.

use expr::Value;

use crate::isolation::InProcess;

use super::*;

fn at(text: &str) -> Time {
    text.parse().unwrap()
}

const T0: &str = "2026-12-01T10:00:00Z";

fn spec(json: serde_json::Value) -> AnalysisRunSpec {
    serde_json::from_value(json).unwrap()
}

fn web() -> serde_json::Value {
    serde_json::json!({"web": {"url": "http://127.0.0.1:9/"}})
}

fn value(v: f64) -> Outcome {
    Outcome::Value {
        result: Value::Float(v),
        text: v.to_string(),
    }
}

/// Decides, takes every measurement asked for with `measure`, and decides
/// again, as a controller does at `now`.
fn step(
    spec: &AnalysisRunSpec,
    status: Option<&AnalysisRunStatus>,
    now: Time,
    measure: impl Fn(&str) -> Outcome,
) -> Decision {
    let first = decide(spec, status, now);
    let mut status = first.status;
    for task in &first.measure {
        assert_eq!(task.action, Action::Measure);
        record_measurement(
            spec,
            &mut status,
            &task.metric,
            measure(&task.metric),
            now,
            now,
            &InProcess,
        )
        .unwrap();
    }
    decide(spec, Some(&status), now)
}

#[test]
fn a_metric_without_interval_is_measured_once() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "successCondition": "result > 0.9", "provider": web()}]}));
    let d = step(&s, None, at(T0), |_| value(0.95));
    assert_eq!(d.status.phase, "Successful");
    assert_eq!(d.status.completed_at.as_deref(), Some(T0));
    assert_eq!(d.status.started_at.as_deref(), Some(T0));
    assert_eq!(d.next_reconcile, None);
    assert!(d.measure.is_empty());
    // A completed run is left alone.
    let again = decide(&s, Some(&d.status), at("2026-12-01T11:00:00Z"));
    assert_eq!(again.status, d.status);
    assert!(again.measure.is_empty());
}

#[test]
fn interval_and_count_schedule_measurements() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "interval": "1m", "count": 3, "failureLimit": 1,
         "successCondition": "result > 0.9", "provider": web()}]}));
    let mut d = step(&s, None, at(T0), |_| value(0.95));
    assert_eq!(d.status.phase, "Running");
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:01:00Z")));
    // Not yet due.
    let early = decide(&s, Some(&d.status), at("2026-12-01T10:00:59Z"));
    assert!(early.measure.is_empty());
    d = step(&s, Some(&d.status), at("2026-12-01T10:01:00Z"), |_| {
        value(0.5)
    });
    assert_eq!(d.status.phase, "Running");
    d = step(&s, Some(&d.status), at("2026-12-01T10:02:00Z"), |_| {
        value(0.97)
    });
    assert_eq!(d.status.phase, "Successful");
    let r = &d.status.metric_results[0];
    assert_eq!((r.count, r.successful, r.failed), (3, 2, 1));
    assert_eq!(d.status.run_summary.as_ref().unwrap().successful, 1);
}

#[test]
fn failure_limit_exceeded_fails_the_run_and_stops_its_siblings() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "interval": "1m", "failureLimit": 1,
         "successCondition": "result >= 0.95", "provider": web()},
        {"name": "forever", "interval": "1m", "successCondition": "true", "provider": web()}]}));
    let mut d = step(&s, None, at(T0), |_| value(0.5));
    assert_eq!(d.status.phase, "Running");
    d = step(&s, Some(&d.status), at("2026-12-01T10:01:00Z"), |m| {
        if m == "rate" { value(0.4) } else { value(1.0) }
    });
    assert_eq!(d.status.phase, "Failed");
    assert_eq!(
        d.status.message,
        "Metric \"rate\" assessed Failed due to failed (2) > failureLimit (1) \
         (values [0.5, 0.4] against successCondition \"result >= 0.95\")"
    );
    assert_eq!(d.status.metric_results[1].phase, "Successful");
    assert!(d.measure.is_empty());
    assert_eq!(d.next_reconcile, None);
}

#[test]
fn initial_delay_waits_from_the_start() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "late", "initialDelay": "30s", "provider": web()},
        {"name": "now", "provider": web()}]}));
    let d = decide(&s, None, at(T0));
    assert_eq!(
        d.measure
            .iter()
            .map(|t| t.metric.as_str())
            .collect::<Vec<_>>(),
        ["now"]
    );
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:00:30Z")));
    let d = decide(&s, Some(&d.status), at("2026-12-01T10:00:30Z"));
    assert_eq!(
        d.measure
            .iter()
            .map(|t| t.metric.as_str())
            .collect::<Vec<_>>(),
        ["late", "now"]
    );
}

#[test]
fn an_error_is_retried_after_ten_seconds_and_errors_in_a_row_end_in_error() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "interval": "5m", "consecutiveErrorLimit": 1, "provider": web()}]}));
    let mut d = step(&s, None, at(T0), |_| {
        Outcome::Error("connection refused".into())
    });
    assert_eq!(d.status.phase, "Running");
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:00:10Z")));
    d = step(&s, Some(&d.status), at("2026-12-01T10:00:10Z"), |_| {
        Outcome::Error("connection refused".into())
    });
    assert_eq!(d.status.phase, "Error");
    assert_eq!(
        d.status.message,
        "Metric \"rate\" assessed Error due to consecutiveErrors (2) > consecutiveErrorLimit (1): \
         \"Error Message: connection refused\""
    );
}

#[test]
fn a_success_resets_errors_in_a_row() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "interval": "1m", "provider": web()}]}));
    let mut d = step(&s, None, at(T0), |_| Outcome::Error("e".into()));
    d = step(&s, Some(&d.status), at("2026-12-01T10:00:10Z"), |_| {
        value(1.0)
    });
    let r = &d.status.metric_results[0];
    assert_eq!((r.error, r.consecutive_error, r.count), (1, 0, 1));
}

#[test]
fn a_measurement_in_flight_is_resumed_at_its_time_or_terminated() {
    let s = spec(serde_json::json!({"metrics": [{"name": "job", "provider": web()}]}));
    let mut status = decide(&s, None, at(T0)).status;
    status.metric_results.push(MetricResult {
        name: "job".into(),
        phase: "Running".into(),
        measurements: vec![Measurement {
            phase: "Running".into(),
            started_at: Some(T0.into()),
            resume_at: Some("2026-12-01T10:00:20Z".into()),
            ..Measurement::default()
        }],
        ..MetricResult::default()
    });
    let d = decide(&s, Some(&status), at("2026-12-01T10:00:05Z"));
    assert!(d.measure.is_empty());
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:00:20Z")));
    let d = decide(&s, Some(&status), at("2026-12-01T10:00:20Z"));
    assert_eq!(
        d.measure,
        [Task {
            metric: "job".into(),
            action: Action::Resume
        }]
    );
    let mut status = d.status;
    record_measurement(
        &s,
        &mut status,
        "job",
        value(1.0),
        at(T0),
        at("2026-12-01T10:00:20Z"),
        &InProcess,
    )
    .unwrap();
    let r = &status.metric_results[0];
    assert_eq!(r.measurements.len(), 1);
    assert_eq!(r.measurements[0].started_at.as_deref(), Some(T0));
    assert_eq!(r.measurements[0].phase, "Successful");

    let mut stop = s.clone();
    stop.terminate = true;
    let mut status = decide(&s, None, at(T0)).status;
    status.metric_results.push(MetricResult {
        name: "job".into(),
        phase: "Running".into(),
        measurements: vec![Measurement {
            phase: "Running".into(),
            ..Measurement::default()
        }],
        ..MetricResult::default()
    });
    let d = decide(&stop, Some(&status), at(T0));
    assert_eq!(
        d.measure,
        [Task {
            metric: "job".into(),
            action: Action::Terminate
        }]
    );
}

#[test]
fn terminate_before_any_measurement_is_successful() {
    let s = spec(serde_json::json!({"terminate": true, "metrics": [
        {"name": "rate", "interval": "1m", "provider": web()}]}));
    let d = decide(&s, None, at(T0));
    assert_eq!(
        (d.status.phase.as_str(), d.status.message.as_str()),
        ("Successful", "Run Terminated")
    );
    assert!(d.measure.is_empty());
}

#[test]
fn measurements_beyond_the_retention_are_dropped() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "a", "interval": "1s", "provider": web()},
        {"name": "b", "interval": "1s", "provider": web()}],
        "measurementRetention": [{"metricName": "^b$", "limit": 3}]}));
    let mut status: Option<AnalysisRunStatus> = None;
    for i in 0..12 {
        status = Some(
            step(&s, status.as_ref(), at(T0) + Duration::from_secs(i), |_| {
                value(i as f64)
            })
            .status,
        );
    }
    let status = status.unwrap();
    assert_eq!(
        status.metric_results[0].measurements.len(),
        DEFAULT_MEASUREMENT_RETENTION
    );
    assert_eq!(status.metric_results[0].count, 12);
    let kept: Vec<&str> = status.metric_results[1]
        .measurements
        .iter()
        .map(|m| m.value.as_str())
        .collect();
    assert_eq!(kept, ["9", "10", "11"]);
}

#[test]
fn dry_run_metrics_are_marked_and_do_not_fail_the_run() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "successCondition": "result > 0.9", "provider": web()},
        {"name": "latency", "successCondition": "result < 100", "provider": web()}],
        "dryRun": [{"metricName": "lat.*"}]}));
    let d = step(&s, None, at(T0), |m| {
        if m == "rate" {
            value(1.0)
        } else {
            value(500.0)
        }
    });
    assert_eq!(d.status.phase, "Successful");
    assert!(d.status.metric_results[1].dry_run);
    assert_eq!(d.status.metric_results[1].phase, "Failed");
    let dry = d.status.dry_run_summary.unwrap();
    assert_eq!((dry.count, dry.failed), (1, 1));
}

#[test]
fn a_spec_argo_refuses_ends_the_run_in_error() {
    let s = spec(
        serde_json::json!({"metrics": [{"name": "rate", "provider": web()}],
        "dryRun": [{"metricName": "nothing"}]}),
    );
    let d = decide(&s, None, at(T0));
    assert_eq!(d.status.phase, "Error");
    assert_eq!(
        d.status.message,
        "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)"
    );
    let s = spec(
        serde_json::json!({"metrics": [{"name": "rate", "provider": web()}],
        "measurementRetention": [{"metricName": "x", "limit": 2}]}),
    );
    assert_eq!(
        decide(&s, None, at(T0)).status.message,
        "Analysis spec invalid: measurementRetention[0]: Rule didn't match any metric name(s)"
    );
    let s = spec(serde_json::json!({"metrics": [{"name": "rate", "count": 2, "provider": web()}]}));
    assert_eq!(
        decide(&s, None, at(T0)).status.message,
        "Analysis spec invalid: metrics[0]: interval must be specified when count > 1"
    );
}

#[test]
fn arguments_are_put_in_before_scheduling() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "interval": "{{args.every}}", "count": "{{ args.times }}", "failureLimit": 1,
         "successCondition": "result > {{args.floor}}", "provider": web()}],
        "args": [{"name": "every", "value": "2m"}, {"name": "times", "value": "2"},
                 {"name": "floor", "value": "0.9"},
                 {"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}));
    let d = step(&s, None, at(T0), |_| value(0.5));
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:02:00Z")));
    assert_eq!(d.status.metric_results[0].measurements[0].phase, "Failed");

    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "successCondition": "result > {{args.floor}}", "provider": web()}],
        "args": [{"name": "floor"}]}));
    assert_eq!(
        decide(&s, None, at(T0)).status.message,
        "Unable to resolve metric arguments: argument \"floor\" was not supplied"
    );
    let s = spec(serde_json::json!({"metrics": [
        {"name": "rate", "successCondition": "result > {{args.missing}}", "provider": web()}]}));
    assert_eq!(
        decide(&s, None, at(T0)).status.message,
        "Unable to resolve metric arguments: failed to resolve {{args.missing}}"
    );
}

#[test]
fn the_earliest_metric_sets_the_next_reconcile() {
    let s = spec(serde_json::json!({"metrics": [
        {"name": "slow", "interval": "5m", "provider": web()},
        {"name": "fast", "interval": "30s", "provider": web()}]}));
    let d = step(&s, None, at(T0), |_| value(1.0));
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:00:30Z")));
}

#[test]
fn recording_an_unknown_metric_changes_nothing() {
    let s = spec(serde_json::json!({"metrics": [{"name": "rate", "provider": web()}]}));
    let mut status = AnalysisRunStatus::default();
    let err = record_measurement(
        &s,
        &mut status,
        "other",
        value(1.0),
        at(T0),
        at(T0),
        &InProcess,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.metrics: the run has no metric named \"other\""
    );
    assert_eq!(status, AnalysisRunStatus::default());
}

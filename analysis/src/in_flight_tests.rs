//! A Job metric's measurements through `decide` and `record_progress`, as
//! Argo's `runMeasurements` records a Job provider's `Run`, `Resume` and
//! `Terminate` answers (`analysis_test.go`'s in-flight cases), in
//! Rollgate's own data.

use std::collections::BTreeMap;

use super::*;
use crate::evaluate::{Decision, decide};
use crate::retention::trimmed;

fn at(text: &str) -> Time {
    text.parse().unwrap()
}

const T0: &str = "2026-12-01T10:00:00Z";

fn spec(extra: serde_json::Value) -> AnalysisRunSpec {
    let mut metric = serde_json::json!({"name": "smoke", "provider": {"job": {"spec": {
        "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "t", "image": "busybox"}]}}}}}});
    for (k, v) in extra.as_object().unwrap() {
        metric[k] = v.clone();
    }
    serde_json::from_value(serde_json::json!({"metrics": [metric]})).unwrap()
}

fn started(resume_at: &str) -> Progress {
    Progress::Running {
        resume_at: at(resume_at),
        metadata: BTreeMap::from([
            ("job-name".to_owned(), "uid.smoke.1".to_owned()),
            ("job-namespace".to_owned(), "shop".to_owned()),
        ]),
    }
}

fn finished(verdict: Verdict, message: &str) -> Progress {
    Progress::Finished {
        verdict,
        message: message.to_owned(),
    }
}

/// Decides at `now`, records `answer` for the one task asked for (which
/// must be `action`), and decides again.
fn step(
    s: &AnalysisRunSpec,
    status: Option<&AnalysisRunStatus>,
    now: &str,
    action: Action,
    answer: Progress,
) -> Decision {
    let first = decide(s, status, at(now));
    assert_eq!(first.measure.len(), 1, "{:?}", first.measure);
    assert_eq!(first.measure[0].action, action);
    let mut status = first.status;
    record_progress(s, &mut status, "smoke", action, answer, at(now)).unwrap();
    decide(s, Some(&status), at(now))
}

#[test]
fn a_job_runs_then_completes() {
    let s = spec(serde_json::json!({}));
    // Run: Running, resumed at once (Argo sets resumeAt to now).
    let d = step(&s, None, T0, Action::Measure, started(T0));
    assert_eq!(d.status.phase, "Running");
    let m = &d.status.metric_results[0].measurements[0];
    assert_eq!(m.phase, "Running");
    assert_eq!(m.started_at.as_deref(), Some(T0));
    assert_eq!(m.finished_at, None);
    assert_eq!(m.metadata["job-name"], "uid.smoke.1");
    assert_eq!(d.status.metric_results[0].count, 0);
    assert_eq!(d.measure[0].action, Action::Resume);
    // Resume while the Job runs: a later resumeAt, nothing asked until then.
    let d = step(
        &s,
        Some(&d.status),
        T0,
        Action::Resume,
        started("2026-12-01T10:00:02Z"),
    );
    assert!(d.measure.is_empty());
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:00:02Z")));
    assert_eq!(d.status.metric_results[0].measurements.len(), 1);
    // Completed: Successful, started when it was created, not re-measured.
    let d = step(
        &s,
        Some(&d.status),
        "2026-12-01T10:00:05Z",
        Action::Resume,
        finished(Verdict::Successful, ""),
    );
    assert_eq!(d.status.phase, "Successful");
    assert_eq!(
        d.status.completed_at.as_deref(),
        Some("2026-12-01T10:00:05Z")
    );
    let r = &d.status.metric_results[0];
    assert_eq!((r.count, r.successful, r.consecutive_success), (1, 1, 1));
    assert_eq!(r.measurements.len(), 1);
    let m = &r.measurements[0];
    assert_eq!(m.phase, "Successful");
    assert_eq!(m.started_at.as_deref(), Some(T0));
    assert_eq!(m.finished_at.as_deref(), Some("2026-12-01T10:00:05Z"));
    assert_eq!(m.resume_at.as_deref(), Some("2026-12-01T10:00:02Z"));
    assert_eq!(m.value, "");
    assert_eq!(m.metadata["job-namespace"], "shop");
}

#[test]
fn a_failed_job_fails_the_run_with_its_message() {
    let s = spec(serde_json::json!({}));
    let d = step(&s, None, T0, Action::Measure, started(T0));
    let d = step(
        &s,
        Some(&d.status),
        "2026-12-01T10:00:09Z",
        Action::Resume,
        finished(
            Verdict::Failed,
            "BackoffLimitExceeded: Job has reached the specified backoff limit",
        ),
    );
    assert_eq!(d.status.phase, "Failed");
    assert_eq!(
        d.status.message,
        "Metric \"smoke\" assessed Failed due to failed (1) > failureLimit (0): \
         \"Error Message: BackoffLimitExceeded: Job has reached the specified backoff limit\""
    );
    let r = &d.status.metric_results[0];
    assert_eq!((r.count, r.failed, r.error), (1, 1, 0));
}

#[test]
fn a_terminated_job_is_inconclusive_with_argos_message() {
    let s = spec(serde_json::json!({"interval": "1m"}));
    let d = step(
        &s,
        None,
        T0,
        Action::Measure,
        started("2026-12-01T10:00:30Z"),
    );
    let mut stop = s.clone();
    stop.terminate = true;
    // Terminating: the measurement in flight is stopped even before resumeAt.
    let d = step(
        &stop,
        Some(&d.status),
        "2026-12-01T10:00:10Z",
        Action::Terminate,
        finished(Verdict::Inconclusive, "deleted"),
    );
    let r = &d.status.metric_results[0];
    assert_eq!(r.measurements[0].message, TERMINATED_MESSAGE);
    assert_eq!((r.count, r.inconclusive), (1, 1));
    assert_eq!(d.status.phase, "Inconclusive");
    assert!(d.status.message.starts_with("Metric \"smoke\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0): \"Error Message: Metric Terminated\""),
        "{}", d.status.message);
    assert!(d.measure.is_empty());
}

#[test]
fn a_job_that_cannot_be_stopped_is_an_error_with_the_reason() {
    let s = spec(serde_json::json!({"interval": "1m"}));
    let d = step(&s, None, T0, Action::Measure, started(T0));
    let mut stop = s.clone();
    stop.terminate = true;
    let d = step(
        &stop,
        Some(&d.status),
        T0,
        Action::Terminate,
        Progress::error("jobs.batch \"uid.smoke.1\" is forbidden"),
    );
    let r = &d.status.metric_results[0];
    assert_eq!(
        r.measurements[0].message,
        "jobs.batch \"uid.smoke.1\" is forbidden"
    );
    assert_eq!((r.count, r.error, r.consecutive_error), (0, 1, 1));
}

#[test]
fn a_job_that_cannot_be_created_is_retried_after_the_error_interval() {
    let s = spec(serde_json::json!({"interval": "1m", "count": 2}));
    let d = step(
        &s,
        None,
        T0,
        Action::Measure,
        Progress::error("the API server refused the Job"),
    );
    let r = &d.status.metric_results[0];
    assert_eq!((r.count, r.error, r.consecutive_error), (0, 1, 1));
    let m = &r.measurements[0];
    assert_eq!(m.phase, "Error");
    assert_eq!(m.started_at.as_deref(), Some(T0));
    assert_eq!(m.finished_at.as_deref(), Some(T0));
    assert_eq!(d.next_reconcile, Some(at("2026-12-01T10:00:10Z")));
    let again = decide(&s, Some(&d.status), at("2026-12-01T10:00:10Z"));
    assert_eq!(again.measure[0].action, Action::Measure);
}

#[test]
fn a_dry_run_job_metric_is_marked_on_its_first_measurement() {
    let mut s = spec(serde_json::json!({}));
    s.dry_run = vec![serde_json::from_value(serde_json::json!({"metricName": "smo.*"})).unwrap()];
    let d = step(&s, None, T0, Action::Measure, started(T0));
    assert!(d.status.metric_results[0].dry_run);
}

#[test]
fn answers_that_do_not_fit_the_measurement_change_nothing() {
    let s = spec(serde_json::json!({}));
    let mut status = decide(&s, None, at(T0)).status;
    let before = status.clone();
    let err = record_progress(
        &s,
        &mut status,
        "smoke",
        Action::Resume,
        started(T0),
        at(T0),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "status.metricResults: metric \"smoke\" has no measurement in flight to resume"
    );
    let err = record_progress(
        &s,
        &mut status,
        "other",
        Action::Terminate,
        started(T0),
        at(T0),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.metrics: the run has no metric named \"other\""
    );
    assert_eq!(status, before);
    record_progress(
        &s,
        &mut status,
        "smoke",
        Action::Measure,
        started(T0),
        at(T0),
    )
    .unwrap();
    let running = status.clone();
    let err = record_progress(
        &s,
        &mut status,
        "smoke",
        Action::Measure,
        started(T0),
        at(T0),
    )
    .unwrap_err();
    assert!(matches!(err, Error::StillInFlight { .. }), "{err}");
    assert_eq!(status, running);
}

#[test]
fn measurements_trimmed_to_the_retention_limit_are_reported() {
    let mut s = spec(serde_json::json!({"interval": "1s"}));
    s.measurement_retention = vec![
        serde_json::from_value(serde_json::json!({"metricName": "smoke", "limit": 2})).unwrap(),
    ];
    let mut status = decide(&s, None, at(T0)).status;
    let mut reports = Vec::new();
    for second in 0..3 {
        let now = at(&format!("2026-12-01T10:00:{:02}Z", second * 2));
        for (action, answer) in [
            (Action::Measure, started(T0)),
            (Action::Resume, finished(Verdict::Successful, "")),
        ] {
            record_progress(&s, &mut status, "smoke", action, answer, now).unwrap();
            let d = decide(&s, Some(&status), now);
            let report: Vec<(String, usize)> = trimmed(Some(&status), &d.status)
                .iter()
                .map(|t| (t.metric.to_owned(), t.limit))
                .collect();
            reports.push(report);
            status = d.status;
        }
    }
    // The third Job's start makes three measurements: trimmed to 2 then.
    let none = Vec::new();
    let smoke = vec![("smoke".to_owned(), 2)];
    assert_eq!(
        reports,
        [
            none.clone(),
            none.clone(),
            none.clone(),
            none.clone(),
            smoke,
            none
        ]
    );
    assert_eq!(status.metric_results[0].measurements.len(), 2);
    assert!(trimmed(None, &status).is_empty());
}

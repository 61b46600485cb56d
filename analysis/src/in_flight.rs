//! Measurements that take time, such as a Job's: a provider starts one
//! and it is recorded `Running` (with the provider's metadata and when to
//! look again, `resumeAt`); later calls resume it until the provider
//! reports how it ended, or stop it when the run terminates. This is the
//! part of Argo's `runMeasurements` (`analysis/analysis.go`) that handles
//! a provider's `Run`, `Resume` and `Terminate` answers.
//!
//! [`evaluate::decide`](crate::evaluate::decide) already schedules such a
//! measurement: while the last one has no `finishedAt` it asks for
//! [`Action::Resume`] once `resumeAt` has come (and wakes up then), or for
//! [`Action::Terminate`] while the run terminates. The caller hands the
//! provider's answer to [`record_progress`].
//!
//! A provider of this kind decides the measurement's phase itself (a Job
//! completes or fails): `successCondition` and `failureCondition` are not
//! read, and the measurement has no value, as in Argo.

use std::collections::BTreeMap;

use rollout_core::{AnalysisPhase, Time};

use crate::Error;
use crate::assess;
use crate::evaluate::{Action, metric_result};
use crate::types::{AnalysisRunSpec, AnalysisRunStatus, Measurement};

/// The message Argo gives a measurement stopped by
/// [`Action::Terminate`] that ended `Successful` or `Inconclusive`.
pub const TERMINATED_MESSAGE: &str = "Metric Terminated";

/// What a provider reports about a measurement that takes time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still under way: resume it at `resume_at`.
    Running {
        /// When to look again (the measurement's `resumeAt`).
        resume_at: Time,
        /// Details the provider needs to find it again, such as `job-name`
        /// and `job-namespace` (merged into the measurement's `metadata`).
        metadata: BTreeMap<String, String>,
    },
    /// Ended, with the phase the provider decided.
    Finished {
        /// How it ended.
        verdict: Verdict,
        /// Why (empty when there is nothing to say).
        message: String,
    },
}

impl Progress {
    /// A measurement that could not be taken or followed (Argo's
    /// `MarkMeasurementError`): it ends in `Error` with `message`.
    ///
    /// ```
    /// use rollgate_analysis::in_flight::{Progress, Verdict};
    /// let p = Progress::error("job.batch \"x\" not found");
    /// assert!(matches!(p, Progress::Finished { verdict: Verdict::Error, .. }));
    /// ```
    pub fn error(message: impl Into<String>) -> Self {
        Self::Finished {
            verdict: Verdict::Error,
            message: message.into(),
        }
    }
}

/// The phase a finished measurement ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It passed (a Job completed).
    Successful,
    /// It failed (a Job failed).
    Failed,
    /// Neither: a person should look (a Job stopped, or whose pods cannot
    /// start).
    Inconclusive,
    /// It could not be taken.
    Error,
}

impl Verdict {
    /// The phase as an AnalysisRun records it.
    pub fn phase(self) -> AnalysisPhase {
        match self {
            Self::Successful => AnalysisPhase::Successful,
            Self::Failed => AnalysisPhase::Failed,
            Self::Inconclusive => AnalysisPhase::Inconclusive,
            Self::Error => AnalysisPhase::Error,
        }
    }
}

/// Records a provider's answer to `action` for the metric named `metric`,
/// at `now`, as Argo's `runMeasurements` does:
///
/// - [`Action::Measure`] appends a new measurement started at `now`:
///   `Running` with `resumeAt` and the metadata, not counted yet; or, when
///   the provider could not start it, finished at `now` and counted (an
///   `Error` is retried after the error interval, as any error is).
/// - [`Action::Resume`] and [`Action::Terminate`] replace the measurement
///   in flight, keeping its `startedAt` and metadata: still `Running` with
///   a new `resumeAt` and any new metadata; or finished at `now`, counted
///   (`count` for all but errors; `successful`, `failed`, `inconclusive`,
///   `error` and the streaks, as [`assess::record`] counts). A stopped
///   measurement that ends `Successful` or `Inconclusive` gets the
///   message [`TERMINATED_MESSAGE`].
///
/// The metric's result is created (`Running`, marked dry-run as the spec
/// says) on its first measurement. `Err`, with the status unchanged, when
/// the spec has no such metric or does not resolve, when `Measure` finds
/// a measurement in flight, or `Resume`/`Terminate` finds none.
///
/// ```
/// use std::collections::BTreeMap;
/// use rollgate_analysis::evaluate::{Action, decide};
/// use rollgate_analysis::in_flight::{Progress, Verdict, record_progress};
/// use rollgate_analysis::types::AnalysisRunSpec;
/// let spec: AnalysisRunSpec = serde_json::from_value(serde_json::json!({"metrics": [
///     {"name": "smoke", "provider": {"job": {"spec": {"template": {"spec": {
///         "restartPolicy": "Never", "containers": [{"name": "t", "image": "busybox"}]}}}}}}]}))
///     .unwrap();
/// let now = "2026-12-01T10:00:00Z".parse().unwrap();
/// let mut status = decide(&spec, None, now).status;
/// let started = Progress::Running {
///     resume_at: now,
///     metadata: BTreeMap::from([("job-name".to_owned(), "uid.smoke.1".to_owned())]),
/// };
/// record_progress(&spec, &mut status, "smoke", Action::Measure, started, now).unwrap();
/// assert_eq!(decide(&spec, Some(&status), now).measure[0].action, Action::Resume);
/// let done = Progress::Finished { verdict: Verdict::Successful, message: String::new() };
/// record_progress(&spec, &mut status, "smoke", Action::Resume, done, now).unwrap();
/// assert_eq!(decide(&spec, Some(&status), now).status.phase, "Successful");
/// ```
pub fn record_progress(
    spec: &AnalysisRunSpec,
    status: &mut AnalysisRunStatus,
    metric: &str,
    action: Action,
    progress: Progress,
    now: Time,
) -> Result<(), Error> {
    let in_flight = |s: &AnalysisRunStatus| {
        s.metric_results
            .iter()
            .find(|r| r.name == metric)
            .and_then(|r| r.measurements.last())
            .is_some_and(|m| m.finished_at.is_none())
    };
    match (action, in_flight(status)) {
        (Action::Measure, true) => {
            return Err(Error::StillInFlight {
                metric: metric.to_owned(),
            });
        }
        (Action::Resume | Action::Terminate, false) => {
            if !spec.metrics.iter().any(|m| m.name == metric) {
                return Err(Error::UnknownMetric {
                    metric: metric.to_owned(),
                });
            }
            return Err(Error::NothingInFlight {
                metric: metric.to_owned(),
                action: if action == Action::Resume {
                    "resume"
                } else {
                    "terminate"
                },
            });
        }
        _ => {}
    }
    let (_, result) = metric_result(spec, status, metric)?;
    let mut measurement = if action == Action::Measure {
        Measurement {
            started_at: Some(now.to_string()),
            ..Measurement::default()
        }
    } else {
        result.measurements.pop().unwrap_or_default()
    };
    match progress {
        Progress::Running {
            resume_at,
            metadata,
        } => {
            measurement.phase = AnalysisPhase::Running.as_str().to_owned();
            measurement.resume_at = Some(resume_at.to_string());
            measurement.metadata.extend(metadata);
        }
        Progress::Finished { verdict, message } => {
            let phase = verdict.phase();
            measurement.phase = phase.as_str().to_owned();
            measurement.message = match verdict {
                Verdict::Successful | Verdict::Inconclusive if action == Action::Terminate => {
                    TERMINATED_MESSAGE.to_owned()
                }
                _ => message,
            };
            measurement.finished_at = Some(now.to_string());
            assess::count(result, phase);
        }
    }
    result.measurements.push(measurement);
    Ok(())
}

#[cfg(test)]
#[path = "in_flight_tests.rs"]
mod tests;

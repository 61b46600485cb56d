//! An AnalysisRun: its spec, and its status read leniently.

use std::collections::BTreeMap;

use rollout_core::AnalysisPhase;
use serde::{Deserialize, Serialize};

use super::{Argument, DryRun, MeasurementRetention, Metric, ObjectMeta, TtlStrategy};

/// An `AnalysisRun`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRun {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `AnalysisRun`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name, namespace, labels, annotations, owner.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to measure.
    pub spec: AnalysisRunSpec,
    /// What was measured (absent on a new run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AnalysisRunStatus>,
}

impl AnalysisRun {
    /// The run's phase: `Pending` until a status says otherwise (an empty or
    /// unknown phase is read as `Pending`).
    pub fn phase(&self) -> AnalysisPhase {
        self.status
            .as_ref()
            .map_or(AnalysisPhase::Pending, AnalysisRunStatus::phase)
    }

    /// The status message, when there is one.
    pub fn message(&self) -> Option<&str> {
        self.status
            .as_ref()
            .map(|s| s.message.as_str())
            .filter(|m| !m.is_empty())
    }
}

/// `spec` of an AnalysisRun.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisRunSpec {
    /// The metrics, from the templates.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// The arguments, resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// Stop measuring: the run ends with the outcome so far.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminate: bool,
    /// Dry-run metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// Measurement retention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// When the run is deleted after it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_strategy: Option<TtlStrategy>,
}

impl AnalysisRunSpec {
    /// Argo's `IsSemanticallyEqual`: the same metrics, dry-run and retention
    /// rules and arguments (`terminate` and `ttlStrategy` do not count).
    pub fn semantically_equal(&self, other: &Self) -> bool {
        self.metrics == other.metrics
            && self.dry_run == other.dry_run
            && self.measurement_retention == other.measurement_retention
            && self.args == other.args
    }
}

/// `status` of an AnalysisRun, read leniently (see the module documentation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnalysisRunStatus {
    /// `Pending`, `Running`, `Successful`, `Failed`, `Error` or `Inconclusive`.
    pub phase: String,
    /// Why the run ended as it did.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// One result per metric.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metric_results: Vec<MetricResult>,
    /// When measuring started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the run completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Metrics by outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_summary: Option<RunSummary>,
    /// Dry-run metrics by outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_summary: Option<RunSummary>,
}

impl AnalysisRunStatus {
    /// The phase; empty or unknown reads as `Pending`.
    pub fn phase(&self) -> AnalysisPhase {
        parse_phase(&self.phase).unwrap_or(AnalysisPhase::Pending)
    }
}

/// A phase as Argo writes it; `None` for anything else.
///
/// ```
/// use rollgate_analysis::types::parse_phase;
/// assert_eq!(parse_phase("Failed"), Some(rollout_core::AnalysisPhase::Failed));
/// assert_eq!(parse_phase("failed"), None);
/// ```
pub fn parse_phase(phase: &str) -> Option<AnalysisPhase> {
    [
        AnalysisPhase::Pending,
        AnalysisPhase::Running,
        AnalysisPhase::Successful,
        AnalysisPhase::Failed,
        AnalysisPhase::Error,
        AnalysisPhase::Inconclusive,
    ]
    .into_iter()
    .find(|p| p.as_str() == phase)
}

/// Metrics (or measurements) by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunSummary {
    /// All of them.
    pub count: i32,
    /// Successful.
    pub successful: i32,
    /// Failed.
    pub failed: i32,
    /// Inconclusive.
    pub inconclusive: i32,
    /// Errored.
    pub error: i32,
}

/// The measurements of one metric and their tally.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MetricResult {
    /// The metric's name.
    pub name: String,
    /// The metric's phase.
    pub phase: String,
    /// The measurements kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    /// Why the metric ended as it did.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Measurements taken.
    pub count: i32,
    /// Successful measurements.
    pub successful: i32,
    /// Failed measurements.
    pub failed: i32,
    /// Inconclusive measurements.
    pub inconclusive: i32,
    /// Measurements that errored.
    pub error: i32,
    /// Errors in a row.
    pub consecutive_error: i32,
    /// Successes in a row.
    pub consecutive_success: i32,
    /// The metric is a dry run.
    pub dry_run: bool,
    /// Provider-specific details.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Measurement {
    /// Its phase.
    pub phase: String,
    /// Why, when it is not successful.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The value measured, as text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Provider-specific details.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When a measurement resumes (a Job still running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<String>,
}

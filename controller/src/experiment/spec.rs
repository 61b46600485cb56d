//! The `argoproj.io/v1alpha1` Experiment as this controller reads and
//! writes it, with Argo's field names.
//!
//! The spec is read strictly (an unknown or mistyped field is an error
//! naming its path, by rollout-core's `read_strict`, as a Rollout's
//! `experiment` step is read); the status leniently, since it is this
//! controller's (or Argo's) own output.
//!
//! These are the Experiment object's types (Argo's `ExperimentSpec`),
//! deliberately apart from the Rollout's `experiment` step
//! (`rollout_core::spec::ExperimentStep`, Argo's `RolloutExperimentStep`)
//! that the Rollout's controller builds an Experiment from: a template here
//! carries its whole pod template and selector instead of a `specRef` and
//! has no traffic `weight`; an analysis' `args` are the AnalysisRun's own
//! (`valueFrom.secretKeyRef`, `{{templates...}}`) rather than the Rollout's
//! `podTemplateHashValue`; the spec adds `progressDeadlineSeconds`,
//! `terminate` and `measurementRetention`.

use std::collections::BTreeMap;

use rollgate_analysis::types::{Argument, DryRun, MeasurementRetention};
use rollout_core::{AnalysisPhase, Time};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The annotation naming the Experiment on its ReplicaSets and Services.
pub const EXPERIMENT_NAME_ANNOTATION: &str = "experiment.argoproj.io/name";
/// The annotation naming the template on its ReplicaSet and Service.
pub const TEMPLATE_NAME_ANNOTATION: &str = "experiment.argoproj.io/template-name";
/// When a ReplicaSet of an ended Experiment is scaled to zero (RFC 3339).
pub use crate::workload::SCALE_DOWN_DEADLINE_ANNOTATION;
/// Argo's default `progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Argo's default `scaleDownDelaySeconds`.
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;

/// `spec` of an Experiment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentSpec {
    /// The ReplicaSets to run.
    pub templates: Vec<TemplateSpec>,
    /// How long the templates run once available, a duration such as `30s`;
    /// unset: until the analyses (or `terminate`) end it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Seconds a template may take to become available (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Ends the Experiment (Successful, as Argo does).
    #[serde(default)]
    pub terminate: bool,
    /// AnalysisRuns run while the templates are available.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<ExperimentAnalysis>,
    /// Seconds before the ReplicaSets of an ended Experiment are scaled to 0 (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Metrics whose failures do not count, for every run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements each run keeps, by metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Labels and annotations of the runs.
    #[serde(default)]
    pub analysis_run_metadata: RunMetadata,
}

/// `spec.analysisRunMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMetadata {
    /// Labels of every run.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations of every run.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.templates[]`: one ReplicaSet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSpec {
    /// The name, unique in the Experiment; the ReplicaSet is `<experiment>-<name>`.
    pub name: String,
    /// Pods to run (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// `minReadySeconds` of the ReplicaSet.
    #[serde(default)]
    pub min_ready_seconds: i32,
    /// The label selector (required), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Value>,
    /// The pod template, kept as written.
    #[serde(default)]
    pub template: Value,
    /// A Service for the ReplicaSet, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<TemplateService>,
}

impl TemplateSpec {
    /// `replicas`, or Argo's default of 1.
    pub fn replicas_or_default(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

/// `templates[].service`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateService {
    /// The Service's name (default: the ReplicaSet's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `spec.analyses[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentAnalysis {
    /// The analysis' name; its run is `<experiment>-<name>`.
    pub name: String,
    /// The AnalysisTemplate (or ClusterAnalysisTemplate) to run.
    pub template_name: String,
    /// Whether `templateName` is a ClusterAnalysisTemplate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    /// Arguments; `value` may use `{{templates.NAME.podTemplateHash}}`,
    /// `{{templates.NAME.replicaset.name}}`, `{{experiment.availableAt}}`
    /// and `{{experiment.finishedAt}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// The Experiment ends when this run (and every other required one) succeeds.
    #[serde(default)]
    pub required_for_completion: bool,
}

impl ExperimentAnalysis {
    /// Whether `templateName` names a ClusterAnalysisTemplate.
    pub fn is_cluster_scope(&self) -> bool {
        self.cluster_scope == Some(true)
    }
}

/// A template's state, as Argo's `TemplateStatusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemplateCode {
    /// Not all of its pods are available yet.
    Progressing,
    /// All of its pods are available.
    Running,
    /// It ran for the duration, or the Experiment was ended.
    Successful,
    /// It missed its progress deadline.
    Failed,
    /// Its objects could not be written.
    Error,
}

impl TemplateCode {
    /// As Argo writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Progressing => "Progressing",
            Self::Running => "Running",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::Error => "Error",
        }
    }

    /// Argo's `Completed`: Successful, Failed or Error.
    pub fn is_completed(self) -> bool {
        matches!(self, Self::Successful | Self::Failed | Self::Error)
    }

    /// Rank from best (0) to worst, Argo's `templateStatusOrder`.
    fn rank(code: Option<Self>) -> usize {
        match code {
            None | Some(Self::Successful) => 0,
            Some(Self::Running) => 1,
            Some(Self::Progressing) => 2,
            Some(Self::Error) => 3,
            Some(Self::Failed) => 4,
        }
    }

    /// Argo's `TemplateIsWorse`: whether `new` is worse than `current` (an
    /// unset code ranks as Successful).
    pub fn is_worse(current: Option<Self>, new: Option<Self>) -> bool {
        Self::rank(new) > Self::rank(current)
    }
}

/// `status.templateStatuses[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TemplateStatus {
    /// The template's name.
    pub name: String,
    /// The ReplicaSet's `status.replicas`.
    pub replicas: i32,
    /// The same as `replicas` (Argo's).
    pub updated_replicas: i32,
    /// The ReplicaSet's `status.readyReplicas`.
    pub ready_replicas: i32,
    /// The ReplicaSet's `status.availableReplicas`.
    pub available_replicas: i32,
    /// Hash collisions met so far (part of the pod template hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// The template's state (unset before the first look).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TemplateCode>,
    /// Why it failed or errored.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When its counts or state last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// The template's Service.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// The pod template hash its Service selects.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod_template_hash: String,
}

/// `status.analysisRuns[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnalysisRunStatus {
    /// The analysis' name.
    pub name: String,
    /// The run's name (empty until created).
    pub analysis_run: String,
    /// The run's phase as last read (empty before the templates are available).
    #[serde(with = "phase_text")]
    pub phase: Option<AnalysisPhase>,
    /// The run's message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// `status.conditions[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    /// `Progressing` or `InvalidSpec`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` or `False`.
    pub status: String,
    /// When it was last written.
    pub last_update_time: Option<Time>,
    /// When its status last changed.
    pub last_transition_time: Option<Time>,
    /// Why, in one word.
    pub reason: String,
    /// Why, in words.
    pub message: String,
}

/// `status` of an Experiment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExperimentStatus {
    /// `Pending`, `Running`, `Successful`, `Failed`, `Error` (or
    /// `Inconclusive`, from a run); unset before the first look.
    #[serde(with = "phase_text", skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// Why it ended as it did.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// One per template.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub template_statuses: Vec<TemplateStatus>,
    /// When every template was first available (the duration runs from here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_at: Option<Time>,
    /// `Progressing` and `InvalidSpec`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// One per analysis.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub analysis_runs: Vec<AnalysisRunStatus>,
}

impl ExperimentStatus {
    /// The status of the template of this name.
    pub fn template(&self, name: &str) -> Option<&TemplateStatus> {
        self.template_statuses.iter().find(|t| t.name == name)
    }

    /// Argo's `SetTemplateStatus`: replaces the one of the same name, or appends.
    pub fn set_template(&mut self, status: TemplateStatus) {
        match self
            .template_statuses
            .iter_mut()
            .find(|t| t.name == status.name)
        {
            Some(slot) => *slot = status,
            None => self.template_statuses.push(status),
        }
    }

    /// The status of the analysis of this name.
    pub fn analysis(&self, name: &str) -> Option<&AnalysisRunStatus> {
        self.analysis_runs.iter().find(|a| a.name == name)
    }

    /// Argo's `SetAnalysisRunStatus`: replaces the one of the same name, or appends.
    pub fn set_analysis(&mut self, status: AnalysisRunStatus) {
        match self
            .analysis_runs
            .iter_mut()
            .find(|a| a.name == status.name)
        {
            Some(slot) => *slot = status,
            None => self.analysis_runs.push(status),
        }
    }

    /// The condition of this type.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// An AnalysisPhase written as Argo writes it, unset as the empty string.
mod phase_text {
    use rollout_core::AnalysisPhase;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        phase: &Option<AnalysisPhase>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(phase.map_or("", AnalysisPhase::as_str))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<AnalysisPhase>, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(rollgate_analysis::types::parse_phase(&text))
    }
}

/// A spec field that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// Where, such as `spec.templates[0].replicas`.
    pub field: String,
    /// What was expected.
    pub message: String,
}

/// Reads an Experiment's `spec` strictly.
///
/// ```
/// use rollgate_controller::experiment::spec::read_spec;
/// let spec = read_spec(&serde_json::json!({"templates": [{"name": "baseline",
///     "selector": {"matchLabels": {"app": "web"}},
///     "template": {"metadata": {"labels": {"app": "web"}}}}], "duration": "20s"})).unwrap();
/// assert_eq!(spec.templates[0].replicas_or_default(), 1);
/// let err = read_spec(&serde_json::json!({"templates": [{"name": "a", "replicas": "two"}]})).unwrap_err();
/// assert_eq!(err.field, "spec.templates[0].replicas");
/// ```
pub fn read_spec(spec: &Value) -> Result<ExperimentSpec, SpecError> {
    rollout_core::read_strict(spec).map_err(|e| SpecError {
        field: match e.path.as_str() {
            "" => "spec".to_owned(),
            p if p.starts_with('[') => format!("spec{p}"),
            p => format!("spec.{p}"),
        },
        message: e.message,
    })
}

/// Reads an Experiment's `status` leniently: what does not read is dropped.
pub fn read_status(status: Option<&Value>) -> ExperimentStatus {
    status
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

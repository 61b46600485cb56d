//! The `experiment` canary step, typed.
//!
//! A step keeps its `experiment` block as written; validation, the engine
//! and the CLI read it through [`ExperimentStep::from_value`], so that its
//! fields are checked as strictly as the rest of `spec`.
//!
//! This is the Rollout's side (Argo's `RolloutExperimentStep`): templates
//! that name the pod template to copy (`specRef: canary|stable`) and may
//! carry a traffic `weight`, analyses whose `args` are the Rollout's
//! (`valueFrom.podTemplateHashValue`, resolved by the Rollout's controller).
//! The Experiment object a controller builds from it (Argo's
//! `ExperimentSpec`: full pod templates, `progressDeadlineSeconds`,
//! `terminate`, the analyses' own arguments) is a different type on purpose,
//! in rollgate-controller's `experiment::spec`; the two share
//! [`crate::read_strict`], their reader.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FieldError;
use crate::spec::AnalysisArg;

/// `steps[].experiment`: ReplicaSets (and analyses) run beside the rollout for a while.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentStep {
    /// The ReplicaSets the Experiment creates (required by the CRD).
    pub templates: Vec<ExperimentTemplate>,
    /// How long the Experiment runs, such as `30s` or `1h`; unset runs until its analyses end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// AnalysisTemplates run during the Experiment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<ExperimentAnalysis>,
    /// Metrics evaluated without affecting the outcome (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Value>,
    /// Labels/annotations for the AnalysisRuns (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<Value>,
    /// Seconds before the Experiment's ReplicaSets are scaled down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
}

/// `experiment.templates[]`: one ReplicaSet of an Experiment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentTemplate {
    /// The template's name within the Experiment.
    pub name: String,
    /// Which pod template it copies: `canary` or `stable`.
    pub spec_ref: String,
    /// Pods of this ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Labels/annotations of its pods (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// A selector overriding the rollout's (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Value>,
    /// The share of traffic it receives (traffic routing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// A Service created for it (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Value>,
}

/// `experiment.analyses[]`: an AnalysisTemplate run during the Experiment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentAnalysis {
    /// The analysis' name within the Experiment.
    pub name: String,
    /// The AnalysisTemplate (or ClusterAnalysisTemplate) to run.
    pub template_name: String,
    /// A ClusterAnalysisTemplate rather than a namespaced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    /// Arguments for the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArg>,
    /// The Experiment does not complete before this analysis does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_for_completion: Option<bool>,
}

impl ExperimentStep {
    /// Reads an `experiment` block as kept in [`crate::spec::StepAction::Experiment`].
    /// The error names the offending field relative to the block
    /// (`templates[0].specRef`), with what was expected.
    ///
    /// ```
    /// use rollout_core::spec::ExperimentStep;
    /// let step = ExperimentStep::from_value(&serde_json::json!({
    ///     "templates": [{"name": "canary", "specRef": "canary", "weight": 5}]
    /// })).unwrap();
    /// assert_eq!(step.templates[0].weight, Some(5));
    /// let err = ExperimentStep::from_value(&serde_json::json!({"templates": [{"name": "c"}]}))
    ///     .unwrap_err();
    /// assert_eq!(err.path, "templates[0]");
    /// ```
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        crate::read_strict(value)
    }
}

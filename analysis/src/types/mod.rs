//! AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun with Argo
//! Rollouts' field names (`argoproj.io/v1alpha1`).
//!
//! Specs are strict: a field Argo does not define is refused (see
//! [`crate::parse`], which names the field path and the object). The
//! providers that Rollgate measures (`prometheus`, `web`, `job`) are typed
//! field by field; the others (`datadog`, `newRelic`, `wavefront`,
//! `kayenta`, `cloudWatch`, `graphite`, `influxdb`, `skywalking`, `plugin`)
//! are kept as written, and a Job's `spec` and `metadata` are Kubernetes'
//! own shapes, checked by the API server when the Job is created. Statuses
//! are lenient: fields are read when they have the expected shape and
//! ignored otherwise, since they are written by whichever controller
//! measures the run.

use std::collections::BTreeMap;

use rollout_core::intstr::IntOrString;
use rollout_core::spec::AnalysisTemplateRef;
use serde::{Deserialize, Serialize};

mod analysis_run;
mod provider;

pub use analysis_run::{
    AnalysisRun, AnalysisRunSpec, AnalysisRunStatus, Measurement, MetricResult, RunSummary,
    parse_phase,
};
pub use provider::{
    Authentication, BasicAuthConfig, JUDGE_PLUGIN, JobMetric, MetricProvider, OAuth2Config,
    PrometheusMetric, PrometheusRangeQuery, Sigv4Config, WebMetric, WebMetricHeader,
};

/// The API group and version of every analysis object.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// The metadata fields of an analysis object that this crate reads or
/// writes; other fields are ignored on input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace` (absent for a ClusterAnalysisTemplate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `metadata.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `metadata.ownerReferences`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

/// A Kubernetes owner reference.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's `apiVersion`.
    pub api_version: String,
    /// The owner's `kind`.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether deleting the owner waits for this object (foreground deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// An `AnalysisTemplate` (namespaced) or, with `kind:
/// ClusterAnalysisTemplate`, a cluster-scoped one: both have the same
/// fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplate {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `AnalysisTemplate` or `ClusterAnalysisTemplate`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name, namespace, labels, annotations.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The metrics, arguments and nested templates.
    #[serde(default)]
    pub spec: AnalysisTemplateSpec,
}

/// A `ClusterAnalysisTemplate`: an [`AnalysisTemplate`] without a namespace.
pub type ClusterAnalysisTemplate = AnalysisTemplate;

/// Which of the two template kinds a reference or a template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateKind {
    /// `AnalysisTemplate`, in the Rollout's namespace.
    Namespaced,
    /// `ClusterAnalysisTemplate`.
    Cluster,
}

impl TemplateKind {
    /// The kind as Kubernetes names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespaced => "AnalysisTemplate",
            Self::Cluster => "ClusterAnalysisTemplate",
        }
    }

    /// The kind a Rollout's template reference names.
    pub fn of(reference: &AnalysisTemplateRef) -> Self {
        if reference.cluster_scope == Some(true) {
            Self::Cluster
        } else {
            Self::Namespaced
        }
    }
}

impl AnalysisTemplate {
    /// Namespaced or cluster-scoped, from `kind`.
    pub fn template_kind(&self) -> TemplateKind {
        if self.kind == TemplateKind::Cluster.as_str() {
            TemplateKind::Cluster
        } else {
            TemplateKind::Namespaced
        }
    }

    /// `AnalysisTemplate web` or `ClusterAnalysisTemplate web`, as messages name it.
    pub fn describe(&self) -> String {
        format!("{} {}", self.template_kind().as_str(), self.metadata.name)
    }
}

/// `spec` of an AnalysisTemplate or ClusterAnalysisTemplate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisTemplateSpec {
    /// The metrics to measure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// The arguments the metrics use as `{{args.NAME}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// Metrics whose outcome does not count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements to keep per metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Templates whose metrics and arguments this one includes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
}

/// One metric: what to measure, how often, and what counts as success.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metric {
    /// Unique within a run.
    pub name: String,
    /// Time between measurements, a duration such as `30s` or `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Time before the first measurement, a duration such as `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    /// How many measurements to take (unbounded when absent with an interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<IntOrString>,
    /// An expression over `result` that marks a measurement successful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    /// An expression over `result` that marks a measurement failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    /// Failed measurements tolerated (default 0; -1 disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<IntOrString>,
    /// Inconclusive measurements tolerated (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<IntOrString>,
    /// Errors in a row tolerated (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_error_limit: Option<IntOrString>,
    /// Successes in a row that end the metric successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_success_limit: Option<IntOrString>,
    /// Where measurements come from.
    #[serde(default)]
    pub provider: MetricProvider,
}

/// An argument of a template or a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Argument {
    /// The name the metrics use as `{{args.NAME}}`.
    pub name: String,
    /// A literal value (a template's default, or what the Rollout passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A value read when the metric is measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
}

/// `valueFrom` of a template's or a run's argument.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueFrom {
    /// A key of a Secret in the run's namespace, read by whoever measures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// A field of the object that created the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

/// `valueFrom.secretKeyRef`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key in its data.
    pub key: String,
}

/// `valueFrom.fieldRef`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRef {
    /// `metadata.name`, `metadata.labels['app']`, `spec.replicas`, ...
    pub field_path: String,
}

/// A metric whose outcome does not count (`metricName` may be a regular
/// expression, `.*` for all).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRun {
    /// The metric's name or a pattern.
    pub metric_name: String,
}

/// How many measurements of a metric to keep.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeasurementRetention {
    /// The metric's name or a pattern.
    pub metric_name: String,
    /// Measurements kept.
    pub limit: i32,
}

/// `spec.ttlStrategy` of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TtlStrategy {
    /// Delete the run this long after it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_after_completion: Option<i32>,
    /// Delete a failed run this long after it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_after_failure: Option<i32>,
    /// Delete a successful run this long after it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_after_success: Option<i32>,
}

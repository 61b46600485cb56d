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

use rollout_core::AnalysisPhase;
use rollout_core::intstr::IntOrString;
use rollout_core::spec::AnalysisTemplateRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// `provider`: exactly one of these is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricProvider {
    /// A Prometheus query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetric>,
    /// An HTTP request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebMetric>,
    /// A Kubernetes Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobMetric>,
    /// Kayenta (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kayenta: Option<Value>,
    /// Datadog (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<Value>,
    /// Wavefront (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wavefront: Option<Value>,
    /// New Relic (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_relic: Option<Value>,
    /// CloudWatch (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch: Option<Value>,
    /// Graphite (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphite: Option<Value>,
    /// InfluxDB (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influxdb: Option<Value>,
    /// SkyWalking (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skywalking: Option<Value>,
    /// Metric plugins by name (each configuration kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<BTreeMap<String, Value>>,
}

impl MetricProvider {
    /// How many providers are set (a plugin counts once per entry, as in Argo).
    pub fn count(&self) -> usize {
        [
            self.prometheus.is_some(),
            self.web.is_some(),
            self.job.is_some(),
            self.kayenta.is_some(),
            self.datadog.is_some(),
            self.wavefront.is_some(),
            self.new_relic.is_some(),
            self.cloud_watch.is_some(),
            self.graphite.is_some(),
            self.influxdb.is_some(),
            self.skywalking.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count()
            + self.plugin.as_ref().map_or(0, BTreeMap::len)
    }
}

/// `provider.prometheus`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusMetric {
    /// The server's address, such as `http://prometheus.monitoring:9090`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The PromQL query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// Request timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebMetricHeader>,
    /// A range query rather than an instant query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_query: Option<PrometheusRangeQuery>,
}

/// `prometheus.rangeQuery`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusRangeQuery {
    /// An expression for the start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// An expression for the end time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The resolution, a duration such as `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// `authentication` of a Prometheus or web metric.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authentication {
    /// AWS SigV4 signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<Sigv4Config>,
    /// OAuth2 client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
}

/// `authentication.sigv4`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sigv4Config {
    /// AWS region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// AWS profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Role to assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// `authentication.oauth2`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuth2Config {
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// The client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client secret (usually `{{args.NAME}}` from a Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// `authentication.basicAuth`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password (usually `{{args.NAME}}` from a Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A request header of a web or Prometheus metric.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebMetricHeader {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: String,
}

/// `provider.web`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebMetric {
    /// `GET` (default), `POST` or `PUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The URL to request.
    pub url: String,
    /// Request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebMetricHeader>,
    /// A request body as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Request timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Where the result is in the response, in JSONPath (`{$.data.ok}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// A request body as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_body: Option<Value>,
    /// Credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
}

/// `provider.job`: a Job whose success or failure is the measurement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobMetric {
    /// The Job's labels and annotations (Kubernetes' object metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The Job's spec (Kubernetes' `JobSpec`).
    pub spec: Value,
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

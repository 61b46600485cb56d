//! The metric providers of a [`Metric`](super::Metric): the ones Rollgate
//! measures typed field by field, the others kept as written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// The plugin name of Rollgate's embedded canary judge
/// (`provider.plugin["rollgate/judge"]`), measured by
/// `rollgate_providers::judge`.
pub const JUDGE_PLUGIN: &str = "rollgate/judge";

impl MetricProvider {
    /// Whether the provider is the embedded canary judge and nothing else.
    pub fn is_judge(&self) -> bool {
        self.count() == 1
            && self
                .plugin
                .as_ref()
                .is_some_and(|p| p.contains_key(JUDGE_PLUGIN))
    }

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

impl MetricProvider {
    /// Argo's name of the provider (`metricproviders.Type`), as the
    /// `type` label of the analysis metrics shows it: `Prometheus`, `Web`,
    /// `Job`, `Kayenta`, `Datadog`, `Wavefront`, `NewRelic`, `CloudWatch`,
    /// `Graphite`, `Influxdb`, `skywalking` (sic), `RPCPlugin`, or `Unknown
    /// Provider` when none is set. Of several, the first in that order.
    ///
    /// ```
    /// use rollgate_analysis::types::{MetricProvider, WebMetric};
    /// let provider = MetricProvider { web: Some(WebMetric::default()), ..Default::default() };
    /// assert_eq!(provider.kind(), "Web");
    /// assert_eq!(MetricProvider::default().kind(), "Unknown Provider");
    /// ```
    pub fn kind(&self) -> &'static str {
        [
            (self.prometheus.is_some(), "Prometheus"),
            (self.job.is_some(), "Job"),
            (self.kayenta.is_some(), "Kayenta"),
            (self.web.is_some(), "Web"),
            (self.datadog.is_some(), "Datadog"),
            (self.wavefront.is_some(), "Wavefront"),
            (self.new_relic.is_some(), "NewRelic"),
            (self.cloud_watch.is_some(), "CloudWatch"),
            (self.graphite.is_some(), "Graphite"),
            (self.influxdb.is_some(), "Influxdb"),
            (self.skywalking.is_some(), "skywalking"),
            (self.plugin.is_some(), "RPCPlugin"),
        ]
        .into_iter()
        .find(|(set, _)| *set)
        .map_or("Unknown Provider", |(_, kind)| kind)
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

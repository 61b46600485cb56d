//! One measurement with the metric's provider: one arm per provider kind.
//!
//! | Provider | Here |
//! |---|---|
//! | `prometheus` | an instant query ([`rollgate_providers::PrometheusQuery`]); `address` falls back to `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`, as in Argo |
//! | `web` | one request ([`rollgate_providers::WebRequest`]) |
//! | `job`, `plugin["rollgate/judge"]` | not yet: the measurement is an `Error` saying so |
//! | every other (`datadog`, `newRelic`, `kayenta`, `wavefront`, `cloudWatch`, `graphite`, `influxdb`, `skywalking`, other plugins) | not implemented by this controller: the measurement is an `Error` saying so |
//!
//! The metric arrives with its arguments (and Secrets) put in. A provider
//! that keeps a measurement in flight (a Job) is asked to resume or stop it
//! through [`Action`]; the providers here finish every measurement at once,
//! so they take a new one for [`Action::Resume`] and none is ever in flight
//! to terminate.

use std::time::SystemTime;

use rollgate_analysis::assess::Outcome;
use rollgate_analysis::evaluate::Action;
use rollgate_analysis::types::Metric;
use rollgate_providers::{Client, PrometheusQuery, WebRequest};

/// The plugin name of the embedded canary judge.
pub const JUDGE_PLUGIN: &str = "rollgate/judge";

/// One measurement as a provider took it.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    /// The value, or why there is none.
    pub outcome: Outcome,
    /// The measurement's metadata: Prometheus' warnings (`warnings`,
    /// each quoted, as Argo writes them).
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl From<Outcome> for Taken {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            metadata: std::collections::BTreeMap::new(),
        }
    }
}

/// What the providers need besides the metric.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    /// The HTTP(S) client of the Prometheus and web providers.
    pub client: Client,
    /// Argo's `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`: the Prometheus address of
    /// a metric that sets none.
    pub prometheus_address: Option<String>,
}

impl Providers {
    /// The providers with the Prometheus address from the environment, as
    /// Argo's controller reads it.
    pub fn from_env() -> Self {
        Self {
            client: Client::new(),
            prometheus_address: std::env::var("ARGO_ROLLOUTS_PROMETHEUS_ADDRESS")
                .ok()
                .filter(|a| !a.is_empty()),
        }
    }

    /// Takes one measurement of `metric` (its arguments resolved). Every
    /// failure is an [`Outcome::Error`] whose message names the metric.
    pub async fn measure(&self, metric: &Metric, action: Action) -> Taken {
        let provider = &metric.provider;
        if action == Action::Terminate {
            // Only a provider with measurements in flight has one to stop;
            // none of those runs here yet.
            return not_yet(metric, provider.kind()).into();
        }
        if let Some(spec) = &provider.prometheus {
            let query = match PrometheusQuery::new(
                &metric.name,
                spec,
                None,
                self.prometheus_address.as_deref(),
            ) {
                Ok(query) => query,
                Err(e) => return Outcome::Error(e.to_string()).into(),
            };
            return match query.measure(&self.client, SystemTime::now()).await {
                Ok(measured) => Taken {
                    metadata: measured
                        .warnings_metadata()
                        .map(|w| ("warnings".to_owned(), w))
                        .into_iter()
                        .collect(),
                    outcome: measured.into_outcome(),
                },
                Err(e) => Outcome::Error(e.to_string()).into(),
            };
        }
        if let Some(spec) = &provider.web {
            let request = match WebRequest::new(&metric.name, spec, None) {
                Ok(request) => request,
                Err(e) => return Outcome::Error(e.to_string()).into(),
            };
            return match request.measure(&self.client).await {
                Ok(measured) => measured.into_outcome().into(),
                Err(e) => Outcome::Error(e.to_string()).into(),
            };
        }
        if provider.job.is_some() {
            return not_yet(metric, "job").into();
        }
        if let Some(plugins) = &provider.plugin {
            if plugins.contains_key(JUDGE_PLUGIN) {
                return not_yet(metric, JUDGE_PLUGIN).into();
            }
            let names: Vec<&str> = plugins.keys().map(String::as_str).collect();
            return not_implemented(metric, &format!("plugin {}", names.join(", "))).into();
        }
        not_implemented(metric, provider.kind()).into()
    }
}

/// Argo's key of a Prometheus metric's query, as measured, in its result's
/// metadata.
pub const RESOLVED_PROMETHEUS_QUERY: &str = "ResolvedPrometheusQuery";

/// What the provider adds to a metric's result when it is first measured
/// (Argo's `GetMetadata`): a Prometheus metric's query with its arguments
/// put in; nothing for the others.
///
/// ```
/// use rollgate_controller::measure::dispatch::metadata;
/// let metric = serde_json::from_value(serde_json::json!({"name": "rate",
///     "provider": {"prometheus": {"query": "sum(up)"}}})).unwrap();
/// assert_eq!(metadata(&metric)["ResolvedPrometheusQuery"], "sum(up)");
/// ```
pub fn metadata(metric: &Metric) -> std::collections::BTreeMap<String, String> {
    metric
        .provider
        .prometheus
        .as_ref()
        .and_then(|p| p.query.clone())
        .filter(|q| !q.is_empty())
        .map(|q| (RESOLVED_PROMETHEUS_QUERY.to_owned(), q))
        .into_iter()
        .collect()
}

/// A provider Rollgate is adding: the measurement is an error until it lands.
fn not_yet(metric: &Metric, provider: &str) -> Outcome {
    Outcome::Error(format!(
        "metric {:?}: provider {provider} is not supported by rollgate-controller yet",
        metric.name
    ))
}

/// A provider of Argo's this controller does not implement.
fn not_implemented(metric: &Metric, provider: &str) -> Outcome {
    Outcome::Error(format!(
        "metric {:?}: provider {provider} is not implemented by rollgate-controller (it measures prometheus and web metrics)",
        metric.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metric(provider: serde_json::Value) -> Metric {
        serde_json::from_value(json!({"name": "rate", "provider": provider})).unwrap()
    }

    fn error_of(taken: Taken) -> String {
        match taken.outcome {
            Outcome::Error(message) => message,
            Outcome::Value { text, .. } => panic!("expected an error, measured {text}"),
        }
    }

    #[tokio::test]
    async fn providers_in_flight_and_unimplemented_ones_are_errors_naming_the_metric() {
        let providers = Providers::default();
        let cases = [
            (
                json!({"job": {"spec": {}}}),
                "metric \"rate\": provider job is not supported by rollgate-controller yet",
            ),
            (
                json!({"plugin": {"rollgate/judge": {}}}),
                "metric \"rate\": provider rollgate/judge is not supported by rollgate-controller yet",
            ),
            (
                json!({"datadog": {"query": "x"}}),
                "metric \"rate\": provider Datadog is not implemented by rollgate-controller (it measures prometheus and web metrics)",
            ),
            (
                json!({"newRelic": {"query": "x"}}),
                "metric \"rate\": provider NewRelic is not implemented by rollgate-controller (it measures prometheus and web metrics)",
            ),
            (
                json!({"plugin": {"acme/metrics": {}}}),
                "metric \"rate\": provider plugin acme/metrics is not implemented by rollgate-controller (it measures prometheus and web metrics)",
            ),
        ];
        for (provider, expected) in cases {
            let message = error_of(providers.measure(&metric(provider), Action::Measure).await);
            assert_eq!(message, expected);
        }
    }

    #[tokio::test]
    async fn a_prometheus_metric_without_an_address_falls_back_to_the_configured_one() {
        let m = metric(json!({"prometheus": {"query": "up"}}));
        let message = error_of(Providers::default().measure(&m, Action::Measure).await);
        assert!(
            message.contains("provider.prometheus.address") && message.contains("\"rate\""),
            "{message}"
        );
        // Port 9 on loopback (discard) refuses: the request went to the fallback.
        let providers = Providers {
            prometheus_address: Some("http://127.0.0.1:9".into()),
            ..Providers::default()
        };
        let message = error_of(providers.measure(&m, Action::Measure).await);
        assert!(
            message.starts_with("metric \"rate\" (http://127.0.0.1:9"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_bad_web_spec_is_an_error_naming_the_field() {
        let m = metric(json!({"web": {"url": "http://127.0.0.1:9/", "method": "DELETE"}}));
        let message = error_of(Providers::default().measure(&m, Action::Measure).await);
        assert!(message.contains("provider.web.method"), "{message}");
    }
}

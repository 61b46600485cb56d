//! One measurement with the metric's provider: one arm per provider kind.
//!
//! | Provider | Here |
//! |---|---|
//! | `prometheus` | an instant query ([`rollgate_providers::PrometheusQuery`]); `address` falls back to `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`, as in Argo |
//! | `web` | one request ([`rollgate_providers::WebRequest`]) |
//! | `job` | a Kubernetes Job ([`rollgate_providers::job`]), a measurement in flight until the Job ends; in `ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE` when set, as in Argo |
//! | `plugin["rollgate/judge"]` | the embedded canary judge ([`rollgate_providers::judge`]): range queries for the canary and the baseline, judged; the verdict's table is the measurement's message; its Prometheus `address` falls back as a `prometheus` metric's |
//! | every other (`datadog`, `newRelic`, `kayenta`, `wavefront`, `cloudWatch`, `graphite`, `influxdb`, `skywalking`, other plugins) | not implemented by this controller: the measurement is an `Error` saying so |
//!
//! The metric arrives with its arguments (and Secrets) put in. A Job stays
//! in flight: [`Action::Resume`] follows it and [`Action::Terminate`]
//! deletes it. The other providers finish every measurement at once, so
//! they take a new one for [`Action::Resume`] and have none in flight to
//! terminate.

use std::time::SystemTime;

use rollgate_analysis::assess::Outcome;
use rollgate_analysis::evaluate::Action;
use rollgate_analysis::in_flight::Progress;
use rollgate_analysis::types::{AnalysisRunStatus, Metric};
use rollgate_providers::job::{JobProvider, RunRef};
use rollgate_providers::judge::CanaryJudge;
use rollgate_providers::{Client, PrometheusQuery, WebRequest};
use rollout_core::Time;

pub use rollgate_analysis::types::JUDGE_PLUGIN;

/// Argo's variable naming the namespace analysis Jobs run in.
pub const JOB_NAMESPACE_ENV: &str = "ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE";

/// What the providers need besides the metric.
#[derive(Clone, Default)]
pub struct Providers {
    /// The HTTP(S) client of the Prometheus and web providers.
    pub client: Client,
    /// Argo's `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`: the Prometheus address of
    /// a metric that sets none.
    pub prometheus_address: Option<String>,
    /// The Job provider; `None`: Job metrics are an error saying so.
    pub jobs: Option<JobProvider>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("prometheus_address", &self.prometheus_address)
            .field("jobs", &self.jobs.is_some())
            .finish_non_exhaustive()
    }
}

/// What one provider call answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// A measurement finished at once (Prometheus, web, errors).
    Finished(Outcome),
    /// A measurement kept in flight, or its end (a Job's).
    Progress(Progress),
}

impl Providers {
    /// The providers with the Prometheus address and the Job namespace
    /// from the environment, as Argo's controller reads them; Jobs through
    /// `kube`.
    pub fn from_env(kube: kube::Client) -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut jobs = JobProvider::new(kube);
        if let Some(namespace) = env(JOB_NAMESPACE_ENV) {
            jobs = jobs.with_namespace(namespace);
        }
        Self {
            client: Client::new(),
            prometheus_address: env("ARGO_ROLLOUTS_PROMETHEUS_ADDRESS"),
            jobs: Some(jobs),
        }
    }

    /// Takes, follows or stops one measurement of `metric` (its arguments
    /// resolved) of the run `run`, whose status so far is `status`. Every
    /// failure is an error measurement whose message names the metric.
    pub async fn take(
        &self,
        run: Option<&RunRef>,
        metric: &Metric,
        action: Action,
        status: &AnalysisRunStatus,
        now: Time,
    ) -> Taken {
        if metric.provider.job.is_none() {
            return Taken::Finished(self.measure(metric, action).await);
        }
        let (Some(jobs), Some(run)) = (&self.jobs, run) else {
            return Taken::Progress(Progress::error(format!(
                "metric {:?}: Job metrics need a stored AnalysisRun and a Kubernetes client",
                metric.name
            )));
        };
        let in_flight = status
            .metric_results
            .iter()
            .find(|r| r.name == metric.name)
            .and_then(|r| r.measurements.last());
        let answer = match (action, in_flight) {
            (Action::Measure, _) => jobs.run(run, metric, status, now).await,
            (Action::Resume, Some(m)) => jobs.resume(run, metric, m, now).await,
            (Action::Terminate, Some(m)) => jobs.terminate(run, metric, m).await,
            (Action::Resume | Action::Terminate, None) => {
                return Taken::Progress(Progress::error(format!(
                    "metric {:?}: no measurement in flight to follow",
                    metric.name
                )));
            }
        };
        Taken::Progress(answer.unwrap_or_else(|e| Progress::error(e.to_string())))
    }

    /// Takes one measurement of `metric` (its arguments resolved) with a
    /// provider that finishes at once. Every failure is an
    /// [`Outcome::Error`] whose message names the metric.
    pub async fn measure(&self, metric: &Metric, action: Action) -> Outcome {
        let provider = &metric.provider;
        if action == Action::Terminate {
            // Only a provider with measurements in flight has one to stop.
            return not_implemented(metric, provider.kind());
        }
        if let Some(spec) = &provider.prometheus {
            let query = match PrometheusQuery::new(
                &metric.name,
                spec,
                None,
                self.prometheus_address.as_deref(),
            ) {
                Ok(query) => query,
                Err(e) => return Outcome::Error(e.to_string()),
            };
            return match query.measure(&self.client, SystemTime::now()).await {
                Ok(measured) => measured.into_outcome(),
                Err(e) => Outcome::Error(e.to_string()),
            };
        }
        if let Some(spec) = &provider.web {
            let request = match WebRequest::new(&metric.name, spec, None) {
                Ok(request) => request,
                Err(e) => return Outcome::Error(e.to_string()),
            };
            return match request.measure(&self.client).await {
                Ok(measured) => measured.into_outcome(),
                Err(e) => Outcome::Error(e.to_string()),
            };
        }
        if let Some(plugins) = &provider.plugin {
            if plugins.contains_key(JUDGE_PLUGIN) {
                let judge = match CanaryJudge::of(metric, None, self.prometheus_address.as_deref())
                {
                    Ok(judge) => judge,
                    Err(e) => return Outcome::Error(e.to_string()),
                };
                return match judge.measure(&self.client, SystemTime::now()).await {
                    Ok(judgement) => judgement.outcome(),
                    Err(e) => Outcome::Error(e.to_string()),
                };
            }
            let names: Vec<&str> = plugins.keys().map(String::as_str).collect();
            return not_implemented(metric, &format!("plugin {}", names.join(", ")));
        }
        not_implemented(metric, provider.kind())
    }

    /// Collects `metric`'s Jobs of `run` down to `limit`, when it is a Job
    /// metric (Argo's `GarbageCollect`); a failure is logged and tried
    /// again at the next trim.
    pub async fn collect(&self, run: Option<&RunRef>, metric: &Metric, limit: usize) {
        let (Some(jobs), Some(run), Some(_)) = (&self.jobs, run, &metric.provider.job) else {
            return;
        };
        match jobs.garbage_collect(run, &metric.name, limit).await {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::info!(analysisrun = %format!("{}/{}", run.namespace, run.name), metric = %metric.name, ?deleted, "deleted old measurement Jobs");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(analysisrun = %format!("{}/{}", run.namespace, run.name), error = %e, "old measurement Jobs not deleted");
            }
        }
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

/// A provider of Argo's this controller does not implement.
fn not_implemented(metric: &Metric, provider: &str) -> Outcome {
    Outcome::Error(format!(
        "metric {:?}: provider {provider} is not implemented by rollgate-controller (it measures prometheus, web, job and rollgate/judge metrics)",
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

    fn error_of(outcome: Outcome) -> String {
        match outcome {
            Outcome::Error(message) => message,
            Outcome::Value { text, .. } | Outcome::Explained { text, .. } => {
                panic!("expected an error, measured {text}")
            }
        }
    }

    #[tokio::test]
    async fn providers_in_flight_and_unimplemented_ones_are_errors_naming_the_metric() {
        let providers = Providers::default();
        let cases = [
            (
                json!({"datadog": {"query": "x"}}),
                "metric \"rate\": provider Datadog is not implemented by rollgate-controller (it measures prometheus, web, job and rollgate/judge metrics)",
            ),
            (
                json!({"newRelic": {"query": "x"}}),
                "metric \"rate\": provider NewRelic is not implemented by rollgate-controller (it measures prometheus, web, job and rollgate/judge metrics)",
            ),
            (
                json!({"plugin": {"acme/metrics": {}}}),
                "metric \"rate\": provider plugin acme/metrics is not implemented by rollgate-controller (it measures prometheus, web, job and rollgate/judge metrics)",
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

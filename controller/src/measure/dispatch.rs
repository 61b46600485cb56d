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
//! deletes it ([`Providers::take`]). The other providers finish every
//! measurement at once, so they take a new one for [`Action::Resume`] and
//! have none in flight to terminate.

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

/// What one provider call answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A measurement finished at once (Prometheus, web, the judge, errors).
    Finished(Taken),
    /// A measurement kept in flight, or its end (a Job's).
    Progress(Progress),
}

/// What the providers need besides the metric.
#[derive(Clone, Default)]
pub struct Providers {
    /// The HTTP(S) client of the Prometheus, web and judge providers.
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
    ) -> Answer {
        if metric.provider.job.is_none() {
            return Answer::Finished(self.measure(metric, action).await);
        }
        let (Some(jobs), Some(run)) = (&self.jobs, run) else {
            return Answer::Progress(Progress::error(format!(
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
                return Answer::Progress(Progress::error(format!(
                    "metric {:?}: no measurement in flight to follow",
                    metric.name
                )));
            }
        };
        Answer::Progress(answer.unwrap_or_else(|e| Progress::error(e.to_string())))
    }

    /// Collects `metric`'s Jobs of `run` down to `limit`, when it is a Job
    /// metric (Argo's `GarbageCollect`); a failure is logged and tried
    /// again at the next trim.
    pub async fn collect(&self, run: Option<&RunRef>, metric: &Metric, limit: usize) {
        let (Some(jobs), Some(run), Some(_)) = (&self.jobs, run, &metric.provider.job) else {
            return;
        };
        let label = format!("{}/{}", run.namespace, run.name);
        match jobs.garbage_collect(run, &metric.name, limit).await {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::info!(analysisrun = %label, metric = %metric.name, ?deleted, "deleted old measurement Jobs");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(analysisrun = %label, error = %e, "old measurement Jobs not deleted");
            }
        }
    }

    /// Takes one measurement of `metric` (its arguments resolved) with a
    /// provider that finishes at once. Every failure is an
    /// [`Outcome::Error`] whose message names the metric.
    async fn measure(&self, metric: &Metric, action: Action) -> Taken {
        let provider = &metric.provider;
        if action == Action::Terminate || provider.job.is_some() {
            // Only a Job has a measurement in flight to stop ([`Self::take`]).
            return not_implemented(metric, provider.kind()).into();
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
        if let Some(plugins) = &provider.plugin {
            if plugins.contains_key(JUDGE_PLUGIN) {
                return self.judge(metric).await;
            }
            let names: Vec<&str> = plugins.keys().map(String::as_str).collect();
            return not_implemented(metric, &format!("plugin {}", names.join(", "))).into();
        }
        not_implemented(metric, provider.kind()).into()
    }

    /// One verdict of the embedded canary judge, with Prometheus' warnings
    /// in the measurement's metadata as for a `prometheus` metric.
    async fn judge(&self, metric: &Metric) -> Taken {
        let judge = match CanaryJudge::of(metric, None, self.prometheus_address.as_deref()) {
            Ok(judge) => judge,
            Err(e) => return Outcome::Error(e.to_string()).into(),
        };
        match judge.measure(&self.client, SystemTime::now()).await {
            Ok(judgement) => {
                let warnings: Vec<String> = judgement
                    .warnings
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect();
                Taken {
                    metadata: (!warnings.is_empty())
                        .then(|| ("warnings".to_owned(), warnings.join(", ")))
                        .into_iter()
                        .collect(),
                    outcome: judgement.outcome(),
                }
            }
            Err(e) => Outcome::Error(e.to_string()).into(),
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

    fn error_of(taken: Taken) -> String {
        match taken.outcome {
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
        // The judge: a configuration it cannot read is an error naming the
        // metric and the plugin's field.
        let judged = metric(json!({"plugin": {"rollgate/judge": {}}}));
        let message = error_of(providers.measure(&judged, Action::Measure).await);
        assert!(
            message.starts_with("metric \"rate\"") && message.contains("rollgate/judge"),
            "{message}"
        );
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

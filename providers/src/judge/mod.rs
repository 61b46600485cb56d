//! The embedded canary judge as a metric provider, `rollgate/judge`: per
//! judge metric, one Prometheus range query for the canary and one for the
//! baseline over the same window, their samples judged by
//! [`rollgate_judge::judge`] (Mann-Whitney U test, Hodges-Lehmann shift,
//! Kayenta's classification, groups, weights and score).
//!
//! A metric of an AnalysisTemplate uses it through `provider.plugin`:
//!
//! ```yaml
//! apiVersion: argoproj.io/v1alpha1
//! kind: AnalysisTemplate
//! metadata:
//!   name: canary-judge
//! spec:
//!   args:
//!   - name: canary-hash
//!     valueFrom: {podTemplateHashValue: Latest}
//!   - name: stable-hash
//!     valueFrom: {podTemplateHashValue: Stable}
//!   metrics:
//!   - name: judge
//!     interval: 5m
//!     count: 3
//!     # No conditions: Pass is Successful, Marginal Inconclusive, Fail Failed.
//!     provider:
//!       plugin:
//!         rollgate/judge:
//!           prometheus:                 # as provider.prometheus, without query
//!             address: http://prometheus.monitoring:9090
//!             timeout: 30               # seconds, per query
//!           lookback: 10m               # the window: the last 10 minutes ...
//!           step: 15s                   # ... one sample every 15 s per series
//!           canaryScope: "{{args.canary-hash}}"
//!           baselineScope: "{{args.stable-hash}}"
//!           metrics:
//!           - name: latency-p99
//!             query: >-
//!               histogram_quantile(0.99, sum by (le) (rate(
//!               http_request_duration_seconds_bucket{rollouts_pod_template_hash="${scope}"}[1m])))
//!             direction: increase       # only a slower canary is bad
//!             groups: [latency]
//!             effectSize: {allowedIncrease: 1.1}   # ignore less than 10 % slower
//!           - name: error-rate
//!             query: >-
//!               sum(rate(http_requests_total{rollouts_pod_template_hash="${scope}",code=~"5.."}[1m]))
//!               / sum(rate(http_requests_total{rollouts_pod_template_hash="${scope}"}[1m]))
//!             direction: increase
//!             critical: true            # fails the run on its own
//!             nanStrategy: replace      # 0/0 (no errors, no traffic) reads as 0
//!             groups: [errors]
//!           groupWeights: {latency: 60, errors: 40}
//!           scoreThresholds: {marginal: 60, pass: 80}
//! ```
//!
//! - `prometheus`: `address` (or the caller's default address), `timeout`,
//!   `insecure`, `headers`, `authentication`, read as `provider.prometheus`
//!   reads them; `query` and `rangeQuery` are refused there.
//! - `lookback` and `step`: each query is a range query from `lookback`
//!   before the measurement to the measurement, `step` apart (durations
//!   such as `30s` or `1h`; at most 11,000 points per series, Prometheus'
//!   limit).
//! - `canaryScope` and `baselineScope`: what `${scope}` in each query
//!   becomes for the canary's query and for the baseline's, usually the
//!   run's `{{args.canary-hash}}` and `{{args.stable-hash}}` (Argo
//!   substitutes `{{...}}` before the provider sees the block, so the
//!   provider's own placeholder is `${scope}`, Kayenta's name for it).
//!   Each query must hold `${scope}`; the two scopes must differ.
//! - `metrics`, `groupWeights`, `scoreThresholds`: the judge's
//!   configuration ([`rollgate_judge::JudgeConfig`]), each metric with its
//!   `query`.
//!
//! A judge metric's samples are every value of every series its query
//! returns over the window (a query per pod gives the values of all pods).
//!
//! The measurement's `result`, for conditions: `result.result` (`"Pass"`,
//! `"Marginal"` or `"Fail"`), `result.score` (0 to 100), `result.reason`
//! (why it failed outright, or empty), `result.groups.NAME` (a group's
//! score) and `result.metrics.NAME` (a judge metric's `classification`,
//! `reason`, `canary` and `baseline` `count`/`median`/`mean`, and, when
//! compared, `comparison.test.pValue`, `comparison.shift`, `effectSize`).
//! Its `value` is `{"result":"Fail","score":40.0}`; its message the verdict's
//! table. A metric without conditions takes
//! [`JUDGE_SUCCESS_CONDITION`](rollgate_analysis::condition::JUDGE_SUCCESS_CONDITION)
//! and
//! [`JUDGE_FAILURE_CONDITION`](rollgate_analysis::condition::JUDGE_FAILURE_CONDITION):
//! Pass is Successful, Marginal Inconclusive, Fail Failed.
//!
//! Errors: a block that cannot be read names the field
//! (`provider.plugin["rollgate/judge"].metrics[1].query`) and the judge
//! metric; a query that fails names the judge metric, its field and which
//! side; when no judge metric has samples on both sides the measurement is
//! an error ("no data to judge", retried within `consecutiveErrorLimit`)
//! rather than a failure. With data for some metrics only, the others are
//! NoData and Kayenta's rules apply (half or more NoData fails the run).

mod config;
mod verdict;

use std::time::SystemTime;

use rollgate_analysis::types::{JUDGE_PLUGIN, Metric};
use rollgate_judge::{JudgeConfig, Samples};

use crate::auth::Credentials;
use crate::client::Client;
use crate::error::{Error, Failure};
use crate::prometheus::PrometheusQuery;
use crate::value::MetricResult;

pub use config::SCOPE;
pub use verdict::Judgement;

/// A `rollgate/judge` metric, checked and ready to measure.
#[derive(Debug, Clone)]
pub struct CanaryJudge {
    metric: String,
    address: String,
    config: JudgeConfig,
    /// Per judge metric: the canary's query, then the baseline's.
    queries: Vec<[PrometheusQuery; 2]>,
}

/// Which side a query reads.
const SIDES: [&str; 2] = ["canary", "baseline"];

impl CanaryJudge {
    /// Checks the `rollgate/judge` block of the metric named `metric`, its
    /// arguments already substituted. `credentials` and `default_address`
    /// are as for [`PrometheusQuery::new`].
    ///
    /// ```
    /// use rollgate_providers::judge::CanaryJudge;
    /// let block = serde_json::json!({
    ///     "prometheus": {"address": "http://127.0.0.1:9090"},
    ///     "lookback": "10m", "step": "15s",
    ///     "canaryScope": "6f9c7d", "baselineScope": "5b8d4c",
    ///     "metrics": [{"name": "latency", "direction": "increase",
    ///                  "query": "avg(latency{rollouts_pod_template_hash=\"${scope}\"})"}],
    ///     "scoreThresholds": {"marginal": 50, "pass": 75}
    /// });
    /// assert!(CanaryJudge::new("judge", &block, None, None).is_ok());
    /// let mut bad = block.clone();
    /// bad["step"] = "-1s".into();
    /// let error = CanaryJudge::new("judge", &bad, None, None).unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     r#"metric "judge" (http://127.0.0.1:9090): provider.plugin["rollgate/judge"].step: expected a duration above 0 such as 30s, found "-1s""#
    /// );
    /// ```
    pub fn new(
        metric: &str,
        block: &serde_json::Value,
        credentials: Option<Credentials>,
        default_address: Option<&str>,
    ) -> Result<Self, Error> {
        let configured = block
            .pointer("/prometheus/address")
            .and_then(|a| a.as_str())
            .filter(|a| !a.is_empty())
            .or(default_address)
            .unwrap_or("no address")
            .to_owned();
        let fail = |failure| Error {
            metric: metric.to_owned(),
            address: configured.clone(),
            failure,
        };
        let block = config::Block::read(block).map_err(fail)?;
        let mut queries = Vec::with_capacity(block.queries.len());
        for (i, query) in block.queries.iter().enumerate() {
            let side = |scope: &str| {
                let spec = rollgate_analysis::types::PrometheusMetric {
                    query: Some(query.replace(SCOPE, scope)),
                    ..block.prometheus.clone()
                };
                PrometheusQuery::new(metric, &spec, credentials.clone(), default_address)
                    .map_err(|e| relocate(e, i))
            };
            queries.push([side(&block.scopes[0])?, side(&block.scopes[1])?]);
        }
        let address = queries
            .first()
            .map_or(configured, |q| q[0].endpoint().to_string());
        Ok(Self {
            metric: metric.to_owned(),
            address,
            config: block.judge,
            queries,
        })
    }

    /// Checks the `rollgate/judge` block of `metric`'s provider.
    pub fn of(
        metric: &Metric,
        credentials: Option<Credentials>,
        default_address: Option<&str>,
    ) -> Result<Self, Error> {
        let block = metric
            .provider
            .plugin
            .as_ref()
            .and_then(|p| p.get(JUDGE_PLUGIN))
            .ok_or_else(|| Error {
                metric: metric.name.clone(),
                address: default_address.unwrap_or("no address").to_owned(),
                failure: Failure::Config {
                    field: config::field(""),
                    problem: "the metric has no rollgate/judge plugin".to_owned(),
                },
            })?;
        Self::new(&metric.name, block, credentials, default_address)
    }

    /// The judge's configuration.
    pub fn config(&self) -> &JudgeConfig {
        &self.config
    }

    /// The range queries, per judge metric the canary's then the
    /// baseline's.
    pub fn queries(&self) -> &[[PrometheusQuery; 2]] {
        &self.queries
    }

    /// Runs every query over the window ending at `now`, one after the
    /// other (per judge metric, the canary's then the baseline's), and
    /// judges the samples.
    pub async fn measure(&self, client: &Client, now: SystemTime) -> Result<Judgement, Error> {
        let mut samples: Vec<[Vec<f64>; 2]> = Vec::with_capacity(self.queries.len());
        let mut warnings = Vec::new();
        for (i, pair) in self.queries.iter().enumerate() {
            let mut sides: [Vec<f64>; 2] = Default::default();
            for (s, query) in pair.iter().enumerate() {
                let fail = |failure| self.query_failed(i, s, query, failure);
                let measured = query
                    .measure(client, now)
                    .await
                    .map_err(|e| fail(e.failure))?;
                warnings.extend(
                    measured
                        .warnings
                        .iter()
                        .map(|w| format!("{} ({}): {w}", self.config.metrics[i].name, SIDES[s])),
                );
                sides[s] = match measured.result {
                    MetricResult::Numbers(values) => values,
                    MetricResult::Number(value) => vec![value],
                    MetricResult::Json(_) | MetricResult::Text(_) => {
                        return Err(fail(Failure::PrometheusResponse(
                            "expected a matrix of samples".to_owned(),
                        )));
                    }
                };
            }
            samples.push(sides);
        }
        let named: Vec<Samples<'_>> = self
            .config
            .metrics
            .iter()
            .zip(&samples)
            .map(|(m, [canary, baseline])| Samples {
                metric: &m.name,
                canary,
                baseline,
            })
            .collect();
        let verdict = rollgate_judge::judge(&self.config, &named).map_err(|e| Error {
            metric: self.metric.clone(),
            address: self.address.clone(),
            failure: Failure::Judge(e.to_string()),
        })?;
        // Samples on both sides, after NaN handling: a metric that
        // `nanStrategy: replace` passes without any does not count.
        let compared = verdict
            .metrics
            .iter()
            .any(|m| !m.muted && m.canary.count > 0 && m.baseline.count > 0);
        if !compared {
            let missing: Vec<String> = verdict
                .metrics
                .iter()
                .enumerate()
                .filter(|(_, m)| !m.muted)
                .map(|(i, m)| {
                    format!(
                        "judge metric {:?} ({}): {}",
                        m.name,
                        config::field(&format!("metrics[{i}].query")),
                        m.reason
                    )
                })
                .collect();
            return Err(Error {
                metric: self.metric.clone(),
                address: self.address.clone(),
                failure: Failure::NoData(missing.join("; ")),
            });
        }
        Ok(Judgement::new(verdict, warnings))
    }

    fn query_failed(
        &self,
        i: usize,
        side: usize,
        query: &PrometheusQuery,
        failure: Failure,
    ) -> Error {
        Error {
            metric: self.metric.clone(),
            address: query.endpoint().to_string(),
            failure: Failure::JudgeQuery {
                field: config::field(&format!("metrics[{i}].query")),
                judge_metric: self.config.metrics[i].name.clone(),
                side: SIDES[side],
                failure: Box::new(failure),
            },
        }
    }
}

/// A Prometheus query's configuration error, with the field as the judge's
/// block names it: `provider.prometheus.query` is the judge metric's
/// `query`, the other fields are under `prometheus`.
fn relocate(mut error: Error, metric: usize) -> Error {
    if let Failure::Config { field, .. } = &mut error.failure {
        *field = match field.strip_prefix("provider.prometheus.") {
            Some("query") => config::field(&format!("metrics[{metric}].query")),
            Some(rest) => config::field(&format!("prometheus.{rest}")),
            None => field.clone(),
        };
    }
    error
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;

//! Prometheus metrics with Argo Rollouts' controller's names and labels, so
//! that dashboards and alerts written for Argo read Rollgate's too.
//!
//! | Metric | Labels | What |
//! |---|---|---|
//! | `rollout_info` | namespace, name, strategy, traffic_router, phase | 1 per Rollout in the cache |
//! | `rollout_info_replicas_available`, `_unavailable`, `_desired`, `_updated` | namespace, name | from the status and spec |
//! | `rollout_phase` (deprecated in Argo, kept) | namespace, name, strategy, phase | 1 for the Rollout's phase, 0 for the others |
//! | `rollout_reconcile` | namespace, name | histogram of reconcile seconds (buckets 0.01, 0.15, 0.25, 0.5, 1) |
//! | `rollout_reconcile_error` | namespace, name | reconciles that failed |
//! | `analysis_run_info` | namespace, name, phase | 1 per AnalysisRun in the cache ([`analysis_runs`]) |
//! | `analysis_run_phase` (deprecated in Argo, kept) | namespace, name, phase | 1 for the run's phase, 0 for the others |
//! | `analysis_run_metric_type` | namespace, name, metric, type | 1 per metric, with Argo's provider type |
//! | `analysis_run_metric_phase` | namespace, name, metric, type, dry_run, phase | 1 for the metric's phase, 0 for the others |
//! | `analysis_run_reconcile` | namespace, name | histogram of an AnalysisRun's reconcile seconds (Argo's buckets) |
//! | `analysis_run_reconcile_error` | namespace, name | AnalysisRun reconciles that failed |
//! | `analysis_template_info` | namespace, name | 1 per AnalysisTemplate and ClusterAnalysisTemplate (namespace empty) |
//! | `analysis_template_metric_info` | namespace, name, type, metric | 1 per metric of a template |
//! | `controller_clientset_k8s_request_total` | kind, namespace, name, verb, status_code | API requests ([`requests`]) |
//! | `leader_election_master_status` | name | 1 while this process leads, 0 otherwise (client-go's) |
//! | `rollgate_controller_tokio_alive_tasks` | | tokio tasks alive in the process at scrape time ([`AliveTasks`]; Rollgate's own, in place of Go's `go_goroutines`) |
//!
//! The exposition is Prometheus's text format 0.0.4, as Argo's controller
//! serves. One deliberate difference: `rollout_reconcile_error` is typed
//! `untyped` rather than `counter`, because the client library names every
//! counter `<name>_total` and the series must keep Argo's name (the same
//! for `analysis_run_reconcile_error`).

pub mod analysis_runs;
mod reconcile_histogram;
pub mod rollouts;
/// The request labels and the counting layer, shared with the plugins' metrics.
pub use router_kube::metrics::requests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

pub use analysis_runs::AnalysisRunCache;
pub use plugin_proto::metrics::AliveTasks;
pub use reconcile_histogram::{RECONCILE_BUCKETS, ReconcileHistogram};
pub use requests::{CountRequests, RequestCounts};
pub use rollouts::RolloutCache;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A Rollout's labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub struct RolloutLabels {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The lease's label on the leader gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LeaseLabels {
    name: String,
}

/// Every metric of the controller, and the registry that serves them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile: Family<RolloutLabels, ReconcileHistogram>,
    errors: Arc<ReconcileErrors>,
    requests: Arc<RequestCounts>,
    leader: Family<LeaseLabels, Gauge>,
    rollouts: RolloutCache,
    run_reconcile: Family<RolloutLabels, ReconcileHistogram>,
    run_errors: Arc<ReconcileErrors>,
    runs: AnalysisRunCache,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics, all at zero, with no Rollouts.
    pub fn new() -> Self {
        // The registry ends every help text with a full stop.
        let mut registry = Registry::default();
        let reconcile = Family::<RolloutLabels, ReconcileHistogram>::default();
        registry.register(
            "rollout_reconcile",
            "Rollout reconciliation performance",
            reconcile.clone(),
        );
        let errors = Arc::new(ReconcileErrors::new(
            "rollout_reconcile_error",
            "Error occurring during the rollout",
        ));
        registry.register_collector(Box::new(errors.clone()));
        let requests = Arc::new(RequestCounts::default());
        registry.register(
            "controller_clientset_k8s_request",
            "Number of kubernetes requests executed during application reconciliation",
            (*requests).clone(),
        );
        let leader = Family::<LeaseLabels, Gauge>::default();
        registry.register(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
            leader.clone(),
        );
        let rollouts = RolloutCache::default();
        registry.register_collector(Box::new(rollouts.clone()));
        let run_reconcile = Family::<RolloutLabels, ReconcileHistogram>::default();
        registry.register(
            "analysis_run_reconcile",
            "Analysis Run reconciliation performance",
            run_reconcile.clone(),
        );
        let run_errors = Arc::new(ReconcileErrors::new(
            "analysis_run_reconcile_error",
            "Error occurring during the analysis run",
        ));
        registry.register_collector(Box::new(run_errors.clone()));
        let runs = AnalysisRunCache::default();
        registry.register_collector(Box::new(runs.clone()));
        registry
            .sub_registry_with_prefix("rollgate_controller")
            .register_collector(Box::new(AliveTasks));
        Self {
            registry,
            reconcile,
            errors,
            requests,
            leader,
            rollouts,
            run_reconcile,
            run_errors,
            runs,
        }
    }

    /// Records one reconcile of a Rollout: its duration, and an error if it failed.
    pub fn reconciled(&self, namespace: &str, name: &str, took: Duration, failed: bool) {
        let labels = RolloutLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.reconcile
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if failed {
            self.errors.add(labels);
        }
    }

    /// Records one reconcile of an AnalysisRun (`analysis_run_reconcile`,
    /// and `analysis_run_reconcile_error` if it failed).
    pub fn analysis_run_reconciled(
        &self,
        namespace: &str,
        name: &str,
        took: Duration,
        failed: bool,
    ) {
        let labels = RolloutLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.run_reconcile
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if failed {
            self.run_errors.add(labels);
        }
    }

    /// Where the per-AnalysisRun gauges come from.
    pub fn analysis_runs(&self) -> &AnalysisRunCache {
        &self.runs
    }

    /// The layer that counts the client's requests into `controller_clientset_k8s_request_total`.
    pub fn count_requests(&self) -> CountRequests {
        CountRequests(self.requests.clone())
    }

    /// Where the per-Rollout gauges come from.
    pub fn rollouts(&self) -> &RolloutCache {
        &self.rollouts
    }

    /// Whether this process leads on the Lease `name`.
    pub fn leading(&self, name: &str, leading: bool) {
        self.leader
            .get_or_create(&LeaseLabels {
                name: name.to_owned(),
            })
            .set(i64::from(leading));
    }

    /// Every metric in Prometheus's text format ([`CONTENT_TYPE`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let metrics = rollgate_controller::metrics::Metrics::new();
    /// metrics.reconciled("shop", "web", Duration::from_millis(20), true);
    /// let text = metrics.encode();
    /// assert!(text.contains(r#"rollout_reconcile_bucket{namespace="shop",name="web",le="0.15"} 1"#));
    /// assert!(text.contains(r#"rollout_reconcile_error{namespace="shop",name="web"} 1"#));
    /// ```
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// `rollout_reconcile_error` by Rollout (or `analysis_run_reconcile_error`
/// by run), encoded under Argo's exact name (see the module documentation).
#[derive(Debug)]
struct ReconcileErrors {
    name: &'static str,
    help: &'static str,
    counts: Mutex<BTreeMap<RolloutLabels, i64>>,
}

impl ReconcileErrors {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            counts: Mutex::default(),
        }
    }

    fn add(&self, labels: RolloutLabels) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(labels).or_default() += 1;
        }
    }
}

impl Collector for ReconcileErrors {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts = self.counts.lock().map(|c| c.clone()).unwrap_or_default();
        let mut metric =
            encoder.encode_descriptor(self.name, self.help, None, MetricType::Unknown)?;
        for (labels, count) in &counts {
            ConstGauge::new(*count).encode(metric.encode_family(labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod dashboard_tests;

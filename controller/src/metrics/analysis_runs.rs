//! The per-AnalysisRun gauges, computed at each scrape from the
//! controller's AnalysisRun cache, as Argo's `analysisRunCollector`
//! computes them from its lister: `analysis_run_info`, the deprecated
//! `analysis_run_phase`, `analysis_run_metric_type` and
//! `analysis_run_metric_phase`; and from the template caches, as Argo's
//! same collector, `analysis_template_info` and
//! `analysis_template_metric_info` for AnalysisTemplates and
//! ClusterAnalysisTemplates (namespace empty).

use std::sync::{Arc, Mutex};

use crate::cache::{Cache, unpack};
use kube::api::DynamicObject;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use rollgate_analysis::types::{AnalysisRunSpec, Metric};
use serde_json::Value;

/// The phases `analysis_run_phase` and `analysis_run_metric_phase` list,
/// in Argo's order (an empty phase counts as `Pending`).
pub const PHASES: [&str; 6] = [
    "Pending",
    "Error",
    "Failed",
    "Successful",
    "Running",
    "Inconclusive",
];

/// The AnalysisRuns and templates the gauges are about: the running
/// controller's caches, or none while this process is not leading.
#[derive(Debug, Clone, Default)]
pub struct AnalysisRunCache(Arc<Mutex<Option<Stores>>>);

/// The caches behind [`AnalysisRunCache`].
#[derive(Debug, Clone)]
pub struct Stores {
    /// AnalysisRuns.
    pub runs: Cache<DynamicObject>,
    /// AnalysisTemplates.
    pub templates: Cache<DynamicObject>,
    /// ClusterAnalysisTemplates.
    pub cluster_templates: Cache<DynamicObject>,
}

impl AnalysisRunCache {
    /// Points the gauges at `stores` (`None`: no runs or templates).
    pub fn set(&self, stores: Option<Stores>) {
        if let Ok(mut cache) = self.0.lock() {
            *cache = stores;
        }
    }

    fn stores(&self) -> Option<Stores> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// One metric of a run, as the gauges label it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricGauges {
    /// The metric's name.
    pub metric: String,
    /// Argo's provider type (`Prometheus`, `Web`, `Job`, ...).
    pub kind: &'static str,
    /// `true` or `false`.
    pub dry_run: bool,
    /// Its result's phase, empty without one.
    pub phase: String,
}

/// What the gauges say about one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunGauges {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `status.phase` as written (empty without a status).
    pub phase: String,
    /// Its metrics, in the spec's order.
    pub metrics: Vec<MetricGauges>,
}

/// The gauges of one run, from its object as the API server returns it
/// (read leniently: a metric that does not read counts as `Unknown
/// Provider`).
///
/// ```
/// use rollgate_controller::metrics::analysis_runs::gauges;
/// let run = serde_json::json!({"metadata": {"namespace": "shop", "name": "web-1"},
///     "spec": {"metrics": [{"name": "rate", "provider": {"web": {"url": "http://127.0.0.1/"}}}]},
///     "status": {"phase": "Running", "metricResults": [{"name": "rate", "phase": "Failed"}]}});
/// let g = gauges(&run);
/// assert_eq!((g.phase.as_str(), g.metrics[0].kind, g.metrics[0].phase.as_str()), ("Running", "Web", "Failed"));
/// ```
pub fn gauges(run: &Value) -> RunGauges {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let metrics: Vec<Value> = run["spec"]["metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let read: Vec<Option<Metric>> = metrics
        .iter()
        .map(|m| serde_json::from_value(m.clone()).ok())
        .collect();
    let dry_run = serde_json::from_value::<AnalysisRunSpec>(run["spec"].clone())
        .map(|spec| rollgate_analysis::evaluate::dry_run(&spec))
        .unwrap_or_default();
    let results = run["status"]["metricResults"].as_array();
    let metrics = metrics
        .iter()
        .zip(&read)
        .enumerate()
        .map(|(i, (raw, metric))| {
            let name = text(&raw["name"]);
            let phase = results
                .into_iter()
                .flatten()
                .find(|r| r["name"] == name.as_str())
                .map(|r| text(&r["phase"]))
                .unwrap_or_default();
            MetricGauges {
                kind: metric
                    .as_ref()
                    .map_or("Unknown Provider", |m| m.provider.kind()),
                dry_run: dry_run.get(i).copied().unwrap_or(false),
                metric: name,
                phase,
            }
        })
        .collect();
    RunGauges {
        namespace: text(&run["metadata"]["namespace"]),
        name: text(&run["metadata"]["name"]),
        phase: text(&run["status"]["phase"]),
        metrics,
    }
}

/// 1 for `phase` (an empty one counts as `Pending`), 0 otherwise.
fn is(phase: &str, candidate: &str) -> i64 {
    i64::from(phase == candidate || (phase.is_empty() && candidate == "Pending"))
}

/// A template's metrics as `analysis_template_metric_info` labels them:
/// (name, Argo's provider type), read leniently.
fn template_metrics(template: &Value) -> Vec<(String, &'static str)> {
    template["spec"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let kind = serde_json::from_value::<Metric>(m.clone())
                .map_or("Unknown Provider", |m| m.provider.kind());
            (m["name"].as_str().unwrap_or_default().to_owned(), kind)
        })
        .collect()
}

impl Collector for AnalysisRunCache {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stores = self.stores();
        let state = |pick: fn(&Stores) -> &Cache<DynamicObject>| -> Vec<Value> {
            stores
                .as_ref()
                .map(|s| pick(s).state())
                .unwrap_or_default()
                .iter()
                .filter_map(|packed| unpack(packed).ok())
                .map(|o| serde_json::to_value(&o).unwrap_or_default())
                .collect()
        };
        let runs: Vec<RunGauges> = state(|s| &s.runs).iter().map(gauges).collect();
        let mut templates = state(|s| &s.templates);
        templates.extend(state(|s| &s.cluster_templates));
        gauge_family(
            &mut encoder,
            "analysis_run_info",
            "Information about analysis run.",
            runs.iter()
                .map(|r| (labels(&run_labels(r), &[("phase", r.phase.as_str())]), 1)),
        )?;
        gauge_family(
            &mut encoder,
            "analysis_run_phase",
            "Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)",
            runs.iter().flat_map(|r| {
                PHASES.iter().map(move |phase| {
                    (
                        labels(&run_labels(r), &[("phase", phase)]),
                        is(&r.phase, phase),
                    )
                })
            }),
        )?;
        let metric = |r: &'_ RunGauges, m: &'_ MetricGauges| {
            labels(
                &run_labels(r),
                &[("metric", m.metric.as_str()), ("type", m.kind)],
            )
        };
        gauge_family(
            &mut encoder,
            "analysis_run_metric_type",
            "Information on the type of a specific metric in the Analysis Runs",
            runs.iter()
                .flat_map(|r| r.metrics.iter().map(move |m| (metric(r, m), 1))),
        )?;
        gauge_family(
            &mut encoder,
            "analysis_run_metric_phase",
            "Information on the duration of a specific metric in the Analysis Run",
            runs.iter().flat_map(|r| {
                r.metrics.iter().flat_map(move |m| {
                    let dry_run = if m.dry_run { "true" } else { "false" };
                    PHASES.iter().map(move |phase| {
                        let extra = [
                            ("metric", m.metric.as_str()),
                            ("type", m.kind),
                            ("dry_run", dry_run),
                            ("phase", *phase),
                        ];
                        (labels(&run_labels(r), &extra), is(&m.phase, phase))
                    })
                })
            }),
        )?;
        let named: Vec<(String, String, &Value)> = templates
            .iter()
            .map(|t| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    text(&t["metadata"]["namespace"]),
                    text(&t["metadata"]["name"]),
                    t,
                )
            })
            .collect();
        gauge_family(
            &mut encoder,
            "analysis_template_info",
            "Information about analysis templates.",
            named.iter().map(|t| (labels(&template_labels(t), &[]), 1)),
        )?;
        gauge_family(
            &mut encoder,
            "analysis_template_metric_info",
            "Information on metrics in analysis templates.",
            named.iter().flat_map(|t| {
                template_metrics(t.2)
                    .into_iter()
                    .map(move |(metric, kind)| {
                        let extra = [("type", kind), ("metric", metric.as_str())];
                        (labels(&template_labels(t), &extra), 1)
                    })
            }),
        )?;
        Ok(())
    }
}

/// A run's `namespace` and `name` labels.
fn run_labels(r: &RunGauges) -> [(&'static str, &str); 2] {
    [
        ("namespace", r.namespace.as_str()),
        ("name", r.name.as_str()),
    ]
}

/// A template's `namespace` and `name` labels.
fn template_labels<'a>(t: &'a (String, String, &Value)) -> [(&'static str, &'a str); 2] {
    [("namespace", t.0.as_str()), ("name", t.1.as_str())]
}

/// `base` then `extra`, as owned label pairs.
fn labels(
    base: &[(&'static str, &str)],
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    base.iter()
        .chain(extra)
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect()
}

/// One gauge family, `name` with `help`, and its samples (labels, value).
fn gauge_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Vec<(&'static str, String)>, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

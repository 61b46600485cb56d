//! The Grafana dashboard `charts/rollgate/dashboards/rollgate.json` against
//! the metrics this controller and the plugin binaries serve: it is valid
//! JSON of a dashboard's shape, every PromQL expression in it parses, and
//! each names only series that the controller's `/metrics` or a plugin's
//! (`--metrics-addr`) carries, the plugin's read from the registry its
//! `main` builds.

use std::collections::BTreeSet;

use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::{Value, json};

use super::Metrics;
use super::tests::{cached, web};

const DASHBOARD: &str = include_str!("../../../charts/rollgate/dashboards/rollgate.json");

/// Grafana's interval variables, replaced as Grafana replaces them before
/// the query is sent (template variables stay: they sit in label values).
fn as_sent(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "6h")
}

/// The names of the series in Prometheus's text exposition: a histogram's
/// `_bucket`, `_sum` and `_count`, the name itself for the others.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE <name> <type>");
        match kind {
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// Every family the controller serves, each with a series.
fn every_family() -> BTreeSet<String> {
    let metrics = Metrics::new();
    metrics.reconciled("shop", "web", std::time::Duration::from_millis(5), true);
    metrics.analysis_run_reconciled("shop", "web-1", std::time::Duration::from_millis(5), true);
    metrics.leading("rollgate-controller-lock", true);
    metrics.rollouts().set(Some(cached(&[web()])));
    let template = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"namespace": "shop", "name": "rate"},
        "spec": {"metrics": [{"name": "rate", "provider": {"web": {"url": "http://127.0.0.1/"}}}]}
    });
    let run = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"namespace": "shop", "name": "web-1"},
        "spec": {"metrics": [{"name": "rate", "provider": {"prometheus": {"query": "up"}}}]},
        "status": {"phase": "Running"}
    });
    metrics
        .analysis_runs()
        .set(Some(super::analysis_runs::Stores {
            runs: cached(&[run]),
            templates: cached(&[template]),
            cluster_templates: cached(&[]),
        }));
    let mut names = exported(&metrics.encode());
    // The request counter has a series once a request went through the
    // layer; its family is declared whatever happens.
    names.insert("controller_clientset_k8s_request_total".to_owned());
    names.extend(plugin_families());
    names
}

/// Every family a plugin binary serves: its endpoint's registry with the
/// applier's families (as `from_args` registers them), one
/// call and one API request recorded.
fn plugin_families() -> BTreeSet<String> {
    use plugin_proto::TrafficRouter as _;
    use tower::{Layer as _, ServiceExt as _};
    let mut endpoint = plugin_proto::metrics::MetricsEndpoint::new(([127, 0, 0, 1], 0).into());
    let kube = router_kube::metrics::KubeMetrics::default();
    kube.register(endpoint.registry());
    let journal = endpoint
        .metrics
        .metered(router_core::test_util::JournalRouter::new());
    let api = kube
        .count_requests()
        .layer(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
    let request =
        http::Request::get("/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web")
            .body(())
            .unwrap();
    futures::executor::block_on(async {
        journal.init().await.expect("init");
        api.oneshot(request).await.expect("an answer");
    });
    exported(&endpoint.metrics.encode())
}

/// The metric names an expression reads.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl ExprVisitor for Names {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        let selector = match expr {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        if let Some(selector) = selector {
            let name = selector
                .name
                .clone()
                .ok_or_else(|| format!("a selector without a metric name: {selector}"))?;
            self.0.insert(name);
        }
        Ok(true)
    }
}

/// Every `expr` of the dashboard's panels (rows' nested panels included),
/// with the panel's title.
fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = panels.pop() {
        panels.extend(panel["panels"].as_array().into_iter().flatten());
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().expect("a panel title").to_owned();
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a target without expr"));
            found.push((title, expr.to_owned()));
        }
    }
    found
}

#[test]
fn the_dashboard_is_a_grafana_dashboard() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "rollgate-controller");
    assert!(dashboard["schemaVersion"].as_u64().is_some());
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a numeric id")),
            "{title}: id used twice"
        );
        for key in ["x", "y", "w", "h"] {
            assert!(
                panel["gridPos"][key].as_u64().is_some(),
                "{title}: gridPos.{key}"
            );
        }
        assert!(
            panel["gridPos"]["x"].as_u64().unwrap() + panel["gridPos"]["w"].as_u64().unwrap() <= 24,
            "{title}: wider than the grid"
        );
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                panel["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "{title}: no query"
            );
        }
    }
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "namespace"]);
}

#[test]
fn every_expression_parses_and_reads_only_what_the_controller_serves() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    let served = every_family();
    let mut read = BTreeSet::new();
    let mut queries: Vec<(String, String)> = expressions(&dashboard);
    let variable = &dashboard["templating"]["list"][1]["definition"];
    let variable = variable.as_str().unwrap();
    let inner = variable
        .strip_prefix("label_values(")
        .and_then(|v| v.strip_suffix(')'))
        .and_then(|v| v.split_once(','))
        .map(|(selector, _)| selector.trim().to_owned())
        .expect("label_values(<selector>, <label>)");
    queries.push(("the namespace variable".to_owned(), inner));
    assert!(queries.len() >= 20, "{} expressions", queries.len());
    for (title, expr) in &queries {
        let parsed = parser::parse(&as_sent(expr))
            .unwrap_or_else(|e| panic!("{title}: {expr}: does not parse: {e}"));
        let mut names = Names::default();
        walk_expr(&mut names, &parsed).unwrap_or_else(|e| panic!("{title}: {e}"));
        assert!(!names.0.is_empty(), "{title}: {expr} reads no metric");
        for name in names.0 {
            assert!(
                served.contains(&name),
                "{title}: {expr} reads {name}, which neither the controller nor a plugin serves ({served:?})"
            );
            read.insert(name);
        }
    }
    // The dashboard covers each family: Rollouts, reconciles, API
    // requests, leadership, analysis, and the plugins' calls, requests and
    // watch caches.
    for family in [
        "rollout_info",
        "rollout_info_replicas_available",
        "rollout_reconcile_bucket",
        "rollout_reconcile_error",
        "controller_clientset_k8s_request_total",
        "leader_election_master_status",
        "analysis_run_info",
        "analysis_run_metric_phase",
        "analysis_run_reconcile_bucket",
        "analysis_template_info",
        "rollgate_plugin_call_duration_seconds_count",
        "rollgate_plugin_call_duration_seconds_bucket",
        "rollgate_plugin_k8s_request_total",
        "rollgate_plugin_watch_cache_objects",
        "rollgate_plugin_watch_cache_bytes",
    ] {
        assert!(read.contains(family), "no panel reads {family}");
    }
}

#[test]
fn a_misspelt_metric_is_caught() {
    let served = every_family();
    let parsed = parser::parse(&as_sent(
        "sum(rate(rollout_reconcile_errors[$__rate_interval]))",
    ))
    .unwrap();
    let mut names = Names::default();
    walk_expr(&mut names, &parsed).unwrap();
    assert_eq!(names.0.iter().next().unwrap(), "rollout_reconcile_errors");
    assert!(!served.contains("rollout_reconcile_errors"));
    assert!(parser::parse("sum by (phase (rollout_info)").is_err());
}

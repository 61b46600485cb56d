use super::*;
use kube::api::DynamicObject;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use router_kube::Packed;
use serde_json::json;

pub(super) fn cached(objects: &[serde_json::Value]) -> crate::cache::Cache<DynamicObject> {
    let mut writer = Writer::<Packed<DynamicObject>>::new(crate::reconcile::rollout_resource());
    for object in objects {
        let object: Packed<DynamicObject> = serde_json::from_value(object.clone()).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }
    writer.as_reader()
}

pub(super) fn web() -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {"replicas": 5, "strategy": {"canary": {}}},
        "status": {"replicas": 5, "availableReplicas": 5, "updatedReplicas": 1,
                   "conditions": [{"type": "Progressing", "reason": "RolloutPaused"}]}
    })
}

#[test]
fn every_family_has_argos_name_help_and_type() {
    let metrics = Metrics::new();
    metrics.reconciled("shop", "web", Duration::from_millis(5), false);
    metrics.reconciled("shop", "web", Duration::from_millis(300), true);
    metrics.leading("rollgate-controller-lock", true);
    metrics.rollouts().set(Some(cached(&[web()])));
    let text = metrics.encode();
    for line in [
        "# TYPE rollout_reconcile histogram",
        r#"rollout_reconcile_bucket{namespace="shop",name="web",le="0.01"} 1"#,
        r#"rollout_reconcile_bucket{namespace="shop",name="web",le="0.5"} 2"#,
        r#"rollout_reconcile_count{namespace="shop",name="web"} 2"#,
        "# TYPE rollout_reconcile_error untyped",
        r#"rollout_reconcile_error{namespace="shop",name="web"} 1"#,
        "# HELP rollout_reconcile Rollout reconciliation performance.",
        r#"leader_election_master_status{name="rollgate-controller-lock"} 1"#,
        "# TYPE rollout_info gauge",
        r#"rollout_info{namespace="shop",name="web",strategy="canary",traffic_router="",phase="Paused"} 1"#,
        r#"rollout_info_replicas_available{namespace="shop",name="web"} 5"#,
        r#"rollout_info_replicas_unavailable{namespace="shop",name="web"} 0"#,
        r#"rollout_info_replicas_desired{namespace="shop",name="web"} 5"#,
        r#"rollout_info_replicas_updated{namespace="shop",name="web"} 1"#,
        r#"rollout_phase{namespace="shop",name="web",strategy="canary",phase="Paused"} 1"#,
        r#"rollout_phase{namespace="shop",name="web",strategy="canary",phase="Completed"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[test]
fn a_standby_has_no_rollout_series() {
    let metrics = Metrics::new();
    metrics.rollouts().set(Some(cached(&[web()])));
    metrics.rollouts().set(None);
    metrics.leading("rollgate-controller-lock", false);
    let text = metrics.encode();
    assert!(!text.contains("rollout_info{"), "{text}");
    assert!(text.contains(r#"leader_election_master_status{name="rollgate-controller-lock"} 0"#));
}

#[tokio::test]
async fn requests_through_the_layer_are_counted_with_argos_labels() {
    use tower::{Layer, ServiceExt};
    let metrics = Metrics::new();
    let service = metrics
        .count_requests()
        .layer(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
    let request =
        http::Request::patch("/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status")
            .body(())
            .unwrap();
    service.oneshot(request).await.unwrap();
    let text = metrics.encode();
    assert!(text.contains("# TYPE controller_clientset_k8s_request_total counter\n"));
    let line = r#"controller_clientset_k8s_request_total{kind="rollouts",namespace="shop",name="web",verb="Patch",status_code="200"} 1"#;
    assert!(
        text.lines().any(|l| l == line),
        "missing {line:?} in:\n{text}"
    );
}

#[test]
fn analysis_runs_have_argos_series() {
    let metrics = Metrics::new();
    metrics.analysis_run_reconciled("shop", "web-1", Duration::from_millis(5), true);
    let template = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"namespace": "shop", "name": "rate"},
        "spec": {"metrics": [{"name": "rate", "provider": {"web": {"url": "http://127.0.0.1/"}}}]}
    });
    let cluster_template = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "errors"},
        "spec": {"metrics": [{"name": "errors", "provider": {"prometheus": {"query": "up"}}}]}
    });
    let runs = cached(&[json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"namespace": "shop", "name": "web-1"},
        "spec": {"metrics": [
            {"name": "rate", "provider": {"prometheus": {"query": "up"}}},
            {"name": "lat", "provider": {"job": {"spec": {}}}}],
            "dryRun": [{"metricName": "lat"}]},
        "status": {"phase": "Running", "metricResults": [{"name": "rate", "phase": "Successful"}]}
    })]);
    metrics
        .analysis_runs()
        .set(Some(crate::metrics::analysis_runs::Stores {
            runs,
            templates: cached(&[template]),
            cluster_templates: cached(&[cluster_template]),
        }));
    let text = metrics.encode();
    for line in [
        "# TYPE analysis_run_info gauge",
        r#"analysis_run_info{namespace="shop",name="web-1",phase="Running"} 1"#,
        r#"analysis_run_phase{namespace="shop",name="web-1",phase="Running"} 1"#,
        r#"analysis_run_phase{namespace="shop",name="web-1",phase="Pending"} 0"#,
        r#"analysis_run_metric_type{namespace="shop",name="web-1",metric="rate",type="Prometheus"} 1"#,
        r#"analysis_run_metric_type{namespace="shop",name="web-1",metric="lat",type="Job"} 1"#,
        r#"analysis_run_metric_phase{namespace="shop",name="web-1",metric="rate",type="Prometheus",dry_run="false",phase="Successful"} 1"#,
        r#"analysis_run_metric_phase{namespace="shop",name="web-1",metric="lat",type="Job",dry_run="true",phase="Pending"} 1"#,
        r#"analysis_run_reconcile_bucket{namespace="shop",name="web-1",le="0.01"} 1"#,
        "# TYPE analysis_run_reconcile_error untyped",
        r#"analysis_run_reconcile_error{namespace="shop",name="web-1"} 1"#,
        r#"analysis_template_info{namespace="shop",name="rate"} 1"#,
        r#"analysis_template_info{namespace="",name="errors"} 1"#,
        r#"analysis_template_metric_info{namespace="shop",name="rate",type="Web",metric="rate"} 1"#,
        r#"analysis_template_metric_info{namespace="",name="errors",type="Prometheus",metric="errors"} 1"#,
    ] {
        assert!(text.contains(line), "no {line} in:\n{text}");
    }
}

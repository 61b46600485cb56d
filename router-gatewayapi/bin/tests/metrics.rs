//! `rollgate-gatewayapi --metrics-addr`: the plugin process, started by
//! Rollgate's plugin host as Argo's controller starts it (its `args`), serves
//! `/metrics`, and what it counts matches the calls made and, on a real
//! kube-apiserver (`ROLLGATE_E2E=1`, `scripts/cluster up`), the API server's
//! own audit log.

use std::time::Duration;

use plugin_proto::{HostOptions, PluginRouter, RolloutContext, TrafficRouter};
use rollgate_testkit::Cluster;
use rollgate_testkit::scrape::{Samples, free_port, http_get};
use serde_json::json;

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-gatewayapi");

fn plugin(port: u16) -> PluginRouter {
    plugin_with(port, Vec::new())
}

fn plugin_with(port: u16, env: Vec<(String, String)>) -> PluginRouter {
    PluginRouter::new(
        PLUGIN,
        HostOptions {
            args: vec!["--metrics-addr".into(), format!("127.0.0.1:{port}")],
            env,
            ..HostOptions::default()
        },
    )
}

/// A kubeconfig whose API server is a loopback port nothing listens on:
/// the plugin starts (its version discovery gets no answer, which it
/// survives) and any request it sends fails.
fn unreachable_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let config = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\n\
         clusters: [{{name: none, cluster: {{server: \"https://127.0.0.1:{}\", insecure-skip-tls-verify: true}}}}]\n\
         users: [{{name: none, user: {{token: none}}}}]\n\
         contexts: [{{name: none, context: {{cluster: none, user: none}}}}]\n",
        free_port()
    );
    std::fs::write(&path, config).unwrap();
    path
}

async fn scrape(port: u16) -> Samples {
    let (status, body) = http_get(port, "/metrics")
        .await
        .expect("the metrics endpoint answers");
    assert_eq!(status, 200, "{body}");
    Samples::parse(&body)
}

const CALLS: &str = "rollgate_plugin_call_duration_seconds_count";

#[tokio::test]
async fn the_calls_are_counted_by_method_and_result() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let port = free_port();
    let router = plugin_with(
        port,
        vec![("KUBECONFIG".into(), kubeconfig.display().to_string())],
    );
    // Starting the plugin runs Init; Type asks for its name.
    assert_eq!(router.name().await.unwrap(), "GatewayAPI");
    assert_eq!(router.name().await.unwrap(), "GatewayAPI");
    // A config without a route is refused before any request.
    let bad = RolloutContext {
        name: "web".into(),
        namespace: "shop".into(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        config: json!({}),
        ..RolloutContext::default()
    };
    let err = router.set_weight(&bad, 30, &[]).await.unwrap_err();
    let scraped = scrape(port).await;
    assert_eq!(
        scraped.sum(CALLS, &[("method", "Init"), ("result", "ok")]),
        1.0
    );
    assert_eq!(
        scraped.sum(CALLS, &[("method", "Type"), ("result", "ok")]),
        2.0
    );
    assert_eq!(
        scraped.sum(CALLS, &[("method", "Apply"), ("result", err.kind().name())]),
        1.0,
        "{err}: {scraped:?}"
    );
    assert_eq!(
        scraped.sum(CALLS, &[("method", "Apply"), ("result", "ok")]),
        0.0
    );
    assert_eq!(
        scraped.sum("rollgate_plugin_k8s_request_total", &[]),
        0.0,
        "no Kubernetes request for a refused config"
    );
    assert_eq!(
        http_get(port, "/").await.map(|(status, _)| status),
        Some(404)
    );
    router.shutdown().await;
}

#[tokio::test]
async fn an_address_in_use_fails_the_start_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let router = plugin(port);
    let err = router.init().await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "--metrics-addr: cannot listen on 127.0.0.1:{port}"
        )),
        "{err}"
    );
    let refused = std::process::Command::new(PLUGIN)
        .args(["--metrics-addr", "localhost"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--metrics-addr"), "{stderr}");
}

#[tokio::test]
async fn a_canary_through_the_plugin_process_is_counted_as_the_api_server_saw_it() {
    let Some(cluster) = Cluster::new("gw-metrics").await else {
        return;
    };
    cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                                                {"name": "web-canary", "port": 80, "weight": 0}]}]}
        }))
        .await;
    let ctx = RolloutContext {
        name: "web".into(),
        namespace: cluster.namespace.clone(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        config: json!({"httpRoute": "web"}),
        ..RolloutContext::default()
    };
    let port = free_port();
    let router = plugin(port);
    // The canary's steps, each set twice (Argo sets the weight on every
    // reconcile): the second costs no write.
    let steps = [20, 40, 60, 80, 100, 0];
    for weight in steps {
        router.set_weight(&ctx, weight, &[]).await.unwrap();
        router.set_weight(&ctx, weight, &[]).await.unwrap();
    }
    // No gateway accepts the route here: whatever it answers, it is one call.
    let _ = router.verify_weight(&ctx, 0, &[]).await;
    cluster.audit_barrier().await;

    let scraped = scrape(port).await;
    let ns = cluster.namespace.as_str();
    let calls = 2.0 * steps.len() as f64;
    assert_eq!(
        scraped.sum(CALLS, &[("method", "Apply"), ("result", "ok")]),
        calls
    );
    assert_eq!(scraped.sum(CALLS, &[("method", "Apply")]), calls);
    assert_eq!(scraped.sum(CALLS, &[("method", "Verify")]), 1.0);
    let route = [("kind", "httproutes"), ("namespace", ns), ("name", "web")];
    let requests = "rollgate_plugin_k8s_request_total";
    let patches = scraped.sum(requests, &[&route[..], &[("verb", "Patch")]].concat());
    assert_eq!(
        patches,
        steps.len() as f64,
        "one write per weight change: {scraped:?}"
    );
    let audited = cluster
        .audited_requests("httproutes", "web")
        .into_iter()
        .filter(|r| {
            r.user_agent.starts_with("rollgate-gatewayapi/") && r.verb == "patch" && !r.dry_run
        })
        .count();
    assert_eq!(
        patches, audited as f64,
        "the plugin's count is the audit log's"
    );
    let watched = [("kind", "httproutes"), ("namespace", ns), ("verb", "Watch")];
    assert!(scraped.sum(requests, &watched) >= 1.0, "{scraped:?}");
    let cache = [("resource", "httproutes"), ("namespace", ns)];
    assert_eq!(
        scraped.sum("rollgate_plugin_watch_cache_objects", &cache),
        1.0
    );
    assert!(scraped.sum("rollgate_plugin_watch_cache_bytes", &cache) > 0.0);
    let buckets = scraped.sum(
        "rollgate_plugin_call_duration_seconds_bucket",
        &[("method", "Apply"), ("le", "+Inf")],
    );
    assert_eq!(buckets, calls);
    router.shutdown().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

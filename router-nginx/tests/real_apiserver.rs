//! The router against a real kube-apiserver (`scripts/cluster up`, then
//! `eval "$(scripts/cluster env)"`). Runs when `ROLLGATE_E2E=1`; each test
//! works in a namespace of its own, with a real Rollout object as the canary
//! Ingress's owner (the garbage collector deletes objects whose owner is gone).
//! Writes are counted from the API server's audit log.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use plugin_proto::{RolloutContext, TrafficRouter, Verified};
use router_nginx::NginxRouter;
use serde_json::{Value, json};

async fn namespace(test: &str) -> Option<(Client, String)> {
    if std::env::var("ROLLGATE_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: needs ROLLGATE_E2E=1 and a KUBECONFIG (scripts/cluster up)");
        return None;
    }
    let client = Client::try_default()
        .await
        .expect("ROLLGATE_E2E=1 needs a working KUBECONFIG");
    let suffix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let ns = format!("nginx-{test}-{suffix:x}");
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("create the test namespace");
    Some((client, ns))
}

fn api(client: &Client, ns: &str, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &resource)
}

async fn create(api: &Api<DynamicObject>, object: Value) -> DynamicObject {
    api.create(
        &PostParams::default(),
        &serde_json::from_value(object).unwrap(),
    )
    .await
    .expect("create")
}

/// A stable Ingress `web` and a Rollout `web`; the context the host would pass.
async fn setup(client: &Client, ns: &str) -> RolloutContext {
    let ingresses = api(client, ns, "networking.k8s.io", "v1", "Ingress");
    create(
        &ingresses,
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}},
                {"path": "/static", "pathType": "Prefix", "backend": {"service": {"name": "cdn", "port": {"number": 80}}}}]}}]}
        }),
    )
    .await;
    let rollout = create(
        &api(client, ns, "argoproj.io", "v1alpha1", "Rollout"),
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                     "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                         "trafficRouting": {"plugins": {"rollgate/nginx": {"stableIngress": "web"}}},
                         "steps": [{"setWeight": 20}]}}}
        }),
    )
    .await;
    RolloutContext {
        name: "web".into(),
        namespace: ns.into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        max_traffic_weight: 100,
        plugin_name: "rollgate/nginx".into(),
        config: json!({"stableIngress": "web"}),
        rollout: serde_json::to_value(&rollout).unwrap(),
        ..Default::default()
    }
}

/// Audit events (stage ResponseComplete) for Ingress `name` in `ns`: their verbs.
fn audited(ns: &str, name: &str) -> Vec<String> {
    let path = std::path::PathBuf::from(
        std::env::var("ROLLGATE_CLUSTER").expect("ROLLGATE_CLUSTER (scripts/cluster env)"),
    )
    .join("audit.log");
    std::fs::read_to_string(path)
        .expect("the API server's audit log")
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["objectRef"]["resource"] == "ingresses"
                && e["objectRef"]["namespace"] == ns
                && e["objectRef"]["name"] == name
        })
        .map(|e| e["verb"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits for the audit log to record every request sent so far (a write
/// to the stable Ingress's neighbour `marker` is logged last).
async fn audit_barrier(ingresses: &Api<DynamicObject>, ns: &str) {
    let before = audited(ns, "marker").len();
    let object = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "marker", "labels": {"n": before.to_string()}},
        "spec": {"defaultBackend": {"service": {"name": "x", "port": {"number": 80}}}}});
    ingresses
        .patch(
            "marker",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap();
    for _ in 0..200 {
        if audited(ns, "marker").len() > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the audit log did not record the barrier write");
}

#[tokio::test]
async fn canary_ingress_weights_headers_and_other_writers() {
    let Some((client, ns)) = namespace("routes").await else {
        return;
    };
    let ctx = setup(&client, &ns).await;
    let ingresses = api(&client, &ns, "networking.k8s.io", "v1", "Ingress");
    let router = NginxRouter::with_client(client.clone());

    router.set_weight(&ctx, 20, &[]).await.unwrap();
    let canary = ingresses.get("web-web-canary").await.unwrap();
    assert_eq!(
        canary.metadata.owner_references.as_ref().unwrap()[0].uid,
        ctx.rollout["metadata"]["uid"].as_str().unwrap()
    );
    let a = canary.metadata.annotations.clone().unwrap();
    assert_eq!(a["nginx.ingress.kubernetes.io/canary-weight"], "20");
    assert_eq!(a["kubernetes.io/ingress.class"], "nginx");
    assert_eq!(
        canary.data["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "web-canary"
    );
    assert_eq!(
        canary.data["spec"]["rules"][0]["http"]["paths"][1]["backend"]["service"]["name"],
        "cdn"
    );
    assert_eq!(
        router.verify_weight(&ctx, 20, &[]).await.unwrap(),
        Verified::Verified
    );

    // Someone else annotates and labels the canary Ingress.
    let theirs = json!({"metadata": {"labels": {"team": "web"}, "annotations": {"monitoring.example.com/scrape": "true"}}});
    ingresses
        .patch(
            "web-web-canary",
            &PatchParams::default(),
            &Patch::Merge(&theirs),
        )
        .await
        .unwrap();

    let header: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
    }))
    .unwrap();
    router.set_header_route(&ctx, &header).await.unwrap();
    router.set_weight(&ctx, 40, &[]).await.unwrap();
    let canary = ingresses.get("web-web-canary").await.unwrap();
    let a = canary.metadata.annotations.clone().unwrap();
    assert_eq!(a["nginx.ingress.kubernetes.io/canary-weight"], "40");
    assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header"], "x-beta");
    assert_eq!(
        a["nginx.ingress.kubernetes.io/canary-by-header-value"],
        "yes"
    );
    assert_eq!(
        a["monitoring.example.com/scrape"], "true",
        "their annotation survives"
    );
    assert_eq!(
        canary.metadata.labels.unwrap()["team"],
        "web",
        "their label survives"
    );

    // Idle: nothing written.
    audit_barrier(&ingresses, &ns).await;
    let before = audited(&ns, "web-web-canary").len();
    for _ in 0..10 {
        router.set_weight(&ctx, 40, &[]).await.unwrap();
        router.set_header_route(&ctx, &header).await.unwrap();
    }
    audit_barrier(&ingresses, &ns).await;
    let idle = &audited(&ns, "web-web-canary")[before..];
    assert!(
        idle.iter().all(|v| v == "get"),
        "idle calls only read: {idle:?}"
    );

    // Removal: the header annotations go (server-side apply drops the fields
    // we no longer apply), the weight and their annotation stay.
    router.remove_managed_routes(&ctx).await.unwrap();
    let a = ingresses
        .get("web-web-canary")
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap();
    assert!(
        !a.contains_key("nginx.ingress.kubernetes.io/canary-by-header"),
        "{a:?}"
    );
    assert!(
        !a.contains_key("nginx.ingress.kubernetes.io/canary-by-header-value"),
        "{a:?}"
    );
    assert!(!a.contains_key("rollgate.dev/header-route"), "{a:?}");
    assert_eq!(a["nginx.ingress.kubernetes.io/canary-weight"], "40");
    assert_eq!(a["monitoring.example.com/scrape"], "true");

    // The stable Ingress was only ever read.
    let stable = audited(&ns, "web");
    assert!(
        stable.iter().all(|v| v == "get" || v == "create"),
        "{stable:?}"
    );
    let _ = Api::<Namespace>::all(client)
        .delete(&ns, &Default::default())
        .await;
}

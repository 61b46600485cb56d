//! The router against a real kube-apiserver (`scripts/cluster up`, then
//! `eval "$(scripts/cluster env)"`). Runs when `ROLLGATE_E2E=1`; each test
//! works in a namespace of its own, with a real Rollout object as the canary
//! Ingress's owner (the garbage collector deletes objects whose owner is gone).
//! Writes are counted from the API server's audit log.

use kube::api::{Patch, PatchParams};
use rollgate_testkit::Cluster;
use router_core::{ManagedRoute, RolloutContext, TrafficRouter, TrafficTarget, Verified};
use router_nginx::KubeRouter;
use router_nginx::NginxRouter;
use serde_json::json;

/// A stable Ingress `web` and a Rollout `web`; the context the host would pass.
async fn setup(cluster: &Cluster) -> RolloutContext {
    cluster
        .create(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}},
                {"path": "/static", "pathType": "Prefix", "backend": {"service": {"name": "cdn", "port": {"number": 80}}}}]}}]}
        }))
        .await;
    let rollout = cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                     "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                         "trafficRouting": {"plugins": {"rollgate/nginx": {"stableIngress": "web"}}},
                         "steps": [{"setWeight": 20}]}}}
        }))
        .await;
    RolloutContext {
        name: "web".into(),
        namespace: cluster.namespace.clone(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "rollgate/nginx".into(),
        managed_routes: vec![ManagedRoute::header("beta")],
        config: json!({"stableIngress": "web"}),
        uid: rollout.metadata.uid.clone(),
        ..Default::default()
    }
}

#[tokio::test]
async fn canary_ingress_weights_headers_and_other_writers() {
    let Some(cluster) = Cluster::new("nginx-routes").await else {
        return;
    };
    let ctx = setup(&cluster).await;
    let ingresses = cluster.api("networking.k8s.io", "v1", "Ingress");
    // The router runs with exactly the documented permissions, building its
    // client as the binary does.
    let rbac = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rbac/rollgate-nginx.yaml"
    );
    let router = NginxRouter::from_config(cluster.config_with_role(rbac.as_ref()).await);

    router.set_weight(&ctx, 20, &[]).await.unwrap();
    let canary = ingresses.get("web-web-canary").await.unwrap();
    assert_eq!(
        canary.metadata.owner_references.as_ref().unwrap()[0].uid,
        ctx.uid.as_deref().unwrap()
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
    cluster.audit_barrier().await;
    let before = cluster.audited("ingresses", "web-web-canary").len();
    for _ in 0..10 {
        router.set_weight(&ctx, 40, &[]).await.unwrap();
        router.set_header_route(&ctx, &header).await.unwrap();
    }
    cluster.audit_barrier().await;
    let idle = &cluster.audited("ingresses", "web-web-canary")[before..];
    assert!(
        idle.is_empty(),
        "idle calls read from the watch cache and write nothing: {idle:?}"
    );

    // A header route managedRoutes does not list: refused, nothing written.
    let unlisted: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "gamma", "match": [{"headerName": "x-gamma", "headerValue": {"exact": "1"}}]
    }))
    .unwrap();
    let err = router.set_header_route(&ctx, &unlisted).await.unwrap_err();
    assert!(err.to_string().contains("setHeaderRoute gamma"), "{err}");

    // The audit log names the router in every request it sent.
    cluster.audit_barrier().await;
    let agent = concat!("rollgate-nginx/", env!("CARGO_PKG_VERSION"));
    let requests = cluster.audited_requests("ingresses", "web-web-canary");
    let ours: Vec<_> = requests
        .iter()
        .filter(|r| r.user_agent == agent)
        .map(|r| r.verb.as_str())
        .collect();
    assert!(
        ours.contains(&"patch"),
        "the router's writes are audited as {agent}: {requests:?}"
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
    let stable = cluster.audited("ingresses", "web");
    assert!(
        stable.iter().all(|v| v == "get" || v == "create"),
        "{stable:?}"
    );
}

/// A whole desired traffic at weight 0 and at 100 (with a header route in
/// effect, then none): another writer's annotations and labels on the
/// canary Ingress stay byte-identical, and the stable Ingress is never
/// written.
#[tokio::test]
async fn weights_0_and_100_leave_other_writers_fields_byte_identical() {
    let Some(cluster) = Cluster::new("nginx-extremes").await else {
        return;
    };
    let ctx = setup(&cluster).await;
    let ingresses = cluster.api("networking.k8s.io", "v1", "Ingress");
    let rbac = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rbac/rollgate-nginx.yaml"
    );
    let router = NginxRouter::from_config(cluster.config_with_role(rbac.as_ref()).await);
    let stable_before = ingresses.get("web").await.unwrap();

    let beta: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
    }))
    .unwrap();
    let desired = rollout_core::DesiredTraffic {
        header_routes: vec![beta],
        ..Default::default()
    };
    router
        .apply(&ctx, &TrafficTarget::desired(&desired))
        .await
        .unwrap();
    let theirs = json!({"metadata": {"labels": {"team": "web"}, "annotations": {
        "monitoring.example.com/scrape": "true", "example.com/notes": "{\"a\": [1, 2]}"}}});
    ingresses
        .patch(
            "web-web-canary",
            &PatchParams::default(),
            &Patch::Merge(&theirs),
        )
        .await
        .unwrap();
    let others = |canary: &kube::api::DynamicObject| {
        let a = canary.metadata.annotations.clone().unwrap();
        (
            a["monitoring.example.com/scrape"].clone(),
            a["example.com/notes"].clone(),
            canary.metadata.labels.clone().unwrap()["team"].clone(),
        )
    };
    let before = others(&ingresses.get("web-web-canary").await.unwrap());

    for (weight, header) in [(100, false), (0, true), (100, true), (0, false)] {
        let mut desired = rollout_core::DesiredTraffic::default();
        desired.canary.weight = weight;
        if header {
            desired.header_routes = vec![serde_json::from_value(json!({
                "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
            }))
            .unwrap()];
        }
        let target = TrafficTarget::desired(&desired);
        router.apply(&ctx, &target).await.unwrap();
        let canary = ingresses.get("web-web-canary").await.unwrap();
        let a = canary.metadata.annotations.clone().unwrap();
        assert_eq!(
            a["nginx.ingress.kubernetes.io/canary-weight"],
            weight.to_string()
        );
        assert_eq!(a.contains_key("rollgate.dev/header-route"), header, "{a:?}");
        assert_eq!(others(&canary), before, "their fields at weight {weight}");
        assert_eq!(
            router.verify(&ctx, &target).await.unwrap(),
            Verified::Verified
        );
    }
    let stable_after = ingresses.get("web").await.unwrap();
    assert_eq!(
        stable_after.metadata.resource_version, stable_before.metadata.resource_version,
        "the stable Ingress is never written"
    );
}

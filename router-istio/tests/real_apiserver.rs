//! The router against a real kube-apiserver with Istio's CRDs
//! (`scripts/cluster up`, then `eval "$(scripts/cluster env)"`), running with
//! exactly the permissions of `examples/rbac/rollgate-istio.yaml`. Runs when
//! `ROLLGATE_E2E=1`. Writes are counted from the API server's audit log.

use router_istio::KubeRouter;
use std::time::Duration;

use kube::api::{Api, DynamicObject, PostParams};
use rollgate_testkit::Cluster;
use router_core::{ManagedRoute, RolloutContext, TrafficRouter, TrafficTarget, Verified};
use router_istio::IstioRouter;
use serde_json::{Value, json};

fn ctx(cluster: &Cluster) -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: cluster.namespace.clone(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        managed_routes: vec![
            ManagedRoute::header("beta"),
            ManagedRoute::mirror("mirror-route"),
        ],
        plugin_name: "rollgate/istio".into(),
        config: json!({"virtualService": {"name": "web", "routes": ["primary"]},
                       "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}}),
        ..Default::default()
    }
}

async fn setup(cluster: &Cluster) {
    cluster
        .create(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web"},
            "spec": {"hosts": ["web.example.com"], "http": [
                {"name": "user-api", "match": [{"uri": {"prefix": "/api"}}], "route": [{"destination": {"host": "api"}}]},
                {"name": "primary", "retries": {"attempts": 3}, "route": [
                    {"destination": {"host": "web", "subset": "stable", "port": {"number": 80}}, "weight": 100},
                    {"destination": {"host": "web", "subset": "canary", "port": {"number": 80}}, "weight": 0}]}
            ]}
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "web"},
            "spec": {"host": "web", "subsets": [
                {"name": "canary", "labels": {"app": "web"}},
                {"name": "stable", "labels": {"app": "web"}},
                {"name": "legacy", "labels": {"version": "v0"}}]}
        }))
        .await;
}

async fn spec(api: &Api<DynamicObject>, name: &str) -> Value {
    api.get(name).await.unwrap().data["spec"].clone()
}

fn route<'a>(spec: &'a Value, name: &str) -> &'a Value {
    spec["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("route {name} in {spec:#}"))
}

fn names(spec: &Value) -> Vec<String> {
    spec["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// (stable, canary) weights of a route.
fn weights(route: &Value) -> (i64, i64) {
    let w = |subset: &str| {
        route["route"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"]["subset"] == subset)
            .and_then(|d| d["weight"].as_i64())
            .unwrap_or(-1)
    };
    (w("stable"), w("canary"))
}

async fn router(cluster: &Cluster) -> IstioRouter {
    let rbac = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rbac/rollgate-istio.yaml"
    );
    // The client the binary builds (its user agent), with the documented permissions.
    IstioRouter::from_config(cluster.config_with_role(rbac.as_ref()).await)
}

#[tokio::test]
async fn weights_subsets_header_and_mirror_routes() {
    let Some(cluster) = Cluster::new("istio-routes").await else {
        return;
    };
    setup(&cluster).await;
    let vs = cluster.api("networking.istio.io", "v1", "VirtualService");
    let dr = cluster.api("networking.istio.io", "v1", "DestinationRule");
    let router = router(&cluster).await;
    let ctx = ctx(&cluster);

    router
        .update_hash(&ctx, "abc123", "def456", &[])
        .await
        .unwrap();
    let subsets = spec(&dr, "web").await["subsets"].clone();
    assert_eq!(subsets[0]["labels"]["rollouts-pod-template-hash"], "abc123");
    assert_eq!(subsets[1]["labels"]["rollouts-pod-template-hash"], "def456");
    assert_eq!(
        subsets[2],
        json!({"name": "legacy", "labels": {"version": "v0"}}),
        "other subsets kept"
    );

    router.set_weight(&ctx, 30, &[]).await.unwrap();
    let s = spec(&vs, "web").await;
    assert_eq!(weights(route(&s, "primary")), (70, 30));
    assert_eq!(route(&s, "primary")["retries"], json!({"attempts": 3}));
    assert_eq!(
        router.verify_weight(&ctx, 30, &[]).await.unwrap(),
        Verified::Verified
    );
    assert_eq!(
        router.verify_weight(&ctx, 40, &[]).await.unwrap(),
        Verified::NotVerified
    );

    let header: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
    }))
    .unwrap();
    let mirror: rollout_core::spec::SetMirrorRoute = serde_json::from_value(json!({
        "name": "mirror-route", "percentage": 35,
        "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/"}}]
    }))
    .unwrap();
    router.set_mirror_route(&ctx, &mirror).await.unwrap();
    router.set_header_route(&ctx, &header).await.unwrap();
    router.set_weight(&ctx, 50, &[]).await.unwrap();
    let s = spec(&vs, "web").await;
    assert_eq!(names(&s), ["beta", "mirror-route", "user-api", "primary"]);
    assert_eq!(
        route(&s, "beta")["route"][0]["destination"],
        json!({"host": "web", "subset": "canary", "port": {"number": 80}})
    );
    assert_eq!(
        weights(route(&s, "mirror-route")),
        (50, 50),
        "the mirror route is weighted alongside"
    );
    assert_eq!(route(&s, "mirror-route")["mirrorPercentage"]["value"], 35.0);

    router.remove_managed_routes(&ctx).await.unwrap();
    router.set_weight(&ctx, 0, &[]).await.unwrap();
    let s = spec(&vs, "web").await;
    assert_eq!(names(&s), ["user-api", "primary"]);
    assert_eq!(weights(route(&s, "primary")), (100, 0));
}

#[tokio::test]
async fn a_concurrent_writer_loses_nothing_and_idle_calls_write_nothing() {
    let Some(cluster) = Cluster::new("istio-concurrent").await else {
        return;
    };
    setup(&cluster).await;
    let vs = cluster.api("networking.istio.io", "v1", "VirtualService");
    let router = router(&cluster).await;
    let ctx = ctx(&cluster);

    // Another controller, writing with optimistic concurrency: each round
    // inserts a route at the front and sets a timeout on the user's route.
    let writer = {
        let vs = vs.clone();
        tokio::spawn(async move {
            for round in 0..8 {
                loop {
                    let mut object = vs.get("web").await.unwrap();
                    let http = object.data["spec"]["http"].as_array_mut().unwrap();
                    http.insert(
                        0,
                        json!({"name": format!("user-{round}"),
                        "match": [{"uri": {"exact": format!("/u/{round}")}}],
                        "route": [{"destination": {"host": "user"}}]}),
                    );
                    let api = http.iter_mut().find(|r| r["name"] == "user-api").unwrap();
                    api["timeout"] = json!(format!("{}s", round + 1));
                    match vs.replace("web", &PostParams::default(), &object).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(e)) if e.code == 409 => {}
                        Err(e) => panic!("writer: {e}"),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut last = 0;
    for step in 0..30 {
        last = 5 + (step * 7) % 90;
        router.set_weight(&ctx, last, &[]).await.unwrap();
    }
    writer.await.unwrap();
    let s = spec(&vs, "web").await;
    let n = names(&s);
    for round in 0..8 {
        assert!(
            n.contains(&format!("user-{round}")),
            "route user-{round} kept: {n:?}"
        );
    }
    assert_eq!(route(&s, "user-api")["timeout"], "8s");
    assert_eq!(
        weights(route(&s, "primary")),
        (100 - i64::from(last), i64::from(last))
    );

    cluster.audit_barrier().await;
    let before = cluster.audited("virtualservices", "web").len();
    for _ in 0..10 {
        router.set_weight(&ctx, last, &[]).await.unwrap();
    }
    cluster.audit_barrier().await;
    let idle = &cluster.audited("virtualservices", "web")[before..];
    assert!(
        idle.is_empty(),
        "idle calls read from the watch cache and write nothing: {idle:?}"
    );

    // The audit log names the router in its writes: weight changes are
    // guarded JSON patches.
    let agent = concat!("rollgate-istio/", env!("CARGO_PKG_VERSION"));
    let requests = cluster.audited_requests("virtualservices", "web");
    assert!(
        requests
            .iter()
            .any(|r| r.verb == "patch" && r.user_agent == agent),
        "a patch by {agent}: {requests:?}"
    );
}

/// Whole desired traffic at weight 100 and at 0, with a header and a
/// mirror route in effect and then none: every route and subset that is
/// not the rollout's stays byte-identical, and each change is one write
/// per object.
#[tokio::test]
async fn weights_0_and_100_leave_other_routes_byte_identical() {
    let Some(cluster) = Cluster::new("istio-extremes").await else {
        return;
    };
    setup(&cluster).await;
    let vs = cluster.api("networking.istio.io", "v1", "VirtualService");
    let dr = cluster.api("networking.istio.io", "v1", "DestinationRule");
    // Another writer's route: a header sent to stable only.
    let mut object = vs.get("web").await.unwrap();
    object.data["spec"]["http"].as_array_mut().unwrap().insert(
        1,
        json!({"name": "user-beta", "match": [{"headers": {"x-beta": {"exact": "1"}}}],
               "route": [{"destination": {"host": "web", "subset": "stable", "port": {"number": 80}}, "weight": 100}]}),
    );
    vs.replace("web", &PostParams::default(), &object)
        .await
        .unwrap();
    let theirs = |s: &Value| (route(s, "user-api").clone(), route(s, "user-beta").clone());
    let before = theirs(&spec(&vs, "web").await);
    let legacy = spec(&dr, "web").await["subsets"][2].clone();
    let router = router(&cluster).await;
    let ctx = ctx(&cluster);

    for (weight, routes) in [(100, true), (0, true), (100, false), (0, false)] {
        let mut desired = rollout_core::DesiredTraffic::default();
        desired.canary.weight = weight;
        desired.canary.pod_template_hash = Some("abc123".into());
        desired.stable.pod_template_hash = Some("def456".into());
        if routes {
            desired.header_routes = vec![serde_json::from_value(json!({
                "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
            }))
            .unwrap()];
            desired.mirror_routes = vec![serde_json::from_value(json!({
                "name": "mirror-route", "percentage": 10, "match": [{"method": {"exact": "GET"}}]
            }))
            .unwrap()];
        }
        let target = TrafficTarget::desired(&desired);
        cluster.audit_barrier().await;
        let writes_before = cluster
            .audited("virtualservices", "web")
            .iter()
            .filter(|v| *v != "get")
            .count();
        router.apply(&ctx, &target).await.unwrap();
        cluster.audit_barrier().await;
        let writes = cluster
            .audited("virtualservices", "web")
            .iter()
            .filter(|v| *v != "get")
            .count()
            - writes_before;
        assert!(writes <= 1, "one write at most: {writes}");
        let s = spec(&vs, "web").await;
        let w = i64::from(weight);
        assert_eq!(weights(route(&s, "primary")), (100 - w, w));
        assert_eq!(theirs(&s), before, "their routes at weight {weight}");
        let expected: Vec<&str> = if routes {
            vec!["beta", "mirror-route", "user-api", "user-beta", "primary"]
        } else {
            vec!["user-api", "user-beta", "primary"]
        };
        assert_eq!(names(&s), expected);
        assert_eq!(spec(&dr, "web").await["subsets"][2], legacy);
        assert_eq!(
            router.verify(&ctx, &target).await.unwrap(),
            Verified::Verified
        );
    }
}

//! The VirtualServer split against a real kube-apiserver (`scripts/cluster
//! up`, then `eval "$(scripts/cluster env)"`). Runs when `ROLLGATE_E2E=1`;
//! each test works in a namespace of its own. Writes are counted from the
//! API server's audit log.
//!
//! The VirtualServer and VirtualServerRoute CRDs are this repository's
//! (`tests/crds/`), installed by the test: F5's own CRDs ship with its Go
//! module, which the Go module proxy does not serve, so the tests cannot
//! fetch them. Ours are structural for the fields the router reads and
//! writes and keep the rest as written.

use kube::api::{DynamicObject, Patch, PatchParams};
use rollgate_testkit::Cluster;
use rollout_core::spec::SetHeaderRoute;
use router_core::{ManagedRoute, RolloutContext, TrafficRouter, TrafficTarget, Verified};
use router_nginx::KubeRouter;
use router_nginx::NginxRouter;
use serde_json::{Value, json};

/// The test CRDs, this repository's own.
fn crd_files() -> Vec<std::path::PathBuf> {
    ["virtualservers.yaml", "virtualserverroutes.yaml"]
        .iter()
        .map(|f| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/crds")
                .join(f)
        })
        .collect()
}

/// A VirtualServer `web` (the rollout's route `/`, a route to another
/// Service, a route delegated to the VirtualServerRoute) and the
/// VirtualServerRoute `web-api`, as a user writes them.
async fn setup(cluster: &Cluster) -> RolloutContext {
    cluster.install_crds(&crd_files()).await;
    cluster
        .create(json!({
            "apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
            "metadata": {"name": "web"},
            "spec": {"host": "web.example.com", "tls": {"secret": "web-tls"},
                "upstreams": [
                    {"name": "web", "service": "web-stable", "port": 80, "lb-method": "least_conn",
                     "healthCheck": {"enable": true, "path": "/healthz"}},
                    {"name": "cdn", "service": "cdn", "port": 8080}],
                "routes": [
                    {"path": "/", "action": {"pass": "web"},
                     "matches": [{"conditions": [{"cookie": "session", "value": "internal"}],
                                  "action": {"pass": "web"}}],
                     "location-snippets": "add_header X-Route root;"},
                    {"path": "/static", "action": {"pass": "cdn"}},
                    {"path": "/api", "route": "web-api"}]}
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServerRoute",
            "metadata": {"name": "web-api"},
            "spec": {"host": "web.example.com",
                "upstreams": [{"name": "api", "service": "web-stable", "port": 8080},
                              {"name": "auth", "service": "auth", "port": 80}],
                "subroutes": [
                    {"path": "/api/v1", "action": {"proxy": {"upstream": "api", "rewritePath": "/v1"}}},
                    {"path": "/api/auth", "action": {"pass": "auth"}}]}
        }))
        .await;
    RolloutContext {
        name: "web".into(),
        namespace: cluster.namespace.clone(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "rollgate/nginx".into(),
        managed_routes: vec![ManagedRoute::header("beta")],
        config: json!({"virtualServer": {"name": "web", "routes": ["/"]},
                       "virtualServerRoute": {"name": "web-api"}}),
        ..Default::default()
    }
}

fn beta() -> SetHeaderRoute {
    serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
    }))
    .unwrap()
}

fn object(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap()
}

/// The stored object, as text, without what every write changes
/// (`resourceVersion`, `generation`, `managedFields`).
fn as_written(o: &DynamicObject) -> String {
    let mut v = object(o);
    let metadata = v["metadata"].as_object_mut().unwrap();
    for key in ["resourceVersion", "generation", "managedFields"] {
        metadata.remove(key);
    }
    serde_json::to_string(&v).unwrap()
}

#[tokio::test]
async fn virtual_server_splits_headers_promote_abort_and_other_writers() {
    let Some(cluster) = Cluster::new("nginx-vs").await else {
        return;
    };
    let ctx = setup(&cluster).await;
    let vs = cluster.api("k8s.nginx.org", "v1", "VirtualServer");
    let vsr = cluster.api("k8s.nginx.org", "v1", "VirtualServerRoute");
    // The router runs with exactly the documented permissions, building its
    // client as the binary does.
    let rbac = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rbac/rollgate-nginx.yaml"
    );
    let router = NginxRouter::from_config(cluster.config_with_role(rbac.as_ref()).await);

    // Another writer changes the route to the CDN and adds an upstream
    // while the rollout runs; what they wrote must stay as they wrote it.
    router.set_weight(&ctx, 20, &[]).await.unwrap();
    vs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([
                {"op": "add", "path": "/spec/upstreams/-", "value": {"name": "cdn-v2", "service": "cdn", "port": 8081}},
                {"op": "replace", "path": "/spec/routes/1/action/pass", "value": "cdn-v2"}]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    // The user's objects, as they would be with the rollout left out.
    let mut users_vs = object(&vs.get("web").await.unwrap());
    users_vs["spec"]["routes"][0]["action"] = json!({"pass": "web"});
    users_vs["spec"]["routes"][0]
        .as_object_mut()
        .unwrap()
        .remove("splits");
    users_vs["spec"]["upstreams"]
        .as_array_mut()
        .unwrap()
        .retain(|u| u["name"] != "web-rollgate-canary");

    let web = object(&vs.get("web").await.unwrap());
    let route = &web["spec"]["routes"][0];
    assert_eq!(
        route["splits"],
        json!([{"weight": 80, "action": {"pass": "web"}},
               {"weight": 20, "action": {"pass": "web-rollgate-canary"}}])
    );
    assert!(route.get("action").is_none(), "{route}");
    assert_eq!(route["location-snippets"], "add_header X-Route root;");
    let canary = web["spec"]["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "web-rollgate-canary")
        .unwrap();
    assert_eq!(
        canary,
        &json!({"name": "web-rollgate-canary", "service": "web-canary", "port": 80,
                "lb-method": "least_conn", "healthCheck": {"enable": true, "path": "/healthz"}})
    );
    let api = object(&vsr.get("web-api").await.unwrap());
    assert_eq!(
        api["spec"]["subroutes"][0]["splits"][1],
        json!({"weight": 20, "action": {"proxy": {"upstream": "api-rollgate-canary", "rewritePath": "/v1"}}})
    );
    assert_eq!(
        api["spec"]["subroutes"][1],
        json!({"path": "/api/auth", "action": {"pass": "auth"}})
    );
    assert_eq!(
        router.verify_weight(&ctx, 20, &[]).await.unwrap(),
        Verified::Verified
    );
    assert_eq!(
        router.verify_weight(&ctx, 30, &[]).await.unwrap(),
        Verified::NotVerified
    );

    // A header route: a match after the user's, to the canary upstream.
    router.set_header_route(&ctx, &beta()).await.unwrap();
    router.set_weight(&ctx, 100, &[]).await.unwrap();
    let web = object(&vs.get("web").await.unwrap());
    let route = &web["spec"]["routes"][0];
    assert_eq!(
        route["matches"],
        json!([{"conditions": [{"cookie": "session", "value": "internal"}], "action": {"pass": "web"}},
               {"conditions": [{"header": "x-beta", "value": "yes"}], "action": {"pass": "web-rollgate-canary"}}])
    );
    assert_eq!(route["splits"][0]["weight"], 0);
    assert_eq!(route["splits"][1]["weight"], 100);
    assert_eq!(
        web["spec"]["routes"][1], users_vs["spec"]["routes"][1],
        "their route"
    );
    assert_eq!(web["spec"]["routes"][2], users_vs["spec"]["routes"][2]);

    // Idle: nothing written.
    cluster.audit_barrier().await;
    let before = (
        cluster.audited("virtualservers", "web").len(),
        cluster.audited("virtualserverroutes", "web-api").len(),
    );
    for _ in 0..10 {
        router.set_weight(&ctx, 100, &[]).await.unwrap();
        router.set_header_route(&ctx, &beta()).await.unwrap();
    }
    cluster.audit_barrier().await;
    let after = (
        cluster.audited("virtualservers", "web").len(),
        cluster.audited("virtualserverroutes", "web-api").len(),
    );
    assert_eq!(
        after, before,
        "idle calls read from the watch cache and write nothing"
    );
    let requests = cluster.audited_requests("virtualservers", "web");
    let agent = concat!("rollgate-nginx/", env!("CARGO_PKG_VERSION"));
    assert!(
        requests
            .iter()
            .any(|r| r.user_agent == agent && r.verb == "patch"),
        "the router's writes are audited as {agent}: {requests:?}"
    );

    // Promotion: the whole desired traffic at weight 0, no route left
    // (`promoted`: the stable Service now selects the new pods). Both
    // objects are as the user (and the other writer) wrote them.
    let promoted = RolloutContext {
        promoted: true,
        ..ctx.clone()
    };
    let done = TrafficTarget::desired(&rollout_core::DesiredTraffic::default());
    router.apply(&promoted, &done).await.unwrap();
    let web = vs.get("web").await.unwrap();
    assert_eq!(
        object(&web)["spec"],
        users_vs["spec"],
        "the user's VirtualServer again"
    );
    assert!(
        web.metadata.annotations.is_none(),
        "the record is gone: {:?}",
        web.metadata.annotations
    );
    let api = object(&vsr.get("web-api").await.unwrap());
    assert!(api["spec"]["subroutes"][0].get("splits").is_none(), "{api}");
    assert_eq!(
        api["spec"]["upstreams"].as_array().unwrap().len(),
        2,
        "{api}"
    );
    assert_eq!(
        router.verify(&promoted, &done).await.unwrap(),
        Verified::Verified
    );
    let settled = (
        as_written(&web),
        as_written(&vsr.get("web-api").await.unwrap()),
    );

    // An abort midway: weight and header route, then Argo's abort (weight
    // 0, no managed route): byte-identical to the settled objects.
    let mut midway = rollout_core::DesiredTraffic::default();
    midway.canary.weight = 40;
    midway.header_routes = vec![beta()];
    router
        .apply(&ctx, &TrafficTarget::desired(&midway))
        .await
        .unwrap();
    assert_eq!(
        object(&vs.get("web").await.unwrap())["spec"]["routes"][0]["splits"][1]["weight"],
        40
    );
    router.set_weight(&ctx, 0, &[]).await.unwrap();
    router.remove_managed_routes(&ctx).await.unwrap();
    let aborted = (
        as_written(&vs.get("web").await.unwrap()),
        as_written(&vsr.get("web-api").await.unwrap()),
    );
    assert_eq!(
        aborted, settled,
        "abort leaves the user's objects byte-identical"
    );

    // Bad input: a listed route that does not exist is refused, naming the
    // object and the field, and nothing is written.
    cluster.audit_barrier().await;
    let before = cluster.audited("virtualservers", "web").len();
    let wrong = RolloutContext {
        config: json!({"virtualServer": {"name": "web", "routes": ["/shop"]}}),
        ..ctx.clone()
    };
    let err = router.set_weight(&wrong, 10, &[]).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "VirtualServer {}/web: spec.routes: no route with path `/shop`",
            ctx.namespace
        )),
        "{err}"
    );
    cluster.audit_barrier().await;
    assert_eq!(cluster.audited("virtualservers", "web").len(), before);
}

//! What the real-API-server tests share: a namespace of their own on the
//! cluster, a client with the router's documented permissions, the route
//! they start from and readers of what the API server stored.

use kube::api::{Api, DynamicObject, PostParams};
use rollgate_testkit::Cluster;
use router_core::{ManagedRoute, RolloutContext};
use serde_json::{Value, json};

pub(crate) async fn cluster(test: &str) -> Option<Cluster> {
    Cluster::new(&format!("gw-{test}")).await
}

/// A client holding exactly the permissions of `examples/rbac/rollgate-gatewayapi.yaml`:
/// every router here runs with it.
pub(crate) async fn role_client(cluster: &Cluster) -> kube::Client {
    let rbac = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rbac/rollgate-gatewayapi.yaml"
    );
    cluster.client_with_role(rbac.as_ref()).await
}

pub(crate) fn routes(cluster: &Cluster) -> Api<DynamicObject> {
    cluster.api("gateway.networking.k8s.io", "v1", "HTTPRoute")
}

/// A route with a weighted rule (carrying a filter we do not own) and a rule
/// for another backend.
pub(crate) fn web_route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {"name": "main",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "filters": [{"type": "RequestHeaderModifier",
                              "requestHeaderModifier": {"add": [{"name": "x-via", "value": "gw"}]}}],
                 "timeouts": {"request": "10s"},
                 "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                                 {"name": "web-canary", "port": 80, "weight": 0}]},
                {"name": "static",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                 "backendRefs": [{"name": "cdn", "port": 80}]}
            ]
        }
    })
}

pub(crate) async fn create(api: &Api<DynamicObject>, route: Value) -> DynamicObject {
    api.create(
        &PostParams::default(),
        &serde_json::from_value(route).unwrap(),
    )
    .await
    .expect("create the route")
}

pub(crate) fn ctx(cluster: &Cluster, managed: &[&str]) -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: cluster.namespace.clone(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        managed_routes: managed.iter().map(|s| ManagedRoute::header(*s)).collect(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        config: json!({"httpRoute": "web"}),
        ..Default::default()
    }
}

pub(crate) async fn spec(api: &Api<DynamicObject>) -> Value {
    api.get("web").await.expect("read the route").data["spec"].clone()
}

pub(crate) fn rule<'a>(spec: &'a Value, name: &str) -> &'a Value {
    spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("rule {name} in {spec:#}"))
}

/// (stable, canary) weights of a rule.
pub(crate) fn weights(rule: &Value) -> (i64, i64) {
    let weight = |service: &str| {
        rule["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == service)
            .and_then(|b| b["weight"].as_i64())
            .unwrap_or(1)
    };
    (weight("web-stable"), weight("web-canary"))
}

/// The channel of the installed Gateway API CRDs, as the test run says
/// (`ROLLGATE_GATEWAY_API_CHANNEL`, experimental by default), checked
/// against what the API server serves.
pub(crate) async fn channel(cluster: &Cluster) -> &'static str {
    let standard = std::env::var("ROLLGATE_GATEWAY_API_CHANNEL").as_deref() == Ok("standard");
    let group = kube::discovery::group(&cluster.client, "gateway.networking.k8s.io")
        .await
        .expect("the Gateway API group");
    let tcp_alpha = group
        .versioned_resources("v1alpha2")
        .iter()
        .any(|(r, _)| r.kind == "TCPRoute");
    assert_eq!(
        tcp_alpha, !standard,
        "TCPRoute v1alpha2 is served by the experimental channel only"
    );
    if standard { "standard" } else { "experimental" }
}

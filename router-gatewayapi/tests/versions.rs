//! Route kinds at the version the API server serves (the testkit's
//! `mock_api`): TCPRoute and TLSRoute are `v1` on Gateway API v1.5+ standard
//! CRDs and only `v1alpha2` on older ones. The router discovers the versions
//! at `init` and again when a route request comes back 404.

use rollgate_testkit::mock_api::{ApiResponse, MockApi, Seen, Served, reply, status};
use router_core::{RolloutContext, TrafficRouter};
use router_gatewayapi::GatewayApiRouter;
use router_gatewayapi::KubeRouter;
use serde_json::{Value, json};

const GROUP: &str = "/apis/gateway.networking.k8s.io";

fn resources(version: &str, kinds: &[&str]) -> Value {
    let resources: Vec<Value> = kinds
        .iter()
        .map(|k| {
            json!({"name": format!("{}s", k.to_lowercase()), "singularName": k.to_lowercase(),
                   "namespaced": true, "kind": k, "verbs": ["get", "list", "patch", "watch"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1",
           "groupVersion": format!("gateway.networking.k8s.io/{version}"), "resources": resources})
}

fn tcp_route(api_version: &str) -> Value {
    json!({"apiVersion": api_version, "kind": "TCPRoute",
           "metadata": {"name": "db", "namespace": "default", "resourceVersion": "4"},
           "spec": {"rules": [{"backendRefs": [
               {"name": "web-canary", "port": 5432, "weight": 0},
               {"name": "web-stable", "port": 5432, "weight": 100}]}]}})
}

/// An API server with Gateway API CRDs that serve TCPRoute at `tcp_version`
/// only; records every request. The router reads without a watch cache
/// (`--no-watch-cache`), so that every read is a request to assert.
fn cluster(tcp_version: &'static str) -> (GatewayApiRouter, Served) {
    let (service, api) = MockApi::new();
    let served = api.serve(move |seen| answer(tcp_version, seen));
    let client = router_kube::client::client_with_service(
        service,
        "default",
        &GatewayApiRouter::user_agent(),
    );
    (GatewayApiRouter::with_client_uncached(client), served)
}

/// The answer of an API server that serves TCPRoute at `tcp_version` only.
fn answer(tcp_version: &str, seen: &Seen) -> ApiResponse {
    let path = seen.path.as_str();
    let versions: &[&str] = if tcp_version == "v1" {
        &["v1"]
    } else {
        &["v1", tcp_version]
    };
    let route = format!("{GROUP}/{tcp_version}/namespaces/default/tcproutes/db");
    if path == "/apis" {
        let versions: Vec<Value> = versions
            .iter()
            .map(
                |v| json!({"groupVersion": format!("gateway.networking.k8s.io/{v}"), "version": v}),
            )
            .collect();
        reply(
            200,
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "gateway.networking.k8s.io", "versions": versions,
                "preferredVersion": versions[0]}]}),
        )
    } else if path == format!("{GROUP}/v1") && tcp_version == "v1" {
        reply(
            200,
            &resources("v1", &["HTTPRoute", "GRPCRoute", "TCPRoute"]),
        )
    } else if path == format!("{GROUP}/v1") {
        reply(200, &resources("v1", &["HTTPRoute", "GRPCRoute"]))
    } else if path == format!("{GROUP}/{tcp_version}") {
        reply(200, &resources(tcp_version, &["TCPRoute"]))
    } else if path == route {
        let mut object = tcp_route(&format!("gateway.networking.k8s.io/{tcp_version}"));
        if seen.method == "PATCH" {
            object["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(60);
            object["spec"]["rules"][0]["backendRefs"][1]["weight"] = json!(40);
        }
        reply(200, &object)
    } else {
        reply(
            404,
            &status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        )
    }
}

fn ctx() -> RolloutContext {
    RolloutContext {
        name: "db".into(),
        namespace: "default".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        config: json!({"tcpRoute": "db", "disableInProgressLabel": true}),
        ..Default::default()
    }
}

#[tokio::test]
async fn init_discovers_that_tcp_routes_are_served_as_v1alpha2_only() {
    let (router, seen) = cluster("v1alpha2");
    router.init().await.unwrap();
    router.set_weight(&ctx(), 60, &[]).await.unwrap();
    let route = format!("{GROUP}/v1alpha2/namespaces/default/tcproutes/db");
    assert_eq!(
        seen.lines(),
        [
            "GET /apis".to_owned(),
            format!("GET {GROUP}/v1"),
            format!("GET {GROUP}/v1alpha2"),
            format!("GET {route}"),
            format!("PATCH {route}"),
        ]
    );
}

#[tokio::test]
async fn a_404_discovers_again_and_reads_at_the_served_version() {
    // Without init, every kind is tried as v1 first.
    let (router, seen) = cluster("v1alpha2");
    router.set_weight(&ctx(), 60, &[]).await.unwrap();
    let route = format!("{GROUP}/v1alpha2/namespaces/default/tcproutes/db");
    assert_eq!(
        seen.lines(),
        [
            format!("GET {GROUP}/v1/namespaces/default/tcproutes/db"),
            "GET /apis".to_owned(),
            format!("GET {GROUP}/v1"),
            format!("GET {GROUP}/v1alpha2"),
            format!("GET {route}"),
            format!("PATCH {route}"),
        ]
    );
    // Known from now on: no more discovery.
    seen.clear();
    router.set_weight(&ctx(), 60, &[]).await.unwrap();
    assert_eq!(
        seen.lines(),
        [format!("GET {route}"), format!("PATCH {route}")]
    );
}

#[tokio::test]
async fn standard_channel_v1_5_serves_tcp_routes_as_v1() {
    let (router, seen) = cluster("v1");
    router.init().await.unwrap();
    router.set_weight(&ctx(), 60, &[]).await.unwrap();
    let route = format!("{GROUP}/v1/namespaces/default/tcproutes/db");
    assert_eq!(
        seen.lines(),
        [
            "GET /apis".to_owned(),
            format!("GET {GROUP}/v1"),
            format!("GET {route}"),
            format!("PATCH {route}")
        ]
    );
}

#[tokio::test]
async fn a_route_that_is_really_missing_is_still_a_404_naming_it() {
    let (router, _) = cluster("v1");
    let mut c = ctx();
    c.config = json!({"tcpRoute": "missing"});
    let err = router
        .set_weight(&c, 60, &[])
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "TCPRoute default/missing: not found (the API server has no such TCPRoute)"
    );
}

#[tokio::test]
async fn with_the_watch_cache_on_a_404_still_discovers_the_served_version() {
    let (service, api) = MockApi::new();
    let served = api.serve(move |seen| answer("v1alpha2", seen));
    let client = router_kube::client::client_with_service(
        service,
        "default",
        &GatewayApiRouter::user_agent(),
    );
    // The default options: the watch cache on (this server answers no
    // list, so the cache never fills and reads go to the server).
    let router = GatewayApiRouter::with_client(client);
    router.set_weight(&ctx(), 60, &[]).await.unwrap();
    let route = format!("{GROUP}/v1alpha2/namespaces/default/tcproutes/db");
    let lines = served.lines();
    assert!(
        lines.contains(&"GET /apis".to_owned()),
        "discovered after the 404: {lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("PATCH"))
            .collect::<Vec<_>>(),
        [&format!("PATCH {route}")],
        "{lines:?}"
    );
}

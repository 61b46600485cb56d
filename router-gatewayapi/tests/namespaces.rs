//! The config's `namespace` against the operator's `--route-namespaces`
//! (the applier's [`RouteNamespaces`]), asserted request by request
//! against a mock API server: a namespace not allowed is refused, naming
//! the rollout, the field and the namespace, before any request; the
//! rollout's own namespace is always allowed; a listed namespace is read
//! and written there.

use router_gatewayapi::KubeRouter;

use rollgate_testkit::mock_api::{self, MockApi, reply};
use router_core::{ErrorKind, RolloutContext, TrafficRouter};
use router_gatewayapi::GatewayApiRouter;
use router_kube::client::LazyClient;
use router_kube::{Applier, ApplierOptions, RouteNamespaces};
use serde_json::{Value, json};

fn ctx(config: Value) -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: "shop".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        config,
        ..Default::default()
    }
}

fn route(namespace: &str, canary: i64) -> Value {
    // With traffic on the canary, the in-progress label and the annotation
    // naming this rollout as its holder.
    let (labels, annotations) = if canary > 0 {
        (
            json!({"rollouts.argoproj.io/gatewayapi-canary": "in-progress"}),
            json!({"rollouts.argoproj.io/gatewayapi-canary": "shop/web"}),
        )
    } else {
        (json!({}), json!({}))
    };
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": namespace, "resourceVersion": "7", "labels": labels,
                     "annotations": annotations},
        "spec": {"rules": [{"backendRefs": [
            {"name": "web-canary", "namespace": "shop", "port": 80, "weight": canary},
            {"name": "web-stable", "namespace": "shop", "port": 80, "weight": 100 - canary}]}]}
    })
}

/// The router over a mock API server (no watch cache: every read is a
/// request), allowing `namespaces`.
fn router(namespaces: &str) -> (GatewayApiRouter, MockApi) {
    let (service, api) = MockApi::new();
    let client =
        router_kube::client::client_with_service(service, "shop", &GatewayApiRouter::user_agent());
    let applier = Applier::with_options(LazyClient::ready(client), ApplierOptions::uncached())
        .unwrap()
        .with_route_namespaces(namespaces.parse::<RouteNamespaces>().unwrap());
    (GatewayApiRouter::with_applier(applier), api)
}

#[tokio::test]
async fn a_namespace_not_allowed_is_refused_before_any_request() {
    for allowed in ["", "edge, staging"] {
        let (router, mut api) = router(allowed);
        let config = json!({"httpRoute": "web", "namespace": "gateways", "verifyWeight": true});
        let err = router
            .set_weight(&ctx(config.clone()), 30, &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let others = if allowed.is_empty() {
            ""
        } else {
            " and edge,staging"
        };
        assert_eq!(
            err.to_string(),
            format!(
                "rollout shop/web: spec.strategy.canary.trafficRouting.plugins[\"argoproj-labs/gatewayAPI\"].namespace: \
                 namespace \"gateways\" is not allowed: this router may touch only the rollout's own namespace \
                 \"shop\"{others} (the operator allows others with --route-namespaces)"
            )
        );
        let err = router
            .verify_weight(&ctx(config), 30, &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        api.no_more_requests().await;
    }
}

#[tokio::test]
async fn the_rollouts_own_namespace_is_always_allowed() {
    let (router, mut api) = router("");
    let call = mock_api::spawn(async move {
        router
            .set_weight(
                &ctx(json!({"httpRoute": "web", "namespace": "shop"})),
                30,
                &[],
            )
            .await
    });
    let get = api.next(reply(200, &route("shop", 30))).await;
    assert_eq!(
        get.path,
        "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web"
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_listed_namespace_is_read_and_written_there() {
    let (router, mut api) = router("gateways");
    let call = mock_api::spawn(async move {
        router
            .set_weight(
                &ctx(json!({"httpRoute": "web", "namespace": "gateways"})),
                30,
                &[],
            )
            .await
    });
    let path = "/apis/gateway.networking.k8s.io/v1/namespaces/gateways/httproutes/web";
    let get = api.next(reply(200, &route("gateways", 0))).await;
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", path));
    let patch = api.next(reply(200, &route("gateways", 30))).await;
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", path)
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

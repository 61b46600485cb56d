//! A VirtualService named `name.namespace` against the operator's
//! `--route-namespaces` (the applier's [`RouteNamespaces`]), asserted
//! against a mock API server: a namespace not allowed is refused, naming
//! the rollout, the field and the namespace, before any request (the
//! DestinationRule is not written either); a listed one is read there.

use rollgate_testkit::mock_api::{self, MockApi, reply};
use router_core::{ErrorKind, RolloutContext, TrafficRouter, TrafficTarget};
use router_istio::{IstioRouter, KubeRouter};
use router_kube::client::LazyClient;
use router_kube::{Applier, ApplierOptions, RouteNamespaces};
use serde_json::{Value, json};

fn ctx(config: Value) -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: "shop".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "rollgate/istio".into(),
        config,
        ..Default::default()
    }
}

fn router(namespaces: &str) -> (IstioRouter, MockApi) {
    let (service, api) = MockApi::new();
    let client =
        router_kube::client::client_with_service(service, "shop", &IstioRouter::user_agent());
    let applier = Applier::with_options(LazyClient::ready(client), ApplierOptions::uncached())
        .unwrap()
        .with_route_namespaces(namespaces.parse::<RouteNamespaces>().unwrap());
    (IstioRouter::with_applier(applier), api)
}

#[tokio::test]
async fn a_virtual_service_in_a_namespace_not_allowed_is_refused_before_any_request() {
    let (router, mut api) = router("");
    let config = json!({
        "virtualServices": [{"name": "web"}, {"name": "web.gateways"}],
        "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}
    });
    let target = TrafficTarget::hashes("abc", "def", &[]);
    let err = router
        .apply(&ctx(config.clone()), &target)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "rollout shop/web: spec.strategy.canary.trafficRouting.plugins[\"rollgate/istio\"].virtualServices[1].name: \
         namespace \"gateways\" is not allowed: this router may touch only the rollout's own namespace \"shop\" \
         (the operator allows others with --route-namespaces)"
    );
    let err = router
        .verify_weight(&ctx(config), 30, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);

    let single = json!({"virtualService": {"name": "web.gateways"}});
    let err = router.set_weight(&ctx(single), 30, &[]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("].virtualService.name: namespace \"gateways\" is not allowed"),
        "{err}"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_listed_namespace_is_read_there() {
    let (router, mut api) = router("gateways");
    let call = mock_api::spawn(async move {
        router
            .set_weight(
                &ctx(json!({"virtualService": {"name": "web.gateways"}})),
                30,
                &[],
            )
            .await
    });
    let vs = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "gateways", "resourceVersion": "3"},
        "spec": {"http": [{"route": [
            {"destination": {"host": "web-stable"}, "weight": 70},
            {"destination": {"host": "web-canary"}, "weight": 30}]}]}
    });
    let get = api.next(reply(200, &vs)).await;
    assert_eq!(
        (get.method.as_str(), get.path.as_str()),
        (
            "GET",
            "/apis/networking.istio.io/v1/namespaces/gateways/virtualservices/web"
        )
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

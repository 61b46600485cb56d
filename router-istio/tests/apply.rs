//! The router's requests, asserted exactly against a mock API server (the
//! testkit's `mock_api`, on tower-test): an unchanged VirtualService costs
//! one read and no write; a weight change is one JSON patch guarded by
//! `test` operations; a change of routes is one replace carrying the
//! resourceVersion read, whatever else changes with it; a failed guard
//! (422) or a conflict (409) is read, planned and written again; a missing
//! object is an error naming it, with nothing written.

use rollgate_testkit::mock_api::{self, ApiResponse, MockApi, Seen, Served, reply, status};
use router_core::{ManagedRoute, RolloutContext, Routes, TrafficRouter, TrafficTarget};
use router_istio::IstioRouter;
use router_istio::KubeRouter;
use serde_json::{Value, json};

const VS: &str = "/apis/networking.istio.io/v1/namespaces/default/virtualservices/web";

fn ctx() -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: "default".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "rollgate/istio".into(),
        config: json!({"virtualService": {"name": "web"}}),
        ..Default::default()
    }
}

fn vs(canary: i64, resource_version: &str) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": resource_version},
        "spec": {"http": [{"route": [
            {"destination": {"host": "web-stable"}, "weight": 100 - canary},
            {"destination": {"host": "web-canary"}, "weight": canary}]}]}
    })
}

/// The router over a mock API server, with the client its binary builds
/// (the same user agent) and an applier without the watch cache
/// (`--no-watch-cache`): every read is one GET the test answers.
fn router() -> (IstioRouter, MockApi) {
    let (service, api) = MockApi::new();
    let client =
        router_kube::client::client_with_service(service, "default", &IstioRouter::user_agent());
    (IstioRouter::with_client_uncached(client), api)
}

/// The router with the watch cache on (the default), over a mock API
/// server that answers from `objects` (lists, GETs; watches stay open), and
/// the log of what it answered.
fn cached_router(objects: Vec<Value>) -> (IstioRouter, Served) {
    let (service, api) = MockApi::new();
    let client =
        router_kube::client::client_with_service(service, "default", &IstioRouter::user_agent());
    let served = api.serve_objects(objects);
    (IstioRouter::with_client(client), served)
}

/// Expects the next request, which names the router, and answers it.
async fn next(api: &mut MockApi, response: ApiResponse) -> Seen {
    let seen = api.next(response).await;
    assert_eq!(
        seen.user_agent,
        concat!("rollgate-istio/", env!("CARGO_PKG_VERSION")),
        "every request names the router"
    );
    seen
}

fn conflict() -> Value {
    status(
        409,
        "Conflict",
        "the object has been modified; please apply your changes to the latest version and try again",
    )
}

/// `set_weight(10)` on the VirtualService `web`, running while the test
/// answers.
fn set_weight_10(router: IstioRouter) -> mock_api::Call<Result<(), router_core::Error>> {
    mock_api::spawn(async move { router.set_weight(&ctx(), 10, &[]).await })
}

#[tokio::test]
async fn an_unchanged_virtual_service_costs_one_read_and_no_write() {
    let (router, mut api) = router();
    let call = set_weight_10(router);
    let get = next(&mut api, reply(200, &vs(10, "5"))).await;
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", VS));
    call.result().await.unwrap();
    api.no_more_requests().await;
}

/// The JSON patch `set_weight(10)` sends over `vs(0, _)`: each weight
/// guarded by its destination's host.
fn weight_patch() -> Value {
    json!([
        {"op": "test", "path": "/spec/http/0/route/0/destination/host", "value": "web-stable"},
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 90},
        {"op": "test", "path": "/spec/http/0/route/1/destination/host", "value": "web-canary"},
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 10},
    ])
}

#[tokio::test]
async fn a_weight_change_is_one_guarded_json_patch() {
    let (router, mut api) = router();
    let call = set_weight_10(router);
    next(&mut api, reply(200, &vs(0, "5"))).await;
    let patch = next(&mut api, reply(200, &vs(10, "6"))).await;
    assert_eq!((patch.method.as_str(), patch.path.as_str()), ("PATCH", VS));
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(patch.body, weight_patch());
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_failed_guard_is_read_planned_and_written_again() {
    let (router, mut api) = router();
    let call = set_weight_10(router);
    next(&mut api, reply(200, &vs(0, "5"))).await;
    let failed = status(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    let patch = next(&mut api, reply(422, &failed)).await;
    assert_eq!(patch.method, "PATCH");
    // Someone else swapped the destinations meanwhile: the next patch
    // follows them.
    let mut theirs = vs(0, "7");
    theirs["spec"]["http"][0]["route"]
        .as_array_mut()
        .unwrap()
        .reverse();
    let get = next(&mut api, reply(200, &theirs)).await;
    assert_eq!(get.method, "GET");
    let patch = next(&mut api, reply(200, &vs(10, "8"))).await;
    assert_eq!(
        patch.body,
        json!([
            {"op": "test", "path": "/spec/http/0/route/0/destination/host", "value": "web-canary"},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 10},
            {"op": "test", "path": "/spec/http/0/route/1/destination/host", "value": "web-stable"},
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 90},
        ])
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

fn beta() -> rollout_core::spec::SetHeaderRoute {
    serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
    }))
    .unwrap()
}

/// `vs(canary, rv)` with the header route `beta` first.
fn vs_with_beta(canary: i64, resource_version: &str) -> Value {
    let mut object = vs(canary, resource_version);
    object["spec"]["http"].as_array_mut().unwrap().insert(
        0,
        json!({"name": "beta", "match": [{"headers": {"x-beta": {"exact": "yes"}}}],
               "route": [{"destination": {"host": "web-canary"}, "weight": 100}]}),
    );
    object
}

/// A whole target that changes the weight and sets a header route: one
/// read and one replace carrying both.
#[tokio::test]
async fn a_weight_and_a_header_route_together_are_one_replace() {
    let (router, mut api) = router();
    let mut c = ctx();
    c.managed_routes = vec![ManagedRoute::header("beta")];
    let target = TrafficTarget {
        canary_weight: Some(30),
        routes: Routes::Exactly {
            header: vec![beta()],
            mirror: Vec::new(),
        },
        ..Default::default()
    };
    let call = mock_api::spawn(async move { router.apply(&c, &target).await });
    next(&mut api, reply(200, &vs(10, "5"))).await;
    let put = next(&mut api, reply(200, &vs_with_beta(30, "6"))).await;
    assert_eq!((put.method.as_str(), put.path.as_str()), ("PUT", VS));
    assert_eq!(put.body, vs_with_beta(30, "5"));
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_conflict_on_a_replace_is_read_planned_and_written_again() {
    let (router, mut api) = router();
    let mut c = ctx();
    c.managed_routes = vec![ManagedRoute::header("beta")];
    let call = mock_api::spawn(async move { router.set_header_route(&c, &beta()).await });
    next(&mut api, reply(200, &vs(10, "5"))).await;
    let put = next(&mut api, reply(409, &conflict())).await;
    assert_eq!(put.method, "PUT");
    // Someone else's edit landed meanwhile: it is in what we write next.
    let mut theirs = vs(10, "7");
    theirs["spec"]["http"][0]["timeout"] = json!("3s");
    let get = next(&mut api, reply(200, &theirs)).await;
    assert_eq!(get.method, "GET");
    let mut want = vs_with_beta(10, "7");
    want["spec"]["http"][1]["timeout"] = json!("3s");
    let put = next(&mut api, reply(200, &want)).await;
    assert_eq!(put.method, "PUT");
    assert_eq!(put.body, want);
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_missing_virtual_service_is_an_error_naming_it() {
    let (router, mut api) = router();
    let call = set_weight_10(router);
    let not_found = status(
        404,
        "NotFound",
        "virtualservices.networking.istio.io \"web\" not found",
    );
    next(&mut api, reply(404, &not_found)).await;
    let err = call.result().await.unwrap_err().to_string();
    assert_eq!(
        err, "VirtualService default/web: not found",
        "one line naming the object"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_bad_config_sends_nothing() {
    let (router, mut api) = router();
    let mut bad = ctx();
    bad.config = json!({"virtualService": {"name": "web"}, "virtualServices": [{"name": "other"}]});
    let err = router
        .set_weight(&bad, 10, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("either VirtualService or VirtualServices must be configured"),
        "{err}"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_route_not_in_managed_routes_is_refused_before_any_request() {
    let (router, mut api) = router();
    let mut c = ctx();
    c.managed_routes = vec![ManagedRoute::header("beta")];
    let mirror: rollout_core::spec::SetMirrorRoute = serde_json::from_value(json!({
        "name": "shadow", "match": [{"path": {"prefix": "/api"}}]
    }))
    .unwrap();
    let err = router
        .set_mirror_route(&c, &mirror)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "rollout default/web: setMirrorRoute shadow: the route is not listed in \
         spec.strategy.canary.trafficRouting.managedRoutes (beta); a route not listed there \
         could never be removed, so nothing was changed"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_max_traffic_weight_istio_cannot_express_is_refused_on_the_first_call() {
    let (router, mut api) = router();
    let mut c = ctx();
    c.max_traffic_weight = Some(1000);
    // Refused already at weight 0 (the first call of a rollout), not only
    // once a weight above 100 arrives; nothing is read or written.
    let err = router.set_weight(&c, 0, &[]).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "rollout default/web: spec.strategy.canary.trafficRouting.maxTrafficWeight: 1000 is not \
         supported: Istio route weights add up to 100 (remove the field or set it to 100)"
    );
    // The whole desired traffic of a first reconcile is refused the same way.
    let first = TrafficTarget::desired(&rollout_core::DesiredTraffic::default());
    let err = router.apply(&c, &first).await.unwrap_err().to_string();
    assert!(err.contains("maxTrafficWeight: 1000"), "{err}");
    // So is an explicit 100 accepted, and no other total.
    c.max_traffic_weight = Some(50);
    assert!(router.set_weight(&c, 0, &[]).await.is_err());
    assert!(router.verify_weight(&c, 0, &[]).await.is_err());
    assert!(router.update_hash(&c, "a", "b", &[]).await.is_err());
    assert!(router.remove_managed_routes(&c).await.is_err());
    api.no_more_requests().await;
}

/// With the watch cache on (the binary's default) and synced, a target the
/// VirtualService already carries costs no request at all, and neither
/// does verifying it.
#[tokio::test]
async fn an_unchanged_target_costs_no_request_once_the_cache_is_synced() {
    let (router, served) = cached_router(vec![vs(10, "5")]);
    let target = TrafficTarget::weight(10, &[]);
    router.apply(&ctx(), &target).await.unwrap();
    // The list answered, the watch is open: the cache is synced.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        served.lines().iter().all(|line| line.starts_with("GET")),
        "{:?}",
        served.lines()
    );
    served.clear();
    router.apply(&ctx(), &target).await.unwrap();
    assert_eq!(
        router.verify(&ctx(), &target).await.unwrap(),
        router_core::Verified::Verified
    );
    assert_eq!(served.lines(), Vec::<String>::new());
}

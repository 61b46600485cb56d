//! The router's requests, asserted exactly against a mock API server (the
//! testkit's `mock_api`, on tower-test): an unchanged route costs one read
//! and no write; a change is one guarded JSON patch; a failed guard means
//! read, plan and patch again.

use router_gatewayapi::KubeRouter;
use std::time::Duration;

use rollgate_testkit::mock_api::{self, MockApi, Seen, empty_reply, reply, status};
use router_core::{ErrorKind, ManagedRoute, RolloutContext, TrafficRouter, Verified};
use router_gatewayapi::GatewayApiRouter;
use router_kube::client::LazyClient;
use router_kube::{Applier, ApplierOptions, RequestLimit};
use serde_json::{Value, json};

const ROUTE_PATH: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/web";

fn route(canary: i64, stable: i64) -> Value {
    let (labels, annotations) = if canary > 0 {
        (
            json!({"rollouts.argoproj.io/gatewayapi-canary": "in-progress"}),
            json!({"rollouts.argoproj.io/gatewayapi-canary": "default/web"}),
        )
    } else {
        (json!({}), json!({}))
    };
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7", "generation": 3,
                     "labels": labels, "annotations": annotations},
        "spec": {"rules": [{"backendRefs": [
            {"name": "web-canary", "port": 80, "weight": canary},
            {"name": "web-stable", "port": 80, "weight": stable}]}]},
        "status": {"parents": [{"parentRef": {"name": "gw"}, "controllerName": "example.com/gw", "conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 3, "lastTransitionTime": "2026-11-22T05:00:00Z"},
            {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "", "observedGeneration": 3, "lastTransitionTime": "2026-11-22T05:00:00Z"}]}]}
    })
}

fn ctx(config: Value) -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: "default".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        managed_routes: vec![ManagedRoute::header("beta")],
        config,
        ..Default::default()
    }
}

/// The router over a mock API server, with the client its binary builds
/// (the same user agent) and `options`.
fn router_with(options: ApplierOptions) -> (GatewayApiRouter, MockApi) {
    let (service, api) = MockApi::new();
    let client = router_kube::client::client_with_service(
        service,
        "default",
        &GatewayApiRouter::user_agent(),
    );
    let applier = Applier::with_options(LazyClient::ready(client), options).unwrap();
    (GatewayApiRouter::with_applier(applier), api)
}

/// The router with the watch cache off (`--no-watch-cache`), so that
/// every read is a request the test answers.
fn router() -> (GatewayApiRouter, MockApi) {
    router_with(ApplierOptions::uncached())
}

/// `set_weight(30)` on the route `web`, running while the test answers.
fn set_weight_30(router: GatewayApiRouter) -> mock_api::Call<Result<(), router_core::Error>> {
    mock_api::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    })
}

#[tokio::test]
async fn an_unchanged_route_costs_one_read_and_no_write() {
    let (router, mut api) = router();
    let call = set_weight_30(router);
    let get = api.next(reply(200, &route(30, 70))).await;
    assert_eq!(
        (get.method.as_str(), get.path.as_str()),
        ("GET", ROUTE_PATH)
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_weight_change_is_one_guarded_json_patch() {
    let (router, mut api) = router();
    let call = set_weight_30(router);
    api.next(reply(200, &route(0, 100))).await;
    let patch = api.next(reply(200, &route(30, 70))).await;
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", ROUTE_PATH)
    );
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(
        patch.body,
        json!([
            {"op": "test", "path": "/spec/rules/0/backendRefs/0/name", "value": "web-canary"},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 30},
            {"op": "test", "path": "/spec/rules/0/backendRefs/1/name", "value": "web-stable"},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 70},
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "add", "path": "/metadata/annotations/rollouts.argoproj.io~1gatewayapi-canary", "value": "default/web"},
            {"op": "add", "path": "/metadata/labels/rollouts.argoproj.io~1gatewayapi-canary", "value": "in-progress"}
        ])
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_failed_guard_is_read_planned_and_patched_again() {
    let (router, mut api) = router();
    let call = set_weight_30(router);
    api.next(reply(200, &route(0, 100))).await;
    let invalid = status(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    let patch = api.next(reply(422, &invalid)).await;
    assert_eq!(patch.method, "PATCH");
    let get = api.next(reply(200, &route(0, 100))).await;
    assert_eq!(get.method, "GET", "read again after the guard failed");
    let patch = api.next(reply(200, &route(30, 70))).await;
    assert_eq!(patch.method, "PATCH");
    call.result().await.unwrap();
}

#[tokio::test]
async fn verify_weight_reads_the_route_and_its_parents() {
    let (router, mut api) = router();
    let config = json!({"httpRoute": "web"});
    let r = router.clone();
    let c = config.clone();
    let call = mock_api::spawn(async move { r.verify_weight(&ctx(c), 30, &[]).await });
    api.next(reply(200, &route(30, 70))).await;
    assert_eq!(call.result().await.unwrap(), Verified::Verified);

    let r = router.clone();
    let c = config.clone();
    let call = mock_api::spawn(async move { r.verify_weight(&ctx(c), 50, &[]).await });
    api.next(reply(200, &route(30, 70))).await;
    assert_eq!(
        call.result().await.unwrap(),
        Verified::NotVerified,
        "weights not in place yet"
    );

    let off = router
        .verify_weight(
            &ctx(json!({"httpRoute": "web", "verifyWeight": false})),
            50,
            &[],
        )
        .await;
    assert_eq!(off.unwrap(), Verified::NotImplemented);
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_bad_config_changes_nothing() {
    let (router, mut api) = router();
    let err = router
        .set_weight(
            &ctx(json!({"httpRoute": "web", "httpRouteName": "typo"})),
            30,
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown field `httpRouteName`"),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Config);
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_missing_route_is_not_found_and_a_lost_race_a_conflict() {
    let (router, mut api) = router();
    let call = set_weight_30(router.clone());
    let missing = status(
        404,
        "NotFound",
        "httproutes.gateway.networking.k8s.io \"web\" not found",
    );
    api.next(reply(404, &missing)).await;
    // A 404 makes the router check which versions are served: none answer.
    api.answer_until_quiet(Duration::from_millis(300), |_| reply(404, &missing))
        .await;
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // Every write loses its race: after the last attempt, a conflict.
    let call = set_weight_30(router);
    let conflict = status(409, "Conflict", "the object has been modified");
    api.answer_until_quiet(Duration::from_millis(1500), |seen| {
        if seen.method == "GET" {
            reply(200, &route(0, 100))
        } else {
            reply(409, &conflict)
        }
    })
    .await;
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("still changing after"), "{err}");
}

#[tokio::test]
async fn the_request_limit_spaces_requests_out() {
    let (router, mut api) = router_with(ApplierOptions {
        request_limit: Some(RequestLimit { qps: 2.0, burst: 1 }),
        ..ApplierOptions::uncached()
    });
    let call = set_weight_30(router);
    let get = api.next(reply(200, &route(0, 100))).await;
    assert_eq!(get.method, "GET", "the first request goes at once");
    // At 2 requests/s the patch waits about 500 ms.
    api.assert_quiet_for(Duration::from_millis(300)).await;
    let patch = api.next(reply(200, &route(30, 70))).await;
    assert_eq!(patch.method, "PATCH");
    call.result().await.unwrap();
}

fn beta_header_route() -> rollout_core::spec::SetHeaderRoute {
    serde_json::from_value(json!({
        "name": "beta",
        "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
    }))
    .unwrap()
}

/// The route after a write of `body` as an API server would return it, with
/// or without the rule names (Gateway API CRDs before v1.2 drop them).
fn patched(body: &Value, keep_names: bool) -> Value {
    let mut route = route(0, 100);
    let patch: json_patch::Patch = serde_json::from_value(body.clone()).unwrap();
    json_patch::patch(&mut route, &patch).unwrap();
    if !keep_names {
        for rule in route["spec"]["rules"].as_array_mut().unwrap() {
            rule.as_object_mut().unwrap().remove("name");
        }
    }
    route
}

/// Expects a PATCH and answers it with the patched route.
async fn next_patch(api: &mut MockApi, keep_names: bool) -> Seen {
    let seen = api
        .next_with(|seen| reply(200, &patched(&seen.body, keep_names)))
        .await;
    assert_eq!(seen.method, "PATCH");
    seen
}

/// `set_header_route(beta)` on the route `web`, running while the test
/// answers.
fn set_beta_header_route(
    router: GatewayApiRouter,
) -> mock_api::Call<Result<(), router_core::Error>> {
    mock_api::spawn(async move {
        router
            .set_header_route(&ctx(json!({"httpRoute": "web"})), &beta_header_route())
            .await
    })
}

#[tokio::test]
async fn a_new_managed_rule_is_tried_as_a_dry_run_first() {
    let (router, mut api) = router();
    let call = set_beta_header_route(router);
    api.next(reply(200, &route(0, 100))).await;
    let dry = next_patch(&mut api, true).await;
    assert!(dry.has_query("dryRun=All"), "{}", dry.query);
    let real = next_patch(&mut api, true).await;
    assert!(
        !real.has_query("dryRun=All"),
        "then the real write: {}",
        real.query
    );
    assert_eq!(dry.body, real.body, "the same patch");
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn crds_that_drop_rule_names_are_refused_without_a_write() {
    let (router, mut api) = router();
    let call = set_beta_header_route(router);
    api.next(reply(200, &route(0, 100))).await;
    let dry = next_patch(&mut api, false).await;
    assert!(dry.has_query("dryRun=All"), "{}", dry.query);
    let err = call.result().await.unwrap_err().to_string();
    assert!(
        err.contains("HTTPRoute default/web") && err.contains("v1.2"),
        "{err}"
    );
    api.no_more_requests().await;
}

/// Whether a request is the watch cache's own (a list or a watch).
fn is_cache_request(seen: &Seen) -> bool {
    seen.has_query("watch=true") || seen.path.ends_with("/httproutes")
}

/// Answers the watch cache's list and watch requests from `route`, and
/// every other request with `route` too.
fn serve_with_watches(api: MockApi, route: Value) -> mock_api::Served {
    api.serve_async(move |seen| {
        let watch = seen.has_query("watch=true");
        let response = if watch {
            empty_reply()
        } else if seen.path.ends_with("/httproutes") {
            let list = json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRouteList",
                "metadata": {"resourceVersion": "7"}, "items": [route.clone()]
            });
            reply(200, &list)
        } else {
            reply(200, &route)
        };
        async move {
            if watch {
                // An empty watch that ends after a while; the watcher re-watches.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            response
        }
    })
}

/// The requests of `served` other than the watch cache's own.
fn others(served: &mock_api::Served) -> Vec<String> {
    served
        .requests()
        .iter()
        .filter(|seen| !is_cache_request(seen))
        .map(|seen| format!("{} {}", seen.method, seen.path))
        .collect()
}

/// Calls `set_weight(30)` until the watch cache has synced (a call costs no
/// request of its own), then forgets the requests seen.
async fn until_synced(router: &GatewayApiRouter, ctx: &RolloutContext, served: &mock_api::Served) {
    for _ in 0..100 {
        served.clear();
        router.set_weight(ctx, 30, &[]).await.unwrap();
        if others(served).is_empty() {
            served.clear();
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the watch cache never synced: {:?}", others(served));
}

#[tokio::test]
async fn with_the_watch_cache_an_unchanged_target_costs_no_request() {
    // The default options: the watch cache on.
    let (router, api) = router_with(ApplierOptions::default());
    let served = serve_with_watches(api, route(30, 70));
    let ctx = ctx(json!({"httpRoute": "web"}));
    until_synced(&router, &ctx, &served).await;
    for _ in 0..3 {
        router.set_weight(&ctx, 30, &[]).await.unwrap();
    }
    assert_eq!(
        router.verify_weight(&ctx, 30, &[]).await.unwrap(),
        Verified::Verified
    );
    assert!(others(&served).is_empty(), "{:?}", others(&served));

    router.set_weight(&ctx, 50, &[]).await.unwrap();
    assert_eq!(
        others(&served),
        [format!("PATCH {ROUTE_PATH}")],
        "a change is one write, read from the cache"
    );
}

#[tokio::test]
async fn with_the_watch_cache_a_weight_and_a_header_route_are_one_patch_and_no_read() {
    let (router, api) = router_with(ApplierOptions::default());
    // A route whose rules carry names: the server keeps them, so the new
    // managed rule needs no dry run.
    let mut named = route(30, 70);
    named["spec"]["rules"][0]["name"] = json!("main");
    let served = serve_with_watches(api, named);
    let ctx = ctx(json!({"httpRoute": "web"}));
    until_synced(&router, &ctx, &served).await;
    let target = router_core::TrafficTarget {
        canary_weight: Some(40),
        ..router_core::TrafficTarget::header_route(beta_header_route())
    };
    router.apply(&ctx, &target).await.unwrap();
    let requests = served.requests();
    let writes: Vec<&Seen> = requests.iter().filter(|s| !is_cache_request(s)).collect();
    assert_eq!(writes.len(), 1, "{:?}", others(&served));
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PATCH", ROUTE_PATH)
    );
    let ops: Vec<&str> = writes[0]
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "/spec/rules/0/backendRefs/0/name",
            "/spec/rules/0/backendRefs/0/weight",
            "/spec/rules/0/backendRefs/1/name",
            "/spec/rules/0/backendRefs/1/weight",
            "/spec/rules/-"
        ],
        "the weights and the header rule in one patch"
    );
}

#[tokio::test]
async fn every_request_names_the_router_in_its_user_agent() {
    let (router, mut api) = router();
    let call = set_weight_30(router);
    for _ in 0..2 {
        let seen = api
            .next_with(|seen| {
                if seen.method == "GET" {
                    reply(200, &route(0, 100))
                } else {
                    reply(200, &route(30, 70))
                }
            })
            .await;
        assert_eq!(
            seen.user_agent,
            concat!("rollgate-gatewayapi/", env!("CARGO_PKG_VERSION")),
            "{} {}",
            seen.method,
            seen.path_and_query
        );
    }
    call.result().await.unwrap();
}

#[tokio::test]
async fn a_route_not_in_managed_routes_is_refused_before_any_request() {
    let (router, mut api) = router();
    let mut unlisted = beta_header_route();
    unlisted.name = "gamma".into();
    let err = router
        .set_header_route(&ctx(json!({"httpRoute": "web"})), &unlisted)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "rollout default/web: setHeaderRoute gamma: the route is not listed in \
         spec.strategy.canary.trafficRouting.managedRoutes (beta); a route not listed there \
         could never be removed, so nothing was changed"
    );
    let mirror: rollout_core::spec::SetMirrorRoute = serde_json::from_value(json!({
        "name": "shadow", "match": [{"path": {"prefix": "/"}}]
    }))
    .unwrap();
    let err = router
        .set_mirror_route(&ctx(json!({"httpRoute": "web"})), &mirror)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("setMirrorRoute shadow") && err.contains("managedRoutes"),
        "{err}"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_api_error_is_one_line_naming_the_route_the_code_and_the_message() {
    let (router, mut api) = router();
    let call = set_weight_30(router);
    api.next(reply(200, &route(0, 100))).await;
    let mut forbidden = status(
        403,
        "Forbidden",
        "httproutes.gateway.networking.k8s.io \"web\" is forbidden: User \"router\" cannot \
         patch resource \"httproutes\"",
    );
    forbidden["details"] =
        json!({"name": "web", "group": "gateway.networking.k8s.io", "kind": "httproutes"});
    api.next(reply(403, &forbidden)).await;
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(
        err.to_string(),
        "HTTPRoute default/web: 403 Forbidden: httproutes.gateway.networking.k8s.io \"web\" is \
         forbidden: User \"router\" cannot patch resource \"httproutes\""
    );
}

#[tokio::test]
async fn a_weight_and_a_header_route_together_are_one_read_and_one_patch() {
    let (router, mut api) = router();
    let call = mock_api::spawn(async move {
        let target = router_core::TrafficTarget {
            canary_weight: Some(30),
            ..router_core::TrafficTarget::header_route(beta_header_route())
        };
        router
            .apply(&ctx(json!({"httpRoute": "web"})), &target)
            .await
    });
    let get = api.next(reply(200, &route(0, 100))).await;
    assert_eq!(
        (get.method.as_str(), get.path.as_str()),
        ("GET", ROUTE_PATH)
    );
    let dry = next_patch(&mut api, true).await;
    assert!(
        dry.has_query("dryRun=All"),
        "the new rule's name is checked first"
    );
    let real = next_patch(&mut api, true).await;
    assert!(!real.has_query("dryRun=All"));
    assert_eq!(
        real.body,
        json!([
            {"op": "test", "path": "/spec/rules/0/backendRefs/0/name", "value": "web-canary"},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 30},
            {"op": "test", "path": "/spec/rules/0/backendRefs/1/name", "value": "web-stable"},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 70},
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "add", "path": "/metadata/annotations/rollouts.argoproj.io~1gatewayapi-canary", "value": "default/web"},
            {"op": "add", "path": "/metadata/labels/rollouts.argoproj.io~1gatewayapi-canary", "value": "in-progress"},
            {"op": "add", "path": "/spec/rules/-", "value": {
                "name": "beta",
                "matches": [{"headers": [{"type": "Exact", "name": "x-beta", "value": "yes"}]}],
                "backendRefs": [{"name": "web-canary", "port": 80}]}}
        ]),
        "the weights, the label and the header rule in one guarded patch"
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_target_of_hashes_only_reads_nothing() {
    let (router, mut api) = router();
    let target = router_core::TrafficTarget::hashes("abc", "def", &[]);
    router
        .apply(&ctx(json!({"httpRoute": "web"})), &target)
        .await
        .unwrap();
    api.no_more_requests().await;
}

//! The router's requests, asserted exactly against a mock API server
//! (tower-test): an unchanged route costs one read and no write; a change is
//! one guarded JSON patch; a failed guard means read, plan and patch again.

use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use router_core::{ErrorKind, ManagedRoute, RolloutContext, TrafficRouter, Verified};
use router_gatewayapi::GatewayApiRouter;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

const ROUTE_PATH: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/web";

fn route(canary: i64, stable: i64) -> Value {
    let labels = if canary > 0 {
        json!({"rollouts.argoproj.io/gatewayapi-canary": "in-progress"})
    } else {
        json!({})
    };
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7", "generation": 3, "labels": labels},
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
/// (the same user agent).
fn router() -> (GatewayApiRouter, Handle<Request<Body>, Response<Body>>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = router_core::client::client_with_service(
        service,
        "default",
        &GatewayApiRouter::user_agent(),
    );
    (GatewayApiRouter::with_client(client), handle)
}

fn reply(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// Expects the next request; returns (method, path, content type, body).
async fn next(
    handle: &mut Handle<Request<Body>, Response<Body>>,
    response: Response<Body>,
) -> (String, String, String, Value) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(2), handle.next_request())
        .await
        .expect("a request within 2 s")
        .expect("the router sent a request");
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let content_type = request
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    send.send_response(response);
    (method, path, content_type, body)
}

async fn no_more_requests(handle: &mut Handle<Request<Body>, Response<Body>>) {
    let more = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    assert!(
        matches!(more, Err(_) | Ok(None)),
        "unexpected extra request"
    );
}

#[tokio::test]
async fn an_unchanged_route_costs_one_read_and_no_write() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    });
    let (method, path, _, _) = next(&mut handle, reply(200, &route(30, 70))).await;
    assert_eq!((method.as_str(), path.as_str()), ("GET", ROUTE_PATH));
    call.await.unwrap().unwrap();
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_weight_change_is_one_guarded_json_patch() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    });
    next(&mut handle, reply(200, &route(0, 100))).await;
    let (method, path, content_type, body) = next(&mut handle, reply(200, &route(30, 70))).await;
    assert_eq!((method.as_str(), path.as_str()), ("PATCH", ROUTE_PATH));
    assert_eq!(content_type, "application/json-patch+json");
    assert_eq!(
        body,
        json!([
            {"op": "test", "path": "/spec/rules/0/backendRefs/0/name", "value": "web-canary"},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 30},
            {"op": "test", "path": "/spec/rules/0/backendRefs/1/name", "value": "web-stable"},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 70},
            {"op": "add", "path": "/metadata/labels/rollouts.argoproj.io~1gatewayapi-canary", "value": "in-progress"}
        ])
    );
    call.await.unwrap().unwrap();
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_failed_guard_is_read_planned_and_patched_again() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    });
    next(&mut handle, reply(200, &route(0, 100))).await;
    let invalid = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid",
        "message": "the server rejected our request due to an error in our request", "code": 422});
    let (method, ..) = next(&mut handle, reply(422, &invalid)).await;
    assert_eq!(method, "PATCH");
    let (method, ..) = next(&mut handle, reply(200, &route(0, 100))).await;
    assert_eq!(method, "GET", "read again after the guard failed");
    let (method, ..) = next(&mut handle, reply(200, &route(30, 70))).await;
    assert_eq!(method, "PATCH");
    call.await.unwrap().unwrap();
}

#[tokio::test]
async fn verify_weight_reads_the_route_and_its_parents() {
    let (router, mut handle) = router();
    let config = json!({"httpRoute": "web"});
    let r = router.clone();
    let c = config.clone();
    let call = tokio::spawn(async move { r.verify_weight(&ctx(c), 30, &[]).await });
    next(&mut handle, reply(200, &route(30, 70))).await;
    assert_eq!(call.await.unwrap().unwrap(), Verified::Verified);

    let r = router.clone();
    let c = config.clone();
    let call = tokio::spawn(async move { r.verify_weight(&ctx(c), 50, &[]).await });
    next(&mut handle, reply(200, &route(30, 70))).await;
    assert_eq!(
        call.await.unwrap().unwrap(),
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
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_bad_config_changes_nothing() {
    let (router, mut handle) = router();
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
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_missing_route_is_not_found_and_a_lost_race_a_conflict() {
    let (router, mut handle) = router();
    let router = std::sync::Arc::new(router);
    let call = {
        let router = router.clone();
        tokio::spawn(async move {
            router
                .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
                .await
        })
    };
    let missing = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
        "message": "httproutes.gateway.networking.k8s.io \"web\" not found", "code": 404});
    next(&mut handle, reply(404, &missing)).await;
    // A 404 makes the router check which versions are served: none answer.
    while let Ok(Some((_, send))) =
        tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await
    {
        send.send_response(reply(404, &missing));
    }
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // Every write loses its race: after the last attempt, a conflict.
    let call = tokio::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    });
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict",
        "message": "the object has been modified", "code": 409});
    while let Ok(Some((request, send))) =
        tokio::time::timeout(Duration::from_millis(500), handle.next_request()).await
    {
        if request.method() == "GET" {
            send.send_response(reply(200, &route(0, 100)));
        } else {
            send.send_response(reply(409, &conflict));
        }
    }
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("still changing after"), "{err}");
}

#[tokio::test]
async fn the_request_limit_spaces_requests_out() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let router = GatewayApiRouter::with_client(kube::Client::new(service, "default"))
        .with_request_limit(router_gatewayapi::RequestLimit { qps: 2.0, burst: 1 })
        .unwrap();
    let call = tokio::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    });
    let (method, ..) = next(&mut handle, reply(200, &route(0, 100))).await;
    assert_eq!(method, "GET", "the first request goes at once");
    let early = tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await;
    assert!(
        early.is_err(),
        "at 2 requests/s the patch waits about 500 ms"
    );
    let (method, ..) = next(&mut handle, reply(200, &route(30, 70))).await;
    assert_eq!(method, "PATCH");
    call.await.unwrap().unwrap();
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

fn is_dry_run(query: &str) -> bool {
    query.split('&').any(|pair| pair == "dryRun=All")
}

/// Expects a PATCH; returns its query string and body.
async fn next_patch(
    handle: &mut Handle<Request<Body>, Response<Body>>,
    keep_names: bool,
) -> (String, Value) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(2), handle.next_request())
        .await
        .expect("a request within 2 s")
        .expect("the router sent a request");
    assert_eq!(request.method(), "PATCH");
    let query = request.uri().query().unwrap_or("").to_owned();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    send.send_response(reply(200, &patched(&body, keep_names)));
    (query, body)
}

#[tokio::test]
async fn a_new_managed_rule_is_tried_as_a_dry_run_first() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move {
        router
            .set_header_route(&ctx(json!({"httpRoute": "web"})), &beta_header_route())
            .await
    });
    next(&mut handle, reply(200, &route(0, 100))).await;
    let (query, dry) = next_patch(&mut handle, true).await;
    assert!(is_dry_run(&query), "{query}");
    let (query, real) = next_patch(&mut handle, true).await;
    assert!(!is_dry_run(&query), "then the real write: {query}");
    assert_eq!(dry, real, "the same patch");
    call.await.unwrap().unwrap();
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn crds_that_drop_rule_names_are_refused_without_a_write() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move {
        router
            .set_header_route(&ctx(json!({"httpRoute": "web"})), &beta_header_route())
            .await
    });
    next(&mut handle, reply(200, &route(0, 100))).await;
    let (query, _) = next_patch(&mut handle, false).await;
    assert!(is_dry_run(&query), "{query}");
    let err = call.await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains("HTTPRoute default/web") && err.contains("v1.2"),
        "{err}"
    );
    no_more_requests(&mut handle).await;
}

/// Answers the watch cache's list and watch requests from `route`; records
/// every other request (method and path) and answers it with `route` too.
fn serve_with_watches(
    mut handle: Handle<Request<Body>, Response<Body>>,
    route: Value,
) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let others = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = others.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let query = request.uri().query().unwrap_or("").to_owned();
            let path = request.uri().path().to_owned();
            if query.split('&').any(|p| p == "watch=true") {
                // An empty watch that ends after a while; the watcher re-watches.
                tokio::time::sleep(Duration::from_millis(50)).await;
                send.send_response(reply(200, &Value::Null).map(|_| Body::empty()));
            } else if path.ends_with("/httproutes") {
                let list = json!({
                    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRouteList",
                    "metadata": {"resourceVersion": "7"}, "items": [route.clone()]
                });
                send.send_response(reply(200, &list));
            } else {
                seen.lock()
                    .unwrap()
                    .push(format!("{} {path}", request.method()));
                send.send_response(reply(200, &route));
            }
        }
    });
    others
}

#[tokio::test]
async fn with_a_watch_cache_an_unchanged_route_costs_no_request() {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let router =
        GatewayApiRouter::with_client(kube::Client::new(service, "default")).with_watch_cache();
    let others = serve_with_watches(handle, route(30, 70));
    let ctx = ctx(json!({"httpRoute": "web"}));
    for _ in 0..3 {
        router.set_weight(&ctx, 30, &[]).await.unwrap();
    }
    assert_eq!(
        router.verify_weight(&ctx, 30, &[]).await.unwrap(),
        Verified::Verified
    );
    assert!(
        others.lock().unwrap().is_empty(),
        "{:?}",
        others.lock().unwrap()
    );

    router.set_weight(&ctx, 50, &[]).await.unwrap();
    assert_eq!(
        *others.lock().unwrap(),
        [format!("PATCH {ROUTE_PATH}")],
        "a change is one write, read from the cache"
    );
}

#[tokio::test]
async fn every_request_names_the_router_in_its_user_agent() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    });
    for _ in 0..2 {
        let (request, send) = tokio::time::timeout(Duration::from_secs(2), handle.next_request())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            request.headers().get("user-agent").unwrap(),
            concat!("rollgate-gatewayapi/", env!("CARGO_PKG_VERSION")),
            "{} {}",
            request.method(),
            request.uri()
        );
        let body = if request.method() == "GET" {
            route(0, 100)
        } else {
            route(30, 70)
        };
        send.send_response(reply(200, &body));
    }
    call.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_route_not_in_managed_routes_is_refused_before_any_request() {
    let (router, mut handle) = router();
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
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn an_api_error_is_one_line_naming_the_route_the_code_and_the_message() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move {
        router
            .set_weight(&ctx(json!({"httpRoute": "web"})), 30, &[])
            .await
    });
    next(&mut handle, reply(200, &route(0, 100))).await;
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
        "message": "httproutes.gateway.networking.k8s.io \"web\" is forbidden: User \"router\" cannot patch resource \"httproutes\"",
        "details": {"name": "web", "group": "gateway.networking.k8s.io", "kind": "httproutes"}, "code": 403});
    next(&mut handle, reply(403, &forbidden)).await;
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(
        err.to_string(),
        "HTTPRoute default/web: 403 Forbidden: httproutes.gateway.networking.k8s.io \"web\" is \
         forbidden: User \"router\" cannot patch resource \"httproutes\""
    );
}

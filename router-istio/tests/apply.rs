//! The router's requests, asserted exactly against a mock API server
//! (tower-test): an unchanged VirtualService costs one read and no write; a
//! change is one replace carrying the resourceVersion read; a conflict
//! (409) is read, planned and written again; a missing object is an error
//! naming it, with nothing written.

use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use router_core::{ManagedRoute, RolloutContext, TrafficRouter};
use router_istio::IstioRouter;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

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
/// (the same user agent).
fn router() -> (IstioRouter, Handle<Request<Body>, Response<Body>>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client =
        router_core::client::client_with_service(service, "default", &IstioRouter::user_agent());
    (IstioRouter::with_client(client), handle)
}

fn reply(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

async fn next(
    handle: &mut Handle<Request<Body>, Response<Body>>,
    response: Response<Body>,
) -> (String, String, Value) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(2), handle.next_request())
        .await
        .expect("a request within 2 s")
        .expect("the router sent a request");
    assert_eq!(
        request.headers().get("user-agent").unwrap(),
        concat!("rollgate-istio/", env!("CARGO_PKG_VERSION")),
        "every request names the router"
    );
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    send.send_response(response);
    (method, path, body)
}

async fn no_more_requests(handle: &mut Handle<Request<Body>, Response<Body>>) {
    let more = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    assert!(
        matches!(more, Err(_) | Ok(None)),
        "unexpected extra request"
    );
}

fn conflict() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
           "message": "the object has been modified; please apply your changes to the latest version and try again"})
}

#[tokio::test]
async fn an_unchanged_virtual_service_costs_one_read_and_no_write() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move { router.set_weight(&ctx(), 10, &[]).await });
    let (method, path, _) = next(&mut handle, reply(200, &vs(10, "5"))).await;
    assert_eq!((method.as_str(), path.as_str()), ("GET", VS));
    call.await.unwrap().unwrap();
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_change_is_one_replace_with_the_resource_version_read() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move { router.set_weight(&ctx(), 10, &[]).await });
    next(&mut handle, reply(200, &vs(0, "5"))).await;
    let (method, path, body) = next(&mut handle, reply(200, &vs(10, "6"))).await;
    assert_eq!((method.as_str(), path.as_str()), ("PUT", VS));
    assert_eq!(
        body,
        vs(10, "5"),
        "the whole object, as read, with the new weights"
    );
    call.await.unwrap().unwrap();
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_conflict_is_read_planned_and_written_again() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move { router.set_weight(&ctx(), 10, &[]).await });
    next(&mut handle, reply(200, &vs(0, "5"))).await;
    let (method, ..) = next(&mut handle, reply(409, &conflict())).await;
    assert_eq!(method, "PUT");
    // Someone else's edit landed meanwhile: it is in what we write next.
    let mut theirs = vs(0, "7");
    theirs["spec"]["http"][0]["timeout"] = json!("3s");
    let (method, ..) = next(&mut handle, reply(200, &theirs)).await;
    assert_eq!(method, "GET");
    let mut want = vs(10, "7");
    want["spec"]["http"][0]["timeout"] = json!("3s");
    let (method, _, body) = next(&mut handle, reply(200, &want)).await;
    assert_eq!(method, "PUT");
    assert_eq!(body, want);
    call.await.unwrap().unwrap();
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_missing_virtual_service_is_an_error_naming_it() {
    let (router, mut handle) = router();
    let call = tokio::spawn(async move { router.set_weight(&ctx(), 10, &[]).await });
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
        "code": 404, "message": "virtualservices.networking.istio.io \"web\" not found"});
    next(&mut handle, reply(404, &not_found)).await;
    let err = call.await.unwrap().unwrap_err().to_string();
    assert_eq!(
        err,
        "VirtualService default/web: 404 NotFound: virtualservices.networking.istio.io \"web\" not found",
        "one line: the object, the status code and the server's message"
    );
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_bad_config_sends_nothing() {
    let (router, mut handle) = router();
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
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_route_not_in_managed_routes_is_refused_before_any_request() {
    let (router, mut handle) = router();
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
    no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_max_traffic_weight_istio_cannot_express_is_refused_on_the_first_call() {
    let (router, mut handle) = router();
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
    assert!(router.verify_weight(&c, 0, &[]).await.is_err());
    assert!(router.update_hash(&c, "a", "b", &[]).await.is_err());
    assert!(router.remove_managed_routes(&c).await.is_err());
    no_more_requests(&mut handle).await;
}

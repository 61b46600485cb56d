//! The VirtualServer split's requests, asserted exactly against a mock API
//! server (the testkit's `mock_api`): a change is one read and one guarded
//! JSON patch; an unchanged object costs one read; a patch whose guard
//! fails (another writer moved the routes) is planned again over a fresh
//! read; a missing object is an error naming it, with no write.

use rollgate_testkit::mock_api::{self, MockApi, reply, status};
use router_core::{ErrorKind, RolloutContext, TrafficRouter};
use router_nginx::KubeRouter;
use router_nginx::NginxRouter;
use serde_json::{Value, json};

const WEB: &str = "/apis/k8s.nginx.org/v1/namespaces/default/virtualservers/web";

fn ctx() -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: "default".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "rollgate/nginx".into(),
        config: json!({"virtualServer": {"name": "web", "routes": ["/"]}}),
        ..Default::default()
    }
}

/// The user's VirtualServer, its route `/` at `index`.
fn users(index: usize) -> Value {
    let mut routes = vec![json!({"path": "/static", "action": {"pass": "cdn"}})];
    routes.insert(index, json!({"path": "/", "action": {"pass": "web"}}));
    json!({
        "apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"},
        "spec": {"upstreams": [{"name": "web", "service": "web-stable", "port": 80},
                               {"name": "cdn", "service": "cdn", "port": 80}],
                 "routes": routes}
    })
}

/// The guarded patch splitting route `index` at weight 20.
fn split_patch(index: usize) -> Value {
    let at = format!("/spec/routes/{index}");
    json!([
        {"op": "test", "path": format!("{at}/path"), "value": "/"},
        {"op": "test", "path": format!("{at}/action"), "value": {"pass": "web"}},
        {"op": "remove", "path": format!("{at}/action")},
        {"op": "add", "path": format!("{at}/splits"), "value": [
            {"weight": 80, "action": {"pass": "web"}},
            {"weight": 20, "action": {"pass": "web-rollgate-canary"}}]},
        {"op": "add", "path": "/spec/upstreams/-", "value":
            {"name": "web-rollgate-canary", "service": "web-canary", "port": 80}},
    ])
}

/// The router over a mock API server, without the watch cache: every read
/// is one GET the test answers.
fn mock_router() -> (NginxRouter, MockApi) {
    let (service, api) = MockApi::new();
    let client =
        router_kube::client::client_with_service(service, "default", &NginxRouter::user_agent());
    (NginxRouter::with_client_uncached(client), api)
}

fn patched(object: &Value, patch: &Value) -> Value {
    let mut object = object.clone();
    let patch: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
    json_patch::patch(&mut object, &patch).unwrap();
    object
}

#[tokio::test]
async fn a_weight_is_one_read_and_one_guarded_patch() {
    let (router, mut api) = mock_router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    let get = api.next(reply(200, &users(0))).await;
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", WEB));
    let stored = patched(&users(0), &split_patch(0));
    let patch = api.next(reply(200, &stored)).await;
    assert_eq!((patch.method.as_str(), patch.path.as_str()), ("PATCH", WEB));
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(patch.body, split_patch(0));
    call.result().await.unwrap();
    api.no_more_requests().await;

    // Unchanged: one read, no write.
    let (again, mut api) = mock_router();
    let call = mock_api::spawn(async move { again.set_weight(&ctx(), 20, &[]).await });
    api.next(reply(200, &stored)).await;
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_failed_guard_is_planned_again_over_a_fresh_read() {
    let (router, mut api) = mock_router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    api.next(reply(200, &users(0))).await;
    // Meanwhile another writer put a route before ours.
    let refused = status(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    let first = api.next(reply(422, &refused)).await;
    assert_eq!(first.body, split_patch(0));
    api.next(reply(200, &users(1))).await;
    let second = api
        .next(reply(200, &patched(&users(1), &split_patch(1))))
        .await;
    assert_eq!(second.body, split_patch(1), "the route at its new index");
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_missing_virtual_server_is_an_error_naming_it() {
    let (router, mut api) = mock_router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    api.next(reply(
        404,
        &status(
            404,
            "NotFound",
            "virtualservers.k8s.nginx.org \"web\" not found",
        ),
    ))
    .await;
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .contains("VirtualServer default/web: not found (plugin config virtualServer.name)"),
        "{err}"
    );
    api.no_more_requests().await;
}

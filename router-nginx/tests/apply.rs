//! The router's requests, asserted exactly against a mock API server (the
//! testkit's `mock_api`, on tower-test): an unchanged canary Ingress costs
//! two reads and no write; a change is one server-side apply under our field
//! manager; bad input is an error before any write.

use rollgate_testkit::mock_api::{self, MockApi, Served, reply, status};
use router_core::{ManagedRoute, RolloutContext, TrafficRouter, Verified};
use router_nginx::KubeRouter;
use router_nginx::NginxRouter;
use serde_json::{Value, json};

const INGRESSES: &str = "/apis/networking.k8s.io/v1/namespaces/default/ingresses";
const UID: &str = "3f0c2a9e-0000-4000-8000-000000000001";

fn ctx() -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: "default".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "rollgate/nginx".into(),
        managed_routes: vec![ManagedRoute::header("beta"), ManagedRoute::mirror("shadow")],
        config: json!({"stableIngress": "web"}),
        uid: Some(UID.into()),
        ..Default::default()
    }
}

fn stable() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}}]}
    })
}

/// The canary Ingress as we apply it at `weight`.
fn applied(weight: i32) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {
            "name": "web-web-canary", "namespace": "default",
            "annotations": {"nginx.ingress.kubernetes.io/canary": "true",
                            "nginx.ingress.kubernetes.io/canary-weight": weight.to_string()},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web",
                                 "uid": UID, "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-canary", "port": {"number": 80}}}}]}}]}
    })
}

/// The canary Ingress as stored after our apply at `weight`.
fn stored(weight: i32) -> Value {
    let mut object = applied(weight);
    object["metadata"]["resourceVersion"] = json!("9");
    object["metadata"]["managedFields"] = json!([{
        "manager": "rollgate-nginx", "operation": "Apply", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": {
            "f:nginx.ingress.kubernetes.io/canary": {}, "f:nginx.ingress.kubernetes.io/canary-weight": {}}}}
    }]);
    object
}

fn not_found() -> Value {
    status(
        404,
        "NotFound",
        "ingresses.networking.k8s.io \"web-web-canary\" not found",
    )
}

/// The router over a mock API server, with the client its binary builds
/// (the same user agent) and an applier without the watch cache
/// (`--no-watch-cache`): every read is one GET the test answers.
fn router() -> (NginxRouter, MockApi) {
    let (service, api) = MockApi::new();
    let client =
        router_kube::client::client_with_service(service, "default", &NginxRouter::user_agent());
    (NginxRouter::with_client_uncached(client), api)
}

/// The router with the watch cache on (the default), over a mock API
/// server that answers from `objects` (lists, GETs; watches stay open), and
/// the log of what it answered.
fn cached_router(objects: Vec<Value>) -> (NginxRouter, Served) {
    let (service, api) = MockApi::new();
    let client =
        router_kube::client::client_with_service(service, "default", &NginxRouter::user_agent());
    let served = api.serve_objects(objects);
    (NginxRouter::with_client(client), served)
}

#[tokio::test]
async fn the_first_weight_creates_the_canary_ingress_with_one_apply() {
    let (router, mut api) = router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    let get = api.next(reply(200, &stable())).await;
    assert_eq!(
        (get.method.as_str(), get.path_and_query.as_str()),
        ("GET", &*format!("{INGRESSES}/web"))
    );
    let get = api.next(reply(404, &not_found())).await;
    assert_eq!(get.path_and_query, format!("{INGRESSES}/web-web-canary"));
    let apply = api.next(reply(200, &stored(20))).await;
    assert_eq!(apply.method, "PATCH");
    assert_eq!(
        apply.path_and_query,
        format!("{INGRESSES}/web-web-canary?&force=true&fieldManager=rollgate-nginx")
    );
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert_eq!(apply.body, applied(20));
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_unchanged_canary_ingress_costs_two_reads_and_no_write() {
    let (router, mut api) = router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    api.next(reply(200, &stable())).await;
    api.next(reply(200, &stored(20))).await;
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_header_route_keeps_the_weight_and_adds_the_header_annotations() {
    let (router, mut api) = router();
    let step: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"regex": "^(a|b)$"}}]
    }))
    .unwrap();
    let call = mock_api::spawn(async move { router.set_header_route(&ctx(), &step).await });
    api.next(reply(200, &stable())).await;
    api.next(reply(200, &stored(40))).await;
    let apply = api.next(reply(200, &stored(40))).await;
    assert_eq!(
        apply.body,
        applied_with_beta(40, "canary-by-header-pattern", "^(a|b)$")
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_missing_stable_ingress_is_an_error_naming_it_and_nothing_is_written() {
    let (router, mut api) = router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    api.next(reply(404, &not_found())).await;
    let err = call.result().await.unwrap_err().to_string();
    assert!(
        err.contains("Ingress default/web: error retrieving stableIngress `web`"),
        "{err}"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn mirror_routes_and_experiments_are_refused_without_a_request() {
    let (router, mut api) = router();
    let step: rollout_core::spec::SetMirrorRoute = serde_json::from_value(json!({
        "name": "shadow", "match": [{"path": {"prefix": "/api"}}], "percentage": 10
    }))
    .unwrap();
    let err = router
        .set_mirror_route(&ctx(), &step)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("setMirrorRoute shadow: not supported by ingress-nginx"),
        "{err}"
    );
    let removal: rollout_core::spec::SetMirrorRoute =
        serde_json::from_value(json!({"name": "shadow"})).unwrap();
    router.set_mirror_route(&ctx(), &removal).await.unwrap();
    let extra: rollout_core::status::WeightDestination = serde_json::from_value(json!({
        "serviceName": "exp", "podTemplateHash": "abc", "weight": 10
    }))
    .unwrap();
    let err = router
        .set_weight(&ctx(), 20, &[extra])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "Experiment template weight is only available for TrafficRouting with SMI, ALB, Istio and Plugins at this time"
        ),
        "{err}"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn verify_reads_the_stored_weight() {
    let (router, mut api) = router();
    let call = mock_api::spawn(async move {
        let at_20 = router.verify_weight(&ctx(), 20, &[]).await.unwrap();
        let at_30 = router.verify_weight(&ctx(), 30, &[]).await.unwrap();
        (at_20, at_30)
    });
    api.next(reply(200, &stored(20))).await;
    api.next(reply(200, &stored(20))).await;
    assert_eq!(
        call.result().await,
        (Verified::Verified, Verified::NotVerified)
    );
}

#[tokio::test]
async fn every_request_names_the_router_in_its_user_agent() {
    let (router, mut api) = router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    let agent = concat!("rollgate-nginx/", env!("CARGO_PKG_VERSION"));
    for response in [
        reply(200, &stable()),
        reply(404, &not_found()),
        reply(200, &stored(20)),
    ] {
        let seen = api.next(response).await;
        assert_eq!(
            seen.user_agent, agent,
            "{} {}",
            seen.method, seen.path_and_query
        );
    }
    call.result().await.unwrap();
}

#[tokio::test]
async fn a_route_not_in_managed_routes_is_refused_before_any_request() {
    let (router, mut api) = router();
    let step: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "gamma", "match": [{"headerName": "x-gamma", "headerValue": {"exact": "1"}}]
    }))
    .unwrap();
    let err = router
        .set_header_route(&ctx(), &step)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "rollout default/web: setHeaderRoute gamma: the route is not listed in \
         spec.strategy.canary.trafficRouting.managedRoutes (beta, shadow); a route not listed \
         there could never be removed, so nothing was changed"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_api_error_is_one_line_naming_the_ingress_the_code_and_the_message() {
    let (router, mut api) = router();
    let call = mock_api::spawn(async move { router.set_weight(&ctx(), 20, &[]).await });
    api.next(reply(200, &stable())).await;
    api.next(reply(404, &not_found())).await;
    let invalid = status(
        422,
        "Invalid",
        "Ingress.networking.k8s.io \"web-web-canary\" is invalid: metadata.annotations: Too long",
    );
    api.next(reply(422, &invalid)).await;
    let err = call.result().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "Ingress default/web-web-canary: 422 Invalid: Ingress.networking.k8s.io \"web-web-canary\" \
         is invalid: metadata.annotations: Too long"
    );
}

/// `deleteCanaryIngressOnCompletion` reads "fully promoted" from the
/// context: weight 0 deletes the canary Ingress only once the rollout is.
#[tokio::test]
async fn weight_zero_on_a_promoted_rollout_deletes_the_canary_ingress() {
    let config = json!({"stableIngress": "web", "deleteCanaryIngressOnCompletion": true});
    let (nginx, mut api) = router();
    let promoted = RolloutContext {
        promoted: true,
        config: config.clone(),
        ..ctx()
    };
    let call = mock_api::spawn(async move { nginx.set_weight(&promoted, 0, &[]).await });
    api.next(reply(200, &stable())).await;
    api.next(reply(200, &stored(0))).await;
    let delete = api.next(reply(200, &stored(0))).await;
    assert_eq!(
        (delete.method.as_str(), delete.path_and_query.as_str()),
        ("DELETE", &*format!("{INGRESSES}/web-web-canary?"))
    );
    call.result().await.unwrap();
    api.no_more_requests().await;

    // Mid-update, weight 0 keeps the canary Ingress: nothing to change.
    let (nginx, mut api) = router();
    let updating = RolloutContext { config, ..ctx() };
    let call = mock_api::spawn(async move { nginx.set_weight(&updating, 0, &[]).await });
    api.next(reply(200, &stable())).await;
    api.next(reply(200, &stored(0))).await;
    call.result().await.unwrap();
    api.no_more_requests().await;
}

/// A whole target (rollout-core's desired traffic) that changes the weight
/// and sets a header route is one read of each Ingress and one apply
/// carrying both.
#[tokio::test]
async fn a_weight_and_a_header_route_together_are_one_apply() {
    let (router, mut api) = router();
    let beta: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]
    }))
    .unwrap();
    let target = router_core::TrafficTarget {
        canary_weight: Some(40),
        routes: router_core::Routes::Exactly {
            header: vec![beta],
            mirror: Vec::new(),
        },
        ..Default::default()
    };
    let call = mock_api::spawn(async move { router.apply(&ctx(), &target).await });
    api.next(reply(200, &stable())).await;
    api.next(reply(200, &stored(20))).await;
    let apply = api.next(reply(200, &stored(40))).await;
    assert_eq!(apply.method, "PATCH");
    assert_eq!(
        apply.body,
        applied_with_beta(40, "canary-by-header-value", "yes")
    );
    call.result().await.unwrap();
    api.no_more_requests().await;
}

/// Two header routes in one target cannot be carried by one canary
/// Ingress: refused before any request.
#[tokio::test]
async fn two_header_routes_at_once_are_refused_before_any_request() {
    let (router, mut api) = router();
    let route = |name: &str| -> rollout_core::spec::SetHeaderRoute {
        serde_json::from_value(json!({
            "name": name, "match": [{"headerName": format!("x-{name}"), "headerValue": {"exact": "1"}}]
        }))
        .unwrap()
    };
    let mut c = ctx();
    c.managed_routes.push(ManagedRoute::header("gamma"));
    let target = router_core::TrafficTarget {
        canary_weight: Some(10),
        routes: router_core::Routes::Exactly {
            header: vec![route("beta"), route("gamma")],
            mirror: Vec::new(),
        },
        ..Default::default()
    };
    let err = router.apply(&c, &target).await.unwrap_err().to_string();
    assert!(err.contains("one header route per canary Ingress"), "{err}");
    api.no_more_requests().await;
}

/// With the watch cache on (the binary's default) and synced, a target the
/// canary Ingress already carries costs no request at all, and neither
/// does verifying it.
#[tokio::test]
async fn an_unchanged_target_costs_no_request_once_the_cache_is_synced() {
    let (router, served) = cached_router(vec![stable(), stored(20)]);
    let target = router_core::TrafficTarget::weight(20, &[]);
    router.apply(&ctx(), &target).await.unwrap();
    // The list answered, the watches are open: the cache is synced.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        served.lines().iter().all(|line| !line.starts_with("PATCH")),
        "{:?}",
        served.lines()
    );
    served.clear();
    router.apply(&ctx(), &target).await.unwrap();
    assert_eq!(
        router.verify(&ctx(), &target).await.unwrap(),
        Verified::Verified
    );
    assert_eq!(served.lines(), Vec::<String>::new());
}

/// [`applied`] carrying the header route `beta` on `x-beta`, matched by
/// `annotation` (`canary-by-header-value` or `-pattern`) = `value`.
fn applied_with_beta(weight: i32, annotation: &str, value: &str) -> Value {
    let mut want = applied(weight);
    let annotations = want["metadata"]["annotations"].as_object_mut().unwrap();
    annotations.insert(
        "nginx.ingress.kubernetes.io/canary-by-header".into(),
        json!("x-beta"),
    );
    annotations.insert(
        format!("nginx.ingress.kubernetes.io/{annotation}"),
        json!(value),
    );
    annotations.insert("rollgate.dev/header-route".into(), json!("beta"));
    want
}

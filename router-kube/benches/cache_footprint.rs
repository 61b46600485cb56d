//! What the watch cache costs in memory per object: 1,000 HTTPRoutes of
//! about 1.5 KB (as JSON, without managed fields) held as `serde_json::Value`
//! trees, as kube's `DynamicObject` (what a kube-runtime reflector store
//! keeps), as the cache's `CachedObject` (LZ4-compressed JSON text), and in an
//! applier's watch cache filled from a (mock) API server's list.
//!
//! Heap bytes and blocks are counted by dhat's allocator (bytes asked of
//! the allocator; glibc adds about 8 to 16 bytes per block on top, shown
//! as the estimate). Run with
//!
//! ```text
//! cargo bench -p router-kube --bench cache_footprint
//! ```

use std::time::Duration;

use kube::api::{ApiResource, DynamicObject};
use kube::core::Selector;
use rollgate_testkit::heap::{footprint, header, heap};
use rollgate_testkit::mock_api::{MockApi, empty_reply, reply};
use router_kube::client::{LazyClient, UserAgent, client_with_service};
use router_kube::{Applier, ApplierOptions, CachedObject, ObjectRef};
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const OBJECTS: usize = 1_000;

/// HTTPRoute `i` as the API server returns it: metadata, three rules with
/// matches, filters and weighted backends, the status of one parent, and
/// managed fields of two managers.
fn route(i: usize) -> Value {
    let condition = |kind: &str| {
        json!({"type": kind, "status": "True", "reason": kind, "message": format!("Route is {kind}"),
               "observedGeneration": 4, "lastTransitionTime": "2026-11-30T12:00:00Z"})
    };
    let backends = |w: i64| {
        json!([{"group": "", "kind": "Service", "name": format!("shop-{i}-canary"), "port": 8080, "weight": w},
               {"group": "", "kind": "Service", "name": format!("shop-{i}-stable"), "port": 8080, "weight": 100 - w}])
    };
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {
            "name": format!("shop-{i}"), "namespace": "shop",
            "uid": format!("6f1c2b7e-4a1d-4c8e-9b1a-{i:012}"),
            "resourceVersion": (100_000 + i).to_string(), "generation": 4,
            "creationTimestamp": "2026-11-30T12:00:00Z",
            "labels": {"app.kubernetes.io/name": format!("shop-{i}"), "app.kubernetes.io/part-of": "shop",
                       "rollouts.argoproj.io/gatewayapi-canary": "in-progress"},
            "managedFields": [
                {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "gateway.networking.k8s.io/v1",
                 "time": "2026-11-30T12:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {}}},
                              "f:spec": {".": {}, "f:hostnames": {}, "f:parentRefs": {}, "f:rules": {}}}},
                {"manager": "rollgate-gatewayapi", "operation": "Update", "apiVersion": "gateway.networking.k8s.io/v1",
                 "time": "2026-11-30T12:05:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:rollouts.argoproj.io/gatewayapi-canary": {}}},
                              "f:spec": {"f:rules": {}}}}
            ]
        },
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "gateways"}],
            "hostnames": [format!("shop-{i}.example.com")],
            "rules": [
                {"name": "main", "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": backends(20)},
                {"name": "api", "matches": [{"path": {"type": "PathPrefix", "value": "/api"},
                                             "headers": [{"type": "Exact", "name": "x-api-version", "value": "2"}]}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-shop", "value": "api"}]}}],
                 "timeouts": {"request": "10s"},
                 "backendRefs": backends(20)}
            ]
        },
        "status": {"parents": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "gateways"},
                                "controllerName": "example.com/gateway-controller",
                                "conditions": [condition("Accepted"), condition("ResolvedRefs")]}]}
    })
}

fn without_managed_fields(mut route: Value) -> Value {
    route["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("managedFields");
    route
}

fn routes_resource() -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

/// Answers the cache's list with `list` and holds its watches open; every
/// request in its own task.
fn serve(mut api: MockApi, list: Vec<u8>) {
    tokio::spawn(async move {
        while let Some((seen, send)) = api.next_within(Duration::from_secs(3600)).await {
            let list = (!seen.has_query("watch=true")).then(|| list.clone());
            tokio::spawn(async move {
                if seen.has_query("watch=true") {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    send.send_response(empty_reply());
                } else if let Some(list) = list.filter(|_| seen.path.ends_with("/httproutes")) {
                    let response = http::Response::builder()
                        .status(200)
                        .body(kube::client::Body::from(list))
                        .expect("a response");
                    send.send_response(response);
                } else {
                    send.send_response(reply(404, &json!({"kind": "Status", "code": 404})));
                }
            });
        }
    });
}

/// The heap an applier's watch cache of `OBJECTS` routes holds once synced.
fn applier_cache() -> (usize, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let items: Vec<Value> = (0..OBJECTS).map(route).collect();
        let list = serde_json::to_vec(&json!({"apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRouteList", "metadata": {"resourceVersion": "200000"}, "items": items}))
        .expect("JSON");
        drop(items);
        let (service, api) = MockApi::new();
        let agent = UserAgent::new("rollgate-bench", "0").expect("a user agent");
        let client = client_with_service(service, "default", &agent);
        serve(api, list);
        let applier = Applier::with_options(LazyClient::ready(client), ApplierOptions::default())
            .expect("options");
        let resource = routes_resource();
        let everything = Selector::default();
        // Warm up what every applier has (the client, its buffer task).
        applier.client().await.expect("a client");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (bytes, blocks) = heap();
        let probe = ObjectRef::new(&resource, "shop", "shop-0");
        let _ = applier.get(&probe).await;
        for _ in 0..500 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let found = applier
                .list(&resource, "shop", &everything)
                .await
                .expect("a list");
            if found.len() == OBJECTS {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (after_bytes, after_blocks) = heap();
        assert!(applier.get(&probe).await.expect("a read").is_some());
        drop(applier);
        (after_bytes - bytes, after_blocks - blocks)
    })
}

fn row(name: &str, bytes: usize, blocks: usize) {
    rollgate_testkit::heap::row(name, OBJECTS, bytes, blocks);
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let served: Vec<Value> = (0..OBJECTS).map(route).collect();
    let stripped: Vec<Value> = served.iter().cloned().map(without_managed_fields).collect();
    let text: usize = served
        .iter()
        .map(|r| serde_json::to_vec(r).expect("JSON").len())
        .sum();
    let stripped_text: usize = stripped
        .iter()
        .map(|r| serde_json::to_vec(r).expect("JSON").len())
        .sum();
    println!(
        "{OBJECTS} HTTPRoutes: {:.0} bytes of JSON each as served, {:.0} without managed fields\n",
        text as f64 / OBJECTS as f64,
        stripped_text as f64 / OBJECTS as f64
    );
    header(OBJECTS);
    let (values, bytes, blocks) = footprint(|| stripped.to_vec());
    row("serde_json::Value (no managed fields)", bytes, blocks);
    drop(values);
    let (values, bytes, blocks) = footprint(|| served.to_vec());
    row("serde_json::Value (as served)", bytes, blocks);
    drop(values);
    let (objects, bytes, blocks) = footprint(|| {
        served
            .iter()
            .map(|r| serde_json::from_value::<DynamicObject>(r.clone()).expect("an object"))
            .collect::<Vec<_>>()
    });
    row("kube DynamicObject (a reflector's store)", bytes, blocks);
    drop(objects);
    let (cached, bytes, blocks) =
        footprint(|| served.iter().map(CachedObject::new).collect::<Vec<_>>());
    row("router_kube::CachedObject", bytes, blocks);
    drop(cached);
    drop(served);
    drop(stripped);
    let (bytes, blocks) = applier_cache();
    row("Applier watch cache, synced (end to end)", bytes, blocks);
}

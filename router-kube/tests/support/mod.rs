//! What the applier's request tests share: config maps to read and write,
//! and appliers over the testkit's mock API server.

#![allow(dead_code, unreachable_pub)]

pub mod fake;

use kube::api::ApiResource;
use rollgate_testkit::mock_api::MockApi;
use router_kube::client::{LazyClient, UserAgent, client_with_service};
use router_kube::{Applier, ApplierOptions, ObjectRef, RequestLimit, Write};
use serde_json::{Value, json};

pub const PATH: &str = "/api/v1/namespaces/shop/configmaps/web";
pub const COLLECTION: &str = "/api/v1/namespaces/shop/configmaps";

pub fn config_maps() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&())
}

pub fn web() -> ObjectRef {
    ObjectRef::new(&config_maps(), "shop", "web")
}

/// The config map `name` at `version`, with `weight` and managed fields.
pub fn config_map(name: &str, version: u64, weight: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": version.to_string(),
                     "uid": "u-1", "labels": {"app": "web"},
                     "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
        "data": {"weight": weight}
    })
}

/// A plan that wants `weight`, as a guarded patch.
pub fn want_weight(
    weight: &'static str,
) -> impl FnMut(Option<&Value>) -> Result<Option<Write>, router_core::Error> + Send {
    move |current| {
        let current = current.expect("the object exists");
        if current["data"]["weight"] == weight {
            return Ok(None);
        }
        let patch = serde_json::from_value(json!([
            {"op": "test", "path": "/data/weight", "value": current["data"]["weight"]},
            {"op": "replace", "path": "/data/weight", "value": weight}
        ]))
        .unwrap();
        Ok(Some(Write::guarded_patch(patch)))
    }
}

pub fn agent() -> UserAgent {
    UserAgent::new("rollgate-test", "1.2.3").unwrap()
}

/// An applier with `options` over a mock API server.
pub fn applier(options: ApplierOptions) -> (Applier, MockApi) {
    let (service, api) = MockApi::new();
    let client = client_with_service(service, "default", &agent());
    let applier = Applier::with_options(LazyClient::ready(client), options).unwrap();
    (applier, api)
}

/// With the watch cache (the default).
pub fn cached() -> ApplierOptions {
    ApplierOptions::default()
}

/// Without the watch cache, at `qps` with a burst of 1.
pub fn limited(qps: f64) -> ApplierOptions {
    ApplierOptions {
        request_limit: Some(RequestLimit { qps, burst: 1 }),
        ..ApplierOptions::uncached()
    }
}

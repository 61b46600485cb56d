//! plan() throughput on a 50-rule HTTPRoute: a weight change, and an
//! unchanged state (the common case on every reconcile).
//!
//! Run: `cargo bench -p router-gatewayapi --bench plan`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rollout_core::spec::{HeaderMatch, SetHeaderRoute, StringMatch};
use router_gatewayapi::config::RouteKind;
use router_gatewayapi::plan::{Route, Services, plan_header_route, plan_weights};
use serde_json::json;

fn fifty_rules(canary: i64) -> serde_json::Value {
    let rules: Vec<_> = (0..50)
        .map(|i| {
            json!({
                "matches": [{"path": {"type": "PathPrefix", "value": format!("/svc{i}")}, "method": "GET"}],
                "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-rule", "value": i.to_string()}]}}],
                "backendRefs": [
                    {"name": "web-canary", "port": 80, "weight": canary},
                    {"name": "web-stable", "port": 80, "weight": 100 - canary},
                    {"name": format!("legacy-{i}"), "port": 80, "weight": 1}
                ]
            })
        })
        .collect();
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default"}, "spec": {"rules": rules}})
}

fn bench(c: &mut Criterion) {
    let services = Services {
        canary: "web-canary",
        stable: "web-stable",
        namespace: "default",
    };
    let managed = vec!["beta".to_owned()];
    let mut group = c.benchmark_group("plan, 50-rule HTTPRoute");
    group.throughput(Throughput::Elements(1));

    let before = fifty_rules(0);
    let route = Route {
        object: &before,
        kind: RouteKind::Http,
        managed: &managed,
    };
    group.bench_function("weights, change", |b| {
        b.iter(|| plan_weights(black_box(&route), &services, 30, 100, &[]).unwrap())
    });
    let steady = fifty_rules(30);
    let route = Route {
        object: &steady,
        kind: RouteKind::Http,
        managed: &managed,
    };
    group.bench_function("weights, unchanged", |b| {
        b.iter(|| plan_weights(black_box(&route), &services, 30, 100, &[]).unwrap())
    });
    let step = SetHeaderRoute {
        name: "beta".into(),
        matches: vec![HeaderMatch {
            header_name: "x-beta".into(),
            header_value: StringMatch {
                exact: Some("yes".into()),
                ..Default::default()
            },
        }],
    };
    group.bench_function("header route, 50 source rules", |b| {
        b.iter(|| plan_header_route(black_box(&route), &services, &step).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

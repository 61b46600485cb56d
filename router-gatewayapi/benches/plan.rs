//! plan() throughput on the largest HTTPRoutes Gateway API allows (16
//! rules): a weight change, an unchanged state (the common case on every
//! reconcile), a header route over 8 rules (8 more make 16), and a weight
//! with a header route in one plan.
//!
//! Run: `cargo bench -p router-gatewayapi --bench plan`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rollout_core::spec::{HeaderMatch, SetHeaderRoute, StringMatch};
use router_core::TrafficTarget;
use router_gatewayapi::config::RouteKind;
use router_gatewayapi::plan::{Route, Routing, Services, plan};
use serde_json::json;

fn rules(n: usize, canary: i64) -> serde_json::Value {
    let rules: Vec<_> = (0..n)
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
    let routing = Routing {
        managed_routes: &managed,
        ..Routing::new(services)
    };
    let weight = TrafficTarget::weight(30, &[]);
    let mut group = c.benchmark_group("plan, 16-rule HTTPRoute");
    group.throughput(Throughput::Elements(1));

    let before = rules(16, 0);
    let route = Route {
        object: &before,
        kind: RouteKind::Http,
    };
    group.bench_function("weights, change", |b| {
        b.iter(|| plan(black_box(&route), &routing, &weight).unwrap())
    });
    let steady = rules(16, 30);
    let route = Route {
        object: &steady,
        kind: RouteKind::Http,
    };
    group.bench_function("weights, unchanged", |b| {
        b.iter(|| plan(black_box(&route), &routing, &weight).unwrap())
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
    let eight = rules(8, 30);
    let route = Route {
        object: &eight,
        kind: RouteKind::Http,
    };
    let header = TrafficTarget::header_route(step.clone());
    group.bench_function("header route, 8 source rules", |b| {
        b.iter(|| plan(black_box(&route), &routing, &header).unwrap())
    });
    let both = TrafficTarget {
        canary_weight: Some(40),
        ..TrafficTarget::header_route(step)
    };
    group.bench_function("weight and header route over 8 rules, one plan", |b| {
        b.iter(|| plan(black_box(&route), &routing, &both).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The router against a real kube-apiserver with the Gateway API CRDs
//! (`scripts/cluster up`, then `eval "$(scripts/cluster env)"`). Runs when
//! `ROLLGATE_E2E=1`; each test works in a namespace of its own.
//!
//! Writes are counted from the API server's audit log, not from the
//! router's own account of what it did.

use router_gatewayapi::KubeRouter;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use router_core::{TrafficRouter, Verified};
use router_gatewayapi::GatewayApiRouter;
use serde_json::json;

mod support;
use support::{channel, cluster, create, ctx, role_client, routes, rule, spec, web_route, weights};

#[tokio::test]
async fn weights_header_and_mirror_routes_then_removal() {
    let Some(cluster) = cluster("routes").await else {
        return;
    };
    let api = routes(&cluster);
    let original = create(&api, web_route()).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = ctx(&cluster, &["beta", "mirror"]);

    router.set_weight(&ctx, 30, &[]).await.unwrap();
    let stored = spec(&api).await;
    assert_eq!(weights(rule(&stored, "main")), (70, 30));
    assert_eq!(rule(&stored, "static"), rule(&original, "static"));
    assert_eq!(
        rule(&stored, "main")["filters"],
        original["rules"][0]["filters"]
    );

    let header: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta",
        "match": [{"headerName": "x-beta", "headerValue": {"prefix": "yes."}}]
    }))
    .unwrap();
    router.set_header_route(&ctx, &header).await.unwrap();
    let mirror: rollout_core::spec::SetMirrorRoute = serde_json::from_value(json!({
        "name": "mirror", "percentage": 20,
        "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]
    }))
    .unwrap();
    router.set_mirror_route(&ctx, &mirror).await.unwrap();
    router.set_weight(&ctx, 60, &[]).await.unwrap();

    let stored = spec(&api).await;
    assert_eq!(weights(rule(&stored, "main")), (40, 60));
    let beta = rule(&stored, "beta");
    assert_eq!(
        beta["matches"][0]["headers"][0],
        json!({"type": "RegularExpression", "name": "x-beta", "value": "yes\\..*"})
    );
    assert_eq!(beta["backendRefs"].as_array().unwrap().len(), 1);
    assert_eq!(beta["backendRefs"][0]["name"], "web-canary");
    let main = rule(&original, "main");
    assert_eq!(
        beta["timeouts"], main["timeouts"],
        "the source rule's timeouts"
    );
    assert_eq!(
        beta["filters"], main["filters"],
        "the source rule's filters"
    );
    let mirror_rule = rule(&stored, "mirror");
    assert_eq!(mirror_rule["matches"][0]["method"], "GET");
    assert_eq!(mirror_rule["timeouts"], main["timeouts"]);
    let filters = mirror_rule["filters"].as_array().unwrap();
    assert_eq!(
        filters[0], main["filters"][0],
        "mirrored requests get the user's header modifier first"
    );
    let mirror_filter = filters
        .iter()
        .find(|f| f["type"] == "RequestMirror")
        .expect("a RequestMirror filter");
    assert_eq!(mirror_filter["requestMirror"]["percent"], 20);
    assert_eq!(
        mirror_filter["requestMirror"]["backendRef"]["name"],
        "web-canary"
    );
    // beta is listed before mirror in managedRoutes: requests matching both
    // (GET /api with the header) go to the canary through a companion rule
    // more specific than the mirror route's match, placed before it.
    let companion = rule(&stored, "beta--mirror");
    assert_eq!(companion["matches"][0]["method"], "GET");
    assert_eq!(companion["matches"][0]["path"]["value"], "/api");
    assert_eq!(
        companion["matches"][0]["headers"],
        beta["matches"][0]["headers"]
    );
    assert_eq!(companion["backendRefs"], beta["backendRefs"]);
    let names: Vec<&str> = stored["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main", "static", "beta", "beta--mirror", "mirror"]);

    router.remove_managed_routes(&ctx).await.unwrap();
    router.set_weight(&ctx, 0, &[]).await.unwrap();
    assert_eq!(
        spec(&api).await,
        original,
        "after removal and weight 0 the route is as its owner wrote it"
    );
}

#[tokio::test]
async fn verify_needs_accepted_parents_for_the_current_generation() {
    let Some(cluster) = cluster("verify").await else {
        return;
    };
    let api = routes(&cluster);
    create(&api, web_route()).await;
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = ctx(&cluster, &[]);

    router.set_weight(&ctx, 30, &[]).await.unwrap();
    assert_eq!(
        router.verify_weight(&ctx, 30, &[]).await.unwrap(),
        Verified::NotVerified,
        "no gateway has accepted the route yet"
    );
    accept(&api).await;
    eventually_verified(&router, &ctx, 30).await;
    assert_eq!(
        router.verify_weight(&ctx, 50, &[]).await.unwrap(),
        Verified::NotVerified,
        "the stored weights are 30, not 50"
    );

    router.set_weight(&ctx, 50, &[]).await.unwrap();
    assert_eq!(
        router.verify_weight(&ctx, 50, &[]).await.unwrap(),
        Verified::NotVerified,
        "the gateway has not seen the new generation"
    );
    accept(&api).await;
    eventually_verified(&router, &ctx, 50).await;
}

/// Asks until the router verifies `weight`, as a controller does on its
/// next reconciles: the watch cache sees the gateway's status a moment
/// after the API server stores it.
async fn eventually_verified(
    router: &GatewayApiRouter,
    ctx: &router_core::RolloutContext,
    weight: i32,
) {
    for _ in 0..100 {
        if router.verify_weight(ctx, weight, &[]).await.unwrap() == Verified::Verified {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("weight {weight} not verified within 5 s of the gateway accepting the route");
}

/// Writes the route's status as a gateway controller would on accepting it.
async fn accept(api: &Api<DynamicObject>) {
    let generation = api.get("web").await.unwrap().metadata.generation.unwrap();
    let condition = |kind: &str| {
        json!({"type": kind, "status": "True", "reason": kind, "message": "",
               "observedGeneration": generation, "lastTransitionTime": "2026-11-22T00:00:00Z"})
    };
    let status = json!({"status": {"parents": [{
        "parentRef": {"name": "gw"}, "controllerName": "example.com/gateway",
        "conditions": [condition("Accepted"), condition("ResolvedRefs")]
    }]}});
    api.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("write the route status");
}

#[tokio::test]
async fn a_concurrent_writer_loses_nothing() {
    let Some(cluster) = cluster("concurrent").await else {
        return;
    };
    let api = routes(&cluster);
    create(&api, web_route()).await;
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = ctx(&cluster, &[]);

    // Another controller, writing with optimistic concurrency as controllers
    // do: each round inserts a rule at the front (shifting every index the
    // router's patch guards) and adds a header to the weighted rule's filter.
    let writer = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut conflicts = 0;
            for round in 0..8 {
                loop {
                    let mut route = api.get("web").await.unwrap();
                    let rules = route.data["spec"]["rules"].as_array_mut().unwrap();
                    rules.insert(
                        0,
                        json!({"name": format!("user-{round}"),
                               "matches": [{"path": {"type": "Exact", "value": format!("/user/{round}")}}],
                               "backendRefs": [{"name": "user", "port": 80}]}),
                    );
                    let main = rules.iter_mut().find(|r| r["name"] == "main").unwrap();
                    main["filters"][0]["requestHeaderModifier"]["add"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"name": format!("x-user-{round}"), "value": "1"}));
                    match api.replace("web", &PostParams::default(), &route).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(e)) if e.code == 409 => conflicts += 1,
                        Err(e) => panic!("writer: {e}"),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            conflicts
        })
    };
    let mut last = 0;
    for step in 0..40 {
        last = 5 + (step * 7) % 90;
        router.set_weight(&ctx, last, &[]).await.unwrap();
    }
    let conflicts = writer.await.unwrap();
    eprintln!("writer conflicts: {conflicts}");

    let stored = spec(&api).await;
    let names: Vec<&str> = stored["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "user-7", "user-6", "user-5", "user-4", "user-3", "user-2", "user-1", "user-0", "main",
            "static"
        ]
    );
    let headers: Vec<&str> = rule(&stored, "main")["filters"][0]["requestHeaderModifier"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        headers,
        [
            "x-via", "x-user-0", "x-user-1", "x-user-2", "x-user-3", "x-user-4", "x-user-5",
            "x-user-6", "x-user-7"
        ]
    );
    assert_eq!(
        weights(rule(&stored, "main")),
        (100 - i64::from(last), i64::from(last))
    );
}

#[tokio::test]
async fn an_idle_reconcile_writes_nothing_and_with_a_cache_reads_nothing() {
    let Some(cluster) = cluster("idle").await else {
        return;
    };
    let api = routes(&cluster);
    create(&api, web_route()).await;
    // As Argo does: every call carries the rollout's managed routes.
    let ctx = ctx(&cluster, &["beta"]);
    let header: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]
    }))
    .unwrap();

    let router = GatewayApiRouter::with_client_uncached(role_client(&cluster).await);
    router.set_weight(&ctx, 30, &[]).await.unwrap();
    router.set_header_route(&ctx, &header).await.unwrap();
    cluster.audit_barrier().await;
    let before = cluster.audited("httproutes", "web");
    for _ in 0..20 {
        router.set_weight(&ctx, 30, &[]).await.unwrap();
        router.set_header_route(&ctx, &header).await.unwrap();
    }
    cluster.audit_barrier().await;
    let idle = &cluster.audited("httproutes", "web")[before.len()..];
    assert!(
        idle.iter().all(|verb| verb == "get"),
        "40 idle calls: only reads, got {idle:?}"
    );
    assert_eq!(idle.len(), 40, "one read per idle call without a cache");

    // The default: the watch cache on.
    let cached = GatewayApiRouter::with_client(role_client(&cluster).await);
    cached.set_weight(&ctx, 30, &[]).await.unwrap();
    cluster.audit_barrier().await;
    let before = cluster.audited("httproutes", "web").len();
    for _ in 0..20 {
        cached.set_weight(&ctx, 30, &[]).await.unwrap();
        cached.set_header_route(&ctx, &header).await.unwrap();
    }
    cluster.audit_barrier().await;
    let idle = &cluster.audited("httproutes", "web")[before..];
    assert!(
        idle.is_empty(),
        "with a watch cache: no requests, got {idle:?}"
    );

    // A change still costs exactly one write.
    cached.set_weight(&ctx, 40, &[]).await.unwrap();
    cluster.audit_barrier().await;
    let change = &cluster.audited("httproutes", "web")[before..];
    assert_eq!(change, ["patch"], "one weight change, one patch");
}

#[tokio::test]
async fn a_user_rule_to_the_stable_service_keeps_its_weight_at_every_step() {
    let Some(cluster) = cluster("user-rule").await else {
        return;
    };
    let api = routes(&cluster);
    let mut route = web_route();
    // The user's own rule: requests with x-beta: 1 always go to stable.
    route["spec"]["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"name": "beta-users",
               "matches": [{"headers": [{"type": "Exact", "name": "x-beta", "value": "1"}]}],
               "backendRefs": [{"name": "web-stable", "port": 80, "weight": 1}]}),
    );
    let original = create(&api, route).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = ctx(&cluster, &[]);
    for weight in [1, 80, 40, 100, 0] {
        router.set_weight(&ctx, weight, &[]).await.unwrap();
        let stored = spec(&api).await;
        assert_eq!(
            rule(&stored, "beta-users"),
            rule(&original, "beta-users"),
            "at canary weight {weight}"
        );
        assert_eq!(
            weights(rule(&stored, "main")),
            (100 - i64::from(weight), i64::from(weight))
        );
    }
}

#[tokio::test]
async fn the_audit_log_names_the_router_and_an_unlisted_route_writes_nothing() {
    let Some(cluster) = cluster("agent").await else {
        return;
    };
    let api = routes(&cluster);
    let original = create(&api, web_route()).await.data["spec"].clone();
    let rbac = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rbac/rollgate-gatewayapi.yaml"
    );
    // The client the binary builds, with the documented permissions.
    let router = GatewayApiRouter::from_config(cluster.config_with_role(rbac.as_ref()).await);
    let ctx = ctx(&cluster, &["beta"]);
    router.set_weight(&ctx, 30, &[]).await.unwrap();
    let unlisted: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "gamma", "match": [{"headerName": "x-gamma", "headerValue": {"exact": "1"}}]
    }))
    .unwrap();
    let err = router
        .set_header_route(&ctx, &unlisted)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("setHeaderRoute gamma") && err.contains("managedRoutes"),
        "{err}"
    );
    cluster.audit_barrier().await;
    let requests = cluster.audited_requests("httproutes", "web");
    let ours: Vec<_> = requests
        .iter()
        .filter(|r| r.user_agent.starts_with("rollgate-gatewayapi/"))
        .map(|r| (r.verb.as_str(), r.user_agent.as_str()))
        .collect();
    let agent = concat!("rollgate-gatewayapi/", env!("CARGO_PKG_VERSION"));
    assert_eq!(ours, [("get", agent), ("patch", agent)], "{requests:?}");
    let stored = spec(&api).await;
    assert_eq!(
        stored["rules"].as_array().unwrap().len(),
        2,
        "no rule added"
    );
    assert_eq!(rule(&stored, "static"), rule(&original, "static"));
}

#[tokio::test]
async fn tcp_and_tls_routes_at_the_served_version() {
    let Some(cluster) = cluster("l4").await else {
        return;
    };
    eprintln!("Gateway API channel: {}", channel(&cluster).await);
    let backends = json!([{"name": "web-canary", "port": 443, "weight": 0},
                          {"name": "web-stable", "port": 443, "weight": 100}]);
    cluster
        .create(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TCPRoute",
            "metadata": {"name": "db"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": backends}]}}),
        )
        .await;
    cluster
        .create(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TLSRoute",
            "metadata": {"name": "tls"},
            "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["web.example.com"],
                     "rules": [{"backendRefs": backends}]}}),
        )
        .await;
    let rbac = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rbac/rollgate-gatewayapi.yaml"
    );
    let router = GatewayApiRouter::from_config(cluster.config_with_role(rbac.as_ref()).await);
    router.init().await.unwrap();
    let mut ctx = ctx(&cluster, &[]);
    ctx.config = json!({"tcpRoute": "db", "tlsRoute": "tls"});
    router.set_weight(&ctx, 25, &[]).await.unwrap();
    for (kind, name) in [("TCPRoute", "db"), ("TLSRoute", "tls")] {
        let stored = cluster
            .api("gateway.networking.k8s.io", "v1", kind)
            .get(name)
            .await
            .unwrap();
        assert_eq!(
            weights(&stored.data["spec"]["rules"][0]),
            (75, 25),
            "{kind} {name}"
        );
    }
    // A router that never ran init finds the versions on its own too.
    let fresh = GatewayApiRouter::from_config(cluster.config_with_role(rbac.as_ref()).await);
    fresh.set_weight(&ctx, 50, &[]).await.unwrap();
    assert_eq!(
        fresh.verify_weight(&ctx, 50, &[]).await.unwrap(),
        Verified::NotVerified,
        "weights in place, but no gateway accepted the routes"
    );
}

#[tokio::test]
async fn grpc_header_and_mirror_routes_then_removal() {
    let Some(cluster) = cluster("grpc").await else {
        return;
    };
    let created = cluster
        .create(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": "api"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"name": "main",
                "matches": [{"method": {"service": "shop.Cart"}}],
                "filters": [{"type": "RequestHeaderModifier",
                             "requestHeaderModifier": {"add": [{"name": "x-via", "value": "gw"}]}}],
                "backendRefs": [{"name": "web-stable", "port": 9000, "weight": 90},
                                {"name": "web-canary", "port": 9000, "weight": 10}]}]}}),
        )
        .await;
    let original = created.data["spec"].clone();
    let api = cluster.api("gateway.networking.k8s.io", "v1", "GRPCRoute");
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let mut ctx = ctx(&cluster, &["beta", "shadow"]);
    ctx.config = json!({"grpcRoute": "api"});
    let header: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]
    }))
    .unwrap();
    let mirror: rollout_core::spec::SetMirrorRoute = serde_json::from_value(json!({
        "name": "shadow", "percentage": 20, "match": [{"path": {"exact": "/shop.Cart/Add"}}]
    }))
    .unwrap();
    router.set_header_route(&ctx, &header).await.unwrap();
    router.set_mirror_route(&ctx, &mirror).await.unwrap();
    let stored = api.get("api").await.unwrap().data["spec"].clone();
    let names: Vec<&str> = stored["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main", "beta", "beta--shadow", "shadow"]);
    let shadow = rule(&stored, "shadow");
    assert_eq!(shadow["matches"][0]["method"]["method"], "Add");
    assert_eq!(shadow["filters"][0], original["rules"][0]["filters"][0]);
    assert_eq!(shadow["filters"][1]["requestMirror"]["percent"], 20);
    // Setting the same routes again changes nothing.
    router.set_header_route(&ctx, &header).await.unwrap();
    router.set_mirror_route(&ctx, &mirror).await.unwrap();
    assert_eq!(api.get("api").await.unwrap().data["spec"], stored);
    router.remove_managed_routes(&ctx).await.unwrap();
    assert_eq!(api.get("api").await.unwrap().data["spec"], original);
}

#[tokio::test]
async fn header_and_mirror_routes_with_their_companion_are_idle_when_set_again() {
    let Some(cluster) = cluster("idle-precedence").await else {
        return;
    };
    let api = routes(&cluster);
    create(&api, web_route()).await;
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = ctx(&cluster, &["beta", "mirror"]);
    let header: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]
    }))
    .unwrap();
    let mirror: rollout_core::spec::SetMirrorRoute = serde_json::from_value(json!({
        "name": "mirror", "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]
    }))
    .unwrap();
    router.set_weight(&ctx, 30, &[]).await.unwrap();
    router.set_header_route(&ctx, &header).await.unwrap();
    router.set_mirror_route(&ctx, &mirror).await.unwrap();
    assert!(rule(&spec(&api).await, "beta--mirror")["matches"].is_array());
    cluster.audit_barrier().await;
    let before = cluster.audited("httproutes", "web").len();
    for _ in 0..5 {
        router.set_weight(&ctx, 30, &[]).await.unwrap();
        router.set_header_route(&ctx, &header).await.unwrap();
        router.set_mirror_route(&ctx, &mirror).await.unwrap();
    }
    cluster.audit_barrier().await;
    let idle = &cluster.audited("httproutes", "web")[before..];
    assert!(
        idle.iter().all(|verb| verb == "get"),
        "as stored (with the API server's defaults), nothing to write: {idle:?}"
    );
}

/// The backendRef of `service` in a rule: (port, weight).
fn backend(rule: &serde_json::Value, service: &str) -> Option<(i64, i64)> {
    rule["backendRefs"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == service)
        .map(|b| {
            (
                b["port"].as_i64().unwrap_or(0),
                b["weight"].as_i64().unwrap_or(1),
            )
        })
}

#[tokio::test]
async fn experiment_backends_at_every_weight_then_removal() {
    let Some(cluster) = cluster("experiment").await else {
        return;
    };
    let served = channel(&cluster).await;
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let service = json!({"metadata": {"name": "web-exp"},
        "spec": {"ports": [{"name": "metrics", "port": 9090}, {"name": "http", "port": 8080}]}});
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(service).unwrap(),
        )
        .await
        .expect("create the experiment's Service");
    let api = routes(&cluster);
    let original = create(&api, web_route()).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let mut ctx = ctx(&cluster, &[]);
    let exp = |weight: i32| -> rollout_core::status::WeightDestination {
        serde_json::from_value(json!({
            "serviceName": "web-exp", "podTemplateHash": "e1", "weight": weight
        }))
        .unwrap()
    };

    // (canary, experiment) -> (stable, canary, experiment) in the weighted rule.
    for (canary, extra, want) in [
        (10, 5, (85, 10, 5)),
        (0, 0, (100, 0, 0)),
        (0, 100, (0, 0, 100)),
        (100, 0, (0, 100, 0)),
        (20, 10, (70, 20, 10)),
    ] {
        router
            .set_weight(&ctx, canary, &[exp(extra)])
            .await
            .unwrap();
        let stored = api.get("web").await.unwrap();
        let main = rule(&stored.data["spec"], "main");
        let (stable, canary_weight) = weights(main);
        assert_eq!(
            (stable, canary_weight, backend(main, "web-exp")),
            (want.0, want.1, Some((8080, want.2))),
            "{served} channel, canary {canary}, experiment {extra}: {main:#}"
        );
        assert_eq!(main["filters"], original["rules"][0]["filters"]);
        assert_eq!(main["timeouts"], original["rules"][0]["timeouts"]);
        assert_eq!(
            rule(&stored.data["spec"], "static"),
            rule(&original, "static")
        );
        // The same call again writes nothing.
        router
            .set_weight(&ctx, canary, &[exp(extra)])
            .await
            .unwrap();
        let again = api.get("web").await.unwrap();
        assert_eq!(
            again.metadata.resource_version, stored.metadata.resource_version,
            "an unchanged target is no write"
        );
    }

    // An experiment Service that does not exist is an error naming it, and nothing changes.
    let before = spec(&api).await;
    let missing: rollout_core::status::WeightDestination =
        serde_json::from_value(json!({"serviceName": "web-gone", "weight": 5})).unwrap();
    let err = router
        .set_weight(&ctx, 20, &[missing])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("web-gone: not found"), "{err}");
    assert_eq!(spec(&api).await, before);

    // Once the experiment is no longer an extra destination its backendRef goes.
    ctx.previous_additional = vec!["web-exp".into()];
    router.set_weight(&ctx, 0, &[]).await.unwrap();
    assert_eq!(
        spec(&api).await,
        original,
        "{served} channel: at weight 0 without the experiment the route is as its owner wrote it"
    );
}

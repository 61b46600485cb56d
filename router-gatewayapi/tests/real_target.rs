//! Whole traffic targets against a real kube-apiserver with the Gateway API
//! CRDs of either channel (`scripts/cluster up`, `eval "$(scripts/cluster
//! env)"`, and `scripts/cluster gateway-api standard|experimental`): one
//! write per route for any combination of aspects, a rule the rollout does
//! not own byte-identical at canary weights 0 and 100, the rules a config
//! names, and Gateway API's limits refused before the API server would.
//! Runs when `ROLLGATE_E2E=1`; writes are counted from the audit log.

use kube::api::{Patch, PatchParams};
use rollout_core::spec::SetHeaderRoute;
use router_core::{ErrorKind, Routes, TrafficRouter, TrafficTarget};
use router_gatewayapi::GatewayApiRouter;
use router_gatewayapi::KubeRouter;
use router_gatewayapi::plan::{MAX_MATCHES, MAX_MATCHES_PER_RULE, MAX_RULES};
use serde_json::{Value, json};

mod support;
use support::{channel, cluster, create, ctx, role_client, routes, rule, spec, web_route, weights};

fn beta() -> SetHeaderRoute {
    serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]
    }))
    .unwrap()
}

/// What a rollout at `weight` with the header route `beta` (or none) asks.
fn target(weight: i32, header: Option<SetHeaderRoute>) -> TrafficTarget {
    TrafficTarget {
        canary_weight: Some(weight),
        routes: Routes::Exactly {
            header: header.into_iter().collect(),
            mirror: Vec::new(),
        },
        ..TrafficTarget::default()
    }
}

/// The requests on route `web` since `before` requests, dry runs left
/// out (they store nothing).
fn requests_since(cluster: &rollgate_testkit::Cluster, before: usize) -> Vec<String> {
    cluster.audited_requests("httproutes", "web")[before..]
        .iter()
        .filter(|r| !r.dry_run)
        .map(|r| r.verb.clone())
        .collect()
}

/// The stored writes on route `web` since `before` requests.
fn writes_since(cluster: &rollgate_testkit::Cluster, before: usize) -> Vec<String> {
    let mut requests = requests_since(cluster, before);
    requests.retain(|verb| verb != "get");
    requests
}

#[tokio::test]
async fn a_whole_target_is_one_write_and_a_user_rule_stays_byte_identical_at_0_and_100() {
    let Some(cluster) = cluster("target").await else {
        return;
    };
    eprintln!("Gateway API channel: {}", channel(&cluster).await);
    let api = routes(&cluster);
    let mut route = web_route();
    // The user's own rule: requests with x-debug: 1 always go to stable.
    route["spec"]["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "debug-users",
               "matches": [{"headers": [{"type": "Exact", "name": "x-debug", "value": "1"}]}],
               "backendRefs": [{"name": "web-stable", "port": 80, "weight": 1}]}));
    let original = create(&api, route).await.data["spec"].clone();
    let ctx = ctx(&cluster, &["beta"]);
    // Without a cache each call reads the route once; with one (the
    // default), not at all once the cache is filled.
    let plain = GatewayApiRouter::with_client_uncached(role_client(&cluster).await);
    let cached = GatewayApiRouter::with_client(role_client(&cluster).await);
    cached.verify(&ctx, &target(0, None)).await.unwrap();
    let steps = [
        (100, Some(beta())),
        (0, None),
        (100, None),
        (0, Some(beta())),
        (40, Some(beta())),
    ];
    for (router, reads) in [(&plain, ["get"].as_slice()), (&cached, [].as_slice())] {
        for (weight, header) in steps.clone() {
            cluster.audit_barrier().await;
            let before = cluster.audited("httproutes", "web").len();
            let with_header = header.is_some();
            router
                .apply(&ctx, &target(weight, header.clone()))
                .await
                .unwrap();
            cluster.audit_barrier().await;
            let expected: Vec<&str> = reads.iter().copied().chain(["patch"]).collect();
            assert_eq!(
                requests_since(&cluster, before),
                expected,
                "weight {weight} with the header route {with_header}: one write"
            );
            let stored = spec(&api).await;
            assert_eq!(
                rule(&stored, "debug-users"),
                rule(&original, "debug-users"),
                "the user's rule at canary weight {weight}"
            );
            assert_eq!(rule(&stored, "static"), rule(&original, "static"));
            assert_eq!(
                weights(rule(&stored, "main")),
                (100 - i64::from(weight), i64::from(weight))
            );
            let has_beta = stored["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "beta");
            assert_eq!(has_beta, with_header, "at weight {weight}");

            // The same target again: nothing written.
            let before = cluster.audited("httproutes", "web").len();
            router.apply(&ctx, &target(weight, header)).await.unwrap();
            cluster.audit_barrier().await;
            assert_eq!(requests_since(&cluster, before), reads, "idle");
        }
    }
}

#[tokio::test]
async fn a_config_naming_rules_weights_and_copies_only_those() {
    let Some(cluster) = cluster("named-rules").await else {
        return;
    };
    let api = routes(&cluster);
    let mut route = web_route();
    // A second rule with the same two Services that the config does not
    // name: another rollout's, or the user's pinned split.
    route["spec"]["rules"].as_array_mut().unwrap().push(json!({
        "name": "pinned",
        "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
        "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                        {"name": "web-canary", "port": 80, "weight": 0}]}));
    let original = create(&api, route).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let mut ctx = ctx(&cluster, &["beta"]);
    ctx.config =
        json!({"httpRoutes": [{"name": "web", "rules": ["main"], "useHeaderRoutes": true}]});
    for (weight, header) in [
        (0, Some(beta())),
        (40, Some(beta())),
        (100, Some(beta())),
        (100, None),
        (0, None),
    ] {
        let with_header = header.is_some();
        router.apply(&ctx, &target(weight, header)).await.unwrap();
        let stored = spec(&api).await;
        assert_eq!(
            weights(rule(&stored, "main")),
            (100 - i64::from(weight), i64::from(weight))
        );
        assert_eq!(
            rule(&stored, "pinned"),
            rule(&original, "pinned"),
            "the unnamed rule to the same Services at canary weight {weight}"
        );
        assert_eq!(rule(&stored, "static"), rule(&original, "static"));
        let names: Vec<&str> = stored["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        let expected: &[&str] = if with_header {
            &["main", "static", "pinned", "beta"]
        } else {
            &["main", "static", "pinned"]
        };
        assert_eq!(names, expected, "one header copy, of the named rule only");
        if with_header {
            // The copy keeps the named rule's filters and timeouts.
            let copy = rule(&stored, "beta");
            assert_eq!(copy["filters"], rule(&stored, "main")["filters"]);
            assert_eq!(copy["timeouts"], rule(&stored, "main")["timeouts"]);
            assert_eq!(copy["matches"][0]["path"]["value"], "/");
        }
    }

    ctx.config = json!({"httpRoutes": [{"name": "web", "rules": ["main", "api"]}]});
    cluster.audit_barrier().await;
    let before = cluster.audited("httproutes", "web").len();
    let err = router.set_weight(&ctx, 0, &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains(&format!(
            "HTTPRoute {}/web: plugin config rules: the route has no rule named \"api\"",
            cluster.namespace
        )),
        "{err}"
    );
    cluster.audit_barrier().await;
    assert!(writes_since(&cluster, before).is_empty(), "nothing written");
}

/// A route of `n` rules, each with both Services and `matches` path matches.
fn wide_route(n: usize, matches: usize) -> Value {
    let rules: Vec<Value> = (0..n)
        .map(|i| {
            let paths: Vec<Value> = (0..matches)
                .map(|j| json!({"path": {"type": "PathPrefix", "value": format!("/r{i}/p{j}")}}))
                .collect();
            json!({"name": format!("r{i}"), "matches": paths,
                   "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                                   {"name": "web-canary", "port": 80, "weight": 0}]})
        })
        .collect();
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": {"name": "web"},
           "spec": {"parentRefs": [{"name": "gw"}], "rules": rules}})
}

/// Whether the API server accepts `route`'s rules (a server-side dry run).
async fn server_accepts(api: &kube::Api<kube::api::DynamicObject>, route: &Value) -> bool {
    let patch = json!({"spec": {"rules": route["spec"]["rules"]}});
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    match api.patch("web", &params, &Patch::Merge(&patch)).await {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 422 => false,
        Err(e) => panic!("dry run: {e}"),
    }
}

#[tokio::test]
async fn the_limits_are_the_api_servers_and_a_layout_past_them_writes_nothing() {
    let Some(cluster) = cluster("limits").await else {
        return;
    };
    eprintln!("Gateway API channel: {}", channel(&cluster).await);
    let api = routes(&cluster);
    create(&api, wide_route(9, 1)).await;
    // The constants are the CRDs': the API server takes the largest route
    // and refuses one more rule, match per rule or match in all.
    for (rules, matches, accepted) in [
        (MAX_RULES, 1, true),
        (MAX_RULES + 1, 1, false),
        (1, MAX_MATCHES_PER_RULE, true),
        (1, MAX_MATCHES_PER_RULE + 1, false),
        (2, MAX_MATCHES / 2, true),
        (3, MAX_MATCHES / 3 + 1, false),
    ] {
        assert_eq!(
            server_accepts(&api, &wide_route(rules, matches)).await,
            accepted,
            "{rules} rules of {matches} matches"
        );
    }
    // Nine rules of the rollout's, each getting a header rule: 18 rules.
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = ctx(&cluster, &["beta"]);
    cluster.audit_barrier().await;
    let before = cluster.audited_requests("httproutes", "web").len();
    let err = router
        .apply(&ctx, &target(30, Some(beta())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "HTTPRoute {}/web: the managed routes would make 18 rules; Gateway API allows at \
             most 16 rules per HTTPRoute (spec.rules); nothing was changed",
            cluster.namespace
        )
    );
    cluster.audit_barrier().await;
    let requests = &cluster.audited_requests("httproutes", "web")[before..];
    assert!(
        requests.iter().all(|r| r.verb == "get"),
        "refused before any write, dry runs included: {requests:?}"
    );
}

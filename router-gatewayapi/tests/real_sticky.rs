//! The sticky session (`stickySession`) against a real kube-apiserver with
//! the Gateway API CRDs: the API server accepts what the router writes (its
//! schemas and validation rules), on the experimental channel
//! (`sessionPersistence`) and on the standard one (cookie rules), and the
//! route is as its owner wrote it at weight 0. Runs when `ROLLGATE_E2E=1`;
//! `scripts/test` runs it on both channels.

use router_gatewayapi::KubeRouter;

use router_core::{Hashes, RolloutContext, TrafficRouter};
use router_gatewayapi::GatewayApiRouter;
use router_gatewayapi::plan::sticky::{record_key, rule_names};
use serde_json::{Value, json};

mod support;
use support::{channel, cluster, create, ctx, role_client, routes, rule, spec, web_route, weights};

/// The rollout's context with `stickySession` set to `sticky`, a canary
/// and a stable version.
fn sticky_ctx(cluster: &rollgate_testkit::Cluster, sticky: Value) -> RolloutContext {
    RolloutContext {
        config: json!({"httpRoute": "web", "stickySession": sticky}),
        hashes: Hashes {
            canary: "c0ffee".into(),
            stable: "5ab1e".into(),
        },
        ..ctx(cluster, &["beta"])
    }
}

/// The names of rollout `name`'s sticky cookie rules in the test's namespace.
fn own_rules(cluster: &rollgate_testkit::Cluster, name: &str) -> [String; 2] {
    rule_names(&format!("{}/{name}", cluster.namespace))
}

fn names(spec: &Value) -> Vec<&str> {
    spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or(""))
        .collect()
}

/// The `Set-Cookie` value a backendRef of rule `main` adds, if any.
fn cookie_of<'a>(spec: &'a Value, service: &str) -> Option<&'a str> {
    let main = rule(spec, "main");
    let backend = main["backendRefs"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == service)?;
    backend["filters"][0]["responseHeaderModifier"]["add"][0]["value"].as_str()
}

#[tokio::test]
async fn auto_uses_what_the_channel_serves_and_leaves_nothing_at_zero() {
    let Some(cluster) = cluster("sticky-auto").await else {
        return;
    };
    let channel = channel(&cluster).await;
    let api = routes(&cluster);
    let original = create(&api, web_route()).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = sticky_ctx(&cluster, json!({"maxAgeSeconds": 3600}));
    let header: rollout_core::spec::SetHeaderRoute = serde_json::from_value(json!({
        "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]
    }))
    .unwrap();

    router.set_weight(&ctx, 30, &[]).await.unwrap();
    router.set_header_route(&ctx, &header).await.unwrap();
    router.set_weight(&ctx, 60, &[]).await.unwrap();
    let stored = spec(&api).await;
    assert_eq!(weights(rule(&stored, "main")), (40, 60));
    assert_eq!(rule(&stored, "static"), rule(&original, "static"));
    let beta = rule(&stored, "beta");
    assert!(beta["sessionPersistence"].is_null(), "{beta:#}");
    assert!(beta["backendRefs"][0]["filters"].is_null(), "{beta:#}");
    if channel == "experimental" {
        assert_eq!(
            rule(&stored, "main")["sessionPersistence"],
            json!({"sessionName": "rollgate-version", "type": "Cookie", "absoluteTimeout": "1h",
                   "cookieConfig": {"lifetimeType": "Permanent"}}),
            "the API server keeps sessionPersistence as written"
        );
        assert_eq!(names(&stored), ["main", "static", "beta"]);
        assert_eq!(cookie_of(&stored, "web-canary"), None);
    } else {
        assert!(rule(&stored, "main")["sessionPersistence"].is_null());
        let [canary_rule, stable_rule] = own_rules(&cluster, "web");
        assert_eq!(
            names(&stored),
            [
                "main",
                "static",
                "beta",
                &format!("beta--{canary_rule}"),
                &format!("beta--{stable_rule}"),
                &canary_rule,
                &stable_rule
            ]
        );
        assert_eq!(
            cookie_of(&stored, "web-canary"),
            Some("rollgate-version=c0ffee; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax")
        );
        let pin = rule(&stored, &stable_rule);
        // The API server fills in the weight (1): one backend takes it all.
        assert_eq!(
            pin["backendRefs"],
            json!([{"group": "", "kind": "Service", "name": "web-stable", "port": 80,
                    "weight": 1}])
        );
        assert_eq!(pin["filters"], rule(&original, "main")["filters"]);
    }

    // Set again: nothing to write.
    cluster.audit_barrier().await;
    let before = cluster.audited("httproutes", "web").len();
    for _ in 0..5 {
        router.set_weight(&ctx, 60, &[]).await.unwrap();
        router.set_header_route(&ctx, &header).await.unwrap();
    }
    cluster.audit_barrier().await;
    let idle = &cluster.audited("httproutes", "web")[before..];
    assert!(idle.is_empty(), "an unchanged sticky session: {idle:?}");

    router.set_weight(&ctx, 100, &[]).await.unwrap();
    let stored = spec(&api).await;
    assert!(rule(&stored, "main")["sessionPersistence"].is_null());
    assert_eq!(cookie_of(&stored, "web-canary"), None);
    assert_eq!(names(&stored), ["main", "static", "beta"]);
    router.remove_managed_routes(&ctx).await.unwrap();
    router.set_weight(&ctx, 0, &[]).await.unwrap();
    assert_eq!(
        spec(&api).await,
        original,
        "at weight 0 the route is as its owner wrote it"
    );
}

#[tokio::test]
async fn cookie_rules_are_accepted_on_every_channel() {
    let Some(cluster) = cluster("sticky-cookie").await else {
        return;
    };
    channel(&cluster).await;
    let api = routes(&cluster);
    let original = create(&api, web_route()).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let mut ctx = sticky_ctx(&cluster, json!({"mode": "cookieRule", "cookieName": "v"}));

    let [canary_rule, _] = own_rules(&cluster, "web");

    router.set_weight(&ctx, 20, &[]).await.unwrap();
    let stored = spec(&api).await;
    assert_eq!(
        cookie_of(&stored, "web-stable"),
        Some("v=5ab1e; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax")
    );
    assert_eq!(
        rule(&stored, &canary_rule)["matches"][0]["headers"],
        json!([{"type": "RegularExpression", "name": "Cookie",
                "value": "^(.*;\\s*)?v=c0ffee(\\s*;.*)?$"}])
    );

    // A new update: the cookie and the rule name the new canary.
    ctx.hashes.canary = "0dd".into();
    router.set_weight(&ctx, 10, &[]).await.unwrap();
    let stored = spec(&api).await;
    assert!(
        cookie_of(&stored, "web-canary").is_some_and(|c| c.starts_with("v=0dd;")),
        "{stored:#}"
    );
    assert_eq!(
        rule(&stored, &canary_rule)["matches"][0]["headers"][0]["value"],
        "^(.*;\\s*)?v=0dd(\\s*;.*)?$"
    );

    router.set_weight(&ctx, 0, &[]).await.unwrap();
    assert_eq!(spec(&api).await, original, "nothing left at weight 0");
}

#[tokio::test]
async fn session_persistence_where_the_crds_lack_it_is_refused() {
    let Some(cluster) = cluster("sticky-sp").await else {
        return;
    };
    let channel = channel(&cluster).await;
    let api = routes(&cluster);
    let original = create(&api, web_route()).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let ctx = sticky_ctx(&cluster, json!({"mode": "sessionPersistence"}));

    let outcome = router.set_weight(&ctx, 20, &[]).await;
    if channel == "standard" {
        let err = outcome.unwrap_err().to_string();
        assert!(
            err.contains(
                "stickySession.mode: sessionPersistence, but the API server's HTTPRoute \
                          has no spec.rules[].sessionPersistence"
            ),
            "{err}"
        );
        assert_eq!(spec(&api).await, original, "nothing was written");
    } else {
        outcome.unwrap();
        let stored = spec(&api).await;
        assert_eq!(
            rule(&stored, "main")["sessionPersistence"]["sessionName"],
            "rollgate-version"
        );
        router.set_weight(&ctx, 0, &[]).await.unwrap();
        assert_eq!(spec(&api).await, original);
    }
}

/// The route's annotations as stored (an empty object when it has none).
async fn annotations(api: &kube::Api<kube::api::DynamicObject>) -> Value {
    let route = api.get("web").await.expect("read the route");
    json!(route.metadata.annotations.unwrap_or_default())
}

/// Sets the (stable, canary) weights of rule `name` in a stored spec.
fn with_weights(mut spec: Value, name: &str, stable: i64, canary: i64) -> Value {
    let rules = spec["rules"].as_array_mut().unwrap();
    let rule = rules.iter_mut().find(|r| r["name"] == name).unwrap();
    for backend in rule["backendRefs"].as_array_mut().unwrap() {
        let canary_ref = backend["name"].as_str().unwrap().ends_with("-canary");
        backend["weight"] = json!(if canary_ref { canary } else { stable });
    }
    spec
}

#[tokio::test]
async fn turned_off_it_takes_back_exactly_what_it_added() {
    let Some(cluster) = cluster("sticky-off").await else {
        return;
    };
    channel(&cluster).await;
    let api = routes(&cluster);
    let mut route = web_route();
    route["metadata"]["annotations"] = json!({"note": "kept"});
    // The user's own response filter on the canary backendRef, which the
    // sticky cookie is merged into.
    route["spec"]["rules"][0]["backendRefs"][1]["filters"] = json!([{
        "type": "ResponseHeaderModifier", "responseHeaderModifier": {"remove": ["server"]}}]);
    let original = create(&api, route).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let key = record_key(&format!("{}/web", cluster.namespace));

    // On (auto: sessionPersistence on the experimental channel, cookie
    // rules on the standard one), then recorded.
    let on = RolloutContext {
        config: json!({"httpRoute": "web", "disableInProgressLabel": true, "stickySession": {}}),
        ..sticky_ctx(&cluster, json!({}))
    };
    router.set_weight(&on, 30, &[]).await.unwrap();
    assert_ne!(
        spec(&api).await,
        with_weights(original.clone(), "main", 70, 30)
    );
    let recorded = annotations(&api).await;
    assert!(recorded[&key].is_string(), "{recorded:#}");
    assert_eq!(recorded["note"], "kept");

    // Off: the config no longer says which cookie; the record does.
    let off = RolloutContext {
        config: json!({"httpRoute": "web", "disableInProgressLabel": true}),
        ..on.clone()
    };
    router.set_weight(&off, 30, &[]).await.unwrap();
    assert_eq!(
        spec(&api).await,
        with_weights(original, "main", 70, 30),
        "everything the sticky session added is gone, the user's filter stays"
    );
    assert_eq!(
        annotations(&api).await,
        json!({"note": "kept"}),
        "the record went"
    );

    // Nothing left to take back: no write.
    cluster.audit_barrier().await;
    let before = cluster.audited("httproutes", "web").len();
    for _ in 0..3 {
        router.set_weight(&off, 30, &[]).await.unwrap();
    }
    cluster.audit_barrier().await;
    let idle = &cluster.audited("httproutes", "web")[before..];
    assert!(idle.is_empty(), "turned off and taken back: {idle:?}");
}

#[tokio::test]
async fn two_sticky_rollouts_share_a_route_and_each_takes_back_its_own() {
    let Some(cluster) = cluster("sticky-shared").await else {
        return;
    };
    channel(&cluster).await;
    let api = routes(&cluster);
    let mut route = web_route();
    route["spec"]["rules"].as_array_mut().unwrap().push(json!({
        "name": "api",
        "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
        "backendRefs": [{"name": "api-stable", "port": 80, "weight": 100},
                        {"name": "api-canary", "port": 80, "weight": 0}]}));
    let original = create(&api, route).await.data["spec"].clone();
    let router = GatewayApiRouter::with_client(role_client(&cluster).await);
    let sticky = |cookie: &str| json!({"mode": "cookieRule", "cookieName": cookie});
    let web = RolloutContext {
        config: json!({"httpRoutes": [{"name": "web", "rules": ["main"]}],
                       "disableInProgressLabel": true, "stickySession": sticky("web-version")}),
        ..sticky_ctx(&cluster, json!({}))
    };
    let api_rollout = RolloutContext {
        name: "api".into(),
        canary_service: "api-canary".into(),
        stable_service: "api-stable".into(),
        config: json!({"httpRoutes": [{"name": "web", "rules": ["api"]}],
                       "disableInProgressLabel": true, "stickySession": sticky("api-version")}),
        hashes: Hashes {
            canary: "a1".into(),
            stable: "a0".into(),
        },
        ..sticky_ctx(&cluster, json!({}))
    };
    let [web_canary, web_stable] = own_rules(&cluster, "web");
    let [api_canary, api_stable] = own_rules(&cluster, "api");
    let web_key = record_key(&format!("{}/web", cluster.namespace));
    let api_key = record_key(&format!("{}/api", cluster.namespace));

    router.set_weight(&web, 30, &[]).await.unwrap();
    router.set_weight(&api_rollout, 20, &[]).await.unwrap();
    let both = spec(&api).await;
    assert_eq!(
        names(&both),
        [
            "main",
            "static",
            "api",
            &web_canary,
            &web_stable,
            &api_canary,
            &api_stable
        ],
        "both rollouts' rules, under names of their own"
    );
    assert_eq!(
        rule(&both, &api_canary)["matches"][0]["headers"][0]["value"],
        "^(.*;\\s*)?api\\-version=a1(\\s*;.*)?$"
    );
    let recorded = annotations(&api).await;
    assert!(recorded[&web_key].is_string() && recorded[&api_key].is_string());

    // Set again, both: nothing to write.
    cluster.audit_barrier().await;
    let before = cluster.audited("httproutes", "web").len();
    router.set_weight(&web, 30, &[]).await.unwrap();
    router.set_weight(&api_rollout, 20, &[]).await.unwrap();
    cluster.audit_barrier().await;
    let idle = &cluster.audited("httproutes", "web")[before..];
    assert!(idle.is_empty(), "two unchanged sticky sessions: {idle:?}");

    // web aborts: its part goes, api's stays byte-identical.
    router.set_weight(&web, 0, &[]).await.unwrap();
    let after = spec(&api).await;
    assert_eq!(
        names(&after),
        ["main", "static", "api", &api_canary, &api_stable]
    );
    assert_eq!(rule(&after, "main"), rule(&original, "main"));
    for name in ["api", api_canary.as_str(), api_stable.as_str()] {
        assert_eq!(rule(&after, name), rule(&both, name), "{name}");
    }
    let recorded = annotations(&api).await;
    assert!(recorded.get(&web_key).is_none(), "{recorded:#}");
    assert!(recorded[&api_key].is_string());

    // api's sticky session turned off: the route is as its owner wrote it,
    // but for api's weights.
    let api_off = RolloutContext {
        config: json!({"httpRoutes": [{"name": "web", "rules": ["api"]}],
                       "disableInProgressLabel": true}),
        ..api_rollout.clone()
    };
    router.set_weight(&api_off, 20, &[]).await.unwrap();
    assert_eq!(spec(&api).await, with_weights(original, "api", 80, 20));
    assert_eq!(annotations(&api).await, json!({}), "no record left");
}

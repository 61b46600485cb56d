//! The sticky session (`stickySession`) against a real kube-apiserver with
//! the Gateway API CRDs: the API server accepts what the router writes (its
//! schemas and validation rules), on the experimental channel
//! (`sessionPersistence`) and on the standard one (cookie rules), and the
//! route is as its owner wrote it at weight 0. Runs when `ROLLGATE_E2E=1`;
//! `scripts/test` runs it on both channels.

use router_gatewayapi::KubeRouter;

use router_core::{Hashes, RolloutContext, TrafficRouter};
use router_gatewayapi::GatewayApiRouter;
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
        assert_eq!(
            names(&stored),
            [
                "main",
                "static",
                "beta",
                "beta--rollgate-sticky-canary",
                "beta--rollgate-sticky-stable",
                "rollgate-sticky-canary",
                "rollgate-sticky-stable"
            ]
        );
        assert_eq!(
            cookie_of(&stored, "web-canary"),
            Some("rollgate-version=c0ffee; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax")
        );
        let pin = rule(&stored, "rollgate-sticky-stable");
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

    router.set_weight(&ctx, 20, &[]).await.unwrap();
    let stored = spec(&api).await;
    assert_eq!(
        cookie_of(&stored, "web-stable"),
        Some("v=5ab1e; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax")
    );
    assert_eq!(
        rule(&stored, "rollgate-sticky-canary")["matches"][0]["headers"],
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
        rule(&stored, "rollgate-sticky-canary")["matches"][0]["headers"][0]["value"],
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

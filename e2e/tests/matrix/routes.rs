//! Header and mirror routes on seed 001's HTTPRoute: set by steps, removed
//! at promotion and on abort.

use rollgate_e2e::gateway;
use rollgate_e2e::{GATEWAY_API, Under, View, phase, scenario};
use serde_json::json;

use crate::gateway_api::{ROLLOUT, assert_users_rule_untouched, rules, scene, set_image, web};

/// The route's rule names with the managed routes in place: `beta`
/// precedes `mirror` in `managedRoutes`, so its companion rule
/// `beta--mirror` takes the requests both match.
const WITH_ROUTES: [&str; 5] = ["users", "web", "beta", "beta--mirror", "mirror"];

fn rule_names(v: &View) -> Vec<String> {
    gateway::names(rules(v))
}

scenario!(header_and_mirror_routes);

async fn header_and_mirror_routes(under: Under) {
    let steps = json!([
        {"setWeight": 20},
        {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
        {"setMirrorRoute": {"name": "mirror", "percentage": 30, "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]}},
        {"pause": {}},
        {"setWeight": 100}
    ]);
    // Argo's arm also shows that the plugin's `args` from
    // argo-rollouts-config reach the plugin process (it would not start
    // with arguments it does not take).
    let args: &[&str] = if under.passes_plugin_args() {
        &["--log-format=text", "--qps=20"]
    } else {
        &[]
    };
    let Some((s, gateway)) = scene("routes", under, steps, &["beta", "mirror"], false, args).await
    else {
        return;
    };
    s.until("first revision Healthy", |v| phase(v) == "Healthy")
        .await;

    set_image(&s, "example.com/web:2").await;
    let paused = s
        .until("header and mirror routes in place, paused", |v| {
            phase(v) == "Paused" && rule_names(v) == WITH_ROUTES
        })
        .await;
    assert_eq!(web(&paused), (80, 20));
    let rules = rules(&paused);
    let beta = gateway::named(rules, "beta").unwrap();
    assert_eq!(
        beta["matches"][0]["headers"][0],
        json!({"type": "Exact", "name": "x-beta", "value": "yes"})
    );
    assert_eq!(
        gateway::weights(beta),
        (-1, 1),
        "the header route goes to the canary only"
    );
    let companion = gateway::named(rules, "beta--mirror").unwrap();
    assert_eq!(companion["matches"][0]["method"], "GET");
    assert_eq!(companion["backendRefs"], beta["backendRefs"]);
    let mirror = gateway::named(rules, "mirror").unwrap();
    let filter = mirror["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["type"] == "RequestMirror")
        .expect("a RequestMirror filter on the mirror route");
    assert_eq!(filter["requestMirror"]["percent"], 30);
    assert_eq!(filter["requestMirror"]["backendRef"]["name"], "web-canary");

    s.kubectl(&["promote", ROLLOUT]);
    s.until("promoted: managed routes gone, all on stable", |v| {
        phase(v) == "Healthy" && rule_names(v) == ["users", "web"] && web(v) == (100, 0)
    })
    .await;

    set_image(&s, "example.com/web:3").await;
    s.until("the routes back for the next update, paused", |v| {
        phase(v) == "Paused" && rule_names(v) == WITH_ROUTES
    })
    .await;
    s.kubectl(&["abort", ROLLOUT]);
    s.until("aborted: managed routes gone, all on stable", |v| {
        phase(v) == "Degraded" && rule_names(v) == ["users", "web"] && web(v) == (100, 0)
    })
    .await;
    crate::assert_route_writer(&s, GATEWAY_API, "httproutes", "web", &["patch"]).await;
    assert_users_rule_untouched(&gateway).await;
}

//! Two Rollouts on one HTTPRoute: `web` weights rule `web` and `api`
//! weights rule `api` (each named in its config's `rules`), each with a
//! header route of its own, stepping at the same time. Neither write loses
//! the other's (a failed guard is read again and planned again), the
//! user's rule stays byte-identical, and the in-progress label stays while
//! either canary has traffic.

use rollgate_e2e::gateway::{self, Gateway};
use rollgate_e2e::{GATEWAY_API, Scene, Under, View, phase, scenario};
use serde_json::{Value, json};

use crate::gateway_api::{assert_users_rule_untouched, users_rule};

/// The in-progress label (the config's default) and the annotation of the
/// same key listing the rollouts that hold it.
const LABEL: &str = "rollouts.argoproj.io/gatewayapi-canary";

/// The two applications: (Rollout, rule, stable Service, canary Service).
const APPS: [(&str, &str, &str, &str); 2] = [
    ("web", "web", "web-stable", "web-canary"),
    ("api", "api", "api-stable", "api-canary"),
];

/// Rollout `app`'s steps: 20 %, its header route `<app>-beta` (header
/// `x-beta: <app>`), a manual pause, 60 %, a pause of 2 s.
fn steps(app: &str) -> Value {
    json!([
        {"setWeight": 20},
        {"setHeaderRoute": {"name": format!("{app}-beta"),
                            "match": [{"headerName": "x-beta", "headerValue": {"exact": app}}]}},
        {"pause": {}},
        {"setWeight": 60},
        {"pause": {"duration": "2s"}}
    ])
}

/// Services, Gateway `gw`, HTTPRoute `shared` (the user's rule, rule `web`
/// to `web-*`, rule `api` for `/api` to `api-*`, all on stable) and the two
/// Rollouts (2 replicas each), the controller started and a [`Gateway`]
/// accepting the route's generations.
async fn scene(under: Under) -> Option<(Scene, Gateway)> {
    let mut s = Scene::new("shared-route", under, "web").await?;
    let ns = s.cluster.namespace.clone();
    for (app, _, stable, canary) in APPS {
        for service in [stable, canary] {
            s.cluster
                .create(json!({
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                    "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}
                }))
                .await;
        }
    }
    s.cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw"},
            "spec": {"gatewayClassName": "example", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}
        }))
        .await;
    let split = |stable: &str, canary: &str| {
        json!([{"name": stable, "port": 80, "weight": 100},
               {"name": canary, "port": 80, "weight": 0}])
    };
    s.cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "shared"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                users_rule(),
                {"name": "web", "backendRefs": split("web-stable", "web-canary")},
                {"name": "api", "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                 "backendRefs": split("api-stable", "api-canary")}
            ]}
        }))
        .await;
    for (app, rule, stable, canary) in APPS {
        s.cluster
            .create(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": app},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": app}},
                    "template": template(app, 1),
                    "strategy": {"canary": {
                        "canaryService": canary, "stableService": stable,
                        "maxSurge": "25%", "maxUnavailable": 0,
                        "steps": steps(app),
                        "trafficRouting": {
                            "managedRoutes": [{"name": format!("{app}-beta")}],
                            "plugins": {"argoproj-labs/gatewayAPI": {
                                "namespace": ns,
                                "httpRoutes": [{"name": "shared", "rules": [rule], "useHeaderRoutes": true}]
                            }}
                        }
                    }}
                }
            }))
            .await;
    }
    s.watch(
        "route",
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        "shared",
    );
    s.watch("api", "argoproj.io/v1alpha1", "Rollout", "api");
    s.start(GATEWAY_API, &[]).await;
    let gateway = Gateway::serve(
        s.cluster
            .api("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "shared",
    );
    Some((s, gateway))
}

fn template(app: &str, version: u32) -> Value {
    json!({"metadata": {"labels": {"app": app}},
           "spec": {"containers": [{"name": app, "image": format!("example.com/{app}:{version}"),
                                      "ports": [{"containerPort": 8080}]}]}})
}

/// Rollout `app` in `view` (`web` is the scene's own, `api` a watched one).
fn rollout<'a>(view: &'a View, app: &str) -> &'a Value {
    if app == "web" {
        &view["rollout"]
    } else {
        &view["api"]
    }
}

/// The phase of Rollout `app` in `view`.
fn phase_of<'a>(view: &'a View, app: &str) -> &'a str {
    if app == "web" {
        phase(view)
    } else {
        view["api"]["status"]["phase"].as_str().unwrap_or_default()
    }
}

/// The (stable, canary) weights of `app`'s rule in `rules`.
fn split(rules: &Value, app: &str) -> (i64, i64) {
    let (_, rule, stable, canary) = APPS.iter().find(|a| a.0 == app).expect("an app");
    gateway::named(rules, rule).map_or((-1, -1), |r| gateway::weights_of(r, stable, canary))
}

fn rules(view: &View) -> &Value {
    &view["route"]["spec"]["rules"]
}

fn names(view: &View) -> Vec<String> {
    gateway::names(rules(view))
}

/// The in-progress label in `view`'s route, and the rollouts holding it.
fn label(view: &View) -> (Option<&str>, Option<&str>) {
    let metadata = &view["route"]["metadata"];
    (
        metadata["labels"][LABEL].as_str(),
        metadata["annotations"][LABEL].as_str(),
    )
}

scenario!(two_rollouts_share_a_route);

async fn two_rollouts_share_a_route(under: Under) {
    let Some((s, gateway)) = scene(under).await else {
        return;
    };
    let ns = s.cluster.namespace.clone();
    let both_healthy = |v: &View| {
        APPS.iter()
            .all(|a| phase_of(v, a.0) == "Healthy" && split(rules(v), a.0) == (100, 0))
    };
    s.until("both Healthy on their first revision", both_healthy)
        .await;
    let first: Vec<Value> = {
        let v = s.view().await;
        APPS.iter()
            .map(|a| rollout(&v, a.0)["status"]["stableRS"].clone())
            .collect()
    };

    // Both updates at once.
    for (app, ..) in APPS {
        s.kubectl(&["set", "image", app, &format!("{app}=example.com/{app}:2")]);
    }
    let paused = s
        .until("both paused at 20 % with their header routes", |v| {
            APPS.iter().all(|a| {
                phase_of(v, a.0) == "Paused"
                    && split(rules(v), a.0) == (80, 20)
                    && names(v).contains(&format!("{}-beta", a.0))
            })
        })
        .await;
    assert_eq!(
        label(&paused),
        (
            Some("in-progress"),
            Some(format!("{ns}/api,{ns}/web").as_str())
        ),
        "both rollouts hold the label"
    );
    // Each header route is a copy of its own rule only.
    let api_beta = gateway::named(rules(&paused), "api-beta")
        .expect("api's header route")
        .clone();
    assert_eq!(api_beta["matches"][0]["path"]["value"], "/api");
    assert_eq!(
        gateway::weights_of(&api_beta, "api-stable", "api-canary"),
        (-1, 1)
    );
    let web_beta = gateway::named(rules(&paused), "web-beta").expect("web's header route");
    assert_eq!(
        gateway::weights_of(web_beta, "web-stable", "web-canary"),
        (-1, 1)
    );
    assert_eq!(
        names(&paused)
            .iter()
            .filter(|n| n.ends_with("-beta"))
            .count(),
        2,
        "one header rule each: {:?}",
        names(&paused)
    );

    // web goes on to the end while api stays at its pause.
    s.kubectl(&["promote", "web"]);
    let web_done = s
        .until("web promoted, api still paused", |v| {
            phase_of(v, "web") == "Healthy"
                && rollout(v, "web")["status"]["stableRS"] != first[0]
                && split(rules(v), "web") == (100, 0)
                && !names(v).contains(&"web-beta".to_owned())
        })
        .await;
    assert_eq!(phase_of(&web_done, "api"), "Paused");
    assert_eq!(split(rules(&web_done), "api"), (80, 20));
    assert_eq!(
        gateway::named(rules(&web_done), "api-beta"),
        Some(&api_beta),
        "api's header route kept as it was"
    );
    assert_eq!(
        label(&web_done),
        (Some("in-progress"), Some(format!("{ns}/api").as_str())),
        "the label stays while api's canary has traffic"
    );

    s.kubectl(&["promote", "api"]);
    let done = s
        .until("api promoted too", |v| {
            both_healthy(v)
                && rollout(v, "api")["status"]["stableRS"] != first[1]
                && names(v) == ["users", "web", "api"]
                && label(v) == (None, None)
        })
        .await;
    assert_eq!(split(rules(&done), "web"), (100, 0));

    // At every generation the gateway accepted, each rule's weights add up
    // and are a weight of its rollout's steps; each rollout went through its
    // steps in order, whatever the other wrote in between.
    let seen = gateway.seen().await;
    for (i, rules) in seen.iter().enumerate() {
        for (app, ..) in APPS {
            let (stable, canary) = split(rules, app);
            assert!(
                stable + canary == 100 && [0, 20, 60, 100].contains(&canary),
                "{under:?}: {app} at accepted generation {i}: {rules:#}"
            );
        }
    }
    for (app, ..) in APPS {
        let mut weights: Vec<(i64, i64)> = seen.iter().map(|r| split(r, app)).collect();
        weights.dedup();
        assert!(
            crate::gateway_api::in_order(
                &weights,
                &[(100, 0), (80, 20), (40, 60), (0, 100), (100, 0)]
            ),
            "{under:?}: {app} stepped 20, 60, 100, then all on its new stable: {weights:?}"
        );
    }
    crate::assert_route_writer(&s, GATEWAY_API, "httproutes", "shared", &["patch"]).await;
    assert_users_rule_untouched(&gateway).await;
}

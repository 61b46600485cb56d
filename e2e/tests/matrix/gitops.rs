//! A GitOps tool beside the rollout: an Argo CD-like writer re-applies the
//! user's HTTPRoute from "git" every 2 s with server-side apply under its
//! own field manager, forced, with README's "GitOps" settings (the
//! rollout's fields under `ignoreDifferences`, `RespectIgnoreDifferences=true`:
//! `spec.rules` applied as live). The route's writes by the router stay
//! those the steps need, none once the rollout is done however often the
//! writer applies, the weights never go back to git's, and what only git
//! sets (hostnames, a label, an annotation) stays.

use std::time::Duration;

use rollgate_e2e::gateway;
use rollgate_e2e::{GATEWAY_API, Scene, Under, View, phase, scenario, status};
use rollgate_testkit::faults::writers::ARGO_CD_MANAGER;
use rollgate_testkit::faults::{ArgoCdLike, Rules};
use serde_json::{Value, json};

use crate::gateway_api::{assert_users_rule_untouched, rules, scene, set_image, users_rule, web};

/// The user's HTTPRoute as git has it: the scene's route, all on stable,
/// with hostnames, a label and an annotation that only git sets.
fn git() -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": {"name": "web", "labels": {"app.kubernetes.io/instance": "web"},
                        "annotations": {"example.com/owner": "payments"}},
           "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["web.example.com"],
                    "rules": [users_rule(), {"name": "web", "backendRefs": [
                        {"name": "web-stable", "port": 80, "weight": 100},
                        {"name": "web-canary", "port": 80, "weight": 0}]}]}})
}

/// The router's writes of route `web` (patches with its user agent, dry
/// runs left out) from audit-log request `from` on, and the log's length.
fn router_writes(s: &Scene, from: usize) -> (usize, usize) {
    let agent = s.under.route_writer(GATEWAY_API);
    let requests = s.cluster.audited_requests("httproutes", "web");
    let writes = requests[from..]
        .iter()
        .filter(|r| r.verb == "patch" && r.user_agent == agent && !r.dry_run)
        .count();
    (writes, requests.len())
}

async fn applies_at_least(writer: &ArgoCdLike, n: u64) {
    while writer.counts().0 < n {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The field managers of `route` with their operation.
fn managers(route: &Value) -> Vec<(String, String)> {
    route["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = |f: &str| m[f].as_str().unwrap_or_default().to_owned();
            (text("manager"), text("operation"))
        })
        .collect()
}

scenario!(argo_cd_applying_the_route_during_a_rollout);

async fn argo_cd_applying_the_route_during_a_rollout(under: Under) {
    let steps = json!([
        {"setWeight": 20},
        {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
        {"pause": {"duration": "4s"}},
        {"setWeight": 60},
        {"pause": {"duration": "4s"}}
    ]);
    let Some((s, gateway)) = scene("gitops", under, steps, &["beta"], false, &[]).await else {
        return;
    };
    let first = s
        .until("first revision Healthy", |v| {
            phase(v) == "Healthy" && web(v) == (100, 0)
        })
        .await;
    let old = status(&first)["stableRS"].clone();
    let routes = s
        .cluster
        .api("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let writer = ArgoCdLike::start_with(routes.clone(), git(), Duration::from_secs(2), Rules::Live);
    applies_at_least(&writer, 2).await;
    s.cluster.audit_barrier().await;
    let (_, from) = router_writes(&s, 0);
    let applies_before = writer.counts().0;

    set_image(&s, "example.com/web:2").await;
    let done = |v: &View| {
        phase(v) == "Healthy"
            && status(v)["stableRS"] != old
            && web(v) == (100, 0)
            && gateway::names(rules(v)) == ["users", "web"]
    };
    s.until("the update promoted, all on the new stable", done)
        .await;
    s.cluster.audit_barrier().await;
    let (during, at_done) = router_writes(&s, from);
    let applies_during = writer.counts().0 - applies_before;

    // Idle: the writer applies three more times, the router writes nothing.
    applies_at_least(&writer, writer.counts().0 + 3).await;
    s.cluster.audit_barrier().await;
    let (after, _) = router_writes(&s, at_done);
    let (applies, failures) = writer.counts();
    eprintln!(
        "{under:?}: gitops: router writes {during} during the rollout ({applies_during} applies \
         by {ARGO_CD_MANAGER}), {after} after it; {applies} applies, {failures} failed"
    );
    assert!(applies_during >= 3, "the writer applied during the rollout");
    assert_eq!(after, 0, "no write once done, whatever the writer applies");
    // 20 %, the header route, 60 %, 100 %, the header route removed, back
    // to 0: six changes, some written together; a guard failing on one of
    // the writer's applies costs one write more.
    assert!(
        (3..=10).contains(&during),
        "the router wrote what the steps need, not once per apply: {during}"
    );

    // The weights never went back to git's: each step's split in turn.
    assert_eq!(
        gateway.weights_seen("web").await,
        [(100, 0), (80, 20), (40, 60), (0, 100), (100, 0)],
        "{under:?}: the weights at each generation accepted"
    );
    let route = serde_json::to_value(routes.get("web").await.expect("the route")).expect("JSON");
    assert_eq!(route["spec"]["hostnames"], json!(["web.example.com"]));
    assert_eq!(
        route["metadata"]["labels"]["app.kubernetes.io/instance"],
        "web"
    );
    assert_eq!(
        route["metadata"]["annotations"]["example.com/owner"],
        "payments"
    );
    assert!(
        route["metadata"]["labels"]["rollouts.argoproj.io/gatewayapi-canary"].is_null(),
        "the in-progress label gone once done: {:#}",
        route["metadata"]
    );
    // Who owns what: the writer's apply, and the router's updates under the
    // manager its user agent names.
    let managers = managers(&route);
    let router = s.under.route_writer(GATEWAY_API);
    let router = router.split('/').next().unwrap_or_default().to_owned();
    assert!(
        managers.contains(&(ARGO_CD_MANAGER.to_owned(), "Apply".to_owned()))
            && managers.contains(&(router, "Update".to_owned())),
        "{managers:?}"
    );
    assert_users_rule_untouched(&gateway).await;
}

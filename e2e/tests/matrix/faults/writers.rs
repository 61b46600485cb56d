//! Other writers of the route while the update steps: an Argo CD-like
//! server-side apply of the user's HTTPRoute every 2 s (with its own field
//! manager, forced), which commits a change to the user's rule mid-way,
//! and a `kubectl edit` of fields the rollout does not own. What they
//! wrote must be in every later version of the route.

use std::time::Duration;

use rollgate_e2e::gateway;
use rollgate_e2e::{Under, scenario};
use rollgate_testkit::faults::{ArgoCdLike, kubectl_edit};
use serde_json::{Value, json};

use super::Run;
use crate::gateway_api::users_rule;

/// The user's HTTPRoute as "git" has it: its parent, a label of Argo CD's
/// and the user's rule; the weighted rule is the rollout's, left out as an
/// `ignoreDifferences` entry leaves it.
fn git(users: &Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": {"name": "web", "labels": {"app.kubernetes.io/instance": "web"}},
           "spec": {"parentRefs": [{"name": "gw"}], "rules": [users]}})
}

scenario!(argo_cd_and_kubectl_edit);

async fn argo_cd_and_kubectl_edit(under: Under) {
    let Some(run) = Run::paused("fault-writers", under, None, false).await else {
        return;
    };
    let routes = run
        .s
        .cluster
        .api("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let argo_cd = ArgoCdLike::start(routes.clone(), git(&users_rule()), Duration::from_secs(2));
    run.promote();
    run.s
        .until("stepping past the manual pause", |v| {
            v["rollout"]["status"]["currentStepIndex"].as_i64() >= Some(2)
        })
        .await;
    // A commit changes the user's rule: x-internal: 2 from now on.
    let mut changed = users_rule();
    changed["matches"][0]["headers"][0]["value"] = json!("2");
    let applied = argo_cd
        .commit(git(&changed))
        .await
        .expect("Argo CD's apply");
    // As stored, with the defaults the API server fills in.
    let changed = gateway::named(&applied["spec"]["rules"], "users")
        .expect("the user's rule")
        .clone();
    let at = applied["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned);
    let kept = changed.clone();
    run.invariants.keep(
        "Argo CD's change to the user's rule",
        at.as_deref(),
        move |r| gateway::named(&r["spec"]["rules"], "users") == Some(&kept),
    );
    // kubectl edit: an annotation and the hostnames.
    let edit = json!({"metadata": {"annotations": {"example.com/team": "payments"}},
                      "spec": {"hostnames": ["web.example.com"]}});
    let at = kubectl_edit(&routes, "web", &edit)
        .await
        .expect("kubectl edit");
    run.invariants
        .keep("kubectl edit's annotation and hostnames", Some(&at), |r| {
            r["metadata"]["annotations"]["example.com/team"] == "payments"
                && r["spec"]["hostnames"] == json!(["web.example.com"])
        });
    let (applies, failures) = argo_cd.counts();
    let what = format!(
        "Argo CD-like apply every 2 s ({applies} applies, {failures} failed so far) and a kubectl edit"
    );
    run.finish(&what).await;
    // Still there after the rollout is done and Argo CD has applied again.
    let before = argo_cd.counts().0;
    while argo_cd.counts().0 < before + 2 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let route = routes.get("web").await.expect("the route");
    let route = serde_json::to_value(route).expect("JSON");
    assert_eq!(
        gateway::named(&route["spec"]["rules"], "users"),
        Some(&changed)
    );
    assert_eq!(route["spec"]["hostnames"], json!(["web.example.com"]));
}

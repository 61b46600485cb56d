//! `rollgate-controller` routing traffic through external plugins on a
//! real kube-apiserver (`ROLLGATE_E2E=1`; see `scripts/cluster`), running as
//! a service account with exactly its documented ClusterRole: the journal
//! router registered in the `argo-rollouts-config` ConfigMap with an
//! `http://` location on loopback that asks for a token (sent from the
//! Secret its `headersFrom` names) and its `sha256` is downloaded once and
//! carries the steps' weights, as its journal shows; a plugin not
//! registered, whose download does not match its `sha256`, or whose
//! `headersFrom` Secret does not exist, is the `TrafficRouting` condition
//! with nothing written; and a weight the plugin
//! (from a `file://` location) answers NotVerified for holds the step.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use support::plugins::{
    DOWNLOAD_TOKEN, FileServer, journal_router, register_plugins, start_with_plugins,
};
use support::progress::{set_image, update_to_pause};
use support::{
    cluster, condition, healthy, kubectl_argo_rollouts, promoted, rollout, services, wait_for,
};

fn journal(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn applied_weights(entries: &[Value]) -> Vec<i64> {
    let mut weights: Vec<i64> = entries
        .iter()
        .filter(|e| e["call"] == "Apply")
        .filter_map(|e| e["target"]["canaryWeight"].as_i64())
        .collect();
    weights.dedup();
    weights
}

/// Has the Rollout `other` name the plugin `to` instead of `from`, and
/// returns it once its `TrafficRouting` condition names `to`.
async fn switch_plugin(cluster: &rollgate_testkit::Cluster, from: &str, to: &str) -> Value {
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .patch(
            "other",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"strategy": {"canary": {"trafficRouting":
                {"plugins": {from: null, to: {}}}}}}})),
        )
        .await
        .unwrap();
    wait_for(cluster, "other", &format!("refused for {to}"), |o| {
        condition(o, "TrafficRouting")
            .is_some_and(|c| c["message"].as_str().is_some_and(|m| m.contains(to)))
    })
    .await
}

#[tokio::test]
async fn an_external_plugin_registered_in_the_config_map_routes_the_steps() {
    let Some(cluster) = cluster("ctl-plugin").await else {
        return;
    };
    let binary = journal_router();
    let journal_file = std::env::temp_dir().join(format!("{}.journal", cluster.namespace));
    let _ = std::fs::remove_file(&journal_file);
    // The same binary under two paths: one registered with its sha256, the
    // other with a sha256 it does not have.
    let server = FileServer::start(&binary).await;
    let journal_location = format!("{}/private/journal/rollgate-journal-router", server.base);
    let tampered_location = format!("{}/tampered/rollgate-journal-router", server.base);
    let registered = format!(
        "- name: acme/journal\n  location: {journal_location}\n  sha256: {}\n\
         \x20 headersFrom:\n  - secretRef:\n      name: plugin-download\n\
         - name: acme/locked\n  location: {journal_location}\n\
         \x20 headersFrom:\n  - secretRef:\n      name: no-such-secret\n\
         - name: acme/tampered\n  location: {tampered_location}\n  sha256: {}\n",
        rollgate_controller::traffic::registry::sha256_hex(&std::fs::read(&binary).unwrap()),
        "0".repeat(64),
    );
    register_plugins(&cluster, &registered).await;
    cluster
        .create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "plugin-download"},
            "stringData": {"Authorization": DOWNLOAD_TOKEN}}))
        .await;
    let journal_path = journal_file.display().to_string();
    let (controller, plugin_dir) =
        start_with_plugins(&cluster, &[("ROLLGATE_JOURNAL", &journal_path)]).await;
    services(&cluster).await;

    // A plugin that is not registered: a condition naming it, and nothing written.
    let unregistered = json!({"canaryService": "web-canary", "stableService": "web-stable",
        "trafficRouting": {"plugins": {"acme/missing": {}}}, "steps": [{"setWeight": 20}]});
    let mut other = rollout("other", "nginx:1.27", unregistered);
    other["spec"]["template"]["metadata"]["labels"]["app"] = json!("web");
    other["spec"]["selector"]["matchLabels"]["app"] = json!("web");
    cluster.create(other).await;
    let refused = wait_for(&cluster, "other", "refused", |o| {
        condition(o, "TrafficRouting").is_some()
    })
    .await;
    let refusal = condition(&refused, "TrafficRouting").unwrap();
    assert_eq!(refusal["reason"], "TrafficRoutingError");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("\"acme/missing\" is not registered"),
        "{refusal}"
    );
    assert_eq!(
        support::replica_sets(&cluster).await.len(),
        0,
        "nothing is written for a Rollout whose plugin cannot run"
    );
    // A registered plugin whose download does not have the registered sha256 is not started.
    let tampered = switch_plugin(&cluster, "acme/missing", "acme/tampered").await;
    let message = condition(&tampered, "TrafficRouting").unwrap()["message"].clone();
    let message = message.as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "traffic router plugin \"acme/tampered\" cannot be loaded: location {tampered_location:?}: \
             the downloaded file's sha256 is "
        )),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "not the registered {}; it is deleted and not run",
            "0".repeat(64)
        )),
        "{message}"
    );
    assert!(support::replica_sets(&cluster).await.is_empty());
    assert!(
        !plugin_dir.path().join("acme/tampered").exists(),
        "a download that does not match is not kept"
    );
    // A registration whose headersFrom Secret does not exist: named, nothing downloaded.
    let locked = switch_plugin(&cluster, "acme/tampered", "acme/locked").await;
    assert_eq!(
        condition(&locked, "TrafficRouting").unwrap()["message"],
        format!(
            "traffic router plugin \"acme/locked\" cannot be loaded: headersFrom[0].secretRef: \
             Secret {}/no-such-secret does not exist",
            cluster.namespace
        )
    );
    assert_eq!(server.hits("/private/journal/rollgate-journal-router"), 0);
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .delete("other", &Default::default())
        .await
        .unwrap();

    let canary = json!({"canaryService": "web-canary", "stableService": "web-stable",
        "trafficRouting": {"plugins": {"acme/journal": {}}}});
    let mut canary = canary;
    canary["steps"] = support::basic_canary()["steps"].clone();
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    let paused = update_to_pause(&cluster, "web", "nginx:1.28", 1).await;
    let canary_hash = paused["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    // The journal router answers Verified; the status records it with the weights.
    assert_eq!(
        paused["status"]["canary"]["weights"]["canary"]["weight"],
        20
    );
    assert_eq!(paused["status"]["canary"]["weights"]["verified"], true);
    let entries = journal(&journal_file);
    assert_eq!(applied_weights(&entries).last(), Some(&20), "{entries:#?}");
    assert!(
        entries
            .iter()
            .all(|e| e["plugin"].is_null() || e["plugin"] == "acme/journal"),
        "{entries:#?}"
    );
    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    wait_for(&cluster, "web", "Healthy again", |o| {
        promoted(o, &canary_hash)
    })
    .await;
    let weights = applied_weights(&journal(&journal_file));
    assert!(
        weights.windows(3).any(|w| w == [20, 60, 100]) || weights.windows(2).any(|w| w == [20, 60]),
        "the step's weights, in order: {weights:?}"
    );
    assert_eq!(weights.last(), Some(&0), "fully promoted: {weights:?}");
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let warnings = events.list(&ListParams::default()).await.unwrap().items;
    assert!(
        warnings
            .iter()
            .any(|e| e.reason.as_deref() == Some("TrafficRoutingError")),
        "the unregistered plugin's Warning event"
    );
    // Downloaded once, with the Secret's token, into the plugin directory under its name.
    assert_eq!(server.hits("/private/journal/rollgate-journal-router"), 1);
    assert_eq!(
        std::fs::read(plugin_dir.path().join("acme/journal")).unwrap(),
        std::fs::read(&binary).unwrap()
    );
    drop(controller);
    let _ = std::fs::remove_file(&journal_file);
}

#[tokio::test]
async fn a_weight_the_router_has_not_verified_holds_the_step() {
    let Some(cluster) = cluster("ctl-verify").await else {
        return;
    };
    let binary = journal_router();
    let registered = format!(
        "- name: acme/journal\n  location: file://{}\n",
        binary.display()
    );
    register_plugins(&cluster, &registered).await;
    let (controller, _plugin_dir) = start_with_plugins(&cluster, &[]).await;
    services(&cluster).await;
    let mut canary = support::basic_canary();
    canary["canaryService"] = json!("web-canary");
    canary["stableService"] = json!("web-stable");
    canary["trafficRouting"] = json!({"plugins": {"acme/journal": {"verify": "NotVerified"}}});
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    set_image(&cluster, "web", "nginx:1.28");
    wait_for(&cluster, "web", "at weight 20, not verified", |o| {
        let weights = &o["status"]["canary"]["weights"];
        weights["canary"]["weight"] == 20 && weights["verified"] == false
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = support::rollout_object(&cluster, "web").await;
    assert_eq!(
        held["status"]["currentStepIndex"], 0,
        "the step waits for the weight to be verified: {:#}",
        held["status"]
    );
    drop(controller);
}

//! `rollgate-controller` on a real kube-apiserver, with pods made Ready by
//! kwok (`ROLLGATE_E2E=1`; see `scripts/cluster`): a basic canary paused,
//! restarted, promoted and aborted with the real `kubectl argo rollouts`
//! (the binary running as a service account with exactly its documented
//! ClusterRole), the ReplicaSets of Argo's own controller adopted without a
//! redeploy, and Rollouts this controller refuses left untouched.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use support::{
    Controller, basic_canary, cluster, healthy, kubectl_argo_rollouts, pod_names, replica_sets,
    rollout, rollout_events, rollout_object, rollout_status_patches, selected, wait_for,
};

#[tokio::test]
async fn a_basic_canary_pauses_and_is_promoted_with_kubectl_argo_rollouts() {
    let Some(cluster) = cluster("ctl-canary").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    for service in ["web-stable", "web-canary"] {
        cluster
            .create(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            )
            .await;
    }
    let mut canary = basic_canary();
    canary["stableService"] = json!("web-stable");
    canary["canaryService"] = json!("web-canary");
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let first = wait_for(&cluster, "web", "Healthy", healthy).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();
    assert_eq!(
        first["metadata"]["annotations"]["rollout.argoproj.io/revision"],
        "1"
    );

    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "web", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let st = &paused["status"];
    assert_eq!(st["message"], "CanaryPauseStep");
    assert_eq!(st["pauseConditions"][0]["reason"], "CanaryPauseStep");
    assert_eq!(st["controllerPause"], true);
    assert_eq!(st["stableRS"], stable.as_str());
    let canary = st["currentPodHash"].as_str().unwrap().to_owned();
    assert_ne!(canary, stable);
    // 20 % of 5 pods: 1 canary, 4 stable.
    let sizes: Vec<(String, i32)> = replica_sets(&cluster)
        .await
        .into_iter()
        .map(|(name, _, replicas, _)| (name, replicas))
        .collect();
    let mut expected = vec![(format!("web-{canary}"), 1), (format!("web-{stable}"), 4)];
    expected.sort();
    assert_eq!(sizes, expected);
    // The Services select their ReplicaSets.
    assert_eq!(selected(&cluster, "web-stable").await, stable);
    assert_eq!(selected(&cluster, "web-canary").await, canary);

    // While paused, nothing changes, so nothing is written.
    cluster.audit_barrier().await;
    let before = rollout_status_patches(&cluster, "web");
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.audit_barrier().await;
    assert_eq!(
        rollout_status_patches(&cluster, "web"),
        before,
        "writes while paused"
    );

    // Restarted while paused, the controller resumes at the same step: no
    // new ReplicaSet, no write.
    let sets = replica_sets(&cluster).await;
    drop(controller);
    let _controller = Controller::start_with_role(&cluster).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.audit_barrier().await;
    assert_eq!(
        rollout_status_patches(&cluster, "web"),
        before,
        "writes after a restart"
    );
    assert_eq!(replica_sets(&cluster).await, sets);
    let again = rollout_object(&cluster, "web").await;
    assert_eq!(again["status"]["currentStepIndex"], 1);
    assert_eq!(again["status"]["phase"], "Paused");

    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    let done = wait_for(&cluster, "web", "Healthy on the new revision", |o| {
        healthy(o) && o["status"]["stableRS"] == canary.as_str()
    })
    .await;
    assert_eq!(done["status"]["currentStepIndex"], 4);
    // What the scale subresource reads.
    assert_eq!(done["status"]["selector"], "app=web");
    assert_eq!(done["status"]["HPAReplicas"], done["status"]["replicas"]);
    assert_eq!(
        done["metadata"]["annotations"]["rollout.argoproj.io/revision"],
        "2"
    );
    let sizes: Vec<(String, i32)> = replica_sets(&cluster)
        .await
        .into_iter()
        .map(|(name, _, replicas, _)| (name, replicas))
        .collect();
    let mut expected = vec![(format!("web-{canary}"), 5), (format!("web-{stable}"), 0)];
    expected.sort();
    assert_eq!(sizes, expected, "the old ReplicaSet is scaled down");
    assert_eq!(selected(&cluster, "web-stable").await, canary);
    assert_eq!(selected(&cluster, "web-canary").await, canary);

    let shown = kubectl_argo_rollouts(&cluster, &["get", "rollout", "web", "--no-color"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("Healthy"),
        "kubectl argo rollouts get: {shown}"
    );
    assert!(
        shown.contains("nginx:1.28 (stable)"),
        "kubectl argo rollouts get: {shown}"
    );

    // With no revision history kept, the old ReplicaSet goes.
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"revisionHistoryLimit": 0}})),
        )
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while replica_sets(&cluster).await.len() > 1 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the old ReplicaSet is still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left: Vec<String> = replica_sets(&cluster)
        .await
        .into_iter()
        .map(|rs| rs.0)
        .collect();
    assert_eq!(left, [format!("web-{canary}")]);

    // Events as Argo's controller records them, on the Rollout.
    let recorded = rollout_events(&cluster).await;
    for (reason, note) in [
        (
            "NewReplicaSetCreated",
            format!("Created ReplicaSet web-{canary} (revision 2)"),
        ),
        (
            "ScalingReplicaSet",
            format!("Scaled up ReplicaSet web-{canary} (revision 2) from 0 to 1"),
        ),
        ("RolloutUpdated", "Rollout updated to revision 2".to_owned()),
        (
            "RolloutPaused",
            "Rollout is paused (CanaryPauseStep)".to_owned(),
        ),
        (
            "RolloutStepCompleted",
            "Rollout step 1/4 completed (setWeight: 20)".to_owned(),
        ),
    ] {
        assert!(
            recorded.contains(&(reason.to_owned(), note.clone())),
            "no event {reason}: {note}; events: {recorded:#?}"
        );
    }
    // An event recorded again by one controller is a further count of its
    // Event, not another. The second pause's is another Event: the
    // controller restarted in between, and a new one starts with nothing
    // remembered, as Argo's does.
    let mut sorted = recorded.clone();
    sorted.sort();
    let repeated: Vec<_> = sorted
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0].clone())
        .collect();
    assert_eq!(
        repeated,
        [(
            "RolloutPaused".to_owned(),
            "Rollout is paused (CanaryPauseStep)".to_owned()
        )],
        "events: {recorded:#?}"
    );
}

#[tokio::test]
async fn the_replica_sets_of_argos_controller_are_adopted_without_a_redeploy() {
    let Some(cluster) = cluster("ctl-adopt").await else {
        return;
    };
    let mut canary = basic_canary();
    canary["stableMetadata"] = json!({"labels": {"role": "stable"}});
    canary["canaryMetadata"] = json!({"labels": {"role": "canary"}});
    {
        let _argo = cluster.start_argo(&[]).await;
        cluster.create(rollout("shop", "nginx:1.27", canary)).await;
        wait_for(&cluster, "shop", "Healthy under Argo's controller", healthy).await;
    }
    let argos = replica_sets(&cluster).await;
    let pods = pod_names(&cluster).await;
    assert_eq!(argos.len(), 1);
    // Argo hashes the template its own way: found by hash, it would not be adopted.
    let ours = rollgate_controller::workload::pod_template_hash(
        &rollout("shop", "nginx:1.27", json!({}))["spec"]["template"],
        None,
    );
    assert_ne!(
        argos[0].0,
        format!("shop-{ours}"),
        "Argo's ReplicaSet has Argo's hash"
    );
    assert_eq!(pods.len(), 5);

    let _controller = Controller::start(&cluster);
    // Give it time to reconcile the Rollout and everything it owns.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = rollout_object(&cluster, "shop").await;
    assert!(healthy(&after), "status: {:#}", after["status"]);
    assert_eq!(
        replica_sets(&cluster).await,
        argos,
        "the ReplicaSet was not replaced nor written"
    );
    assert_eq!(
        pod_names(&cluster).await,
        pods,
        "the pods were not replaced"
    );

    // And it is this controller that runs the next update.
    kubectl_argo_rollouts(&cluster, &["set", "image", "shop", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "shop", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let hash = paused["status"]["currentPodHash"].as_str().unwrap();
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let new = api.get(&format!("shop-{hash}")).await.unwrap();
    let annotations = new.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations["rollout.argoproj.io/revision"], "2");
    let labels = new
        .spec
        .unwrap()
        .template
        .unwrap()
        .metadata
        .unwrap()
        .labels
        .unwrap();
    assert_eq!(labels["role"], "canary", "the canary metadata is injected");
    let old = argos[0].0.clone();
    assert_eq!(pod_roles(&cluster, &old).await, vec!["stable"; 4]);
    assert_eq!(
        pod_roles(&cluster, &format!("shop-{hash}")).await,
        ["canary"]
    );

    // Promoted, the new pods are the stable ones and the old ReplicaSet
    // loses the stable metadata.
    kubectl_argo_rollouts(&cluster, &["promote", "shop"]);
    let done = wait_for(&cluster, "shop", "Healthy on the new revision", |o| {
        healthy(o) && o["status"]["stableRS"] == hash
    })
    .await;
    assert_eq!(done["status"]["currentPodHash"], hash);
    let new = api.get(&format!("shop-{hash}")).await.unwrap();
    let labels = new
        .spec
        .unwrap()
        .template
        .unwrap()
        .metadata
        .unwrap()
        .labels
        .unwrap();
    assert_eq!(
        labels["role"], "stable",
        "the stable metadata replaces the canary one"
    );
    // The pods are relabelled after the ReplicaSet, in the same or the
    // next reconcile: give the patches a moment to land.
    let mut roles = pod_roles(&cluster, &format!("shop-{hash}")).await;
    for _ in 0..50 {
        if roles == vec!["stable"; 5] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        roles = pod_roles(&cluster, &format!("shop-{hash}")).await;
    }
    assert_eq!(roles, vec!["stable"; 5]);
    let old_rs = api.get(&old).await.unwrap();
    let labels = old_rs
        .spec
        .unwrap()
        .template
        .unwrap()
        .metadata
        .unwrap()
        .labels
        .unwrap();
    assert!(!labels.contains_key("role"), "{labels:?}");
}

/// The `role` label of the live pods of a ReplicaSet, sorted.
async fn pod_roles(cluster: &rollgate_testkit::Cluster, replica_set: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut roles: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.name == replica_set)
        })
        .map(|p| {
            p.metadata
                .labels
                .unwrap_or_default()
                .get("role")
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    roles.sort();
    roles
}

#[tokio::test]
async fn invalid_and_unsupported_rollouts_get_a_condition_and_nothing_else() {
    let Some(cluster) = cluster("ctl-refuse").await else {
        return;
    };
    let _controller = Controller::start(&cluster);
    cluster
        .create(rollout(
            "bad",
            "nginx",
            json!({"steps": [{"setWeight": 150}]}),
        ))
        .await;
    cluster
        .create(rollout(
            "routed",
            "nginx",
            json!({"canaryService": "c", "stableService": "s", "steps": [{"setWeight": 20}],
                   "trafficRouting": {"alb": {"ingress": "web", "servicePort": 80}}}),
        ))
        .await;
    cluster
        .create(rollout(
            "lost",
            "nginx",
            json!({"stableService": "nowhere", "steps": [{"setWeight": 20}]}),
        ))
        .await;
    let lost = wait_for(&cluster, "lost", "InvalidSpec", |o| {
        o["status"]["phase"] == "Degraded"
    })
    .await;
    assert_eq!(
        lost["status"]["conditions"][0]["message"],
        "The Rollout \"lost\" is invalid: spec.strategy.canary.stableService: services \"nowhere\" not found"
    );
    // Another controller instance's Rollout is not touched.
    let mut elsewhere = rollout("elsewhere", "nginx", json!({"steps": [{"setWeight": 20}]}));
    elsewhere["metadata"]["labels"] =
        json!({"argo-rollouts.argoproj.io/controller-instance-id": "blue"});
    cluster.create(elsewhere).await;
    let bad = wait_for(&cluster, "bad", "InvalidSpec", |o| {
        o["status"]["phase"] == "Degraded"
    })
    .await;
    let condition = &bad["status"]["conditions"][0];
    assert_eq!(condition["type"], "InvalidSpec");
    assert_eq!(
        condition["message"],
        "The Rollout \"bad\" is invalid: spec.strategy.canary.steps[0].setWeight: 150: SetWeight needs to be between 0 and 100"
    );
    assert_eq!(
        bad["status"]["message"],
        format!("InvalidSpec: {}", condition["message"].as_str().unwrap())
    );
    let routed = wait_for(&cluster, "routed", "Unsupported", |o| {
        o["status"]["conditions"][0]["type"] == "Unsupported"
    })
    .await;
    let message = routed["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with("spec.strategy.canary.trafficRouting.alb: "),
        "{message}"
    );
    assert!(
        message.ends_with("is not run by rollgate-controller yet"),
        "{message}"
    );
    assert_eq!(
        routed["status"].as_object().unwrap().len(),
        1,
        "only the condition: {:#}",
        routed["status"]
    );
    assert!(
        replica_sets(&cluster).await.is_empty(),
        "no ReplicaSet for any"
    );
    assert_eq!(
        rollout_object(&cluster, "elsewhere").await["status"],
        serde_json::Value::Null
    );

    // Once fixed, the invalid Rollout runs, and its InvalidSpec condition goes.
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .patch(
            "bad",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}}}}),
            ),
        )
        .await
        .unwrap();
    let fixed = wait_for(&cluster, "bad", "Healthy once fixed", healthy).await;
    let kinds: Vec<&str> = fixed["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert!(!kinds.contains(&"InvalidSpec"), "{kinds:?}");
}

#[tokio::test]
async fn an_abort_with_kubectl_argo_rollouts_goes_back_to_stable() {
    let Some(cluster) = cluster("ctl-abort").await else {
        return;
    };
    let _controller = Controller::start(&cluster);
    cluster
        .create(rollout("api", "nginx:1.27", basic_canary()))
        .await;
    let first = wait_for(&cluster, "api", "Healthy", healthy).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();
    kubectl_argo_rollouts(&cluster, &["set", "image", "api", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "api", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let canary = paused["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();

    kubectl_argo_rollouts(&cluster, &["abort", "api"]);
    let aborted = wait_for(&cluster, "api", "aborted", |o| {
        o["status"]["phase"] == "Degraded" && o["status"]["availableReplicas"] == 5
    })
    .await;
    assert_eq!(aborted["status"]["abort"], true);
    assert_eq!(aborted["status"]["stableRS"], stable.as_str());
    assert_eq!(
        aborted["status"]["message"],
        "RolloutAborted: Rollout aborted update to revision 2"
    );
    let start = std::time::Instant::now();
    loop {
        let sizes: Vec<(String, i32)> = replica_sets(&cluster)
            .await
            .into_iter()
            .map(|(name, _, replicas, _)| (name, replicas))
            .collect();
        let mut expected = vec![(format!("api-{canary}"), 0), (format!("api-{stable}"), 5)];
        expected.sort();
        if sizes == expected {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "after the abort: {sizes:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shown = kubectl_argo_rollouts(&cluster, &["get", "rollout", "api", "--no-color"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("Degraded"),
        "kubectl argo rollouts get: {shown}"
    );
}

use serde_json::json;

use super::*;

fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).unwrap()
}

#[test]
fn pod_status_follows_kubectl() {
    let running = pod(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 2, "image": "i", "imageID": "",
             "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    }));
    assert_eq!(pod_status(&running), ("CrashLoopBackOff".into(), 1, 2));

    let init = pod(json!({
        "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "i", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
             "state": {"waiting": {"reason": "PodInitializing"}}}]}
    }));
    assert_eq!(pod_status(&init).0, "Init:0/1");

    let leaving = pod(json!({
        "metadata": {"name": "p", "deletionTimestamp": "2026-11-22T05:00:00Z"},
        "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Running"}
    }));
    assert_eq!(pod_status(&leaving).0, "Terminating");
}

fn replica_set(replicas: i32, available: i32, generation: i64, observed: i64) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": "rs", "generation": generation},
        "spec": {"replicas": replicas, "selector": {}},
        "status": {"replicas": replicas, "availableReplicas": available,
                   "observedGeneration": observed}
    }))
    .unwrap()
}

#[test]
fn replica_set_status_follows_argo() {
    assert_eq!(replica_set_status(&replica_set(2, 2, 1, 1)), "Healthy");
    assert_eq!(replica_set_status(&replica_set(2, 1, 1, 1)), "Progressing");
    assert_eq!(replica_set_status(&replica_set(2, 2, 2, 1)), "Progressing");
    assert_eq!(replica_set_status(&replica_set(0, 0, 1, 1)), "ScaledDown");
}

#[test]
fn weights_and_tags_of_a_paused_basic_canary() {
    let rollout = Rollout::from_value(
        json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u"},
            "spec": {"replicas": 4, "strategy": {"canary": {"steps": [
                {"setWeight": 25}, {"pause": {}}]}}},
            "status": {"currentStepIndex": 1, "stableRS": "s", "currentPodHash": "c",
                       "availableReplicas": 4, "phase": "Paused", "message": "CanaryPauseStep",
                       "pauseConditions": [{"reason": "CanaryPauseStep",
                                            "startTime": "2026-11-22T05:00:00Z"}]}
        }),
        "rollout shop/web",
    )
    .unwrap();
    let rs = |hash: &str, revision: &str, size: i32| -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{hash}"), "uid": hash,
                "labels": {POD_TEMPLATE_HASH_LABEL: hash},
                "annotations": {REVISION_ANNOTATION: revision},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "name": "web", "uid": "u", "controller": true}]},
            "spec": {"replicas": size, "selector": {}, "template": {"spec": {"containers": [
                {"name": "app", "image": format!("web:{revision}")}]}}},
            "status": {"replicas": size, "availableReplicas": size}
        }))
        .unwrap()
    };
    let now = Time::from_unix_seconds(1_000);
    let snapshot = Snapshot {
        rollout,
        created: Time::from_unix_seconds(800),
        replica_sets: vec![rs("s", "1", 3), rs("c", "2", 1)],
        pods: Vec::new(),
        analysis_runs: vec![json!({"metadata": {"name": "web-c-2",
            "annotations": {REVISION_ANNOTATION: "2"}},
            "status": {"phase": "Failed", "metricResults": [{"successful": 2, "failed": 1}]}})],
        now,
    };
    let info = RolloutInfo::of_live(&snapshot);
    assert_eq!(info.phase, Some(rollout_core::Phase::Paused));
    assert_eq!(info.step.as_deref(), Some("1/2"));
    assert_eq!((info.set_weight, info.actual_weight), (25, 25));
    assert_eq!(
        info.images,
        [
            ("web:1".to_owned(), vec!["stable"]),
            ("web:2".to_owned(), vec!["canary"])
        ]
    );
    let revisions: Vec<u64> = info.revisions.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [2, 1]);
    assert_eq!(info.revisions[0].analysis_runs[0].counts, [2, 1, 0, 0]);
    assert_eq!(info.age, std::time::Duration::from_secs(200));
    let text = info.render(false);
    assert!(text.contains("α web-c-2  AnalysisRun  ✖ Failed"), "{text}");
    assert!(text.contains("✔ 2,✖ 1"), "{text}");
}

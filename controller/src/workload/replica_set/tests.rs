use super::*;
use crate::workload::{comparable_template, current_by_hash, current_by_template, pod_template};
use rollout_core::Rollout;
use serde_json::json;

fn rollout(extra_annotations: Value) -> Rollout {
    Rollout::from_value(
        json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "uid-1",
                         "annotations": extra_annotations},
            "spec": {
                "replicas": 5, "minReadySeconds": 7,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
                "strategy": {"canary": {
                    "canaryMetadata": {"labels": {"role": "canary"}},
                    "stableMetadata": {"labels": {"role": "stable"}, "annotations": {"a": "b"}},
                    "steps": [{"setWeight": 20}, {"pause": {}}]}}
            }
        }),
        "web",
    )
    .unwrap()
}

fn replica_set(value: Value) -> ReplicaSet {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_new_replica_set_has_argos_shape() {
    let ro = rollout(json!({
        "team": "shop",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "rollout.argoproj.io/revision": "4",
        "notified.notifications.argoproj.io": "x"
    }));
    let template = pod_template(&ro).unwrap();
    let rs = desired_replica_set(&ro, template, "h1", 3, None).unwrap();
    assert_eq!(
        rs,
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": "web-h1", "namespace": "shop",
                "labels": {"app": "web", "rollouts-pod-template-hash": "h1"},
                "annotations": {
                    "team": "shop",
                    "rollout.argoproj.io/revision": "3",
                    "rollout.argoproj.io/desired-replicas": "5"
                },
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "name": "web", "uid": "uid-1", "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {
                "replicas": 0, "minReadySeconds": 7,
                "selector": {"matchLabels": {"app": "web", "rollouts-pod-template-hash": "h1"}},
                "template": {"metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": "h1"}},
                             "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
            }
        })
    );
}

#[test]
fn the_first_replica_set_gets_stable_metadata_and_an_update_canary_metadata() {
    let ro = rollout(json!({}));
    let template = pod_template(&ro).unwrap();
    let stable = ephemeral_metadata_for_new(&ro, false).unwrap();
    let rs = desired_replica_set(&ro, template, "h1", 1, stable.as_ref()).unwrap();
    assert_eq!(
        rs["spec"]["template"]["metadata"]["labels"]["role"],
        "stable"
    );
    assert_eq!(rs["spec"]["template"]["metadata"]["annotations"]["a"], "b");
    // The ReplicaSet's own labels are the template's before injection.
    assert_eq!(rs["metadata"]["labels"].get("role"), None);
    assert_eq!(
        rs["metadata"]["annotations"]["rollout.argoproj.io/ephemeral-metadata"],
        r#"{"labels":{"role":"stable"},"annotations":{"a":"b"}}"#
    );
    let canary = ephemeral_metadata_for_new(&ro, true).unwrap();
    let rs = desired_replica_set(&ro, template, "h2", 2, canary.as_ref()).unwrap();
    assert_eq!(
        rs["spec"]["template"]["metadata"]["labels"]["role"],
        "canary"
    );
}

#[test]
fn a_blue_green_replica_set_gets_active_metadata_first_and_preview_metadata_in_an_update() {
    let mut spec = serde_json::to_value(rollout(json!({}))).unwrap();
    spec["spec"]["strategy"] = json!({"blueGreen": {
        "activeService": "web", "previewService": "web-preview",
        "activeMetadata": {"labels": {"role": "active"}},
        "previewMetadata": {"labels": {"role": "preview"}, "annotations": {"p": "q"}}}});
    let ro = Rollout::from_value(spec, "web").unwrap();
    let active = ephemeral_metadata_for_new(&ro, false).unwrap().unwrap();
    let preview = ephemeral_metadata_for_new(&ro, true).unwrap().unwrap();
    let template = pod_template(&ro).unwrap();
    let first = desired_replica_set(&ro, template, "h1", 1, Some(&active)).unwrap();
    assert_eq!(
        first["spec"]["template"]["metadata"]["labels"]["role"],
        "active"
    );
    let update = desired_replica_set(&ro, template, "h2", 2, Some(&preview)).unwrap();
    assert_eq!(
        update["spec"]["template"]["metadata"]["labels"]["role"],
        "preview"
    );
    assert_eq!(
        update["spec"]["template"]["metadata"]["annotations"]["p"],
        "q"
    );

    let mut wrong = serde_json::to_value(&ro).unwrap();
    wrong["spec"]["strategy"]["blueGreen"]["previewMetadata"] = json!({"labels": {"role": 1}});
    let wrong = Rollout::from_value(wrong, "web").unwrap();
    assert_eq!(
        ephemeral_metadata_for_new(&wrong, true)
            .unwrap_err()
            .to_string(),
        "spec.strategy.blueGreen.previewMetadata.labels.role: expected a string"
    );
}

#[test]
fn a_selector_of_the_wrong_shape_names_the_field() {
    let mut ro = rollout(json!({}));
    ro.spec.selector = Some(json!({"matchLabels": ["app"]}));
    let template = ro.spec.template.clone().unwrap();
    let err = desired_replica_set(&ro, &template, "h", 1, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.selector.matchLabels: expected a map of strings"
    );
}

#[test]
fn revisions_follow_the_highest_other_revision() {
    let at = |rev: Option<&str>| {
        let annotations = rev.map_or(json!({}), |r| json!({"rollout.argoproj.io/revision": r}));
        replica_set(json!({"metadata": {"name": "x", "annotations": annotations}}))
    };
    let (a, b, c, d) = (at(Some("2")), at(Some("7")), at(None), at(Some("seven")));
    assert_eq!(max_revision([&a, &b, &c, &d]), 7);
    assert_eq!(max_revision([]), 0);
    assert_eq!(replica_set_revision(&c), Some(0));
    assert_eq!(replica_set_revision(&d), None);
}

#[test]
fn going_back_to_an_old_template_makes_it_the_newest_revision_and_keeps_its_history() {
    let ro = rollout(json!({}));
    let rs = replica_set(json!({
        "metadata": {"name": "web-h1", "annotations": {
            "rollout.argoproj.io/revision": "2",
            "rollout.argoproj.io/revision-history": "1"}},
        "spec": {"minReadySeconds": 7, "selector": {}}
    }));
    let patch = sync_current_replica_set(&ro, &rs, 4).unwrap();
    assert_eq!(
        patch,
        json!({"metadata": {"annotations": {
            "rollout.argoproj.io/revision": "5",
            "rollout.argoproj.io/revision-history": "1,2"}}})
    );
    // Already the newest: nothing to write.
    assert_eq!(sync_current_replica_set(&ro, &rs, 1), None);
}

#[test]
fn an_existing_replica_set_gets_the_rollouts_annotations_and_min_ready_seconds() {
    let ro = rollout(json!({"team": "shop"}));
    let rs = replica_set(json!({
        "metadata": {"name": "web-h1", "annotations": {"rollout.argoproj.io/revision": "3"}},
        "spec": {"selector": {}}
    }));
    // Deliberately unlike Argo: no history entry when the revision stays.
    assert_eq!(
        sync_current_replica_set(&ro, &rs, 2),
        Some(json!({"metadata": {"annotations": {"team": "shop"}},
                    "spec": {"minReadySeconds": 7}}))
    );
    // Without a revision, the revision is set and there is no history.
    let bare = replica_set(
        json!({"metadata": {"name": "web-h1"}, "spec": {"minReadySeconds": 7, "selector": {}}}),
    );
    assert_eq!(
        sync_current_replica_set(&rollout(json!({})), &bare, 0),
        Some(json!({"metadata": {"annotations": {"rollout.argoproj.io/revision": "1"}}}))
    );
}

/// The pod template as the API server returns it for the Rollout's template:
/// every default filled in.
fn defaulted(hash: &str, image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": hash}},
        "spec": {
            "containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent",
                "resources": {"limits": {"cpu": "500m"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"}],
            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": {},
            "terminationGracePeriodSeconds": 30
        }
    })
}

#[test]
fn a_replica_set_of_argos_controller_is_adopted_by_template_equality() {
    // Argo's ReplicaSet: its own hash, the stable metadata it injected, a
    // quantity written the other way round, and the deprecated field.
    let mut live_template = defaulted("7d4b9c8f5", "nginx:1.27");
    live_template["metadata"]["labels"]["role"] = json!("stable");
    live_template["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("0.5");
    live_template["spec"]["serviceAccount"] = json!("default");
    let argos = replica_set(json!({
        "metadata": {"name": "web-7d4b9c8f5", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "web", "rollouts-pod-template-hash": "7d4b9c8f5"},
            "annotations": {"rollout.argoproj.io/ephemeral-metadata": r#"{"labels":{"role":"stable"}}"#}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": live_template}
    }));
    let other = replica_set(json!({
        "metadata": {"name": "web-old", "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"rollouts-pod-template-hash": "old"}},
        "spec": {"selector": {}, "template": defaulted("old", "nginx:1.26")}
    }));
    let all = [&other, &argos];
    // Our hash is another one: not found by label ...
    assert!(current_by_hash(&all, "ourhash").is_none());
    // ... but by template, against the defaulted desired template.
    let desired = comparable_template(defaulted("ourhash", "nginx:1.27"));
    let found = current_by_template(&all, &desired, None).map(|rs| rs.metadata.name.clone());
    assert_eq!(found, Some(Some("web-7d4b9c8f5".into())));
    // A different image is a different template.
    let changed = comparable_template(defaulted("ourhash", "nginx:1.28"));
    assert!(current_by_template(&all, &changed, None).is_none());
    // Undefaulted, the Rollout's template does not match: defaulting matters.
    let raw = comparable_template(pod_template(&rollout(json!({}))).unwrap().clone());
    assert!(current_by_template(&all, &raw, None).is_none());
    // By label: the one labelled so.
    assert_eq!(
        current_by_hash(&all, "old").and_then(|rs| rs.metadata.name.clone()),
        Some("web-old".into())
    );
}

#[test]
fn scaling_writes_only_what_differs() {
    use rollout_core::{ReplicaSetRole, Time};
    let rs = replica_set(json!({
        "metadata": {"name": "web-h1", "annotations": {
            "rollout.argoproj.io/desired-replicas": "5",
            "scale-down-deadline": "2026-11-22T05:00:30Z"}},
        "spec": {"replicas": 4, "selector": {}}
    }));
    let target = |replicas, deadline: Option<u64>| ReplicaSetTarget {
        pod_template_hash: "h1".into(),
        role: ReplicaSetRole::Old,
        replicas,
        scale_down_deadline: deadline.map(Time::from_unix_seconds),
    };
    let deadline = "2026-11-22T05:00:30Z"
        .parse::<Time>()
        .unwrap()
        .unix_seconds();
    assert_eq!(scale_patch(&rs, &target(4, Some(deadline)), 5), None);
    assert_eq!(
        scale_patch(&rs, &target(0, None), 5),
        Some(json!({"spec": {"replicas": 0},
                    "metadata": {"annotations": {"scale-down-deadline": null}}}))
    );
    assert_eq!(
        scale_patch(&rs, &target(4, Some(deadline)), 6),
        Some(json!({"metadata": {"annotations": {"rollout.argoproj.io/desired-replicas": "6"}}}))
    );
}

fn anti_affinity_rollout(stable: &str) -> Rollout {
    let mut ro = rollout(json!({}));
    let mut value = serde_json::to_value(&ro).unwrap();
    value["spec"]["strategy"]["canary"]["antiAffinity"] =
        json!({"requiredDuringSchedulingIgnoredDuringExecution": {}});
    value["status"] = json!({"stableRS": stable});
    ro = Rollout::from_value(value, "web").unwrap();
    ro
}

#[test]
fn a_replica_set_naming_an_old_stable_gets_the_term_against_the_new_one() {
    let old = anti_affinity_rollout("s1");
    let mut template = old.spec.template.clone().unwrap();
    crate::workload::anti_affinity::inject(&mut template, &old, "c1");
    template["metadata"]["labels"]["rollouts-pod-template-hash"] = json!("c1");
    let rs = replica_set(json!({
        "metadata": {"name": "web-c1", "labels": {"app": "web", "rollouts-pod-template-hash": "c1"},
                     "annotations": {"rollout.argoproj.io/revision": "3"}},
        "spec": {"minReadySeconds": 7, "selector": {}, "template": template}
    }));
    // In line: nothing to write.
    assert_eq!(sync_current_replica_set(&old, &rs, 2), None);
    // The stable ReplicaSet is now s2: the term follows it.
    let moved = anti_affinity_rollout("s2");
    let patch = sync_current_replica_set(&moved, &rs, 2).unwrap();
    assert_eq!(
        patch,
        json!({"spec": {"template": {"spec": {"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchExpressions": [{"key": "rollouts-pod-template-hash",
                    "operator": "In", "values": ["s2"]}]},
                "namespaces": ["shop"], "topologyKey": "kubernetes.io/hostname"}]}}}}}})
    );
}

#[test]
fn the_injected_term_is_not_part_of_template_equality() {
    let ro = anti_affinity_rollout("s1");
    let mut live = defaulted("argohash", "nginx:1.27");
    crate::workload::anti_affinity::inject(&mut live, &ro, "argohash");
    assert!(live["spec"]["affinity"].is_object());
    let rs = replica_set(json!({
        "metadata": {"name": "web-argohash", "labels": {"rollouts-pod-template-hash": "argohash"}},
        "spec": {"selector": {}, "template": live}
    }));
    let desired = comparable_template(defaulted("ourhash", "nginx:1.27"));
    let strategy = crate::workload::anti_affinity::strategy(&ro);
    assert!(current_by_template(&[&rs], &desired, strategy).is_some());
    // Without knowing the Rollout asks for anti-affinity, the term is a difference.
    assert!(current_by_template(&[&rs], &desired, None).is_none());
}

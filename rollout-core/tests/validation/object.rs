//! The object around the strategy: metadata, spec numbers, selector, pod template.

use rollout_core::Rollout;
use serde_json::json;

use super::*;

#[test]
fn the_base_rollout_is_valid_and_has_no_warnings() {
    let doc = canary(json!({"steps": [{"setWeight": 20}, {"pause": {}}]}));
    assert_valid(doc.clone());
    assert_eq!(warnings(doc), Vec::<String>::new());
}

#[test]
fn metadata_name_is_required_and_a_dns_subdomain() {
    let base = canary(json!({}));
    assert_only(
        remove(base.clone(), "/metadata/name"),
        &["metadata.name: name or generateName is required"],
    );
    assert_valid(set(
        remove(base.clone(), "/metadata/name"),
        "/metadata/generateName",
        json!("web-"),
    ));
    let e = errors(set(base, "/metadata/name", json!("Web_1")));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("metadata.name: \"Web_1\" must be lowercase"),
        "{e:?}"
    );
}

#[test]
fn spec_numbers_are_non_negative() {
    let base = canary(json!({}));
    assert_only(
        set(base.clone(), "/spec/replicas", json!(-1)),
        &["spec.replicas: -1: must be greater than or equal to 0"],
    );
    assert_only(
        set(base.clone(), "/spec/revisionHistoryLimit", json!(-2)),
        &["spec.revisionHistoryLimit: -2: must be greater than or equal to 0"],
    );
    let e = errors(set(base, "/spec/progressDeadlineSeconds", json!(-5)));
    assert_eq!(
        e,
        [
            "spec.progressDeadlineSeconds: -5: must be greater than or equal to 0",
            "spec.progressDeadlineSeconds: -5: must be greater than minReadySeconds"
        ]
    );
}

#[test]
fn progress_deadline_must_exceed_min_ready_seconds() {
    let base = canary(json!({}));
    // The default deadline is 600 s.
    assert_only(
        set(base.clone(), "/spec/minReadySeconds", json!(600)),
        &["spec.progressDeadlineSeconds: 600: must be greater than minReadySeconds"],
    );
    assert_valid(set(
        set(base.clone(), "/spec/minReadySeconds", json!(600)),
        "/spec/progressDeadlineSeconds",
        json!(601),
    ));
    // Zero is allowed by Argo's non-negative rule but not by this one.
    assert_only(
        set(base, "/spec/progressDeadlineSeconds", json!(0)),
        &["spec.progressDeadlineSeconds: 0: must be greater than minReadySeconds"],
    );
}

#[test]
fn restart_at_is_a_time() {
    let base = canary(json!({}));
    assert_valid(set(
        base.clone(),
        "/spec/restartAt",
        json!("2026-11-22T05:00:00Z"),
    ));
    assert_only(
        set(base, "/spec/restartAt", json!("tomorrow")),
        &[
            "spec.restartAt: \"tomorrow\" is not an RFC 3339 time (expected e.g. 2026-11-22T05:00:00Z)",
        ],
    );
}

#[test]
fn replica_progress_threshold_type_is_percent_or_pods() {
    for kind in ["Percent", "Pods"] {
        assert_valid(canary(
            json!({"replicaProgressThreshold": {"type": kind, "value": 80}}),
        ));
    }
    let err = Rollout::from_value(
        canary(json!({"replicaProgressThreshold": {"type": "Percentage", "value": 80}})),
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("t.yaml: spec.strategy.canary.replicaProgressThreshold.type: \"Percentage\" is not one of \"Percent\" or \"Pods\""),
        "{err}"
    );
}

#[test]
fn selector_is_required_without_workload_ref() {
    assert_only(
        remove(canary(json!({})), "/spec/selector"),
        &["spec.selector: Rollout has missing field '.spec.selector'"],
    );
}

#[test]
fn empty_selector_is_invalid() {
    assert_only(
        set(canary(json!({})), "/spec/selector", json!({})),
        &["spec.selector: empty selector is invalid for deployment"],
    );
}

#[test]
fn selector_labels_and_expressions_are_checked() {
    let doc = set(
        canary(json!({})),
        "/spec/selector",
        json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In"},
            {"key": "zone", "operator": "Exists", "values": ["a"]},
            {"key": "-bad", "operator": "Near", "values": ["a/b"]}
        ]}),
    );
    let e = errors(doc);
    assert_eq!(
        e[0],
        "spec.selector.matchExpressions[0].values: must be specified when `operator` is 'In' or 'NotIn'"
    );
    assert_eq!(
        e[1],
        "spec.selector.matchExpressions[1].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
    );
    assert!(
        e[2].starts_with(
            "spec.selector.matchExpressions[2].operator: \"Near\" is not a valid selector operator"
        ),
        "{e:?}"
    );
    assert!(
        e[3].starts_with("spec.selector.matchExpressions[2].key: \"-bad\""),
        "{e:?}"
    );
    assert!(
        e[4].starts_with("spec.selector.matchExpressions[2].values[0]: \"a/b\""),
        "{e:?}"
    );
    assert_eq!(
        e.len(),
        5,
        "an invalid selector is not matched against the template: {e:?}"
    );
    let typo = errors(set(
        canary(json!({})),
        "/spec/selector",
        json!({"matchLabel": {"app": "web"}}),
    ));
    assert!(
        typo[0].starts_with("spec.selector.matchLabel: unknown field \"matchLabel\""),
        "{typo:?}"
    );
}

#[test]
fn selector_must_match_template_labels() {
    let mismatch = "spec.template.metadata.labels: `selector` does not match template `labels`";
    let base = canary(json!({}));
    assert_only(
        set(
            base.clone(),
            "/spec/selector/matchLabels",
            json!({"app": "api"}),
        ),
        &[mismatch],
    );
    let expr = |op: &str, values: Value| {
        set(
            base.clone(),
            "/spec/selector",
            json!({"matchExpressions": [{"key": "app", "operator": op, "values": values}]}),
        )
    };
    assert_valid(expr("In", json!(["web", "api"])));
    assert_only(expr("NotIn", json!(["web"])), &[mismatch]);
    assert_valid(expr("Exists", json!([])));
    assert_only(expr("DoesNotExist", json!([])), &[mismatch]);
}

#[test]
fn workload_ref_with_template_labels_is_invalid() {
    let base = set(
        canary(json!({})),
        "/spec/workloadRef",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}),
    );
    assert_only(
        base.clone(),
        &["spec.template: template must be empty for workload reference rollout"],
    );
    let no_template = remove(base, "/spec/template");
    assert_valid(no_template.clone());
    assert_valid(remove(no_template, "/spec/selector"));
}

#[test]
fn pod_template_needs_named_containers_with_images() {
    let base = canary(json!({}));
    assert_only(
        set(base.clone(), "/spec/template/spec/containers", json!([])),
        &["spec.template.spec.containers: must list at least one container"],
    );
    assert_only(
        remove(base.clone(), "/spec/template"),
        &[
            "spec.template.metadata.labels: `selector` does not match template `labels`",
            "spec.template.spec.containers: must list at least one container",
        ],
    );
    let e = errors(set(
        base.clone(),
        "/spec/template/spec",
        json!({
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [{"image": "web"}, {"name": "Web", "image": "web"}, {"name": "setup"}]
        }),
    ));
    assert_eq!(e[0], "spec.template.spec.containers[0].name: is required");
    assert!(
        e[1].starts_with("spec.template.spec.containers[1].name: \"Web\" must be lowercase"),
        "{e:?}"
    );
    assert_eq!(
        e[2],
        "spec.template.spec.containers[2].name: \"setup\" is used by another container"
    );
    assert_eq!(e[3], "spec.template.spec.containers[2].image: is required");
    assert_eq!(e.len(), 4, "{e:?}");
    let e = errors(set(
        base.clone(),
        "/spec/template/metadata/annotations",
        json!({"Example.com/Owner": "a", "bad key": "b"}),
    ));
    assert_eq!(
        e.len(),
        1,
        "annotation names are read case-insensitively: {e:?}"
    );
    assert!(
        e[0].starts_with("spec.template.metadata.annotations: \"bad key\""),
        "{e:?}"
    );
    let e = errors(set(
        base,
        "/spec/template/metadata/labels",
        json!({"app": "web", "bad key": "x"}),
    ));
    assert!(
        e[0].starts_with("spec.template.metadata.labels: \"bad key\""),
        "{e:?}"
    );
}

#[test]
fn pod_template_restart_policy_and_deadline() {
    let base = canary(json!({}));
    assert_valid(set(
        base.clone(),
        "/spec/template/spec/restartPolicy",
        json!("Always"),
    ));
    assert_only(
        set(
            base.clone(),
            "/spec/template/spec/restartPolicy",
            json!("Never"),
        ),
        &[
            "spec.template.spec.restartPolicy: \"Never\" is not supported (a ReplicaSet's pods restart Always)",
        ],
    );
    assert_only(
        set(
            base.clone(),
            "/spec/template/spec/activeDeadlineSeconds",
            json!(30),
        ),
        &[
            "spec.template.spec.activeDeadlineSeconds: activeDeadlineSeconds in ReplicaSet is not Supported",
        ],
    );
    assert_only(
        set(
            base,
            "/spec/template/spec/ephemeralContainers",
            json!([{"name": "debug", "image": "busybox"}]),
        ),
        &[
            "spec.template.spec.ephemeralContainers: ephemeral containers are not allowed in a pod template",
        ],
    );
}

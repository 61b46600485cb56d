use super::*;
use serde_json::json;

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                    "resources": {"requests": {"cpu": "100m"}}}]}})
}

fn referencing(reference: Value, extra_spec: Value) -> Rollout {
    let mut spec = json!({"replicas": 5, "workloadRef": reference, "strategy": {"canary": {}}});
    for (k, v) in extra_spec.as_object().unwrap() {
        spec[k] = v.clone();
    }
    Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": spec}),
        "web",
    )
    .unwrap()
}

fn deployment(template: Value) -> Deployment {
    // As the API server returns it: `creationTimestamp: null` in the template.
    let mut template = template;
    template["metadata"]["creationTimestamp"] = Value::Null;
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop", "generation": 7},
        "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}}, "template": template}
    }))
    .unwrap()
}

fn deployment_ref(scale_down: Option<&str>) -> Value {
    let mut r = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    if let Some(s) = scale_down {
        r["scaleDown"] = json!(s);
    }
    r
}

#[test]
fn the_same_pod_template_gives_the_same_hash_from_either_source() {
    let own = Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "shop"},
               "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
                        "template": template(), "strategy": {"canary": {}}}}),
        "web",
    )
    .unwrap();
    let (resolved, referenced) = resolve(referencing(deployment_ref(None), json!({})), |name| {
        assert_eq!(name, "web");
        Some(deployment(template()))
    })
    .unwrap();
    let own_hash = crate::workload::pod_template_hash(own.spec.template.as_ref().unwrap(), None);
    let resolved_hash =
        crate::workload::pod_template_hash(resolved.spec.template.as_ref().unwrap(), None);
    assert_eq!(own_hash, resolved_hash);
    assert_eq!(resolved.spec.selector, own.spec.selector);
    assert_eq!(resolved.spec.workload_ref, None);
    assert_eq!(
        referenced,
        Some(Referenced {
            name: "web".into(),
            scale_down: ScaleDown::Never,
            generation: 7,
            replicas: 5
        })
    );
    // A different template in the Deployment is a different hash.
    let mut other = template();
    other["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    let (changed, _) = resolve(referencing(deployment_ref(None), json!({})), |_| {
        Some(deployment(other))
    })
    .unwrap();
    assert_ne!(
        crate::workload::pod_template_hash(changed.spec.template.as_ref().unwrap(), None),
        own_hash
    );
}

#[test]
fn the_rollouts_own_selector_wins_over_the_deployments() {
    let selector = json!({"matchLabels": {"app": "web", "tier": "front"}});
    let rollout = referencing(deployment_ref(None), json!({"selector": selector}));
    let (resolved, _) = resolve(rollout, |_| Some(deployment(template()))).unwrap();
    assert_eq!(resolved.spec.selector, Some(selector));
}

#[test]
fn a_missing_deployment_is_invalid_in_argos_words() {
    let err = resolve(
        referencing(deployment_ref(Some("onsuccess")), json!({})),
        |_| None,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ReferenceError::Invalid(
            "spec.workloadRef: Invalid value: {apiVersion: \"apps/v1\", kind: \"Deployment\", name: \"web\", scaleDown: \"onsuccess\"}: deployments.apps \"web\" not found".into()
        )
    );
}

#[test]
fn a_template_beside_the_reference_is_invalid() {
    let rollout = referencing(
        deployment_ref(None),
        json!({"template": {"metadata": {"labels": {"app": "web"}}}}),
    );
    let err = resolve(rollout, |_| Some(deployment(template()))).unwrap_err();
    let ReferenceError::Invalid(message) = err else {
        panic!("expected Invalid")
    };
    assert!(
        message.ends_with(": template must be empty for workload reference rollout"),
        "{message}"
    );
    // An empty template (no labels or annotations) is allowed, as in Argo.
    let rollout = referencing(deployment_ref(None), json!({"template": {"metadata": {}}}));
    assert!(resolve(rollout, |_| Some(deployment(template()))).is_ok());
}

#[test]
fn kinds_and_versions_argo_does_not_resolve_are_invalid_and_the_others_unsupported() {
    let with = |api_version: &str, kind: &str| {
        let rollout = referencing(
            json!({"apiVersion": api_version, "kind": kind, "name": "web"}),
            json!({}),
        );
        resolve(rollout, |_| Some(deployment(template()))).unwrap_err()
    };
    let ReferenceError::Invalid(message) = with("apps/v1", "StatefulSet") else {
        panic!("expected Invalid")
    };
    assert!(
        message.ends_with(": workload of type apps/StatefulSet is not supported"),
        "{message}"
    );
    let ReferenceError::Invalid(message) = with("apps/v1beta1", "Deployment") else {
        panic!("expected Invalid")
    };
    assert!(
        message.contains("GroupVersion \"apps/v1beta1\" not found"),
        "{message}"
    );
    for (api_version, kind) in [("apps/v1", "ReplicaSet"), ("v1", "PodTemplate")] {
        let ReferenceError::Unsupported(field) = with(api_version, kind) else {
            panic!("expected Unsupported for {kind}")
        };
        assert_eq!(field.path, "spec.workloadRef.kind");
    }
}

#[test]
fn an_unknown_scale_down_is_invalid_unlike_argo() {
    // Argo reads any other value as `never`; a typo would silently keep the Deployment up.
    let err = resolve(
        referencing(deployment_ref(Some("onSuccess")), json!({})),
        |_| Some(deployment(template())),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ReferenceError::Invalid(
            "spec.workloadRef.scaleDown: \"onSuccess\": expected never, onsuccess or progressively"
                .into()
        )
    );
    for (text, mode) in [
        ("", ScaleDown::Never),
        ("never", ScaleDown::Never),
        ("progressively", ScaleDown::Progressively),
    ] {
        let (_, referenced) = resolve(referencing(deployment_ref(Some(text)), json!({})), |_| {
            Some(deployment(template()))
        })
        .unwrap();
        assert_eq!(referenced.unwrap().scale_down, mode, "{text:?}");
    }
}

#[test]
fn a_rollout_without_a_reference_is_left_as_it_is() {
    let rollout = Rollout::from_value(
        json!({"metadata": {"name": "web"},
               "spec": {"template": template(), "strategy": {"canary": {}}}}),
        "web",
    )
    .unwrap();
    let (same, referenced) = resolve(rollout.clone(), |_| panic!("no lookup")).unwrap();
    assert_eq!((same, referenced), (rollout, None));
}

fn inputs<'a>(phase: &'a str, ready: i32, before: i32, after: i32) -> ScaleDownInputs<'a> {
    ScaleDownInputs {
        live_phase: Some(phase),
        live_ready_replicas: ready,
        rollout_replicas: Some(5),
        revision: 1,
        current_replicas_before: before,
        current_replicas_after: after,
        fully_promoted: false,
    }
}

#[test]
fn progressively_follows_the_ready_pods_of_the_first_revision() {
    let p = ScaleDown::Progressively;
    // Nothing ready and not shrinking: the Deployment is left alone.
    assert_eq!(deployment_scale(p, &inputs("Progressing", 0, 5, 5)), None);
    // As pods become ready, the Deployment gives way: 5 - ready.
    assert_eq!(
        deployment_scale(p, &inputs("Progressing", 1, 5, 5)),
        Some(4)
    );
    assert_eq!(
        deployment_scale(p, &inputs("Progressing", 5, 5, 5)),
        Some(0)
    );
    // The Rollout's ReplicaSet shrinking (an abort) with nothing ready: the Deployment comes back.
    assert_eq!(deployment_scale(p, &inputs("Degraded", 0, 5, 0)), Some(5));
    // Healthy: 0, whatever the counts.
    assert_eq!(deployment_scale(p, &inputs("Healthy", 0, 5, 5)), Some(0));
    // More ready than asked for (a scale-in): never below 0.
    assert_eq!(
        deployment_scale(p, &inputs("Progressing", 7, 7, 5)),
        Some(0)
    );
    // Only on the first revision, and only with spec.replicas.
    let mut later = inputs("Progressing", 3, 5, 5);
    later.revision = 2;
    assert_eq!(deployment_scale(p, &later), None);
    let mut unset = inputs("Progressing", 3, 5, 5);
    unset.rollout_replicas = None;
    assert_eq!(deployment_scale(p, &unset), None);
}

#[test]
fn onsuccess_waits_for_healthy_on_the_first_revision() {
    let o = ScaleDown::OnSuccess;
    let mut i = inputs("Progressing", 5, 5, 5);
    i.fully_promoted = true;
    assert_eq!(deployment_scale(o, &i), None);
    i.live_phase = Some("Healthy");
    assert_eq!(deployment_scale(o, &i), Some(0));
    i.revision = 2;
    assert_eq!(deployment_scale(o, &i), None);
    assert_eq!(
        deployment_scale(ScaleDown::Never, &inputs("Healthy", 5, 5, 5)),
        None
    );
}

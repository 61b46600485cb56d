//! Argo Rollouts' validation rules, one test per rule (the table in the
//! `validate` module names them). Each Rollout here is written for the rule
//! it exercises; messages are Argo's where Argo has one.

use rollout_core::{Error, Rollout, WarningKind, check, lint, unsupported, validate};
use serde_json::{Value, json};

/// A complete, valid canary Rollout with `strategy` as given.
fn with_strategy(strategy: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:2"}]}
            },
            "strategy": strategy
        }
    })
}

fn canary(c: Value) -> Value {
    with_strategy(json!({"canary": c}))
}

fn rollout(doc: Value) -> Rollout {
    Rollout::from_value(doc, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// The errors, each as `path: message`.
fn errors(doc: Value) -> Vec<String> {
    validate(&rollout(doc))
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The warnings, each as `Kind path: message`.
fn warnings(doc: Value) -> Vec<String> {
    lint(&rollout(doc))
        .warnings
        .iter()
        .map(|w| format!("{:?} {w}", w.kind))
        .collect()
}

/// Sets `pointer` (a JSON pointer) in `doc` to `value`, creating objects on the way.
fn set(mut doc: Value, pointer: &str, value: Value) -> Value {
    let mut at = &mut doc;
    for key in pointer.trim_start_matches('/').split('/') {
        at = at
            .as_object_mut()
            .expect("an object on the way")
            .entry(key)
            .or_insert_with(|| json!({}));
    }
    *at = value;
    doc
}

fn remove(mut doc: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(key);
    doc
}

#[track_caller]
fn assert_only(doc: Value, expected: &[&str]) {
    assert_eq!(errors(doc), expected);
}

#[track_caller]
fn assert_valid(doc: Value) {
    assert_eq!(errors(doc), Vec::<String>::new());
}

const ROUTED: &str = "/spec/strategy/canary/trafficRouting";

// ---- the object ----

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
        err.starts_with("t.yaml: spec.strategy.canary.replicaProgressThreshold.type: unknown variant `Percentage`"),
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
        typo[0].starts_with("spec.selector.matchLabel: unknown field `matchLabel`"),
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

// ---- the strategy ----

#[test]
fn strategy_sets_exactly_one_of_canary_and_blue_green() {
    assert_only(
        with_strategy(json!({})),
        &[
            "spec.strategy: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'",
        ],
    );
    assert_only(
        with_strategy(
            json!({"canary": {}, "blueGreen": {"activeService": "a", "previewService": "p"}}),
        ),
        &["spec.strategy: Multiple Strategies can not be listed"],
    );
}

#[test]
fn blue_green_active_service_is_required() {
    let err = Rollout::from_value(
        with_strategy(json!({"blueGreen": {"previewService": "p"}})),
        "bg.yaml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "bg.yaml: spec.strategy.blueGreen: missing field `activeService`"
    );
}

#[test]
fn blue_green_services_must_differ() {
    let dup = "spec.strategy.blueGreen.activeService: This rollout uses the same service for the active and preview services, but two different services are required.";
    assert_only(
        with_strategy(json!({"blueGreen": {"activeService": "web", "previewService": "web"}})),
        &[dup],
    );
    // An empty active Service equals the unset preview Service.
    assert_only(
        with_strategy(json!({"blueGreen": {"activeService": ""}})),
        &[dup],
    );
    assert_valid(with_strategy(
        json!({"blueGreen": {"activeService": "web"}}),
    ));
}

#[test]
fn blue_green_scale_down_revision_limit_within_history() {
    let bg = |limit: i32| {
        with_strategy(
            json!({"blueGreen": {"activeService": "a", "previewService": "p", "scaleDownDelayRevisionLimit": limit}}),
        )
    };
    assert_valid(bg(10));
    assert_only(
        bg(11),
        &[
            "spec.strategy.blueGreen.scaleDownDelayRevisionLimit: 11: This rollout's revision history limit can not be smaller than the rollout's scale down limit",
        ],
    );
    assert_valid(set(bg(11), "/spec/revisionHistoryLimit", json!(11)));
}

#[test]
fn anti_affinity_sets_exactly_one_kind_with_weight_1_to_100() {
    let one_of = "AntiAffinity must have exactly one strategy listed";
    assert_only(
        canary(json!({"antiAffinity": {}})),
        &[&format!("spec.strategy.canary.antiAffinity: {one_of}")],
    );
    assert_only(
        canary(json!({"antiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": {"weight": 101},
            "requiredDuringSchedulingIgnoredDuringExecution": {}
        }})),
        &[
            &format!("spec.strategy.canary.antiAffinity: {one_of}"),
            "spec.strategy.canary.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight: 101: AntiAffinity weight must be between 1-100",
        ],
    );
    assert_valid(canary(
        json!({"antiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}),
    ));
    assert_only(
        with_strategy(
            json!({"blueGreen": {"activeService": "a", "previewService": "p",
            "antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 0}}}}),
        ),
        &[
            "spec.strategy.blueGreen.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight: 0: AntiAffinity weight must be between 1-100",
        ],
    );
}

#[test]
fn surge_and_unavailable_cannot_both_be_zero() {
    let zero = "spec.strategy.canary.maxSurge: MaxSurge and MaxUnavailable both can not be zero";
    for (surge, unavailable) in [
        (json!(0), json!(0)),
        (json!("0"), json!(0)),
        (json!("0%"), json!("0")),
        (json!(0), json!("0%")),
    ] {
        assert_only(
            canary(json!({"maxSurge": surge, "maxUnavailable": unavailable})),
            &[zero],
        );
    }
    // Unset values default to 25%.
    assert_valid(canary(json!({"maxSurge": 0})));
    assert_valid(canary(json!({"maxUnavailable": "0%"})));
}

#[test]
fn unreadable_surge_is_accepted_but_unsupported() {
    // Argo reads a string that is not a number as 0 for this rule...
    assert_only(
        canary(json!({"maxSurge": "lots", "maxUnavailable": 0})),
        &["spec.strategy.canary.maxSurge: MaxSurge and MaxUnavailable both can not be zero"],
    );
    // ...and otherwise accepts it; this engine refuses to run it.
    let doc = canary(json!({"maxSurge": "lots"}));
    assert_valid(doc.clone());
    assert_eq!(
        warnings(doc),
        [
            r#"Unsupported spec.strategy.canary.maxSurge: "lots" is not a count or a percentage such as 25%; Argo Rollouts accepts it and computes 0, this engine does not run it"#
        ]
    );
}

#[test]
fn canary_and_stable_services_must_differ() {
    let dup = "spec.strategy.canary.stableService: This rollout uses the same service for the stable and canary services, but two different services are required.";
    // A basic canary too: the rule does not depend on traffic routing.
    assert_only(
        canary(json!({"canaryService": "web", "stableService": "web"})),
        &[dup],
    );
    assert_only(
        canary(json!({"canaryService": "web", "stableService": "web",
            "trafficRouting": {"nginx": {"stableIngress": "web"}}})),
        &[dup],
    );
}

#[test]
fn routers_that_require_canary_and_stable_services() {
    let missing = [
        "spec.strategy.canary.stableService: Canary service and Stable service must to be set to use Traffic Routing",
        "spec.strategy.canary.canaryService: Canary service and Stable service must to be set to use Traffic Routing",
    ];
    for router in [
        json!({"alb": {"ingress": "i", "servicePort": 80}}),
        json!({"istio": {"virtualService": {"name": "vs"}}}),
        json!({"smi": {}}),
        json!({"apisix": {"route": {"name": "r"}}}),
        json!({"ambassador": {"mappings": ["m"]}}),
        json!({"nginx": {"stableIngress": "i"}}),
        json!({"appMesh": {"virtualService": {"name": "v"}}}),
        json!({"traefik": {"weightedTraefikServiceName": "t"}}),
        // A router that needs them, beside one that does not.
        json!({"nginx": {"stableIngress": "i"}, "plugins": {"example.com/p": {}}}),
    ] {
        assert_only(canary(json!({"trafficRouting": router})), &missing);
    }
    for router in [
        json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "r", "namespace": "shop"}}}),
        json!({"istio": {"virtualService": {"name": "vs"},
            "destinationRule": {"name": "dr", "canarySubsetName": "c", "stableSubsetName": "s"}}}),
    ] {
        assert_valid(canary(json!({"trafficRouting": router})));
    }
}

#[test]
fn ping_pong_replaces_canary_and_stable_services() {
    let pp = json!({"pingService": "ping", "pongService": "pong"});
    for router in [
        json!({"alb": {"ingress": "i", "servicePort": 80, "rootService": "root"}}),
        json!({"istio": {"virtualService": {"name": "vs"}}}),
        json!({"plugins": {"example.com/p": {}}}),
    ] {
        let doc = canary(json!({"pingPong": pp, "trafficRouting": router}));
        assert_valid(doc.clone());
        assert_eq!(
            unsupported(&rollout(doc))
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["spec.strategy.canary.pingPong: ping-pong Services are not run by this engine yet"]
        );
    }
    // Without traffic routing Argo does not object either.
    assert_valid(canary(json!({"pingPong": pp})));
}

#[test]
fn ping_pong_needs_two_distinct_services() {
    let required = "Ping service and Pong service must to be set to use Ping-Pong feature";
    let dup = "This rollout uses the same service for the ping and pong services, but two different services are required.";
    assert_only(
        canary(json!({"pingPong": {"pingService": "ping", "pongService": ""}})),
        &[&format!(
            "spec.strategy.canary.pingPong.pongService: {required}"
        )],
    );
    assert_only(
        canary(json!({"pingPong": {"pingService": "svc", "pongService": "svc"}})),
        &[&format!("spec.strategy.canary.pingPong.pingService: {dup}")],
    );
    let err = Rollout::from_value(
        canary(json!({"pingPong": {"pingService": "ping"}})),
        "pp.yaml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "pp.yaml: spec.strategy.canary.pingPong: missing field `pongService`"
    );
}

#[test]
fn ping_pong_routers() {
    let e = errors(canary(
        json!({"pingPong": {"pingService": "ping", "pongService": "pong"},
        "canaryService": "c", "stableService": "s",
        "trafficRouting": {"nginx": {"stableIngress": "i"}}}),
    ));
    assert_eq!(
        e,
        [
            "spec.strategy.canary.trafficRouting: Ping-pong feature works with the ALB, Istio, and plugin-based traffic routers only"
        ]
    );
}

#[test]
fn ping_pong_with_alb_needs_root_service() {
    assert_only(
        canary(
            json!({"pingPong": {"pingService": "ping", "pongService": "pong"},
            "trafficRouting": {"alb": {"ingress": "i", "servicePort": 80}}}),
        ),
        &[
            "spec.strategy.canary.trafficRouting.alb.rootService: Root service field is required for the configuration with ALB and ping-pong feature enabled",
        ],
    );
}

#[test]
fn scale_down_delay_and_dynamic_stable_scale_need_traffic_routing() {
    assert_only(
        canary(json!({"scaleDownDelaySeconds": 60})),
        &[
            "spec.strategy.canary.scaleDownDelaySeconds: Canary scaleDownDelaySeconds can only be used with traffic routing",
        ],
    );
    assert_only(
        canary(json!({"dynamicStableScale": true})),
        &[
            "spec.strategy.canary.dynamicStableScale: Canary dynamicStableScale can only be used with traffic routing",
        ],
    );
    let routed = json!({"smi": {}});
    assert_valid(canary(json!({"canaryService": "c", "stableService": "s",
        "scaleDownDelaySeconds": 60, "trafficRouting": routed})));
    assert_only(
        canary(
            json!({"canaryService": "c", "stableService": "s", "trafficRouting": routed,
            "scaleDownDelaySeconds": 60, "dynamicStableScale": true}),
        ),
        &[
            "spec.strategy.canary.dynamicStableScale: Canary dynamicStableScale cannot be used with scaleDownDelaySeconds",
        ],
    );
}

#[test]
fn max_traffic_weight_needs_nginx_or_plugins() {
    let services = |tr: Value| {
        canary(json!({"canaryService": "c", "stableService": "s", "trafficRouting": tr}))
    };
    assert_only(
        services(json!({"alb": {"ingress": "i", "servicePort": 80}, "maxTrafficWeight": 1000})),
        &[
            "spec.strategy.canary.trafficRouting.maxTrafficWeight: Canary maxTrafficWeight in traffic routing only supported in Nginx and Plugins",
        ],
    );
    assert_valid(services(
        json!({"nginx": {"stableIngress": "i"}, "maxTrafficWeight": 1000}),
    ));
    assert_valid(services(
        json!({"plugins": {"p": {}}, "maxTrafficWeight": 1000}),
    ));
    // NGINX beside another router is enough.
    assert_valid(services(json!({"nginx": {"stableIngress": "i"},
        "alb": {"ingress": "i", "servicePort": 80}, "maxTrafficWeight": 1000})));
}

#[test]
fn ingress_and_virtual_service_one_of() {
    let services = |tr: Value| {
        canary(json!({"canaryService": "c", "stableService": "s", "trafficRouting": tr}))
    };
    let at = "spec.strategy.canary.trafficRouting";
    assert_only(
        services(json!({"nginx": {"stableIngress": "a", "stableIngresses": ["b"]}})),
        &[&format!(
            "{at}.nginx: Either StableIngress or StableIngresses must be configured. Both are configured."
        )],
    );
    assert_only(
        services(json!({"nginx": {}})),
        &[&format!(
            "{at}.nginx: Either StableIngress or StableIngresses must be configured. Neither are configured."
        )],
    );
    assert_valid(services(json!({"nginx": {"stableIngresses": ["a", "b"]}})));
    assert_only(
        services(json!({"alb": {"servicePort": 80}})),
        &[&format!(
            "{at}.alb: Either Ingress or Ingresses must be configured. Neither are configured."
        )],
    );
    assert_only(
        services(json!({"alb": {"servicePort": 80, "ingress": "a", "ingresses": ["b"]}})),
        &[&format!(
            "{at}.alb: Either Ingress or Ingresses must be configured. Both are configured."
        )],
    );
    assert_only(
        services(json!({"istio": {}})),
        &[&format!(
            "{at}.istio: either VirtualService or VirtualServices must be configured"
        )],
    );
    assert_valid(services(
        json!({"istio": {"virtualServices": [{"name": "a"}, {"name": "b"}]}}),
    ));
}

#[test]
fn router_blocks_have_their_required_fields() {
    let services = |tr: Value| {
        canary(json!({"canaryService": "c", "stableService": "s", "trafficRouting": tr}))
    };
    let at = "spec.strategy.canary.trafficRouting";
    assert_only(
        services(json!({"alb": {"ingress": "i"}})),
        &[&format!("{at}.alb.servicePort: is required")],
    );
    assert_only(
        services(
            json!({"istio": {"virtualServices": [{"routes": ["primary"]}],
            "destinationRule": {"name": "dr", "canarySubsetName": "c"}}}),
        ),
        &[
            &format!("{at}.istio.destinationRule.stableSubsetName: is required"),
            &format!("{at}.istio.virtualServices[0].name: is required"),
        ],
    );
    assert_only(
        services(json!({"traefik": {}})),
        &[&format!(
            "{at}.traefik.weightedTraefikServiceName: is required"
        )],
    );
}

#[test]
fn empty_traffic_routing_is_accepted_with_a_warning() {
    let doc = canary(json!({"trafficRouting": {}, "steps": [{"setWeight": 10}]}));
    assert_valid(doc.clone());
    let w = warnings(doc.clone());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("Suspicious spec.strategy.canary.trafficRouting: names no traffic router"),
        "{w:?}"
    );
    assert_eq!(check(&rollout(doc)), Ok(()));
}

// ---- steps ----

#[test]
fn set_weight_between_0_and_max_traffic_weight() {
    assert_only(
        canary(json!({"steps": [{"setWeight": 101}]})),
        &["spec.strategy.canary.steps[0].setWeight: 101: SetWeight needs to be between 0 and 100"],
    );
    assert_only(
        canary(json!({"steps": [{"setWeight": -1}]})),
        &["spec.strategy.canary.steps[0].setWeight: -1: SetWeight needs to be between 0 and 100"],
    );
    let routed = |w: i32| {
        canary(json!({"steps": [{"setWeight": w}],
            "trafficRouting": {"maxTrafficWeight": 1000, "plugins": {"p": {}}}}))
    };
    assert_valid(routed(1000));
    assert_only(
        routed(1001),
        &[
            "spec.strategy.canary.steps[0].setWeight: 1001: SetWeight needs to be between 0 and 1000",
        ],
    );
}

#[test]
fn pause_duration_follows_go() {
    for ok in [
        json!(30),
        json!("30"),
        json!("1.5h"),
        json!("1h30m"),
        json!("500ms"),
        json!(0),
    ] {
        assert_valid(canary(json!({"steps": [{"pause": {"duration": ok}}]})));
    }
    let at = "spec.strategy.canary.steps[0].pause.duration";
    for (bad, message) in [
        (json!(-1), "-1 is negative"),
        (json!("-1s"), "-1s is negative"),
        (
            json!("1d"),
            "\"1d\" is not a duration (expected seconds, or a duration such as 30s, 5m or 1h30m)",
        ),
        (
            json!("soon"),
            "\"soon\" is not a duration (expected seconds, or a duration such as 30s, 5m or 1h30m)",
        ),
        (
            json!(""),
            "\"\" is not a duration (expected seconds, or a duration such as 30s, 5m or 1h30m)",
        ),
    ] {
        assert_only(
            canary(json!({"steps": [{"pause": {"duration": bad}}]})),
            &[&format!(
                "{at}: {message}; Duration needs to be greater than 0"
            )],
        );
    }
}

#[test]
fn set_canary_scale_needs_traffic_routing() {
    assert_only(
        canary(json!({"steps": [{"setCanaryScale": {"replicas": 2}}]})),
        &[
            "spec.strategy.canary.steps[0].setCanaryScale: SetCanaryScale requires TrafficRouting to be set",
        ],
    );
}

#[test]
fn set_canary_scale_combinations_are_accepted() {
    let routed = |scale: Value| {
        canary(json!({"steps": [{"setCanaryScale": scale}],
        "trafficRouting": {"plugins": {"p": {}}}}))
    };
    for scale in [
        json!({"weight": 20}),
        json!({"replicas": 3}),
        json!({"matchTrafficWeight": true}),
        json!({}),
        json!({"weight": 20, "replicas": 3}),
        json!({"replicas": 3, "matchTrafficWeight": true}),
    ] {
        assert_valid(routed(scale));
    }
    assert_eq!(
        warnings(routed(json!({}))),
        [
            "Suspicious spec.strategy.canary.steps[0].setCanaryScale: sets none of weight, replicas and matchTrafficWeight: the canary is sized by its traffic weight"
        ]
    );
    assert_eq!(
        warnings(routed(json!({"weight": 20, "replicas": 3}))),
        [
            "Suspicious spec.strategy.canary.steps[0].setCanaryScale: sets more than one of weight, replicas and matchTrafficWeight: matchTrafficWeight wins, then replicas, then weight"
        ]
    );
    assert_eq!(
        warnings(routed(json!({"weight": 120}))),
        [
            "Suspicious spec.strategy.canary.steps[0].setCanaryScale.weight: 120 is above 100: the canary gets more pods than spec.replicas"
        ]
    );
    // Argo accepts negative sizes too; no ReplicaSet can take them, so the engine refuses.
    for (scale, message) in [
        (
            json!({"weight": -1}),
            "weight: -1 is negative: the canary would get a negative number of pods",
        ),
        (
            json!({"replicas": -2}),
            "replicas: -2 is negative: a ReplicaSet cannot have fewer than 0 pods",
        ),
    ] {
        let doc = routed(scale);
        assert_valid(doc.clone());
        match check(&rollout(doc)) {
            Err(Error::Unsupported { field, .. }) => assert_eq!(
                field.to_string(),
                format!("spec.strategy.canary.steps[0].setCanaryScale.{message}")
            ),
            other => panic!("{other:?}"),
        }
    }
}

fn istio_routes(steps: Value, managed: Value) -> Value {
    canary(
        json!({"canaryService": "c", "stableService": "s", "steps": steps,
        "trafficRouting": {"istio": {"virtualService": {"name": "vs"}}, "managedRoutes": managed}}),
    )
}

#[test]
fn header_route_routers_and_matches() {
    let header = |value: Value| {
        json!([{"setHeaderRoute": {"name": "h",
        "match": [{"headerName": "x-canary", "headerValue": value}]}}])
    };
    assert_valid(istio_routes(
        header(json!({"prefix": "yes"})),
        json!([{"name": "h"}]),
    ));
    assert_only(
        istio_routes(
            header(json!({"exact": "a", "regex": "b"})),
            json!([{"name": "h"}]),
        ),
        &[
            "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue: StringMatch match value must have exactly one of the following: exact, regex, prefix",
        ],
    );
    assert_only(
        istio_routes(header(json!({})), json!([{"name": "h"}])),
        &[
            "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue: StringMatch value missed, match value must have one of the following: exact, regex, prefix",
        ],
    );
    let nginx = canary(json!({"canaryService": "c", "stableService": "s",
        "steps": header(json!({"exact": "yes"})),
        "trafficRouting": {"nginx": {"stableIngress": "i"}, "managedRoutes": [{"name": "h"}]}}));
    assert_only(
        nginx,
        &[
            "spec.strategy.canary.steps[0].setHeaderRoute: SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix",
        ],
    );
    assert_only(
        canary(json!({"steps": header(json!({"exact": "yes"}))})),
        &[
            "spec.strategy.canary.steps[0].setHeaderRoute: SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix",
        ],
    );
}

#[test]
fn header_route_name_is_required() {
    let err = Rollout::from_value(
        istio_routes(
            json!([{"setHeaderRoute": {"match": [{"headerName": "x", "headerValue": {"exact": "1"}}]}}]),
            json!([{"name": "h"}]),
        ),
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "t.yaml: spec.strategy.canary.steps[0].setHeaderRoute: missing field `name`"
    );
}

#[test]
fn header_route_alb_exact_only() {
    let alb = |value: Value| {
        canary(json!({"canaryService": "c", "stableService": "s",
        "steps": [{"setHeaderRoute": {"name": "h", "match": [{"headerName": "x", "headerValue": value}]}}],
        "trafficRouting": {"alb": {"ingress": "i", "servicePort": 80}, "managedRoutes": [{"name": "h"}]}}))
    };
    assert_valid(alb(json!({"exact": "yes"})));
    let only = "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue: SetHeaderRoute match value invalid. ALB supports 'exact' value only";
    assert_only(alb(json!({"prefix": "y"})), &[only]);
    assert_only(alb(json!({"exact": "yes", "regex": "y.*"})), &[only]);
}

#[test]
fn empty_string_match_counts_as_missing() {
    // Go reads an empty string as unset: `{exact: ""}` sets no value.
    assert_only(
        istio_routes(
            json!([{"setHeaderRoute": {"name": "h", "match": [{"headerName": "x", "headerValue": {"exact": ""}}]}}]),
            json!([{"name": "h"}]),
        ),
        &[
            "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue: StringMatch value missed, match value must have one of the following: exact, regex, prefix",
        ],
    );
    assert_valid(istio_routes(
        json!([{"setHeaderRoute": {"name": "h", "match": [{"headerName": "x", "headerValue": {"exact": "", "prefix": "a"}}]}}]),
        json!([{"name": "h"}]),
    ));
}

#[test]
fn mirror_route_routers_and_matches() {
    let mirror =
        |m: Value| json!([{"setMirrorRoute": {"name": "m", "percentage": 50, "match": [m]}}]);
    assert_valid(istio_routes(
        mirror(json!({"method": {"exact": "GET"}, "path": {"prefix": "/api"}})),
        json!([{"name": "m"}]),
    ));
    assert_only(
        istio_routes(
            mirror(json!({"method": {"exact": "GET", "prefix": "G"}, "path": {}})),
            json!([{"name": "m"}]),
        ),
        &[
            "spec.strategy.canary.steps[0].setMirrorRoute.match[0].method: StringMatch match value must have exactly one of the following: exact, regex, prefix",
            "spec.strategy.canary.steps[0].setMirrorRoute.match[0].path: StringMatch value missed, match value must have one of the following: exact, regex, prefix",
        ],
    );
    let alb = canary(json!({"canaryService": "c", "stableService": "s",
        "steps": mirror(json!({"method": {"exact": "GET"}})),
        "trafficRouting": {"alb": {"ingress": "i", "servicePort": 80}, "managedRoutes": [{"name": "m"}]}}));
    assert_only(
        alb,
        &[
            "spec.strategy.canary.steps[0].setMirrorRoute: SetMirrorRoute requires TrafficRouting, supports Istio and Plugins",
        ],
    );
}

#[test]
fn mirror_route_header_matches_are_only_warnings() {
    let doc = istio_routes(
        json!([{"setMirrorRoute": {"name": "m", "percentage": 150,
            "match": [{"headers": {"x-user": {"exact": "a", "regex": "b"}}}]}}]),
        json!([{"name": "m"}]),
    );
    assert_valid(doc.clone());
    assert_eq!(
        warnings(doc),
        [
            "Suspicious spec.strategy.canary.steps[0].setMirrorRoute.percentage: 150 is outside 0 to 100",
            "Suspicious spec.strategy.canary.steps[0].setMirrorRoute.match[0].headers.x-user: should set exactly one of exact, prefix and regex (Argo Rollouts does not check header matches)",
        ]
    );
}

#[test]
fn routes_must_be_managed() {
    let steps = json!([
        {"setHeaderRoute": {"name": "h", "match": [{"headerName": "x", "headerValue": {"exact": "1"}}]}},
        {"setMirrorRoute": {"name": "m"}}
    ]);
    let doc = remove(
        istio_routes(steps.clone(), json!([])),
        &format!("{ROUTED}/managedRoutes"),
    );
    assert_only(
        doc,
        &[
            "spec.strategy.canary.trafficRouting.managedRoutes: Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'",
        ],
    );
    assert_only(
        istio_routes(steps, json!([{"name": "h"}])),
        &[
            "spec.strategy.canary.steps[1].setMirrorRoute: \"m\": Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes",
        ],
    );
}

#[test]
fn experiment_weight_needs_a_capable_router() {
    let step = json!([{"experiment": {"templates": [{"name": "canary", "specRef": "canary", "weight": 5}]}}]);
    let at = "spec.strategy.canary.steps[0].experiment.templates[0].weight";
    assert_only(
        canary(json!({"steps": step})),
        &[&format!(
            "{at}: Experiment template weight cannot be set unless TrafficRouting is enabled"
        )],
    );
    assert_only(
        canary(
            json!({"steps": step, "canaryService": "c", "stableService": "s",
            "trafficRouting": {"nginx": {"stableIngress": "i"}}}),
        ),
        &[&format!(
            "{at}: Experiment template weight is only available for TrafficRouting with SMI, ALB, Istio and Plugins at this time"
        )],
    );
    assert_valid(canary(
        json!({"steps": step, "canaryService": "c", "stableService": "s",
        "trafficRouting": {"smi": {}}}),
    ));
}

#[test]
fn experiment_step_fields_are_strict() {
    let e = errors(canary(
        json!({"steps": [{"experiment": {"templates": [{"name": "canary"}]}}]}),
    ));
    assert_eq!(
        e,
        ["spec.strategy.canary.steps[0].experiment.templates[0]: missing field `specRef`"]
    );
    let e = errors(canary(
        json!({"steps": [{"experiment": {"templates": [], "durations": "1h"}}]}),
    ));
    assert!(
        e[0].starts_with(
            "spec.strategy.canary.steps[0].experiment.durations: unknown field `durations`"
        ),
        "{e:?}"
    );
}

#[test]
fn analysis_args_must_name_readable_metadata() {
    let arg = |path: &str| json!({"name": "a", "valueFrom": {"fieldRef": {"fieldPath": path}}});
    let step = |args: Value| {
        canary(
            json!({"steps": [{"analysis": {"templates": [{"templateName": "t"}], "args": args}}]}),
        )
    };
    assert_valid(step(
        json!([arg("metadata.labels['app']"), arg("metadata.name"), arg("spec.replicas"),
        {"name": "v", "value": "literal"}]),
    ));
    assert_only(
        step(json!([arg("metadata.label['app']")])),
        &[
            "spec.strategy.canary.steps[0].analysis.args[0].valueFrom.fieldRef.fieldPath: \"metadata.label['app']\": Analyses arguments must refer to valid object metadata supported by downwardAPI",
        ],
    );
    let experiment = canary(
        json!({"steps": [{"experiment": {"templates": [{"name": "c", "specRef": "canary"}],
        "analyses": [{"name": "a", "templateName": "t", "args": [arg("metadata.generation")]}]}}]}),
    );
    assert_only(
        experiment,
        &[
            "spec.strategy.canary.steps[0].experiment.analyses[0].args[0].valueFrom.fieldRef.fieldPath: \"metadata.generation\": Analyses arguments must refer to valid object metadata supported by downwardAPI",
        ],
    );
}

// ---- what the engine does not run, and warnings ----

#[test]
fn argo_features_the_engine_does_not_run_are_warnings() {
    let bg = with_strategy(json!({"blueGreen": {"activeService": "a", "previewService": "p"}}));
    let report = lint(&rollout(bg));
    assert!(report.is_valid() && !report.is_runnable());
    assert_eq!(report.warnings[0].kind, WarningKind::Unsupported);
    let experiment = canary(json!({"steps": [{"setWeight": 10},
        {"experiment": {"templates": [{"name": "c", "specRef": "canary"}], "duration": "10m"}}]}));
    assert_valid(experiment.clone());
    assert_eq!(
        warnings(experiment),
        [
            "Unsupported spec.strategy.canary.steps[1].experiment: experiment steps are not run by this engine yet"
        ]
    );
}

#[test]
fn check_refuses_unsupported_rollouts() {
    let experiment = rollout(canary(json!({"steps": [
        {"experiment": {"templates": [{"name": "c", "specRef": "canary"}]}}]})));
    match check(&experiment) {
        Err(Error::Unsupported { object, field }) => {
            assert_eq!(object, "shop/web");
            assert_eq!(field.path, "spec.strategy.canary.steps[0].experiment");
        }
        other => panic!("{other:?}"),
    }
    let seen = rollout_core::Observations {
        current_pod_hash: "abc".into(),
        ..Default::default()
    };
    let err = rollout_core::decide(&experiment, &seen, rollout_core::Time::from_unix_seconds(0))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rollout shop/web: spec.strategy.canary.steps[0].experiment: experiment steps are not run by this engine yet"
    );
    let invalid = rollout(canary(json!({"steps": [{"setWeight": 300}]})));
    assert!(matches!(check(&invalid), Err(Error::Invalid { .. })));
}

#[test]
fn check_leaves_the_object_rules_to_validate() {
    // Only the strategy: what a library caller may hand the engine.
    let bare = rollout(json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 10}]}}}}));
    assert_eq!(check(&bare), Ok(()));
    assert_eq!(
        validate(&bare)
            .iter()
            .map(|e| e.path.as_str())
            .collect::<Vec<_>>(),
        [
            "metadata.name",
            "spec.selector",
            "spec.template.spec.containers"
        ]
    );
}

#[test]
fn settings_without_effect_are_warnings() {
    let doc = canary(json!({
        "abortScaleDownDelaySeconds": -1,
        "minPodsPerReplicaSet": 2,
        "replicaProgressThreshold": {"type": "Percent", "value": -5},
        "analysis": {"templates": [], "startingStep": 9},
        "steps": [{"setWeight": 10}, {"analysis": {"templates": [{"templateName": ""}]}}]
    }));
    assert_valid(doc.clone());
    assert_eq!(
        warnings(doc),
        [
            "Suspicious spec.strategy.canary.abortScaleDownDelaySeconds: -1 is negative",
            "Suspicious spec.strategy.canary.abortScaleDownDelaySeconds: has no effect without trafficRouting",
            "Suspicious spec.strategy.canary.minPodsPerReplicaSet: has no effect without trafficRouting",
            "Suspicious spec.strategy.canary.replicaProgressThreshold.value: -5 is negative: every desired pod must be available, as without a threshold",
            "Suspicious spec.strategy.canary.analysis.templates: names no template: the AnalysisRun has no metrics and ends in Error",
            "Suspicious spec.strategy.canary.analysis.startingStep: 9 is beyond the steps (0 to 2): the background analysis never starts",
            "Suspicious spec.strategy.canary.steps[1].analysis.templates[0].templateName: is empty",
        ]
    );
    let routed = canary(
        json!({"trafficRouting": {"plugins": {"p": {}}, "maxTrafficWeight": 0,
        "managedRoutes": [{"name": "a"}, {"name": "a"}]}}),
    );
    assert_valid(routed.clone());
    assert_eq!(
        warnings(routed),
        [
            "Suspicious spec.strategy.canary.trafficRouting.maxTrafficWeight: 0: no traffic can reach the canary",
            "Suspicious spec.strategy.canary.trafficRouting.managedRoutes[1].name: \"a\" is listed twice",
        ]
    );
}

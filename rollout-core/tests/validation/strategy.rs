//! The strategy outside its steps: canary, blue-green, ping-pong, traffic routing.

use rollout_core::{Rollout, check, unsupported};
use serde_json::{Value, json};

use super::*;

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
        "bg.yaml: spec.strategy.blueGreen: the field \"activeService\" is required"
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
        // The engine runs ping-pong (see rollout_core::pingpong).
        assert_eq!(unsupported(&rollout(doc)), []);
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
        "pp.yaml: spec.strategy.canary.pingPong: the field \"pongService\" is required"
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

//! The canary steps.

use rollout_core::{Error, Rollout, check};
use serde_json::{Value, json};

use super::*;

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
        "t.yaml: spec.strategy.canary.steps[0].setHeaderRoute: the field \"name\" is required"
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
        [
            "spec.strategy.canary.steps[0].experiment.templates[0]: the field \"specRef\" is required"
        ]
    );
    let e = errors(canary(
        json!({"steps": [{"experiment": {"templates": [], "durations": "1h"}}]}),
    ));
    assert!(
        e[0].starts_with(
            "spec.strategy.canary.steps[0].experiment.durations: unknown field \"durations\""
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

use prost::Message as _;
use rollout_core::spec::{HeaderMatch, MirrorMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use rollout_core::status::WeightDestination;
use router_core::{ErrorKind, Hashes, Routes};
use serde_json::json;

use super::*;

fn context() -> RolloutContext {
    RolloutContext {
        previous_additional: Vec::new(),
        name: "web".into(),
        namespace: "shop".into(),
        uid: Some("u-1".into()),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        managed_routes: vec![ManagedRoute::header("beta"), ManagedRoute::mirror("shadow")],
        max_traffic_weight: Some(1000),
        promoted: true,
        aborted: false,
        plugin_name: "rollgate/journal".into(),
        config: json!({"httpRoute": "web", "n": [1, 2.5, null]}),
        hashes: Hashes {
            canary: "def".into(),
            stable: "abc".into(),
        },
    }
}

fn text(kind: &str, value: &str) -> StringMatch {
    let mut m = StringMatch::default();
    match kind {
        "exact" => m.exact = Some(value.into()),
        "prefix" => m.prefix = Some(value.into()),
        _ => m.regex = Some(value.into()),
    }
    m
}

fn header(name: &str) -> SetHeaderRoute {
    SetHeaderRoute {
        name: name.into(),
        matches: vec![HeaderMatch {
            header_name: "x-beta".into(),
            header_value: text("regex", "^y.*"),
        }],
    }
}

fn mirror(name: &str) -> SetMirrorRoute {
    SetMirrorRoute {
        name: name.into(),
        matches: vec![MirrorMatch {
            method: Some(text("exact", "GET")),
            path: Some(text("prefix", "/api")),
            headers: [("x-user".to_owned(), text("exact", "1"))].into(),
        }],
        percentage: Some(20),
    }
}

/// Through the wire types and their encoded bytes, and back.
fn round_trip(ctx: &RolloutContext, target: &TrafficTarget) -> (RolloutContext, TrafficTarget) {
    let sent = pb::ApplyRequest {
        rollout: Some(ctx.into()),
        target: Some(target.into()),
    };
    let got = pb::ApplyRequest::decode(sent.encode_to_vec().as_slice()).unwrap();
    request("Apply", got.rollout, got.target).unwrap()
}

#[test]
fn every_form_of_target_crosses_unchanged() {
    let extra = WeightDestination {
        weight: 50,
        service_name: Some("web-exp".into()),
        pod_template_hash: None,
    };
    // A match with two kinds set is not valid, but it is the router's to
    // refuse: the wire carries it as given.
    let mut odd = header("beta");
    odd.matches[0].header_value.exact = Some("yes".into());
    let targets = [
        TrafficTarget {
            canary_weight: Some(0),
            hashes: Some(Hashes {
                canary: "c1".into(),
                stable: String::new(),
            }),
            additional: vec![extra.clone()],
            routes: Routes::Exactly {
                header: vec![header("beta")],
                mirror: vec![mirror("shadow")],
            },
        },
        TrafficTarget::weight(30, &[extra]),
        TrafficTarget::hashes("c", "s", &[]),
        TrafficTarget::header_route(odd),
        TrafficTarget::header_route(SetHeaderRoute {
            name: "beta".into(),
            matches: Vec::new(),
        }),
        TrafficTarget::mirror_route(mirror("shadow")),
        TrafficTarget::mirror_route(SetMirrorRoute {
            name: "shadow".into(),
            matches: vec![MirrorMatch::default()],
            percentage: None,
        }),
        TrafficTarget::no_managed_routes(),
        TrafficTarget::default(),
    ];
    for target in targets {
        assert_eq!(round_trip(&context(), &target), (context(), target.clone()));
    }
}

#[test]
fn every_form_of_context_crosses_unchanged() {
    let bare = RolloutContext {
        name: "web".into(),
        namespace: "default".into(),
        ..RolloutContext::default()
    };
    let zero = RolloutContext {
        max_traffic_weight: Some(0),
        uid: Some(String::new()),
        config: json!({}),
        ..bare.clone()
    };
    for ctx in [context(), bare, zero] {
        let target = TrafficTarget::default();
        assert_eq!(round_trip(&ctx, &target), (ctx.clone(), target));
    }
}

#[test]
fn what_protobuf_cannot_say_is_checked_by_field() {
    let ctx: pb::RolloutContext = (&context()).into();
    let target: pb::TrafficTarget = (&TrafficTarget::default()).into();
    let refused = |rollout: Option<pb::RolloutContext>, target: Option<pb::TrafficTarget>| {
        let err = request("Verify", rollout, target).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        err.to_string()
    };
    assert_eq!(
        refused(None, Some(target.clone())),
        "Verify request: rollout: missing"
    );
    assert_eq!(
        refused(Some(ctx.clone()), None),
        "Verify request: target: missing"
    );
    let unset = pb::TrafficTarget {
        routes: None,
        ..target.clone()
    };
    assert_eq!(
        refused(Some(ctx.clone()), Some(unset)),
        "Verify request: target.routes: not set; expected one of as_is, exactly, header, mirror"
    );
    let mut unknown_kind = ctx.clone();
    unknown_kind.managed_routes[1].kind = 7;
    assert_eq!(
        refused(Some(unknown_kind), Some(target.clone())),
        "Verify request: rollout.managed_routes[1].kind: expected HEADER (0) or MIRROR (1), found 7"
    );
    let not_json = pb::RolloutContext {
        plugin_config_json: b"{httpRoute: web}".to_vec(),
        ..ctx
    };
    let message = refused(Some(not_json.clone()), Some(target.clone()));
    assert!(
        message.starts_with(
            "Verify request: rollout.plugin_config_json: the plugin's config block: not JSON: "
        ),
        "{message}"
    );
    // Over the size limit: refused before it is read, naming the limit.
    let mut big = b"{\"httpRoute\": \"".to_vec();
    big.resize(crate::MAX_PLUGIN_CONFIG_BYTES, b'a');
    big.extend_from_slice(b"\"}");
    let too_large = pb::RolloutContext {
        plugin_config_json: big,
        ..not_json
    };
    assert_eq!(
        refused(Some(too_large), Some(target)),
        "Verify request: rollout.plugin_config_json: the plugin's config block: \
         1048578 bytes, more than the limit of 1048576 bytes"
    );
}

#[test]
fn verification_answers_this_version_does_not_know_are_told_apart() {
    for v in [
        Verified::Verified,
        Verified::NotVerified,
        Verified::NotImplemented,
    ] {
        let reply = pb::VerifyResponse {
            verification: pb::Verification::from(v).into(),
        };
        assert_eq!(verified_from(&reply), Some(v));
    }
    assert_eq!(verified_from(&pb::VerifyResponse { verification: 9 }), None);
}

//! The contract on its own: the context a controller builds from a Rollout,
//! and `apply_traffic` driving a router in-process (the journal router of
//! the `test-util` feature), with no wire in between.

use std::sync::Arc;

use rollout_core::spec::{HeaderMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use rollout_core::status::WeightDestination;
use rollout_core::{DesiredTraffic, Rollout};
use router_core::test_util::JournalRouter;
use router_core::{
    ErrorKind, Hashes, ManagedRoute, RolloutContext, TrafficRouter, TrafficTarget, Verified,
    apply_traffic,
};
use serde_json::{Value, json};

fn rollout(status: Value) -> Rollout {
    Rollout::from_value(
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web"},
            "spec": {"strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "steps": [
                    {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
                    {"setMirrorRoute": {"name": "shadow", "percentage": 20}}
                ],
                "trafficRouting": {
                    "maxTrafficWeight": 1000,
                    "managedRoutes": [{"name": "beta"}, {"name": "shadow"}, {"name": "spare"}],
                    "plugins": {"rollgate/journal": {"verify": "NotVerified"}}
                }}}},
            "status": status
        }),
        "web.yaml",
    )
    .unwrap()
}

#[test]
fn the_context_is_typed_from_the_rollout() {
    let status = json!({"abort": true, "stableRS": "abc", "currentPodHash": "def"});
    let ctx = RolloutContext::new(&rollout(status), "rollgate/journal").unwrap();
    assert_eq!(
        ctx,
        RolloutContext {
            previous_additional: Vec::new(),
            name: "web".into(),
            namespace: "default".into(),
            uid: None,
            canary_service: "web-canary".into(),
            stable_service: "web-stable".into(),
            managed_routes: vec![
                ManagedRoute::header("beta"),
                ManagedRoute::mirror("shadow"),
                ManagedRoute::header("spare"),
            ],
            max_traffic_weight: Some(1000),
            promoted: false,
            aborted: true,
            plugin_name: "rollgate/journal".into(),
            config: json!({"verify": "NotVerified"}),
            hashes: Hashes {
                canary: "def".into(),
                stable: "abc".into(),
            },
        }
    );
    let ctx = RolloutContext::new(&rollout(json!({})), "rollgate/journal").unwrap();
    assert!(!ctx.promoted && !ctx.aborted);

    let err = RolloutContext::new(&rollout(json!({})), "rollgate/nginx").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "rollout default/web: spec.strategy.canary.trafficRouting.plugins: no entry \"rollgate/nginx\""
    );
}

#[tokio::test]
async fn apply_traffic_drives_a_router_in_process() {
    let ctx = RolloutContext::new(&rollout(json!({})), "rollgate/journal").unwrap();
    let journal = Arc::new(JournalRouter::new());
    let router: Arc<dyn TrafficRouter> = journal.clone();
    let desired = DesiredTraffic {
        max_weight: 1000,
        canary: WeightDestination {
            weight: 0,
            ..Default::default()
        },
        header_routes: vec![beta()],
        ..Default::default()
    };
    let verified = apply_traffic(router.as_ref(), &ctx, &desired)
        .await
        .unwrap();
    assert_eq!(verified, Verified::NotVerified);
    // One apply of the whole desired traffic, one verify of the same target.
    let target = json!({
        "canaryWeight": 0,
        "hashes": {"canary": "", "stable": ""},
        "routes": {"exactly": {"header": [
            {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}
        ]}}
    });
    let entries = journal.entries();
    let calls: Vec<(&Value, &Value)> = entries.iter().map(|e| (&e["call"], &e["target"])).collect();
    assert_eq!(
        calls,
        [(&json!("Apply"), &target), (&json!("Verify"), &target)]
    );
    assert_eq!(entries[0]["maxTrafficWeight"], 1000);
    assert_eq!(
        entries[0]["managedRoutes"],
        json!([{"name": "beta", "kind": "setHeaderRoute"}, {"name": "shadow", "kind": "setMirrorRoute"},
            {"name": "spare", "kind": "setHeaderRoute"}])
    );
}

fn beta() -> SetHeaderRoute {
    SetHeaderRoute {
        name: "beta".into(),
        matches: vec![HeaderMatch {
            header_name: "x-beta".into(),
            header_value: StringMatch {
                exact: Some("yes".into()),
                ..Default::default()
            },
        }],
    }
}

/// Argo's per-aspect calls, provided by the trait, are one apply (or
/// verify) each, of a target with that one aspect given.
#[tokio::test]
async fn each_per_aspect_call_is_one_apply_of_that_aspect() {
    let ctx = RolloutContext::new(&rollout(json!({})), "rollgate/journal").unwrap();
    let journal = JournalRouter::new();
    let extra = [WeightDestination {
        weight: 10,
        service_name: Some("web-exp".into()),
        pod_template_hash: Some("abc".into()),
    }];
    journal.set_weight(&ctx, 300, &extra).await.unwrap();
    journal.update_hash(&ctx, "c1", "s1", &[]).await.unwrap();
    journal.set_header_route(&ctx, &beta()).await.unwrap();
    let removal = SetMirrorRoute {
        name: "shadow".into(),
        ..Default::default()
    };
    journal.set_mirror_route(&ctx, &removal).await.unwrap();
    journal.remove_managed_routes(&ctx).await.unwrap();
    assert_eq!(
        journal.verify_weight(&ctx, 300, &[]).await.unwrap(),
        Verified::NotVerified
    );
    let extra_json = json!([{"weight": 10, "serviceName": "web-exp", "podTemplateHash": "abc"}]);
    let got: Vec<Value> = journal
        .entries()
        .iter()
        .map(|e| json!({"call": e["call"], "target": e["target"]}))
        .collect();
    assert_eq!(
        got,
        [
            json!({"call": "Apply", "target": {"canaryWeight": 300, "additional": extra_json, "routes": "asIs"}}),
            json!({"call": "Apply", "target": {"hashes": {"canary": "c1", "stable": "s1"}, "routes": "asIs"}}),
            json!({"call": "Apply", "target": {"routes": {"header": serde_json::to_value(beta()).unwrap()}}}),
            json!({"call": "Apply", "target": {"routes": {"mirror": {"name": "shadow"}}}}),
            json!({"call": "Apply", "target": {"routes": {"exactly": {}}}}),
            json!({"call": "Verify", "target": {"canaryWeight": 300, "routes": "asIs"}}),
        ]
    );
}

#[tokio::test]
async fn a_route_managed_routes_does_not_list_is_refused_and_nothing_recorded() {
    let ctx = RolloutContext::new(&rollout(json!({})), "rollgate/journal").unwrap();
    let journal = JournalRouter::new();
    let unlisted = SetHeaderRoute {
        name: "gamma".into(),
        ..beta()
    };
    let err = journal
        .apply(&ctx, &TrafficTarget::header_route(unlisted))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().starts_with(
            "rollout default/web: setHeaderRoute gamma: the route is not listed in \
             spec.strategy.canary.trafficRouting.managedRoutes (beta, shadow, spare)"
        ),
        "{err}"
    );
    assert!(journal.entries().is_empty());
}

#[tokio::test]
async fn the_journal_fails_with_the_kind_it_is_told() {
    let mut ctx = RolloutContext::new(&rollout(json!({})), "rollgate/journal").unwrap();
    ctx.config = json!({"fail": "HTTPRoute default/web: 409 Conflict", "failKind": "conflict"});
    let err = JournalRouter::new()
        .set_weight(&ctx, 10, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.message(), "HTTPRoute default/web: 409 Conflict");
}

/// Records the Services each call's context names.
#[derive(Default)]
struct ServiceNames(std::sync::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl TrafficRouter for ServiceNames {
    async fn init(&self) -> Result<(), router_core::Error> {
        Ok(())
    }

    async fn name(&self) -> Result<String, router_core::Error> {
        Ok("rollgate/services".into())
    }

    async fn apply(
        &self,
        rollout: &RolloutContext,
        _target: &TrafficTarget,
    ) -> Result<(), router_core::Error> {
        self.0.lock().unwrap().push((
            rollout.stable_service.clone(),
            rollout.canary_service.clone(),
        ));
        Ok(())
    }

    async fn verify(
        &self,
        _rollout: &RolloutContext,
        _target: &TrafficTarget,
    ) -> Result<Verified, router_core::Error> {
        Ok(Verified::Verified)
    }
}

fn ping_pong(status: Value) -> Rollout {
    Rollout::from_value(
        json!({
            "metadata": {"name": "web"},
            "spec": {"strategy": {"canary": {
                "pingPong": {"pingService": "web-ping", "pongService": "web-pong"},
                "trafficRouting": {"plugins": {"rollgate/services": {}}}}}},
            "status": status
        }),
        "web.yaml",
    )
    .unwrap()
}

#[tokio::test]
async fn with_ping_pong_the_services_are_the_pair_in_their_roles_and_the_desired_traffics() {
    let during = ping_pong(json!({"stableRS": "a", "currentPodHash": "b",
                                  "canary": {"stablePingPong": "ping"}}));
    let ctx = RolloutContext::new(&during, "rollgate/services").unwrap();
    assert_eq!(
        (ctx.stable_service.as_str(), ctx.canary_service.as_str()),
        ("web-ping", "web-pong")
    );
    let unset = RolloutContext::new(&ping_pong(json!({})), "rollgate/services").unwrap();
    assert_eq!(
        (unset.stable_service.as_str(), unset.canary_service.as_str()),
        ("web-pong", "web-ping"),
        "a status that does not say ping means pong"
    );
    // In the pass that promotes, the desired traffic names the Services after the swap.
    let router = ServiceNames::default();
    let service = |name: &str, weight: i32| WeightDestination {
        weight,
        service_name: Some(name.into()),
        ..WeightDestination::default()
    };
    let swapped = DesiredTraffic {
        max_weight: 100,
        canary: service("web-ping", 0),
        stable: service("web-pong", 100),
        ..DesiredTraffic::default()
    };
    apply_traffic(&router, &ctx, &swapped).await.unwrap();
    let unnamed = DesiredTraffic {
        max_weight: 100,
        ..DesiredTraffic::default()
    };
    apply_traffic(&router, &ctx, &unnamed).await.unwrap();
    assert_eq!(
        *router.0.lock().unwrap(),
        [
            ("web-pong".to_owned(), "web-ping".to_owned()),
            ("web-ping".to_owned(), "web-pong".to_owned())
        ]
    );
}

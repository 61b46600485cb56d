//! The contract on its own: the context a controller builds from a Rollout,
//! and `apply_traffic` driving a router in-process (the journal router of
//! the `test-util` feature), with no wire in between.

use std::sync::Arc;

use rollout_core::status::WeightDestination;
use rollout_core::{DesiredTraffic, Rollout};
use router_core::test_util::JournalRouter;
use router_core::{
    ErrorKind, ManagedRoute, RolloutContext, TrafficRouter, Verified, apply_traffic,
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
        header_routes: vec![rollout_core::spec::SetHeaderRoute {
            name: "beta".into(),
            matches: Vec::new(),
        }],
        ..Default::default()
    };
    let verified = apply_traffic(router.as_ref(), &ctx, &desired)
        .await
        .unwrap();
    assert_eq!(verified, Verified::NotVerified);
    let calls: Vec<(Value, Value)> = journal
        .entries()
        .iter()
        .map(|e| (e["call"].clone(), e["route"]["name"].clone()))
        .collect();
    // Weight 0: the weight before the hashes; each managed route by its kind.
    assert_eq!(
        calls,
        [
            (json!("SetWeight"), Value::Null),
            (json!("UpdateHash"), Value::Null),
            (json!("SetHeaderRoute"), json!("beta")),
            (json!("SetMirrorRoute"), json!("shadow")),
            (json!("SetHeaderRoute"), json!("spare")),
            (json!("VerifyWeight"), Value::Null),
        ]
    );
    assert_eq!(journal.entries()[0]["maxTrafficWeight"], 1000);
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

//! `canary.pingPong`: which Service is stable and which canary at each point
//! of an update, the swap at each promotion, and what routers are told.

use rollout_core::pingpong::PingPongType;
use rollout_core::sim::Sim;
use rollout_core::{PingPongTraffic, Rollout, RolloutStatus, Time};
use serde_json::{Value, json};

fn rollout(services: Value) -> Rollout {
    let mut canary = json!({
        "pingPong": {"pingService": "web-ping", "pongService": "web-pong"},
        "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
        "steps": [{"setWeight": 30}, {"pause": {}}]});
    if let (Some(c), Some(extra)) = (canary.as_object_mut(), services.as_object()) {
        c.extend(extra.clone());
    }
    Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 4,
                "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"canary": canary}}}),
        "web.yaml",
    )
    .unwrap()
}

fn stable_ping_pong(sim: &Sim) -> Option<PingPongType> {
    sim.rollout.status.as_ref()?.canary.stable_ping_pong
}

/// (canary service, canary weight, stable service, stable weight) as the router has them.
fn routed(sim: &Sim) -> (String, i32, String, i32) {
    let t = sim.router.applied.as_ref().expect("traffic applied");
    (
        t.canary.service_name.clone().unwrap_or_default(),
        t.canary.weight,
        t.stable.service_name.clone().unwrap_or_default(),
        t.stable.weight,
    )
}

fn pair(stable: &str, canary: &str) -> Option<PingPongTraffic> {
    Some(PingPongTraffic {
        stable_service: stable.into(),
        canary_service: canary.into(),
    })
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn the_services_swap_roles_at_each_promotion() {
    let mut sim = Sim::new(rollout(json!({})), Time::from_unix_seconds(1_790_000_000));
    sim.settle();
    // The first deploy is a promotion too: unset becomes ping.
    assert_eq!(stable_ping_pong(&sim), Some(PingPongType::Ping));
    assert_eq!(routed(&sim), (s("web-pong"), 0, s("web-ping"), 100));

    sim.set_image("web:2");
    sim.settle();
    assert_eq!(routed(&sim), (s("web-pong"), 30, s("web-ping"), 70));
    assert_eq!(
        sim.router.applied.as_ref().unwrap().ping_pong,
        pair("web-ping", "web-pong")
    );

    sim.promote();
    sim.settle();
    // The Service that fronted the canary now fronts the new stable pods.
    assert_eq!(stable_ping_pong(&sim), Some(PingPongType::Pong));
    assert_eq!(routed(&sim), (s("web-ping"), 0, s("web-pong"), 100));
    let status = sim.rollout.status.clone().unwrap();
    assert_eq!(status.stable_rs.as_deref(), Some(sim.current_hash()));

    sim.set_image("web:3");
    sim.settle();
    assert_eq!(routed(&sim), (s("web-ping"), 30, s("web-pong"), 70));
    sim.promote();
    sim.settle();
    assert_eq!(stable_ping_pong(&sim), Some(PingPongType::Ping));
    assert_eq!(routed(&sim), (s("web-pong"), 0, s("web-ping"), 100));
}

#[test]
fn the_router_never_sees_traffic_jump_between_services_at_promotion() {
    let mut sim = Sim::new(rollout(json!({})), Time::from_unix_seconds(1_790_000_000));
    sim.settle();
    sim.set_image("web:2");
    sim.settle();
    sim.promote();
    sim.settle();
    // Every change the router was given keeps web-pong's share monotonic
    // through the promotion: 30 as canary, then 100 as the new stable.
    let pong_share: Vec<i32> = sim
        .router
        .history
        .iter()
        .map(|(_, t)| {
            [&t.canary, &t.stable]
                .iter()
                .filter(|d| d.service_name.as_deref() == Some("web-pong"))
                .map(|d| d.weight)
                .sum()
        })
        .collect();
    assert!(
        pong_share.windows(2).all(|w| w[0] <= w[1]),
        "{pong_share:?}"
    );
    assert_eq!(pong_share.last(), Some(&100));
}

#[test]
fn an_abort_does_not_swap() {
    let mut sim = Sim::new(rollout(json!({})), Time::from_unix_seconds(1_790_000_000));
    sim.settle();
    sim.set_image("web:2");
    sim.settle();
    sim.abort();
    sim.settle();
    assert_eq!(stable_ping_pong(&sim), Some(PingPongType::Ping));
    assert_eq!(routed(&sim), (s("web-pong"), 0, s("web-ping"), 100));
}

#[test]
fn canary_and_stable_services_take_precedence_for_routers_that_weight_them() {
    let r = rollout(json!({"canaryService": "web-canary", "stableService": "web-stable"}));
    let mut sim = Sim::new(r, Time::from_unix_seconds(1_790_000_000));
    sim.settle();
    sim.set_image("web:2");
    sim.settle();
    assert_eq!(routed(&sim), (s("web-canary"), 30, s("web-stable"), 70));
    // The ping-pong pair is still there for routers that prefer it.
    assert_eq!(
        sim.router.applied.as_ref().unwrap().ping_pong,
        pair("web-ping", "web-pong")
    );
}

#[test]
fn the_status_records_weights_with_the_services_named_in_the_spec() {
    let mut sim = Sim::new(rollout(json!({})), Time::from_unix_seconds(1_790_000_000));
    sim.settle();
    sim.set_image("web:2");
    sim.settle();
    let weights = sim.rollout.status.clone().unwrap().canary.weights.unwrap();
    assert_eq!(weights.canary.weight, 30);
    assert_eq!(weights.canary.service_name, None);
    assert_eq!(weights.stable.service_name, None);
}

#[test]
fn stable_ping_pong_reads_as_argo_writes_it() {
    let read = |v: Value| -> RolloutStatus {
        serde_json::from_value(json!({"canary": {"stablePingPong": v}})).unwrap()
    };
    assert_eq!(
        read(json!("ping")).canary.stable_ping_pong,
        Some(PingPongType::Ping)
    );
    assert_eq!(
        read(json!("pong")).canary.stable_ping_pong,
        Some(PingPongType::Pong)
    );
    // Argo treats anything but "ping" as "the stable one is pong".
    assert_eq!(
        read(json!("")).canary.stable_ping_pong,
        Some(PingPongType::Pong)
    );
    let written = serde_json::to_value(read(json!("ping"))).unwrap();
    assert_eq!(written, json!({"canary": {"stablePingPong": "ping"}}));
}

#[test]
fn a_ping_pong_block_needs_both_services() {
    let err = Rollout::from_value(
        json!({"spec": {"strategy": {"canary": {"pingPong": {"pingService": "web-ping"}}}}}),
        "web.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("pongService"), "{err}");
    assert!(err.contains("spec.strategy.canary.pingPong"), "{err}");
}

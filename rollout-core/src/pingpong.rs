//! `canary.pingPong`: two Services that take turns fronting the stable pods,
//! as Argo Rollouts runs them.
//!
//! The rules (Argo's `GetStableAndCanaryServices`, `reconcilePingAndPongService`
//! and `promoteStable`):
//!
//! * `status.canary.stablePingPong` records which of the two Services fronts
//!   the stable ReplicaSet: `ping`, or `pong` (also when unset: a status
//!   that does not say `ping` means `pong`).
//! * Each promotion that changes the stable ReplicaSet flips it, the first
//!   deploy included (unset becomes `ping`). The Service that fronted the
//!   canary now fronts the new stable pods, so no Service selector has to
//!   move at the end of an update.
//! * While an update is in progress, the controller points the canary
//!   ping-pong Service at the canary ReplicaSet; it does not touch the
//!   stable one.
//! * A router weights the ping-pong Services when the Rollout names neither
//!   `canaryService` nor `stableService`, and those two otherwise (Argo's
//!   rule for Istio and, by default, for every router except ALB). A router
//!   that prefers the ping-pong pair whenever it is configured (Argo's ALB)
//!   reads it from [`DesiredTraffic::ping_pong`](crate::DesiredTraffic::ping_pong).
//!
//! The engine computes traffic from the status it is about to write, so in
//! the pass that promotes, the desired traffic already names the Services
//! after the flip (all weight on the new stable side: the Service that was
//! the canary); Argo sends the same split one pass earlier under the old
//! names. The data plane is the same.
//!
//! ```
//! use rollout_core::pingpong::{self, PingPongType};
//! use rollout_core::spec::PingPong;
//! let spec = PingPong { ping_service: "web-ping".into(), pong_service: "web-pong".into() };
//! assert_eq!(pingpong::services(&spec, None), ("web-pong", "web-ping"));
//! let after = pingpong::after_promotion(None);
//! assert_eq!(after, PingPongType::Ping);
//! assert_eq!(pingpong::services(&spec, Some(after)), ("web-ping", "web-pong"));
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::decision::{DesiredTraffic, PingPongTraffic};
use crate::spec::{CanaryStrategy, PingPong};
use crate::status::TrafficWeights;

/// Which ping-pong Service fronts the stable ReplicaSet
/// (`status.canary.stablePingPong`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PingPongType {
    /// `pingService` is the stable one.
    Ping,
    /// `pongService` is the stable one.
    Pong,
}

impl PingPongType {
    /// The value as written in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Pong => "pong",
        }
    }
}

impl Serialize for PingPongType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `ping` is [`PingPongType::Ping`]; anything else reads as
/// [`PingPongType::Pong`], which is how Argo treats it.
impl<'de> Deserialize<'de> for PingPongType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(if s == "ping" { Self::Ping } else { Self::Pong })
    }
}

/// (stable, canary) ping-pong Services for the recorded `stablePingPong`.
pub fn services(spec: &PingPong, stable: Option<PingPongType>) -> (&str, &str) {
    if stable == Some(PingPongType::Ping) {
        (&spec.ping_service, &spec.pong_service)
    } else {
        (&spec.pong_service, &spec.ping_service)
    }
}

/// `stablePingPong` after a promotion that changed the stable ReplicaSet.
pub fn after_promotion(stable: Option<PingPongType>) -> PingPongType {
    if stable == Some(PingPongType::Ping) {
        PingPongType::Pong
    } else {
        PingPongType::Ping
    }
}

/// Names the Services in `traffic` as the rules above say, given the
/// `stablePingPong` of the status being written: the ping-pong pair in
/// [`DesiredTraffic::ping_pong`], and in the canary and stable destinations
/// when the Rollout names neither `canaryService` nor `stableService`.
pub(crate) fn route(
    traffic: &mut DesiredTraffic,
    canary: &CanaryStrategy,
    stable: Option<PingPongType>,
) {
    let Some(spec) = &canary.ping_pong else {
        return;
    };
    let (stable_service, canary_service) = services(spec, stable);
    if canary.canary_service.is_none() && canary.stable_service.is_none() {
        traffic.canary.service_name = Some(canary_service.to_owned());
        traffic.stable.service_name = Some(stable_service.to_owned());
    }
    traffic.ping_pong = Some(PingPongTraffic {
        stable_service: stable_service.to_owned(),
        canary_service: canary_service.to_owned(),
    });
}

/// `status.canary.weights` names `canaryService` and `stableService` as
/// written in the spec, whatever the router was given, as Argo records them.
pub(crate) fn record(weights: &mut TrafficWeights, canary: &CanaryStrategy) {
    if canary.ping_pong.is_some() {
        weights
            .canary
            .service_name
            .clone_from(&canary.canary_service);
        weights
            .stable
            .service_name
            .clone_from(&canary.stable_service);
    }
}

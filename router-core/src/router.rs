//! The [`TrafficRouter`] contract.

use async_trait::async_trait;
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;

use crate::context::RolloutContext;
use crate::error::Error;

/// The router's answer to "is the weight in place?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verified {
    /// The data plane carries the weight.
    Verified,
    /// Not yet: the rollout waits and asks again.
    NotVerified,
    /// The router cannot tell; the rollout does not wait.
    NotImplemented,
}

impl Verified {
    /// As rollout-core's `Observations::traffic_verified`.
    pub fn as_observation(self) -> Option<bool> {
        match self {
            Self::Verified => Some(true),
            Self::NotVerified => Some(false),
            Self::NotImplemented => None,
        }
    }
}

/// A traffic router: makes a data plane follow the desired traffic.
///
/// Implementations must be idempotent and cheap: a controller calls
/// `set_weight` (and the route calls) on every reconcile, so a call that
/// changes nothing should make no write. `set_header_route` and
/// `set_mirror_route` with an empty match remove that named route.
/// Use [`crate::apply_traffic`] rather than calling these one by one.
///
/// Errors carry an [`ErrorKind`](crate::ErrorKind): a router maps what went
/// wrong to it (a Kubernetes API error by its status code, see
/// [`ErrorKind::from_http_status`](crate::ErrorKind::from_http_status)), so a
/// host can tell a configuration error from a conflict or a timeout.
///
/// The trait is object-safe: hosts hold a `dyn TrafficRouter`.
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Prepares the router; called once before other calls (and again after
    /// a plugin process restarts).
    async fn init(&self) -> Result<(), Error>;

    /// The router's name, e.g. `rollgate/gatewayapi`.
    async fn name(&self) -> Result<String, Error>;

    /// Sends `weight` (of `max_traffic_weight`) to the canary, `additional`
    /// to extra destinations, the rest to stable.
    async fn set_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), Error>;

    /// Sets the named managed header route (empty match: removes it).
    async fn set_header_route(
        &self,
        rollout: &RolloutContext,
        route: &SetHeaderRoute,
    ) -> Result<(), Error>;

    /// Sets the named managed mirror route (empty match: removes it).
    async fn set_mirror_route(
        &self,
        rollout: &RolloutContext,
        route: &SetMirrorRoute,
    ) -> Result<(), Error>;

    /// Whether `weight` is in place in the data plane.
    async fn verify_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<Verified, Error>;

    /// Points the canary and stable destinations at these ReplicaSets
    /// (a no-op for routers that route to Services).
    async fn update_hash(
        &self,
        rollout: &RolloutContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> Result<(), Error>;

    /// Removes every managed route this router added for the rollout.
    async fn remove_managed_routes(&self, rollout: &RolloutContext) -> Result<(), Error>;
}

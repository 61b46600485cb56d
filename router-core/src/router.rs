//! The [`TrafficRouter`] contract.

use async_trait::async_trait;
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;

use crate::context::RolloutContext;
use crate::error::Error;
use crate::target::TrafficTarget;

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

/// A traffic router: makes a data plane carry a [`TrafficTarget`].
///
/// Two operations are the contract: [`apply`](Self::apply) makes the data
/// plane match a target (for any combination of aspects: at most one write
/// per object it manages), [`verify`](Self::verify) says whether it does.
/// Argo Rollouts' per-aspect calls (`set_weight`, `set_header_route`,
/// `set_mirror_route`, `update_hash`, `remove_managed_routes`,
/// `verify_weight`) are provided on top of them, as targets with one aspect
/// given and the rest left as observed; a router implements only `apply`
/// and `verify`, so it has one plan function whichever form its caller
/// speaks.
///
/// Implementations must be idempotent and cheap: a controller applies the
/// same target on every reconcile, so a target the data plane already
/// carries should cost no write. A router must refuse (with
/// [`RolloutContext::require_listed_routes`]) a target naming a route that
/// `managedRoutes` does not list, before reading or writing anything. A
/// router that writes the weights and the ReplicaSet hashes to different
/// objects writes the weights first when the canary weight is 0, so that
/// traffic never reaches a ReplicaSet without pods while hashes switch.
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

    /// Makes the data plane carry `target`: every aspect it gives, and
    /// nothing else changed.
    async fn apply(&self, rollout: &RolloutContext, target: &TrafficTarget) -> Result<(), Error>;

    /// Whether the data plane carries `target`'s weights (a router may check
    /// more of it).
    async fn verify(
        &self,
        rollout: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, Error>;

    /// Sends `weight` (of `max_traffic_weight`) to the canary, `additional`
    /// to extra destinations, the rest to stable.
    async fn set_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), Error> {
        self.apply(rollout, &TrafficTarget::weight(weight, additional))
            .await
    }

    /// Sets the named managed header route (empty match: removes it).
    async fn set_header_route(
        &self,
        rollout: &RolloutContext,
        route: &SetHeaderRoute,
    ) -> Result<(), Error> {
        self.apply(rollout, &TrafficTarget::header_route(route.clone()))
            .await
    }

    /// Sets the named managed mirror route (empty match: removes it).
    async fn set_mirror_route(
        &self,
        rollout: &RolloutContext,
        route: &SetMirrorRoute,
    ) -> Result<(), Error> {
        self.apply(rollout, &TrafficTarget::mirror_route(route.clone()))
            .await
    }

    /// Whether `weight` is in place in the data plane.
    async fn verify_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<Verified, Error> {
        self.verify(rollout, &TrafficTarget::weight(weight, additional))
            .await
    }

    /// Points the canary and stable destinations at these ReplicaSets
    /// (a no-op for routers that route to Services).
    async fn update_hash(
        &self,
        rollout: &RolloutContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> Result<(), Error> {
        let target = TrafficTarget::hashes(canary_hash, stable_hash, additional);
        self.apply(rollout, &target).await
    }

    /// Removes every managed route this router added for the rollout.
    async fn remove_managed_routes(&self, rollout: &RolloutContext) -> Result<(), Error> {
        self.apply(rollout, &TrafficTarget::no_managed_routes())
            .await
    }
}

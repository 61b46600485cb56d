//! Applying a [`TrafficTarget`] one aspect at a time, for routers whose
//! data plane is written by Argo-style per-aspect operations.
//!
//! A router with one plan function implements [`TrafficRouter::apply`]
//! directly (one read and at most one write per object). A router that can
//! only change one aspect per call (a remote plugin speaking Argo's
//! per-aspect protocol, say) implements [`Aspects`] and forwards `apply` to
//! [`apply_by_aspects`], which makes the calls in a safe order.
//!
//! [`TrafficRouter::apply`]: crate::TrafficRouter::apply

use async_trait::async_trait;
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;

use crate::context::RolloutContext;
use crate::error::Error;
use crate::managed::RouteStep;
use crate::target::{RouteTarget, Routes, TrafficTarget};

/// Argo Rollouts' per-aspect router operations.
#[async_trait]
pub trait Aspects: Send + Sync {
    /// `SetWeight`.
    async fn set_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), Error>;
    /// `SetHeaderRoute` (empty match: removes it).
    async fn set_header_route(
        &self,
        rollout: &RolloutContext,
        route: &SetHeaderRoute,
    ) -> Result<(), Error>;
    /// `SetMirrorRoute` (empty match: removes it).
    async fn set_mirror_route(
        &self,
        rollout: &RolloutContext,
        route: &SetMirrorRoute,
    ) -> Result<(), Error>;
    /// `UpdateHash`.
    async fn update_hash(
        &self,
        rollout: &RolloutContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> Result<(), Error>;
    /// `RemoveManagedRoutes`.
    async fn remove_managed_routes(&self, rollout: &RolloutContext) -> Result<(), Error>;
}

/// Makes `router` carry `target` with per-aspect calls:
/// 1. `update_hash` and `set_weight` (each when the target gives it); when
///    the canary weight is 0 the weight goes first, so traffic never reaches
///    a ReplicaSet without pods while hashes switch;
/// 2. managed routes: a target of no route at all is one
///    `remove_managed_routes`; else every managed route the target names or
///    removes is set, or removed with an empty match by its
///    [`kind`](crate::ManagedRoute::kind).
///
/// # Errors
///
/// The first call's error; routes `managedRoutes` does not list are refused
/// before any call.
pub async fn apply_by_aspects(
    router: &dyn Aspects,
    ctx: &RolloutContext,
    target: &TrafficTarget,
) -> Result<(), Error> {
    ctx.require_listed_routes(target)?;
    match target.canary_weight {
        Some(0) => {
            router.set_weight(ctx, 0, &target.additional).await?;
            update_hash(router, ctx, target).await?;
        }
        Some(weight) => {
            update_hash(router, ctx, target).await?;
            router.set_weight(ctx, weight, &target.additional).await?;
        }
        None => update_hash(router, ctx, target).await?,
    }
    match &target.routes {
        Routes::AsIs => {}
        Routes::Exactly { header, mirror } if header.is_empty() && mirror.is_empty() => {
            router.remove_managed_routes(ctx).await?;
        }
        Routes::Header(h) => router.set_header_route(ctx, h).await?,
        Routes::Mirror(m) => router.set_mirror_route(ctx, m).await?,
        Routes::Exactly { .. } => {
            for route in &ctx.managed_routes {
                match target.route(&route.name) {
                    RouteTarget::AsIs => {}
                    RouteTarget::Header(h) => router.set_header_route(ctx, h).await?,
                    RouteTarget::Mirror(m) => router.set_mirror_route(ctx, m).await?,
                    RouteTarget::Absent if route.kind == RouteStep::Mirror => {
                        let removal = SetMirrorRoute {
                            name: route.name.clone(),
                            ..Default::default()
                        };
                        router.set_mirror_route(ctx, &removal).await?;
                    }
                    RouteTarget::Absent => {
                        let removal = SetHeaderRoute {
                            name: route.name.clone(),
                            ..Default::default()
                        };
                        router.set_header_route(ctx, &removal).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

async fn update_hash(
    router: &dyn Aspects,
    ctx: &RolloutContext,
    target: &TrafficTarget,
) -> Result<(), Error> {
    match &target.hashes {
        Some(h) => {
            router
                .update_hash(ctx, &h.canary, &h.stable, &target.additional)
                .await
        }
        None => Ok(()),
    }
}

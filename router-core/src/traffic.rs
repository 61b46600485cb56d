//! From rollout-core's desired traffic to router calls.

use rollout_core::DesiredTraffic;
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};

use crate::context::RolloutContext;
use crate::error::Error;
use crate::managed::RouteStep;
use crate::router::{TrafficRouter, Verified};

/// Makes `router` carry `desired`, then asks it to verify the weight.
///
/// The calls, in order:
/// 1. `update_hash` and `set_weight`; when the canary weight is 0 the
///    weight goes first, so traffic never reaches a ReplicaSet without
///    pods while hashes switch;
/// 2. managed routes: with none desired, `remove_managed_routes`; else each
///    managed route is set as desired, or removed (a `setHeaderRoute` or
///    `setMirrorRoute` call with an empty match, by the route's
///    [`kind`](crate::ManagedRoute::kind)) when it is not desired;
/// 3. `verify_weight`.
///
/// Everything is declarative, so calling this on every reconcile with the
/// same `desired` repeats the same calls, which routers make free.
pub async fn apply_traffic(
    router: &dyn TrafficRouter,
    ctx: &RolloutContext,
    desired: &DesiredTraffic,
) -> Result<Verified, Error> {
    let canary_hash = desired.canary.pod_template_hash.as_deref().unwrap_or("");
    let stable_hash = desired.stable.pod_template_hash.as_deref().unwrap_or("");
    let weight = desired.canary.weight;
    if weight == 0 {
        router.set_weight(ctx, weight, &desired.additional).await?;
        router
            .update_hash(ctx, canary_hash, stable_hash, &desired.additional)
            .await?;
    } else {
        router
            .update_hash(ctx, canary_hash, stable_hash, &desired.additional)
            .await?;
        router.set_weight(ctx, weight, &desired.additional).await?;
    }

    if desired.header_routes.is_empty() && desired.mirror_routes.is_empty() {
        router.remove_managed_routes(ctx).await?;
    } else {
        for route in &ctx.managed_routes {
            let name = &route.name;
            if let Some(h) = desired.header_routes.iter().find(|h| &h.name == name) {
                router.set_header_route(ctx, h).await?;
            } else if let Some(m) = desired.mirror_routes.iter().find(|m| &m.name == name) {
                router.set_mirror_route(ctx, m).await?;
            } else if route.kind == RouteStep::Mirror {
                let removal = SetMirrorRoute {
                    name: name.clone(),
                    ..Default::default()
                };
                router.set_mirror_route(ctx, &removal).await?;
            } else {
                let removal = SetHeaderRoute {
                    name: name.clone(),
                    ..Default::default()
                };
                router.set_header_route(ctx, &removal).await?;
            }
        }
    }

    router.verify_weight(ctx, weight, &desired.additional).await
}

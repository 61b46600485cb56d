//! From rollout-core's desired traffic to a router.

use rollout_core::DesiredTraffic;

use crate::context::RolloutContext;
use crate::error::Error;
use crate::router::{TrafficRouter, Verified};
use crate::target::TrafficTarget;

/// Makes `router` carry `desired` (one [`TrafficRouter::apply`] of the whole
/// [`TrafficTarget::desired`]), then asks it to verify the weights.
///
/// The Services `desired` names for its canary and stable destinations
/// (with `canary.pingPong`, the pair in the roles of the status being
/// written, which swap in the pass that promotes) take the place of the
/// context's.
///
/// Everything is declarative, so calling this on every reconcile with the
/// same `desired` repeats the same calls, which routers make free.
pub async fn apply_traffic(
    router: &dyn TrafficRouter,
    ctx: &RolloutContext,
    desired: &DesiredTraffic,
) -> Result<Verified, Error> {
    let target = TrafficTarget::desired(desired);
    let named = |d: &rollout_core::status::WeightDestination| {
        d.service_name.clone().filter(|n| !n.is_empty())
    };
    let renamed;
    let ctx = match (named(&desired.canary), named(&desired.stable)) {
        (Some(canary), Some(stable))
            if canary != ctx.canary_service || stable != ctx.stable_service =>
        {
            renamed = RolloutContext {
                canary_service: canary,
                stable_service: stable,
                ..ctx.clone()
            };
            &renamed
        }
        _ => ctx,
    };
    router.apply(ctx, &target).await?;
    router.verify(ctx, &target).await
}

//! From rollout-core's desired traffic to a router.

use rollout_core::DesiredTraffic;

use crate::context::RolloutContext;
use crate::error::Error;
use crate::router::{TrafficRouter, Verified};
use crate::target::TrafficTarget;

/// Makes `router` carry `desired` (one [`TrafficRouter::apply`] of the whole
/// [`TrafficTarget::desired`]), then asks it to verify the weights.
///
/// Everything is declarative, so calling this on every reconcile with the
/// same `desired` repeats the same calls, which routers make free.
pub async fn apply_traffic(
    router: &dyn TrafficRouter,
    ctx: &RolloutContext,
    desired: &DesiredTraffic,
) -> Result<Verified, Error> {
    let target = TrafficTarget::desired(desired);
    router.apply(ctx, &target).await?;
    router.verify(ctx, &target).await
}

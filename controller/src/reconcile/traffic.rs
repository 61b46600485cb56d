//! The reconcile's traffic step, in Argo's order: the engine decides, the
//! routers apply the decision's desired traffic ([`crate::traffic::apply`]),
//! and only then are the ReplicaSets scaled and the status written, with
//! `canary.weights.verified` set to the routers' answer; the next decision
//! reads that answer back as `traffic_verified`.
//!
//! When a Rollout's routers cannot be resolved (a plugin not registered or
//! not loadable) or a router fails, nothing of that decision is written:
//! the Rollout gets the condition `TrafficRouting` (status False, reason
//! `TrafficRoutingError`) with the error's message, a Warning event with
//! Argo's reason `TrafficRoutingError`, and is tried again after a backoff
//! that doubles with each failure in a row ([`crate::traffic::backoff`]).
//! The condition goes when the traffic is applied again.

use kube::runtime::controller::Action;
use rollout_core::status::{ConditionReason, ConditionType};
use rollout_core::{Rollout, RolloutStatus, Time};
use serde_json::Value;

use super::context::{Context, reference, write_status};
use super::status;
use crate::Error;
use crate::traffic::{TrafficError, backoff};

/// The condition type that reports a traffic failure (Rollgate's own).
pub const TRAFFIC_CONDITION: &str = "TrafficRouting";
/// Its reason, and the reason of the Warning event (Argo's).
pub const TRAFFIC_ERROR_REASON: &str = "TrafficRoutingError";

/// Records `error` on the Rollout (condition and event) and requeues it
/// after the backoff; nothing else is written.
pub(super) async fn failed(
    ctx: &Context,
    rollout: &Rollout,
    live: &Value,
    error: &TrafficError,
    now: Time,
) -> Result<Action, Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let name = &rollout.metadata.name;
    let message = error.to_string();
    let failures = ctx.traffic_failed(&namespace, name);
    let retry = backoff(failures);
    tracing::warn!(rollout = %format!("{namespace}/{name}"), %message, failures, retry = ?retry, "traffic routing failed");
    ctx.recorder.record(
        &reference(rollout),
        true,
        TRAFFIC_ERROR_REASON,
        message.clone(),
    );
    let mut status: RolloutStatus = serde_json::from_value(live.clone()).unwrap_or_default();
    set_failed(&mut status, message, now);
    write_status(
        ctx,
        &namespace,
        name,
        live,
        &status,
        &serde_json::Map::new(),
    )
    .await?;
    Ok(Action::requeue(retry))
}

/// Sets the `TrafficRouting` condition that reports `message`.
///
/// ```
/// use rollgate_controller::reconcile::traffic::{set_failed, TRAFFIC_CONDITION};
/// let mut status = rollout_core::RolloutStatus::default();
/// set_failed(&mut status, "traffic router \"nginx\": boom".into(), rollout_core::Time::from_unix_seconds(0));
/// let condition = &status.conditions[0];
/// assert_eq!(condition.kind.as_str(), TRAFFIC_CONDITION);
/// assert_eq!(condition.message, "traffic router \"nginx\": boom");
/// ```
pub fn set_failed(status: &mut RolloutStatus, message: String, now: Time) {
    status::set_condition(
        status,
        ConditionType::Other(TRAFFIC_CONDITION.into()),
        false,
        ConditionReason::Other(TRAFFIC_ERROR_REASON.into()),
        message,
        now,
    );
}

/// The routers' last answer for the weights the status records, as the
/// engine observes it.
pub(super) fn verified(rollout: &Rollout) -> Option<bool> {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.canary.weights.as_ref())
        .and_then(|w| w.verified)
}

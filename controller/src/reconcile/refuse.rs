//! The statuses of a Rollout this controller does not run: `InvalidSpec`
//! (with the phase and observed generation Argo writes with it),
//! `Unsupported`, and `Progressing` False when the API server refuses the
//! current ReplicaSet. Each is written only when it changes.

use kube::runtime::controller::Action;
use rollout_core::status::{ConditionReason, ConditionType};
use rollout_core::{Phase, Rollout, RolloutStatus, Time};
use serde_json::Value;

use super::context::{Context, reference, write_status};
use super::{INVALID_RETRY, gate, status};
use crate::Error;

fn lenient_status(live: &Value) -> RolloutStatus {
    serde_json::from_value(live.clone()).unwrap_or_default()
}

/// `InvalidSpec`, with the phase and observed generation Argo writes with it.
pub(super) async fn refuse_invalid(
    ctx: &Context,
    namespace: &str,
    name: &str,
    generation: i64,
    live: &Value,
    message: String,
    now: Time,
) -> Result<Action, Error> {
    tracing::warn!(rollout = %format!("{namespace}/{name}"), %message, "invalid rollout");
    let mut status = lenient_status(live);
    status
        .conditions
        .retain(|c| c.kind != ConditionType::InvalidSpec || c.message == message);
    status::set_condition(
        &mut status,
        ConditionType::InvalidSpec,
        true,
        ConditionReason::InvalidSpec,
        message.clone(),
        now,
    );
    status.observed_generation = Some(generation.to_string());
    status.phase = Some(Phase::Degraded);
    status.message = Some(format!("InvalidSpec: {message}"));
    write_status(ctx, namespace, name, live, &status, &serde_json::Map::new()).await?;
    Ok(Action::requeue(INVALID_RETRY))
}

/// `Unsupported`, and nothing else.
pub(super) async fn refuse_unsupported(
    ctx: &Context,
    namespace: &str,
    name: &str,
    live: &Value,
    message: String,
    now: Time,
) -> Result<Action, Error> {
    tracing::warn!(rollout = %format!("{namespace}/{name}"), %message, "rollout not run by this controller");
    let mut status = lenient_status(live);
    status::set_condition(
        &mut status,
        ConditionType::Other(gate::UNSUPPORTED_CONDITION.into()),
        true,
        ConditionReason::Other(gate::UNSUPPORTED_REASON.into()),
        message,
        now,
    );
    write_status(ctx, namespace, name, live, &status, &serde_json::Map::new()).await?;
    Ok(Action::await_change())
}

/// The API server refused the current ReplicaSet: `Progressing` is False
/// with `ReplicaSetCreateError` and a Warning event says why, as in Argo.
pub(super) async fn refuse_create(
    ctx: &Context,
    rollout: &Rollout,
    live: &Value,
    message: String,
    now: Time,
) -> Result<Action, Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    ctx.recorder.record(
        &reference(rollout),
        true,
        "ReplicaSetCreateError",
        message.clone(),
    );
    let mut status = lenient_status(live);
    status::set_condition(
        &mut status,
        ConditionType::Progressing,
        false,
        ConditionReason::Other("ReplicaSetCreateError".into()),
        message,
        now,
    );
    write_status(
        ctx,
        &namespace,
        &rollout.metadata.name,
        live,
        &status,
        &serde_json::Map::new(),
    )
    .await?;
    Ok(Action::requeue(INVALID_RETRY))
}

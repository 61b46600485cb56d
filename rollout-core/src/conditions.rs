//! Status conditions and the phase, worded as Argo Rollouts words them so
//! that `kubectl argo rollouts get rollout` and dashboards read them as usual.

use std::time::Duration;

use crate::decision::Observations;
use crate::spec::{DEFAULT_PROGRESS_DEADLINE_SECONDS, Rollout};
use crate::status::{Condition, Phase, RolloutStatus};
use crate::time::Time;

/// Condition type `Progressing`.
pub const PROGRESSING: &str = "Progressing";
/// Condition type `Available`.
pub const AVAILABLE: &str = "Available";
/// Condition type `Healthy`.
pub const HEALTHY: &str = "Healthy";
/// Condition type `Completed`.
pub const COMPLETED: &str = "Completed";
/// Condition type `Paused`.
pub const PAUSED: &str = "Paused";

/// Pod counts summed over a rollout's ReplicaSets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// `status.replicas`: pods of every ReplicaSet.
    pub replicas: i32,
    /// `status.updatedReplicas`: pods of the current ReplicaSet.
    pub updated: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

impl Counts {
    /// Sums the observed ReplicaSets; `current` names the updated one.
    pub fn observe(obs: &Observations, current: &str) -> Self {
        obs.replica_sets.iter().fold(Self::default(), |c, rs| Self {
            replicas: c.replicas + rs.replicas,
            updated: c.updated
                + if rs.pod_template_hash == current {
                    rs.replicas
                } else {
                    0
                },
            ready: c.ready + rs.ready_replicas,
            available: c.available + rs.available_replicas,
        })
    }

    /// The counts recorded in a status.
    pub fn of(st: &RolloutStatus) -> Self {
        Self {
            replicas: st.replicas.unwrap_or(0),
            updated: st.updated_replicas.unwrap_or(0),
            ready: st.ready_replicas.unwrap_or(0),
            available: st.available_replicas.unwrap_or(0),
        }
    }
}

/// `<rollout>-<hash>`, the name Argo gives a ReplicaSet.
pub fn replica_set_name(rollout: &Rollout, hash: &str) -> String {
    format!("{}-{hash}", rollout.metadata.name)
}

/// "Rollout aborted update to revision N[: reason]".
pub fn aborted_message(revision: u64, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("Rollout aborted update to revision {revision}: {r}"),
        None => format!("Rollout aborted update to revision {revision}"),
    }
}

/// When an update in progress runs out of time: the `Progressing`
/// condition's last update plus `progressDeadlineSeconds` (default 600),
/// while the rollout is progressing (not paused, aborted or complete).
pub fn progress_deadline(rollout: &Rollout, prev: &RolloutStatus) -> Option<Time> {
    let cond = prev.condition(PROGRESSING)?;
    if cond.reason != "ReplicaSetUpdated" {
        return None;
    }
    let secs = rollout
        .spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    Some(cond.last_update_time + Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// What [`update`] needs besides the statuses.
pub(crate) struct Context<'a> {
    pub(crate) rollout: &'a Rollout,
    pub(crate) current_hash: &'a str,
    pub(crate) counts: Counts,
    pub(crate) max_unavailable: i32,
    pub(crate) abort_reason: Option<&'a str>,
    pub(crate) retried: bool,
    pub(crate) deadline_exceeded: bool,
    pub(crate) revision: u64,
    pub(crate) now: Time,
}

/// Writes counts, conditions, phase, message and observed generation.
pub(crate) fn update(st: &mut RolloutStatus, prev: &RolloutStatus, cx: Context<'_>) {
    let r = cx.rollout.replicas();
    let counts = cx.counts;
    st.replicas = Some(counts.replicas);
    st.updated_replicas = Some(counts.updated);
    st.ready_replicas = Some(counts.ready);
    st.available_replicas = Some(counts.available);
    st.observed_generation = cx.rollout.metadata.generation.map(|g| g.to_string());

    let promoted = st.stable_rs.as_deref() == Some(cx.current_hash);
    let manually_paused = cx.rollout.spec.paused == Some(true);
    let paused = manually_paused || !st.pause_conditions.is_empty();
    let rs_name = replica_set_name(cx.rollout, cx.current_hash);
    let progressed = counts != Counts::of(prev)
        || st.current_step_index != prev.current_step_index
        || st.current_pod_hash != prev.current_pod_hash;

    let (status, reason, message) = if st.abort {
        let kept = prev
            .condition(PROGRESSING)
            .filter(|c| c.reason == "RolloutAborted" && cx.abort_reason.is_none())
            .map(|c| c.message.clone());
        let message = kept.unwrap_or_else(|| aborted_message(cx.revision, cx.abort_reason));
        ("False", "RolloutAborted", message)
    } else if cx.deadline_exceeded && !progressed {
        (
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet {rs_name:?} has timed out progressing."),
        )
    } else if paused {
        ("Unknown", "RolloutPaused", "Rollout is paused".to_owned())
    } else if cx.retried {
        (
            "Unknown",
            "RolloutRetry",
            "Retrying Rollout after abort".to_owned(),
        )
    } else if promoted && counts.available >= r && counts.updated >= r {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet {rs_name:?} has successfully progressed."),
        )
    } else if prev
        .condition(PROGRESSING)
        .is_some_and(|c| c.reason == "RolloutPaused")
    {
        ("Unknown", "RolloutResumed", "Rollout is resumed".to_owned())
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet {rs_name:?} is progressing."),
        )
    };
    set(st, PROGRESSING, status, reason, message, cx.now, progressed);

    let available = counts.available >= r - cx.max_unavailable;
    set(
        st,
        AVAILABLE,
        if available { "True" } else { "False" },
        "AvailableReason",
        if available {
            "Rollout has minimum availability"
        } else {
            "Rollout does not have minimum availability"
        }
        .to_owned(),
        cx.now,
        false,
    );

    set(
        st,
        COMPLETED,
        if promoted { "True" } else { "False" },
        "RolloutCompleted",
        if promoted {
            format!(
                "Rollout completed update to revision {} ({})",
                cx.revision, cx.current_hash
            )
        } else {
            "Rollout is updating".to_owned()
        },
        cx.now,
        false,
    );

    let healthy =
        !paused && promoted && counts.updated == r && counts.available == r && counts.replicas == r;
    set(
        st,
        HEALTHY,
        if healthy { "True" } else { "False" },
        "RolloutHealthy",
        if healthy {
            "Rollout is healthy"
        } else {
            "Rollout is not healthy"
        }
        .to_owned(),
        cx.now,
        false,
    );

    set(
        st,
        PAUSED,
        if paused { "True" } else { "False" },
        "RolloutPaused",
        if paused {
            "Rollout is paused"
        } else {
            "Rollout is not paused"
        }
        .to_owned(),
        cx.now,
        false,
    );

    let (phase, message) = phase(cx.rollout, st);
    st.phase = Some(phase);
    st.message = (!message.is_empty()).then_some(message);
}

/// Sets a condition, keeping `lastTransitionTime` while its status holds and
/// `lastUpdateTime` while reason and message hold (unless `touch`).
fn set(
    st: &mut RolloutStatus,
    kind: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Time,
    touch: bool,
) {
    match st.conditions.iter_mut().find(|c| c.kind == kind) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
            }
            if c.status != status || c.reason != reason || c.message != message || touch {
                c.last_update_time = now;
            }
            c.status = status.to_owned();
            c.reason = reason.to_owned();
            c.message = message;
        }
        None => st.conditions.push(Condition {
            kind: kind.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            last_transition_time: now,
            last_update_time: now,
        }),
    }
}

/// The phase and its message, by Argo's rules (`CalculateRolloutPhase`),
/// from the spec and a status whose counts and conditions are up to date.
///
/// ```
/// use rollout_core::{conditions::phase, Phase, Rollout, RolloutStatus};
/// let rollout = Rollout::from_value(serde_json::json!({
///     "spec": {"paused": true, "strategy": {"canary": {}}}}), "r").unwrap();
/// assert_eq!(phase(&rollout, &RolloutStatus::default()), (Phase::Paused, "manually paused".into()));
/// ```
pub fn phase(rollout: &Rollout, st: &RolloutStatus) -> (Phase, String) {
    if let Some(c) = st.condition("InvalidSpec").filter(|c| c.status == "True") {
        return (Phase::Degraded, format!("InvalidSpec: {}", c.message));
    }
    if let Some(c) = st
        .condition(PROGRESSING)
        .filter(|c| c.reason == "RolloutAborted" || c.reason == "ProgressDeadlineExceeded")
    {
        return (Phase::Degraded, format!("{}: {}", c.reason, c.message));
    }
    if rollout.spec.paused == Some(true) {
        return (Phase::Paused, "manually paused".into());
    }
    if let Some(p) = st.pause_conditions.first() {
        return (Phase::Paused, p.reason.as_str().into());
    }
    let r = rollout.replicas();
    let updated = st.updated_replicas.unwrap_or(0);
    if updated < r {
        return (
            Phase::Progressing,
            "more replicas need to be updated".into(),
        );
    }
    if st.available_replicas.unwrap_or(0) < updated {
        return (
            Phase::Progressing,
            "updated replicas are still becoming available".into(),
        );
    }
    if let Some(c) = rollout.canary() {
        if c.traffic_routing.is_none() && st.replicas.unwrap_or(0) > updated {
            return (
                Phase::Progressing,
                "old replicas are pending termination".into(),
            );
        }
        if st.stable_rs.is_none() || st.stable_rs != st.current_pod_hash {
            return (
                Phase::Progressing,
                "waiting for all steps to complete".into(),
            );
        }
    }
    (Phase::Healthy, String::new())
}

//! Status conditions and the phase, worded as Argo Rollouts words them so
//! that `kubectl argo rollouts get rollout` and dashboards read them as usual.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::decision::Observations;
use crate::spec::{DEFAULT_PROGRESS_DEADLINE_SECONDS, Rollout};
use crate::status::{
    Condition, ConditionReason as Reason, ConditionStatus as Status, ConditionType as Type, Phase,
    RolloutStatus,
};
use crate::time::Time;

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
    let cond = prev.condition(&Type::Progressing)?;
    if cond.reason != Reason::ReplicaSetUpdated {
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
/// Messages are only rendered when they change, so an unchanged rollout
/// costs no allocations here.
pub(crate) fn update(st: &mut RolloutStatus, prev: &RolloutStatus, cx: Context<'_>) {
    let r = cx.rollout.replicas();
    let counts = cx.counts;
    st.replicas = Some(counts.replicas);
    st.updated_replicas = Some(counts.updated);
    st.ready_replicas = Some(counts.ready);
    st.available_replicas = Some(counts.available);
    match cx.rollout.metadata.generation {
        Some(g)
            if !st
                .observed_generation
                .as_deref()
                .is_some_and(|o| fmt_eq(o, format_args!("{g}"))) =>
        {
            st.observed_generation = Some(g.to_string());
        }
        Some(_) => {}
        None => st.observed_generation = None,
    }

    let promoted = st.stable_rs.as_deref() == Some(cx.current_hash);
    let manually_paused = cx.rollout.spec.paused == Some(true);
    let paused = manually_paused || !st.pause_conditions.is_empty();
    let (name, hash) = (cx.rollout.metadata.name.as_str(), cx.current_hash);
    let progressed = counts != Counts::of(prev)
        || st.current_step_index != prev.current_step_index
        || st.current_pod_hash != prev.current_pod_hash;
    let was = prev.condition(&Type::Progressing).map(|c| &c.reason);
    let set_progressing = |st: &mut RolloutStatus, status, reason, message: fmt::Arguments<'_>| {
        set(
            st,
            Type::Progressing,
            status,
            reason,
            message,
            cx.now,
            progressed,
        );
    };
    if st.abort {
        match (prev.condition(&Type::Progressing), cx.abort_reason) {
            (Some(c), None) if c.reason == Reason::RolloutAborted => {
                set_progressing(
                    st,
                    Status::False,
                    Reason::RolloutAborted,
                    format_args!("{}", c.message),
                );
            }
            (_, reason) => set_progressing(
                st,
                Status::False,
                Reason::RolloutAborted,
                format_args!("{}", aborted_message(cx.revision, reason)),
            ),
        }
    } else if cx.deadline_exceeded && !progressed {
        set_progressing(
            st,
            Status::False,
            Reason::ProgressDeadlineExceeded,
            format_args!("ReplicaSet \"{name}-{hash}\" has timed out progressing."),
        );
    } else if paused {
        set_progressing(
            st,
            Status::Unknown,
            Reason::RolloutPaused,
            format_args!("Rollout is paused"),
        );
    } else if cx.retried {
        set_progressing(
            st,
            Status::Unknown,
            Reason::RolloutRetry,
            format_args!("Retrying Rollout after abort"),
        );
    } else if promoted && counts.available >= r && counts.updated >= r {
        set_progressing(
            st,
            Status::True,
            Reason::NewReplicaSetAvailable,
            format_args!("ReplicaSet \"{name}-{hash}\" has successfully progressed."),
        );
    } else if was == Some(&Reason::RolloutPaused) {
        set_progressing(
            st,
            Status::Unknown,
            Reason::RolloutResumed,
            format_args!("Rollout is resumed"),
        );
    } else {
        set_progressing(
            st,
            Status::True,
            Reason::ReplicaSetUpdated,
            format_args!("ReplicaSet \"{name}-{hash}\" is progressing."),
        );
    }

    let available = counts.available >= r - cx.max_unavailable;
    set(
        st,
        Type::Available,
        Status::from_bool(available),
        Reason::AvailableReason,
        if available {
            format_args!("Rollout has minimum availability")
        } else {
            format_args!("Rollout does not have minimum availability")
        },
        cx.now,
        false,
    );

    let revision = cx.revision;
    if promoted {
        set(
            st,
            Type::Completed,
            Status::True,
            Reason::RolloutCompleted,
            format_args!("Rollout completed update to revision {revision} ({hash})"),
            cx.now,
            false,
        );
    } else {
        set(
            st,
            Type::Completed,
            Status::False,
            Reason::RolloutCompleted,
            format_args!("Rollout is updating"),
            cx.now,
            false,
        );
    }

    let healthy =
        !paused && promoted && counts.updated == r && counts.available == r && counts.replicas == r;
    set(
        st,
        Type::Healthy,
        Status::from_bool(healthy),
        Reason::RolloutHealthy,
        if healthy {
            format_args!("Rollout is healthy")
        } else {
            format_args!("Rollout is not healthy")
        },
        cx.now,
        false,
    );

    set(
        st,
        Type::Paused,
        Status::from_bool(paused),
        Reason::RolloutPaused,
        if paused {
            format_args!("Rollout is paused")
        } else {
            format_args!("Rollout is not paused")
        },
        cx.now,
        false,
    );

    let (phase, message) = phase(cx.rollout, st);
    st.phase = Some(phase);
    if st.message.as_deref().unwrap_or("") != message {
        st.message = (!message.is_empty()).then(|| message.into_owned());
    }
}

/// Whether `s` is what `args` would render, without rendering it.
fn fmt_eq(s: &str, args: fmt::Arguments<'_>) -> bool {
    if let Some(literal) = args.as_str() {
        return s == literal;
    }
    struct Rest<'a>(&'a str);
    impl fmt::Write for Rest<'_> {
        fn write_str(&mut self, part: &str) -> fmt::Result {
            let rest = self.0.strip_prefix(part).ok_or(fmt::Error)?;
            self.0 = rest;
            Ok(())
        }
    }
    let mut rest = Rest(s);
    fmt::write(&mut rest, args).is_ok() && rest.0.is_empty()
}

/// Sets a condition, keeping `lastTransitionTime` while its status holds and
/// `lastUpdateTime` while reason and message hold (unless `touch`).
fn set(
    st: &mut RolloutStatus,
    kind: Type,
    status: Status,
    reason: Reason,
    message: fmt::Arguments<'_>,
    now: Time,
    touch: bool,
) {
    match st.conditions.iter_mut().find(|c| c.kind == kind) {
        Some(c) => {
            let status_changed = c.status != status;
            if status_changed {
                c.last_transition_time = now;
                c.status = status;
            }
            let text_changed = c.reason != reason || !fmt_eq(&c.message, message);
            if text_changed {
                c.reason = reason;
                c.message = message.to_string();
            }
            if status_changed || text_changed || touch {
                c.last_update_time = now;
            }
        }
        None => st.conditions.push(Condition {
            kind,
            status,
            reason,
            message: message.to_string(),
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
pub fn phase(rollout: &Rollout, st: &RolloutStatus) -> (Phase, Cow<'static, str>) {
    if let Some(c) = st
        .condition(&Type::InvalidSpec)
        .filter(|c| c.status == Status::True)
    {
        return (
            Phase::Degraded,
            Cow::Owned(format!("InvalidSpec: {}", c.message)),
        );
    }
    if let Some(c) = st.condition(&Type::Progressing).filter(|c| {
        c.reason == Reason::RolloutAborted || c.reason == Reason::ProgressDeadlineExceeded
    }) {
        return (
            Phase::Degraded,
            Cow::Owned(format!("{}: {}", c.reason, c.message)),
        );
    }
    if rollout.spec.paused == Some(true) {
        return (Phase::Paused, "manually paused".into());
    }
    if let Some(p) = st.pause_conditions.first() {
        return (Phase::Paused, p.reason.to_cow());
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
    (Phase::Healthy, Cow::Borrowed(""))
}

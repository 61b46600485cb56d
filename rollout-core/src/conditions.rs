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

/// Where `progressDeadlineSeconds` stands for an update that is neither
/// paused, aborted nor promoted (the caller checks those first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeadlineCheck {
    /// No deadline runs (the Progressing condition is not ReplicaSetUpdated).
    NotRunning,
    /// It runs until this time: wake then.
    Until(Time),
    /// It has passed; with `progressDeadlineAbort` the update aborts with
    /// the message, unless it had already passed at the last look.
    Exceeded {
        /// Whether the status already said so (nothing new to do).
        already: bool,
        /// Argo's abort message for it.
        abort_message: Option<String>,
    },
}

/// [`DeadlineCheck`] for `rollout` and its current ReplicaSet `hash`, from
/// the status before this pass, at `now`: the rule both strategies share.
pub(crate) fn check_progress_deadline(
    rollout: &Rollout,
    prev: &RolloutStatus,
    hash: &str,
    now: Time,
) -> DeadlineCheck {
    if prev
        .condition(&Type::Progressing)
        .is_some_and(|c| c.reason == Reason::ProgressDeadlineExceeded)
    {
        // Stays exceeded until something progresses (see `update`).
        return DeadlineCheck::Exceeded {
            already: true,
            abort_message: None,
        };
    }
    match progress_deadline(rollout, prev) {
        None => DeadlineCheck::NotRunning,
        Some(deadline) if now < deadline => DeadlineCheck::Until(deadline),
        Some(_) => DeadlineCheck::Exceeded {
            already: false,
            abort_message: (rollout.spec.progress_deadline_abort == Some(true)).then(|| {
                format!(
                    "ReplicaSet {:?} has timed out progressing.",
                    replica_set_name(rollout, hash)
                )
            }),
        },
    }
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
    /// For a blue-green Rollout, where the Services stand.
    pub(crate) blue_green: Option<BlueGreenProgress>,
}

/// Where a blue-green update stands, for the conditions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlueGreenProgress {
    /// The active Service (and the preview Service, if any) select the
    /// current ReplicaSet (Argo's completed blue-green strategy).
    pub(crate) complete: bool,
    /// The ReplicaSet the active Service selects asks for and has available
    /// `spec.replicas` pods.
    pub(crate) active_saturated: bool,
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
    // Argo writes the generation it reconciled as a decimal string on every
    // status write, "0" for an object without one.
    let generation = cx.rollout.metadata.generation.unwrap_or(0);
    if !st
        .observed_generation
        .as_deref()
        .is_some_and(|o| fmt_eq(o, format_args!("{generation}")))
    {
        st.observed_generation = Some(generation.to_string());
    }

    let promoted = st.stable_rs.as_deref() == Some(cx.current_hash);
    let manually_paused = cx.rollout.spec.paused == Some(true);
    let paused = manually_paused || !st.pause_conditions.is_empty();
    let (name, hash) = (cx.rollout.metadata.name.as_str(), cx.current_hash);
    let progressed = counts != Counts::of(prev)
        || st.current_step_index != prev.current_step_index
        || st.current_pod_hash != prev.current_pod_hash
        || (cx.blue_green.is_some()
            && (st.blue_green.active_selector != prev.blue_green.active_selector
                || st.blue_green.preview_selector != prev.blue_green.preview_selector));
    // Argo's `RolloutHealthy` without the pause: for blue-green the Services
    // select the current ReplicaSet, which has every pod available; for a
    // canary it is promoted with every pod available.
    let completed = match cx.blue_green {
        Some(bg) => bg.complete && counts.updated == r && counts.available == r,
        None => promoted && counts.updated == r && counts.available == r && counts.replicas == r,
    };
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
    } else if match cx.blue_green {
        Some(_) => completed,
        None => promoted && counts.available >= r && counts.updated >= r,
    } {
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

    let available = match cx.blue_green {
        Some(bg) => bg.active_saturated,
        None => counts.available >= r - cx.max_unavailable,
    };
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

    // Argo words the Completed condition with its reason, whether true or
    // false (`RolloutCompleted`); the revision and hash are in the event.
    set(
        st,
        Type::Completed,
        Status::from_bool(promoted),
        Reason::RolloutCompleted,
        format_args!("RolloutCompleted"),
        cx.now,
        false,
    );

    let healthy = !paused && completed;
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

    // As Argo: the Paused condition appears with the first pause and then
    // follows it, worded "Rollout is paused" whether true or false. (Argo
    // also leaves it as it is while the rollout is aborted; here it follows
    // the pause state then too, so an aborted rollout, which has no pause
    // condition, does not read as paused.)
    if paused || st.conditions.iter().any(|c| c.kind == Type::Paused) {
        set(
            st,
            Type::Paused,
            Status::from_bool(paused),
            Reason::RolloutPaused,
            format_args!("Rollout is paused"),
            cx.now,
            false,
        );
    }

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
/// This is what a controller writes to `status.phase` and `status.message`;
/// to show the phase of a Rollout read from the API server use
/// [`rollout_phase`], which also knows whether the controller has seen the
/// latest spec.
///
/// Conditions are read in the order they are recorded: the first one that is
/// `InvalidSpec`, or whose reason is `RolloutAborted` or
/// `ProgressDeadlineExceeded`, makes the rollout Degraded. A blue-green
/// rollout is Progressing until the active Service selects the current
/// ReplicaSet ("active service cutover pending") and that ReplicaSet is
/// stable ("waiting for analysis to complete" while post-promotion analysis
/// runs, else "waiting for post-promotion verification to complete").
///
/// ```
/// use rollout_core::{conditions::phase, Phase, Rollout, RolloutStatus};
/// let rollout = Rollout::from_value(serde_json::json!({
///     "spec": {"paused": true, "strategy": {"canary": {}}}}), "r").unwrap();
/// assert_eq!(phase(&rollout, &RolloutStatus::default()), (Phase::Paused, "manually paused".into()));
/// ```
pub fn phase(rollout: &Rollout, st: &RolloutStatus) -> (Phase, Cow<'static, str>) {
    for c in &st.conditions {
        if c.kind == Type::InvalidSpec {
            return (
                Phase::Degraded,
                Cow::Owned(format!("InvalidSpec: {}", c.message)),
            );
        }
        if c.reason == Reason::RolloutAborted || c.reason == Reason::ProgressDeadlineExceeded {
            return (
                Phase::Degraded,
                Cow::Owned(format!("{}: {}", c.reason, c.message)),
            );
        }
    }
    if rollout.spec.paused == Some(true) {
        return (Phase::Paused, "manually paused".into());
    }
    if let Some(p) = st.pause_conditions.first() {
        return (Phase::Paused, p.reason.to_cow());
    }
    if rollout.spec.restart_at.is_some() && st.restarted_at != crate::restart::restart_at(rollout) {
        return (Phase::Progressing, "rollout is restarting".into());
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
    if let Some(bg) = rollout.blue_green() {
        let active = st.blue_green.active_selector.as_deref();
        if active.is_none() || active != st.current_pod_hash.as_deref() {
            return (Phase::Progressing, "active service cutover pending".into());
        }
        if st.stable_rs.is_none() || st.stable_rs != st.current_pod_hash {
            let analysis_pending = bg.post_promotion_analysis.is_some()
                && !st
                    .blue_green
                    .post_promotion_analysis_run_status
                    .as_ref()
                    .is_some_and(|r| completed_phase(&r.status));
            return if analysis_pending {
                (
                    Phase::Progressing,
                    "waiting for analysis to complete".into(),
                )
            } else {
                (
                    Phase::Progressing,
                    "waiting for post-promotion verification to complete".into(),
                )
            };
        }
    } else if let Some(c) = rollout.canary() {
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

/// Whether an AnalysisRun phase as recorded in a status is a final one.
fn completed_phase(phase: &str) -> bool {
    matches!(phase, "Successful" | "Failed" | "Error" | "Inconclusive")
}

/// The phase of a Rollout as read from the API server, by Argo's rules
/// (`GetRolloutPhase`): what `kubectl argo rollouts get` and `list` show.
///
/// Until the controller has written a status for the current
/// `metadata.generation` (`status.observedGeneration`, a decimal string), the
/// recorded phase describes an older spec, so the rollout is Progressing,
/// "waiting for rollout spec update to be observed". A status whose
/// `observedGeneration` is absent or not a number (written by Argo 0.9 and
/// older, which stored a hash there) counts as observed, and so does one
/// ahead of the generation. While pause conditions were cleared (`promote`)
/// but `controllerPause` is still set, the rollout is "waiting for rollout to
/// unpause". Otherwise the recorded `status.phase` and `status.message` are
/// the answer; a status without a phase gets one computed by [`phase`].
///
/// Argo also waits for a referenced workload's generation, but only inside
/// its controller on a template it resolved itself: never for a Rollout read
/// from the API server, so never here.
///
/// ```
/// use rollout_core::{conditions::rollout_phase, Phase, Rollout};
/// let rollout = Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web", "generation": 3},
///     "spec": {"strategy": {"canary": {}}},
///     "status": {"observedGeneration": "2", "phase": "Healthy"}}), "web.yaml").unwrap();
/// assert_eq!(
///     rollout_phase(&rollout),
///     (Phase::Progressing, "waiting for rollout spec update to be observed".into())
/// );
/// ```
pub fn rollout_phase(rollout: &Rollout) -> (Phase, Cow<'_, str>) {
    static NONE: RolloutStatus = RolloutStatus::EMPTY;
    let st = rollout.status.as_ref().unwrap_or(&NONE);
    if !generation_observed(rollout.metadata.generation.unwrap_or(0), st) {
        return (
            Phase::Progressing,
            "waiting for rollout spec update to be observed".into(),
        );
    }
    if st.controller_pause && st.pause_conditions.is_empty() {
        return (Phase::Progressing, "waiting for rollout to unpause".into());
    }
    match st.phase {
        Some(p) => (p, Cow::Borrowed(st.message.as_deref().unwrap_or(""))),
        None => phase(rollout, st),
    }
}

/// Argo's `isGenerationObserved`: the recorded generation is not a number,
/// or is at least `generation`.
fn generation_observed(generation: i64, st: &RolloutStatus) -> bool {
    st.observed_generation
        .as_deref()
        .and_then(|o| o.parse::<i64>().ok())
        .is_none_or(|o| o >= generation)
}

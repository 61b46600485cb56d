//! `spec.restartAt`: replacing every pod created before a point in time, as
//! Argo Rollouts does for `kubectl argo rollouts restart`.
//!
//! The rules (Argo's `RolloutPodRestarter`):
//!
//! * A restart is *pending* while `spec.restartAt` is set, differs from
//!   `status.restartedAt`, and `now` is after it. Before then the engine asks
//!   to be woken when it falls due.
//! * Every pod of the Rollout's ReplicaSets created before `restartAt` needs
//!   a restart (a pod created at that very second does not).
//! * Pods are evicted, never deleted, so PodDisruptionBudgets are honoured:
//!   a refused eviction is skipped and tried again later.
//! * At most `available - (max(spec.replicas, total) - max(maxUnavailable, 1))`
//!   pods are evicted at once, where `available` counts the pods that are
//!   available (ready for `minReadySeconds`) and not terminating and `total`
//!   is the sum of the ReplicaSets' `spec.replicas` (above `spec.replicas` at
//!   an uneven canary split). So at least one pod restarts at a time even
//!   with `maxUnavailable: 0`, and none while the rollout is already short.
//! * A pod that is terminating still needs a restart until it is gone, so
//!   the restart completes only when no pod older than `restartAt` is left;
//!   then `status.restartedAt` is set to `restartAt`. Until then the engine
//!   looks again every [`RESTART_CHECK`].
//! * A pass in which the pod template or the steps changed does not restart
//!   anything (the status is reset first), and a pass that evicted pods does
//!   nothing else: see [`Decision::restart`](crate::Decision::restart).
//!
//! Argo sorts the ReplicaSets (stable, new, then oldest first) before listing
//! pods but then evicts in the order the API server lists the pods, which is
//! by name; the engine evicts by name too, so a controller whose pod cache
//! lists them in another order gets the same answer.
//!
//! ```
//! use rollout_core::restart::{self, Restart, RestartInput};
//! use rollout_core::{PodState, ReplicaSetState, Time};
//! let t = |s| Time::from_unix_seconds(s);
//! let rs = ReplicaSetState { pod_template_hash: "abc".into(), spec_replicas: 3, ..Default::default() };
//! let pod = |name: &str, created| PodState {
//!     name: name.into(), pod_template_hash: "abc".into(), created: t(created),
//!     ready_since: Some(t(created)), terminating: false,
//! };
//! let pods = [pod("web-abc-1", 10), pod("web-abc-2", 10), pod("web-abc-3", 200)];
//! let input = RestartInput {
//!     restart_at: Some(t(100)), restarted_at: None, replicas: 3, max_unavailable: 1,
//!     min_ready_seconds: 0, replica_sets: std::slice::from_ref(&rs), pods: Some(&pods), now: t(300),
//! };
//! let Restart::InProgress { evict: Some(evict), remaining } = restart::reconcile(&input) else { panic!() };
//! assert_eq!(evict.pods, ["web-abc-1", "web-abc-2"]);
//! assert_eq!(evict.max_evictions, 1); // one pod at a time: maxUnavailable is 1
//! assert_eq!(remaining, 2);
//! ```

use std::time::Duration;

use crate::decision::{PodRestart, PodState, ReplicaSetState};
use crate::spec::Rollout;
use crate::time::Time;

/// How often a restart in progress is looked at again (Argo's `restartPodCheckTime`).
pub const RESTART_CHECK: Duration = Duration::from_secs(30);

/// Whether a restart is pending at `now`: `spec.restartAt` is set, is not
/// the recorded `status.restartedAt`, and has passed. A controller lists the
/// Rollout's pods into [`Observations::pods`](crate::Observations::pods)
/// when this holds.
///
/// ```
/// use rollout_core::{ops, restart, Rollout, Time};
/// let mut rollout = Rollout::from_value(serde_json::json!({
///     "spec": {"strategy": {"canary": {}}}}), "r").unwrap();
/// let at = Time::from_unix_seconds(100);
/// ops::restart(at).apply_to(&mut rollout).unwrap();
/// assert!(!restart::pending(&rollout, at));
/// assert!(restart::pending(&rollout, Time::from_unix_seconds(101)));
/// ```
pub fn pending(rollout: &Rollout, now: Time) -> bool {
    let restarted_at = rollout.status.as_ref().and_then(|s| s.restarted_at);
    is_pending(restart_at(rollout), restarted_at, now)
}

/// `spec.restartAt` as a time (`None` also when it is not one, which
/// validation refuses).
pub fn restart_at(rollout: &Rollout) -> Option<Time> {
    rollout.spec.restart_at.as_deref()?.parse().ok()
}

fn is_pending(restart_at: Option<Time>, restarted_at: Option<Time>, now: Time) -> bool {
    restart_at.is_some_and(|at| restarted_at != Some(at) && now > at)
}

/// What [`reconcile`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct RestartInput<'a> {
    /// `spec.restartAt`.
    pub restart_at: Option<Time>,
    /// `status.restartedAt`.
    pub restarted_at: Option<Time>,
    /// `spec.replicas` (default 1).
    pub replicas: i32,
    /// `maxUnavailable` resolved against `replicas` (see
    /// [`surge_and_unavailable`](crate::replicas::surge_and_unavailable)).
    pub max_unavailable: i32,
    /// `spec.minReadySeconds` (default 0).
    pub min_ready_seconds: i32,
    /// Every ReplicaSet of the Rollout.
    pub replica_sets: &'a [ReplicaSetState],
    /// The pods of those ReplicaSets; `None` when not listed.
    pub pods: Option<&'a [PodState]>,
    /// The current time.
    pub now: Time,
}

/// Where a restart stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// No restart is pending: none asked for, already recorded as done, or
    /// not due yet (`due`: when to look again).
    NotPending {
        /// The moment the restart falls due, when it lies ahead.
        due: Option<Time>,
    },
    /// Every pod is at least as new as `restartAt`: record it as
    /// `status.restartedAt`.
    Completed,
    /// `remaining` pods still need replacing; `evict` names those that may be
    /// evicted now (`None`: none may, for lack of available pods).
    InProgress {
        /// The pods to evict now.
        evict: Option<PodRestart>,
        /// Pods created before `restartAt` (terminating ones included).
        remaining: usize,
    },
    /// A restart is pending but the pods were not listed: nothing is decided.
    PodsNotObserved,
}

/// Decides what a restart does now, by the rules in the [module docs](self).
pub fn reconcile(input: &RestartInput<'_>) -> Restart {
    let Some(restart_at) = input.restart_at else {
        return Restart::NotPending { due: None };
    };
    if !is_pending(input.restart_at, input.restarted_at, input.now) {
        let due = (input.restarted_at != Some(restart_at))
            // Due strictly after `restartAt`: one second later at this precision.
            .then_some(restart_at + Duration::from_secs(1));
        return Restart::NotPending { due };
    }
    let Some(pods) = input.pods else {
        return Restart::PodsNotObserved;
    };
    let owned = |p: &&PodState| {
        input
            .replica_sets
            .iter()
            .any(|rs| rs.pod_template_hash == p.pod_template_hash)
    };
    let min_ready = Duration::from_secs(u64::try_from(input.min_ready_seconds).unwrap_or(0));
    let available = pods
        .iter()
        .filter(owned)
        .filter(|p| {
            !p.terminating
                && p.ready_since
                    .is_some_and(|t| min_ready.is_zero() || t + min_ready < input.now)
        })
        .count();
    let total: i64 = input
        .replica_sets
        .iter()
        .map(|rs| i64::from(rs.spec_replicas))
        .sum();
    let concurrent = i64::from(input.max_unavailable.max(1));
    let min_available = i64::from(input.replicas).max(total) - concurrent;
    let budget = i64::try_from(available).unwrap_or(i64::MAX) - min_available;

    let mut remaining = 0;
    let mut candidates: Vec<&str> = Vec::new();
    for pod in pods.iter().filter(owned).filter(|p| p.created < restart_at) {
        remaining += 1;
        if !pod.terminating {
            candidates.push(&pod.name);
        }
    }
    if remaining == 0 {
        return Restart::Completed;
    }
    candidates.sort_unstable();
    let evict = (budget > 0 && !candidates.is_empty()).then(|| PodRestart {
        pods: candidates.into_iter().map(str::to_owned).collect(),
        max_evictions: usize::try_from(budget).unwrap_or(usize::MAX),
    });
    Restart::InProgress { evict, remaining }
}

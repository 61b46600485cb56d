//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several
//! replicas of the controller exactly one reconciles.
//!
//! The rules are those of Argo Rollouts' controller (client-go's
//! `leaderelection` with a `LeaseLock`):
//!
//! * The Lease is `rollgate-controller-lock` (with `--instance-id ID`:
//!   `rollgate-controller-lock-ID`, so that controllers of different
//!   instances elect leaders independently), in the namespace given by
//!   `--leader-election-namespace`.
//! * Every candidate has an identity, `<hostname>_<random>`, so two processes
//!   on one host never both lead.
//! * A candidate takes the Lease when it has no holder, or when the holder's
//!   record has not changed for the Lease's `leaseDurationSeconds` as
//!   measured on the candidate's own monotonic clock from when it saw that
//!   record (never from `renewTime`, so the nodes' clocks need not agree).
//!   Taking it bumps `leaseTransitions` and sets `acquireTime`.
//! * Every write replaces the Lease at the resourceVersion read, so of two
//!   candidates racing for it one wins and the other gets a conflict.
//! * The leader renews every retry period; when a renewal has not succeeded
//!   within the renew deadline, leadership is lost. Defaults: lease 15 s,
//!   renew deadline 10 s, retry period 2 s (Argo's).
//!
//! Where Rollgate differs, deliberately:
//!
//! * A candidate watches the Lease instead of polling it every retry period,
//!   so it sees each renewal within milliseconds and takes over as soon as
//!   the lease duration has passed since the last one: a failover after the
//!   leader is killed takes between the lease duration less one retry
//!   period and the lease duration (13 to 15 s by default), where
//!   client-go's polling, which sees a renewal up to a jittered retry
//!   period late and tries again only every such period, takes up to about
//!   20 s.
//! * A leader that sees another holder in the Lease stops at once, instead
//!   of retrying until its renew deadline.
//! * On a graceful shutdown the leader releases the Lease (no holder, a
//!   1 s duration), so that a rolling update hands over at once; Argo's
//!   controller leaves it to expire.
//!
//! The elector is written on kube's `Api<Lease>` rather than taken from a
//! crate: of those that work with kube 4, `kube-lease-manager` (0.12) has no
//! renew deadline (a leader that cannot reach the API server keeps
//! believing it leads, retrying with a back-off of up to 30 s), and
//! `kube-leader-election` (0.44) writes the Lease with a merge patch that
//! does not check the resourceVersion, so two candidates can both take it.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use tokio::time::Instant;

/// The Lease's name without an instance id.
pub const LEASE_NAME: &str = "rollgate-controller-lock";
/// Argo's default lease duration.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Argo's default renew deadline.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Argo's default retry period.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// The Lease of an instance (Argo's `leaseLockName`).
///
/// ```
/// use rollgate_controller::leader::lease_name;
/// assert_eq!(lease_name(None), "rollgate-controller-lock");
/// assert_eq!(lease_name(Some("")), "rollgate-controller-lock");
/// assert_eq!(lease_name(Some("blue")), "rollgate-controller-lock-blue");
/// ```
pub fn lease_name(instance_id: Option<&str>) -> String {
    match instance_id.filter(|id| !id.is_empty()) {
        Some(id) => format!("{LEASE_NAME}-{id}"),
        None => LEASE_NAME.to_owned(),
    }
}

/// A candidate's identity: the host name and a random suffix, as Argo's
/// `<hostname>_<uuid>`.
pub fn identity() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "rollgate-controller".to_owned());
    let suffix = getrandom::u64().unwrap_or_else(|_| u64::from(std::process::id()));
    format!("{host}_{suffix:016x}")
}

/// Timing and place of the election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Election {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name ([`lease_name`]).
    pub name: String,
    /// This candidate's identity ([`identity`]).
    pub identity: String,
    /// How long a holder's record stays valid without a renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leading.
    pub renew_deadline: Duration,
    /// How often the leader renews, and how long a failed attempt waits.
    pub retry_period: Duration,
}

/// A bad election setting, named by its flag.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElectionError {
    /// A duration that must be positive is not.
    #[error("--{flag}: expected a duration greater than zero such as 2s")]
    NotPositive {
        /// The flag.
        flag: &'static str,
    },
    /// The timings do not fit together (client-go's rules).
    #[error(
        "--leader-election-{longer} ({longer_value:?}) must be greater than --leader-election-{shorter} ({shorter_value:?}){why}"
    )]
    Order {
        /// The flag that must be longer.
        longer: &'static str,
        /// Its value.
        longer_value: Duration,
        /// The flag that must be shorter.
        shorter: &'static str,
        /// Its value (scaled as compared).
        shorter_value: Duration,
        /// A note on the comparison.
        why: &'static str,
    },
    /// The namespace is empty.
    #[error("--leader-election-namespace: expected a namespace name, found an empty string")]
    NoNamespace,
}

impl Election {
    /// Checks the settings as client-go does: every duration positive, the
    /// lease duration longer than the renew deadline, and the renew deadline
    /// longer than 1.2 retry periods (the jitter a retry may add).
    ///
    /// ```
    /// use rollgate_controller::leader::Election;
    /// use std::time::Duration;
    /// let mut e = Election { namespace: "ops".into(), name: "lock".into(), identity: "me".into(),
    ///     lease_duration: Duration::from_secs(15), renew_deadline: Duration::from_secs(10),
    ///     retry_period: Duration::from_secs(2) };
    /// assert!(e.check().is_ok());
    /// e.renew_deadline = Duration::from_secs(20);
    /// assert_eq!(e.check().unwrap_err().to_string(),
    ///     "--leader-election-lease-duration (15s) must be greater than --leader-election-renew-deadline (20s)");
    /// ```
    pub fn check(&self) -> Result<(), ElectionError> {
        if self.namespace.is_empty() {
            return Err(ElectionError::NoNamespace);
        }
        for (flag, value) in [
            ("leader-election-lease-duration", self.lease_duration),
            ("leader-election-renew-deadline", self.renew_deadline),
            ("leader-election-retry-period", self.retry_period),
        ] {
            if value.is_zero() {
                return Err(ElectionError::NotPositive { flag });
            }
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(ElectionError::Order {
                longer: "lease-duration",
                longer_value: self.lease_duration,
                shorter: "renew-deadline",
                shorter_value: self.renew_deadline,
                why: "",
            });
        }
        let jittered = self.retry_period.mul_f64(JITTER);
        if self.renew_deadline <= jittered {
            return Err(ElectionError::Order {
                longer: "renew-deadline",
                longer_value: self.renew_deadline,
                shorter: "retry-period",
                shorter_value: jittered,
                why: " times 1.2",
            });
        }
        Ok(())
    }
}

/// client-go's jitter factor, used only to check the settings as it does.
const JITTER: f64 = 1.2;

/// The holder named in a Lease record, if any (an empty name is none).
pub fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|h| !h.is_empty())
}

/// The record `me` writes at `now` to take or renew a Lease whose record was
/// `old`: a renewal keeps `acquireTime` and `leaseTransitions`; taking it
/// from another holder (or from none) sets `acquireTime` and counts a
/// transition.
///
/// ```
/// use k8s_openapi::api::coordination::v1::LeaseSpec;
/// use rollgate_controller::leader::record_after;
/// let now = "2026-12-01T10:00:00Z".parse().unwrap();
/// let old = LeaseSpec { holder_identity: Some("other".into()), lease_transitions: Some(3), ..Default::default() };
/// let taken = record_after(Some(&old), "me", 15, now);
/// assert_eq!(taken.lease_transitions, Some(4));
/// assert_eq!(taken.holder_identity.as_deref(), Some("me"));
/// let renewed = record_after(Some(&taken), "me", 15, now);
/// assert_eq!(renewed.lease_transitions, Some(4));
/// ```
pub fn record_after(
    old: Option<&LeaseSpec>,
    me: &str,
    duration_secs: i32,
    now: Timestamp,
) -> LeaseSpec {
    let now = MicroTime(now);
    let transitions = old.and_then(|o| o.lease_transitions).unwrap_or(0);
    let ours = old.is_some_and(|o| holder(o) == Some(me));
    LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(duration_secs),
        renew_time: Some(now.clone()),
        acquire_time: if ours {
            old.and_then(|o| o.acquire_time.clone())
                .or_else(|| Some(now.clone()))
        } else {
            Some(now)
        },
        lease_transitions: Some(if ours || old.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..old.cloned().unwrap_or_default()
    }
}

/// The last record seen and when (on this process's monotonic clock).
#[derive(Debug, Clone)]
struct Observed {
    spec: LeaseSpec,
    at: Instant,
}

impl Observed {
    /// When the record expires, unless renewed (changed) first.
    fn expires(&self) -> Instant {
        let secs = self.spec.lease_duration_seconds.unwrap_or(0).max(0);
        self.at + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    }
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    /// We hold the Lease now.
    Holding,
    /// Another candidate holds it and its record has not expired.
    HeldBy(String),
    /// The write lost a race, or the API server did not answer.
    Failed,
}

/// One candidate in the election.
pub struct Elector {
    api: Api<Lease>,
    election: Election,
    observed: Option<Observed>,
    leader: Option<String>,
}

impl Elector {
    /// A candidate for `election` (checked with [`Election::check`]).
    pub fn new(client: kube::Client, election: Election) -> Self {
        Self {
            api: Api::namespaced(client, &election.namespace),
            election,
            observed: None,
            leader: None,
        }
    }

    /// The election.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// Waits until this candidate holds the Lease. It watches the Lease and
    /// tries to take it when it has no holder, or when the holder's record
    /// has not changed for its lease duration; a failed try waits a retry
    /// period.
    pub async fn acquire(&mut self) {
        let config =
            watcher::Config::default().fields(&format!("metadata.name={}", self.election.name));
        let mut events = std::pin::pin!(watcher(self.api.clone(), config));
        let mut not_before = Instant::now();
        loop {
            let due = match &self.observed {
                Some(o) if holder(&o.spec).is_some_and(|h| h != self.election.identity) => {
                    o.expires().max(not_before)
                }
                _ => not_before,
            };
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease))) => {
                        self.observe(lease.spec.unwrap_or_default());
                    }
                    Some(Ok(watcher::Event::Delete(_))) => self.observed = None,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(lease = %self.lease(), error = %e, "cannot watch the lease; trying again");
                        tokio::time::sleep(self.election.retry_period).await;
                    }
                    None => return self.poll_until_acquired().await,
                },
                () = tokio::time::sleep_until(due) => {
                    match self.try_acquire_or_renew().await {
                        Attempt::Holding => return,
                        Attempt::HeldBy(_) => {}
                        Attempt::Failed => not_before = Instant::now() + self.election.retry_period,
                    }
                }
            }
        }
    }

    /// [`Elector::acquire`] without the watch (which ends only if the
    /// client is gone): one try every retry period.
    async fn poll_until_acquired(&mut self) {
        while self.try_acquire_or_renew().await != Attempt::Holding {
            tokio::time::sleep(self.election.retry_period).await;
        }
    }

    /// Renews the Lease every retry period while this candidate leads, and
    /// returns when it has lost it: a renewal did not succeed within the
    /// renew deadline, or another candidate holds the Lease.
    pub async fn hold(&mut self) {
        loop {
            tokio::time::sleep(self.election.retry_period).await;
            let deadline = Instant::now() + self.election.renew_deadline;
            loop {
                let attempt = tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await;
                match attempt {
                    Ok(Attempt::Holding) => break,
                    Ok(Attempt::HeldBy(other)) => {
                        tracing::warn!(lease = %self.lease(), leader = %other, "the lease is held by another candidate; no longer leading");
                        return;
                    }
                    Ok(Attempt::Failed)
                        if Instant::now() + self.election.retry_period < deadline =>
                    {
                        tokio::time::sleep(self.election.retry_period).await;
                    }
                    Ok(Attempt::Failed) | Err(_) => {
                        tracing::warn!(lease = %self.lease(), deadline = ?self.election.renew_deadline,
                            "the lease was not renewed within the renew deadline; no longer leading");
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up if this candidate holds it: no holder, a 1 s
    /// duration, so that another candidate takes it at once.
    pub async fn release(&mut self) {
        let Ok(Some(lease)) = self.api.get_opt(&self.election.name).await else {
            return;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if holder(&spec) != Some(self.election.identity.as_str()) {
            return;
        }
        let released = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(Timestamp::now())),
            acquire_time: Some(MicroTime(Timestamp::now())),
            ..spec
        };
        let lease = Lease {
            spec: Some(released),
            ..lease
        };
        match self
            .api
            .replace(&self.election.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.lease(), "released the lease"),
            Err(e) => tracing::warn!(lease = %self.lease(), error = %e, "cannot release the lease"),
        }
    }

    fn lease(&self) -> String {
        format!("{}/{}", self.election.namespace, self.election.name)
    }

    /// Notes a record; a changed one restarts its expiry from now.
    fn observe(&mut self, spec: LeaseSpec) {
        if self.observed.as_ref().is_some_and(|o| o.spec == spec) {
            return;
        }
        let now_holder = holder(&spec).map(str::to_owned);
        if now_holder.is_some() && now_holder != self.leader {
            tracing::info!(lease = %self.lease(), leader = now_holder.as_deref().unwrap_or_default(), "new leader");
        }
        self.leader = now_holder;
        self.observed = Some(Observed {
            spec,
            at: Instant::now(),
        });
    }

    /// client-go's `tryAcquireOrRenew`: read the Lease (creating it if
    /// missing), and write our record unless another holder's is current.
    async fn try_acquire_or_renew(&mut self) -> Attempt {
        let duration =
            i32::try_from(self.election.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let me = self.election.identity.clone();
        let lease = match self.api.get_opt(&self.election.name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(lease = %self.lease(), error = %e, "cannot read the lease");
                return Attempt::Failed;
            }
        };
        let Some(lease) = lease else {
            let new = Lease {
                metadata: ObjectMeta {
                    name: Some(self.election.name.clone()),
                    namespace: Some(self.election.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(record_after(None, &me, duration, Timestamp::now())),
            };
            return match self.api.create(&PostParams::default(), &new).await {
                Ok(created) => self.took(created),
                Err(e) => {
                    tracing::debug!(lease = %self.lease(), error = %e, "cannot create the lease");
                    Attempt::Failed
                }
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        self.observe(spec.clone());
        if let Some(other) = holder(&spec).filter(|h| *h != me)
            && self
                .observed
                .as_ref()
                .is_some_and(|o| o.expires() > Instant::now())
        {
            return Attempt::HeldBy(other.to_owned());
        }
        let lease = Lease {
            spec: Some(record_after(Some(&spec), &me, duration, Timestamp::now())),
            ..lease
        };
        match self
            .api
            .replace(&self.election.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => self.took(written),
            Err(e) => {
                tracing::debug!(lease = %self.lease(), error = %e, "cannot write the lease");
                Attempt::Failed
            }
        }
    }

    fn took(&mut self, lease: Lease) -> Attempt {
        self.observe(lease.spec.unwrap_or_default());
        Attempt::Holding
    }
}

#[cfg(test)]
mod tests;

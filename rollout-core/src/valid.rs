//! A Rollout validated once, for deciding many times.
//!
//! [`decide`](crate::decide) validates the whole spec on every call. A
//! controller (or a simulation) that decides the same spec again and again
//! builds a [`ValidRollout`] once per spec instead: it validates, resolves
//! `maxSurge`/`maxUnavailable` and hashes the steps up front, and then
//! [`ValidRollout::decide`] cannot fail. Only the status may change
//! afterwards ([`ValidRollout::set_status`]); a new spec needs a new
//! `ValidRollout`.
//!
//! ```
//! use rollout_core::{Observations, Rollout, Time, ValidRollout};
//! let rollout = Rollout::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}}
//! }), "web.yaml").unwrap();
//! let mut valid = ValidRollout::new(rollout).unwrap();
//! let seen = Observations { current_pod_hash: "abc".into(), ..Default::default() };
//! let decision = valid.decide(&seen, Time::from_unix_seconds(0));
//! assert_eq!(decision.status.stable_rs.as_deref(), Some("abc"));
//! // The controller writes the status, then decides again on the same spec.
//! valid.set_status(Some(decision.status));
//! let again = valid.decide(&seen, Time::from_unix_seconds(1));
//! assert_eq!(again.status.stable_rs.as_deref(), Some("abc"));
//! ```

use std::sync::LazyLock;

use crate::decision::{Decision, Observations};
use crate::error::{Error, FieldError};
use crate::replicas;
use crate::spec::{BlueGreenStrategy, CanaryStrategy, Rollout};
use crate::status::RolloutStatus;
use crate::steps;
use crate::time::Time;
use crate::validate;

/// A Rollout whose spec passed [`validate`](crate::validate()) and that the
/// engine can run, with what it derives from the spec computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRollout {
    rollout: Rollout,
    limits: Limits,
    step_hash: String,
}

impl ValidRollout {
    /// Validates `rollout`. Fails as [`decide`](crate::decide) would on it:
    /// [`Error::Invalid`] listing every problem, or [`Error::Unsupported`]
    /// for a strategy this engine does not run.
    pub fn new(rollout: Rollout) -> Result<Self, Error> {
        let limits = check(&rollout)?;
        let step_hash = steps::step_hash(&limits.canary(&rollout).steps);
        Ok(Self {
            rollout,
            limits,
            step_hash,
        })
    }

    /// The Rollout.
    pub fn rollout(&self) -> &Rollout {
        &self.rollout
    }

    /// Gives the Rollout back.
    pub fn into_rollout(self) -> Rollout {
        self.rollout
    }

    /// Replaces the status (the spec stays validated): the status a decision
    /// returned, or the one read back from the API server.
    pub fn set_status(&mut self, status: Option<RolloutStatus>) {
        self.rollout.status = status;
    }

    /// Decides what the Rollout does next; see [`decide`](crate::decide).
    pub fn decide(&self, observed: &Observations, now: Time) -> Decision {
        crate::engine::run(
            &Checked {
                rollout: &self.rollout,
                canary: self.limits.canary(&self.rollout),
                blue_green: self.rollout.blue_green(),
                surge: self.limits.surge,
                unavailable: self.limits.unavailable,
                step_hash: Some(&self.step_hash),
            },
            observed,
            now,
        )
    }
}

/// What validation leaves to the engine: a strategy is present and, for a
/// canary, these limits resolve (a blue-green Rollout reads neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    surge: i32,
    unavailable: i32,
}

impl Limits {
    fn canary(self, rollout: &Rollout) -> &CanaryStrategy {
        // `check` made sure there is one, and the spec cannot change after.
        static NONE: LazyLock<CanaryStrategy> = LazyLock::new(CanaryStrategy::default);
        rollout.canary().unwrap_or(&NONE)
    }
}

/// A Rollout the engine may run, borrowed for one decision.
pub(crate) struct Checked<'a> {
    pub(crate) rollout: &'a Rollout,
    pub(crate) canary: &'a CanaryStrategy,
    /// The blue-green strategy, when that is the strategy (`canary` is then empty).
    pub(crate) blue_green: Option<&'a BlueGreenStrategy>,
    pub(crate) surge: i32,
    pub(crate) unavailable: i32,
    /// The steps' hash when computed ahead (`None`: compare on demand).
    pub(crate) step_hash: Option<&'a str>,
}

impl<'a> Checked<'a> {
    /// Validates `rollout` for one decision.
    pub(crate) fn new(rollout: &'a Rollout) -> Result<Self, Error> {
        let limits = check(rollout)?;
        Ok(Self {
            rollout,
            canary: limits.canary(rollout),
            blue_green: rollout.blue_green(),
            surge: limits.surge,
            unavailable: limits.unavailable,
            step_hash: None,
        })
    }
}

fn check(rollout: &Rollout) -> Result<Limits, Error> {
    validate::check(rollout)?;
    if rollout.blue_green().is_some() {
        return Ok(Limits {
            surge: 0,
            unavailable: 0,
        });
    }
    let canary = rollout.canary().ok_or_else(|| Error::Unsupported {
        object: rollout.object_name(),
        field: FieldError::new("spec.strategy", "a canary or blue-green strategy is needed"),
    })?;
    let (surge, unavailable) = replicas::surge_and_unavailable(
        canary.max_surge.as_ref(),
        canary.max_unavailable.as_ref(),
        rollout.replicas(),
    )
    .map_err(|field| Error::Invalid {
        object: rollout.object_name(),
        errors: vec![field],
    })?;
    Ok(Limits { surge, unavailable })
}

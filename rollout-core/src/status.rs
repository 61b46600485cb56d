//! `status` of a Rollout, with Argo's field names, so that the engine's
//! decisions can be written to the same object Argo's controller writes and
//! read back by `kubectl argo rollouts`.

use serde::{Deserialize, Serialize};

use crate::pingpong::PingPongType;
use crate::time::Time;

mod blue_green;
mod lenient;

pub use blue_green::BlueGreenStatus;

/// `status` of a Rollout. Unknown fields are ignored on input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The update was aborted (by the user or by a failed analysis).
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub abort: bool,
    /// When the abort was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<Time>,
    /// Why the rollout is paused, oldest first.
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pause_conditions: Vec<PauseCondition>,
    /// The controller paused the rollout (a pause step or an inconclusive run).
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub controller_pause: bool,
    /// Hash of the pod template being rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_pod_hash: Option<String>,
    /// Hash of `spec.strategy.canary.steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_hash: Option<String>,
    /// Index of the step being executed; `len(steps)` once all are done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Pod template hash of the stable ReplicaSet.
    #[serde(default, rename = "stableRS", skip_serializing_if = "Option::is_none")]
    pub stable_rs: Option<String>,
    /// `promote --full` was requested.
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub promote_full: bool,
    /// Canary-specific status.
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "CanaryStatus::is_empty"
    )]
    pub canary: CanaryStatus,
    /// Blue-green-specific status.
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "BlueGreenStatus::is_empty"
    )]
    pub blue_green: BlueGreenStatus,
    /// Pods of all ReplicaSets of the rollout (for blue-green, `readyReplicas`
    /// and `availableReplicas` count the active ReplicaSet's pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods of the current (canary) ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Ready pods of all ReplicaSets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Available pods of all ReplicaSets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Conditions (Progressing, Available, Healthy, Completed, Paused, InvalidSpec).
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<Condition>,
    /// Healthy, Progressing, Paused or Degraded. A phase this crate does not
    /// know reads as unset: the engine derives the phase on every decision
    /// ([`crate::conditions::phase`]), so nothing is lost by not keeping it.
    #[serde(
        default,
        deserialize_with = "lenient::known_phase",
        skip_serializing_if = "Option::is_none"
    )]
    pub phase: Option<Phase>,
    /// Why the phase is what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The `metadata.generation` this status was computed for (a string, as
    /// Argo writes it; a number written by another party is read as its digits).
    #[serde(
        default,
        deserialize_with = "lenient::string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<String>,
    /// The `spec.restartAt` whose restart has completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<Time>,
}

/// `status.canary`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The weights last sent to the traffic router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<TrafficWeights>,
    /// The AnalysisRun of the current analysis step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// The background AnalysisRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_background_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// Which ping-pong Service fronts the stable pods (see [`crate::pingpong`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_ping_pong: Option<PingPongType>,
    /// The Experiment of the current `experiment` step while it runs
    /// (Argo's `currentExperiment`; written afresh by every pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_experiment: Option<String>,
}

impl CanaryStatus {
    fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// `status.canary.weights`: what the router was told.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    /// The canary destination.
    pub canary: WeightDestination,
    /// The stable destination.
    pub stable: WeightDestination,
    /// Extra destinations (experiments).
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional: Vec<WeightDestination>,
    /// The router's answer to "is the weight in place": unset when it cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// A weighted traffic destination.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    /// Share of `maxTrafficWeight`.
    pub weight: i32,
    /// The Service receiving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The ReplicaSet behind the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
}

/// The recorded state of an AnalysisRun started by the rollout.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RolloutAnalysisRunStatus {
    /// The AnalysisRun's name.
    pub name: String,
    /// Its phase as last observed (`Pending`, `Running`, `Successful`, ...).
    pub status: String,
    /// Its message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why a rollout is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    /// The reason.
    pub reason: PauseReason,
    /// When the pause began.
    pub start_time: Time,
}

/// A status condition, as in every Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Progressing`, `Available`, `Healthy`, `Completed`, `Paused`, `InvalidSpec`.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A CamelCase reason such as `RolloutAborted`.
    pub reason: ConditionReason,
    /// A sentence for people.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// When reason or message last changed.
    pub last_update_time: Time,
}

/// A string-valued enum that keeps values it does not know as written.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this crate does not know, kept as written.
            Other(String),
        }

        impl $name {
            /// The value as written in the status.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $(stringify!($variant) => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl $name {
            /// The value as written, borrowed when it is a known one.
            pub fn to_cow(&self) -> std::borrow::Cow<'static, str> {
                match self {
                    $(Self::$variant => std::borrow::Cow::Borrowed(stringify!($variant)),)*
                    Self::Other(s) => std::borrow::Cow::Owned(s.clone()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok(Self::from(s.as_ref()))
            }
        }
    };
}

open_enum! {
    /// The reasons Argo records in `pauseConditions`; any other reason is kept
    /// as written (Argo's field is free text).
    PauseReason {
        /// A `pause` step.
        CanaryPauseStep,
        /// A blue-green pause before promotion.
        BlueGreenPause,
        /// An AnalysisRun ended Inconclusive.
        InconclusiveAnalysisRun,
        /// An Experiment ended Inconclusive.
        InconclusiveExperiment,
    }
}

open_enum! {
    /// The type of a Rollout condition.
    ConditionType {
        /// The update is (or is not) making progress.
        Progressing,
        /// Enough pods are available.
        Available,
        /// Fully promoted and available.
        Healthy,
        /// The current template is the stable one.
        Completed,
        /// The rollout is paused.
        Paused,
        /// The spec is invalid.
        InvalidSpec,
        /// A ReplicaSet could not create pods.
        ReplicaFailure,
    }
}

open_enum! {
    /// The status of a condition.
    ConditionStatus {
        /// The condition holds.
        True,
        /// It does not.
        False,
        /// It cannot be told (paused, resumed, retrying).
        Unknown,
    }
}

impl ConditionStatus {
    /// `True` or `False`.
    pub fn from_bool(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }
}

open_enum! {
    /// The reasons Argo Rollouts gives its conditions.
    ConditionReason {
        /// The update was aborted.
        RolloutAborted,
        /// No progress within `progressDeadlineSeconds`.
        ProgressDeadlineExceeded,
        /// The rollout is paused.
        RolloutPaused,
        /// The rollout was resumed.
        RolloutResumed,
        /// The update is retried after an abort.
        RolloutRetry,
        /// The new ReplicaSet is fully available.
        NewReplicaSetAvailable,
        /// The new ReplicaSet is progressing.
        ReplicaSetUpdated,
        /// A new ReplicaSet was created.
        NewReplicaSetCreated,
        /// An existing ReplicaSet matches the template.
        FoundNewReplicaSet,
        /// The new ReplicaSet is not available.
        ReplicaSetNotAvailable,
        /// Reason of the Available condition.
        AvailableReason,
        /// Reason of the Completed condition.
        RolloutCompleted,
        /// Reason of the Healthy condition.
        RolloutHealthy,
        /// Reason of the InvalidSpec condition.
        InvalidSpec,
    }
}

/// The phase of a rollout as `kubectl argo rollouts` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Fully promoted and available.
    Healthy,
    /// Updating.
    Progressing,
    /// Waiting for a person or a timer.
    Paused,
    /// Aborted, invalid, or out of time.
    Degraded,
}

impl Phase {
    /// The phase as written in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing => "Progressing",
            Self::Paused => "Paused",
            Self::Degraded => "Degraded",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RolloutStatus {
    /// A status with nothing recorded, as on a new object.
    pub const EMPTY: Self = Self {
        abort: false,
        aborted_at: None,
        pause_conditions: Vec::new(),
        controller_pause: false,
        current_pod_hash: None,
        current_step_hash: None,
        current_step_index: None,
        stable_rs: None,
        promote_full: false,
        canary: CanaryStatus {
            weights: None,
            current_step_analysis_run_status: None,
            current_background_analysis_run_status: None,
            stable_ping_pong: None,
            current_experiment: None,
        },
        blue_green: BlueGreenStatus::EMPTY,
        replicas: None,
        updated_replicas: None,
        ready_replicas: None,
        available_replicas: None,
        conditions: Vec::new(),
        phase: None,
        message: None,
        observed_generation: None,
        restarted_at: None,
    };

    /// A copy of everything but `canary` (left empty).
    pub(crate) fn clone_without_canary(&self) -> Self {
        Self {
            abort: self.abort,
            aborted_at: self.aborted_at,
            pause_conditions: self.pause_conditions.clone(),
            controller_pause: self.controller_pause,
            current_pod_hash: self.current_pod_hash.clone(),
            current_step_hash: self.current_step_hash.clone(),
            current_step_index: self.current_step_index,
            stable_rs: self.stable_rs.clone(),
            promote_full: self.promote_full,
            canary: CanaryStatus::default(),
            blue_green: self.blue_green.clone(),
            replicas: self.replicas,
            updated_replicas: self.updated_replicas,
            ready_replicas: self.ready_replicas,
            available_replicas: self.available_replicas,
            conditions: self.conditions.clone(),
            phase: self.phase,
            message: self.message.clone(),
            observed_generation: self.observed_generation.clone(),
            restarted_at: self.restarted_at,
        }
    }

    /// `currentStepIndex`, 0 when unset (as Argo reads it).
    pub fn step_index(&self) -> usize {
        self.current_step_index
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(0)
    }

    /// Whether a pause condition with this reason is present.
    pub fn has_pause(&self, reason: PauseReason) -> bool {
        self.pause_conditions.iter().any(|c| c.reason == reason)
    }

    /// The condition of a type, if present.
    pub fn condition(&self, kind: &ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| &c.kind == kind)
    }
}

#[cfg(test)]
mod tests;

//! A sans-IO progressive-delivery engine for canary and blue-green Rollouts.
//!
//! `rollout-core` decides what a canary or blue-green update does next. It reads a Rollout
//! as users write it (`argoproj.io/v1alpha1`, Argo Rollouts' field names),
//! plus what a controller observed and the current time, and returns a
//! [`Decision`]: the status to write, the traffic the router should apply,
//! the ReplicaSet sizes, the AnalysisRuns that should run, events, and when
//! to call again. It performs no I/O and reads no clock, so it is
//! deterministic, fast, and testable with a virtual clock.
//!
//! ```text
//!  Rollout (spec + status) ─┐
//!  Observations ────────────┼──▶ decide() ──▶ Decision ─┬─▶ ReplicaSet sizes
//!  now ─────────────────────┘      (pure)                ├─▶ DesiredTraffic ──▶ TrafficRouter
//!                                                        ├─▶ AnalysisRuns to run
//!                                                        └─▶ new status, events, requeue
//! ```
//!
//! A step index moves at most one step per call, like Argo Rollouts. A
//! decision that made progress asks to be called again at once
//! (`requeue_after == Some(0)`); a timed pause or a scale-down deadline asks
//! to be woken at its time.
//!
//! Header and mirror routes are *declarative*: [`DesiredTraffic`] carries
//! every managed route that the step history puts in effect at the current
//! step, so a controller restart or a router crash re-creates them.
//!
//! The building blocks are public too, and `decide` is built from them:
//! [`validate()`] (Argo's rules; the [`validate`](mod@validate) module lists
//! them), the [`replicas`] math, the [`progress`] checks (replica progress
//! threshold, at desired replica counts), the [`weights`] (desired canary
//! weight, canary sizing, the router's weight on abort and rollback), the
//! [`scale_down`] of old ReplicaSets, the [`steps`] lookups (current step,
//! weights, canary scale, routes, experiment, background analysis start), the
//! [`ops`] that `kubectl argo rollouts` performs, and [`conditions::phase`]
//! (what a controller records) and [`conditions::rollout_phase`] (what a
//! reader shows).
//!
//! [`bluegreen`] runs `spec.strategy.blueGreen`: its decisions name the
//! selector the active and preview Services must carry
//! ([`Decision::services`]) and carry no traffic.
//!
//! [`ValidRollout`] validates a spec once for a controller that decides it
//! many times. [`restart`] runs `spec.restartAt` (pods to evict are part of
//! the decision) and [`pingpong`] runs `canary.pingPong` (the Services in
//! effect are part of the desired traffic).
//!
//! A step may carry several actions where Argo Rollouts allows it (at most
//! one of `setWeight`, `pause`, `experiment`, `analysis`, with any of
//! `setCanaryScale`, `setHeaderRoute`, `setMirrorRoute`, `plugin`); see
//! [`spec::CanaryStep`].
//!
//! With the `yaml` feature, `manifest` reads objects from YAML files as
//! users and `kubectl` write them, keeping the line of every field so that
//! each problem reads `FILE:LINE: namespace/name: field.path: message`
//! ([`Diagnostic`]).
//!
//! With the `sim` feature, `sim` runs the engine against a simulated world
//! (ReplicaSets that become ready over time, a recording router) on a
//! virtual clock.
#![warn(missing_docs)]

pub mod bluegreen;
pub mod conditions;
mod decision;
mod engine;
mod error;
mod experiment;
mod experiment_state;
pub mod intstr;
#[cfg(feature = "yaml")]
pub mod manifest;
pub mod ops;
mod parse;
pub mod pingpong;
pub mod progress;
pub mod replicas;
pub mod restart;
pub mod scale_down;
#[cfg(feature = "sim")]
pub mod sim;
pub mod spec;
pub mod status;
mod step;
mod step_actions;
mod step_hash;
pub mod steps;
mod time;
mod valid;
pub mod validate;
pub mod weights;

pub use decision::{
    AnalysisKind, AnalysisPhase, AnalysisRunRequest, AnalysisRunState, Decision, DesiredTraffic,
    Event, Observations, PingPongTraffic, PodRestart, PodState, ReplicaSetRole, ReplicaSetState,
    ReplicaSetTarget, ServiceSelector, StepPluginState,
};
pub use engine::{VERIFY_RETRY, decide};
pub use error::{Diagnostic, Error, FieldError};
pub use experiment_state::{
    ExperimentDecision, ExperimentRequest, ExperimentState, ExperimentTemplateState,
};
pub use parse::{plain_words, read_strict};
pub use spec::{CanaryStep, CanaryStrategy, Rollout};
pub use status::{Phase, RolloutStatus};
pub use time::{ParseTimeError, Time};
pub use valid::ValidRollout;
pub use validate::{Validation, Warning, WarningKind, check, lint, unsupported, validate};

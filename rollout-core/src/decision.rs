//! What goes into [`decide`](crate::decide) besides the Rollout, and what
//! comes out.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::experiment_state::{ExperimentDecision, ExperimentState};
use crate::spec::{AnalysisStep, SetHeaderRoute, SetMirrorRoute};
use crate::status::{RolloutStatus, WeightDestination};
use crate::time::Time;

/// What the controller saw in the cluster, as of `now`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observations {
    /// The `rollouts-pod-template-hash` of the Rollout's current pod template:
    /// the ReplicaSet the update is rolling out (created by the controller
    /// from the decision if it does not exist yet).
    pub current_pod_hash: String,
    /// Every ReplicaSet owned by the Rollout.
    pub replica_sets: Vec<ReplicaSetState>,
    /// Every AnalysisRun owned by the Rollout that the engine may care about.
    pub analysis_runs: Vec<AnalysisRunState>,
    /// The outcome of the step plugin at the current step, if any.
    pub step_plugin: Option<StepPluginState>,
    /// The router's answer to `verify_weight` for the weights recorded in
    /// `status.canary.weights` (`None`: not asked, or cannot tell).
    pub traffic_verified: Option<bool>,
    /// The pods of the Rollout's ReplicaSets, listed when a restart is
    /// pending (see [`restart::pending`](crate::restart::pending)): pods
    /// whose ReplicaSet is not in `replica_sets` are ignored. `None`: not
    /// listed; a pending restart then waits (see [`crate::restart`]).
    pub pods: Option<Vec<PodState>>,
    /// A blue-green Rollout's active and preview Services as observed: the
    /// `rollouts-pod-template-hash` each one's selector carries. A Service
    /// listed with `None`, or not listed, has no such label, as a Service
    /// just created for the Rollout: the update then points it at the
    /// current ReplicaSet at once, as Argo does. A controller lists both
    /// Services and, as Argo does, does not decide while one of them does
    /// not exist. Canary Rollouts leave this empty.
    pub services: Vec<ServiceSelector>,
    /// Every Experiment controlled by the Rollout (see [`ExperimentState`]).
    pub experiments: Vec<ExperimentState>,
}

impl Observations {
    /// The ReplicaSet with this pod template hash.
    pub fn replica_set(&self, hash: &str) -> Option<&ReplicaSetState> {
        self.replica_sets
            .iter()
            .find(|rs| rs.pod_template_hash == hash)
    }

    /// The `rollouts-pod-template-hash` the Service of this name selects, if observed with one.
    pub fn service_selector(&self, service: &str) -> Option<&str> {
        self.services
            .iter()
            .find(|s| s.service_name == service)
            .and_then(|s| s.pod_template_hash.as_deref())
    }

    /// The Experiment with this name.
    pub fn experiment(&self, name: &str) -> Option<&ExperimentState> {
        self.experiments.iter().find(|e| e.name == name)
    }

    /// The AnalysisRun with this name.
    pub fn analysis_run(&self, name: &str) -> Option<&AnalysisRunState> {
        self.analysis_runs.iter().find(|r| r.name == name)
    }
}

/// A ReplicaSet of the Rollout as observed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaSetState {
    /// Its `rollouts-pod-template-hash` label.
    pub pod_template_hash: String,
    /// Its `rollout.argoproj.io/revision` annotation.
    pub revision: u64,
    /// `spec.replicas`.
    pub spec_replicas: i32,
    /// `status.replicas`.
    pub replicas: i32,
    /// `status.readyReplicas`.
    pub ready_replicas: i32,
    /// `status.availableReplicas`.
    pub available_replicas: i32,
    /// Its `scale-down-deadline` annotation, if set.
    pub scale_down_deadline: Option<Time>,
    /// `metadata.creationTimestamp`, if known. `rollbackWindow` orders
    /// ReplicaSets by it, as Argo does: going back to an older template
    /// raises its ReplicaSet's revision but not its creation time. Without
    /// it (on either side of a comparison) the revisions order them.
    pub created: Option<Time>,
}

/// A pod of one of the Rollout's ReplicaSets, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodState {
    /// `metadata.name`.
    pub name: String,
    /// The `rollouts-pod-template-hash` of the ReplicaSet that owns it.
    pub pod_template_hash: String,
    /// `metadata.creationTimestamp`.
    pub created: Time,
    /// When its `Ready` condition last turned `True` (`lastTransitionTime`);
    /// `None` while it is not ready. With `spec.minReadySeconds` the pod is
    /// available that many seconds later, as Kubernetes counts it.
    pub ready_since: Option<Time>,
    /// `metadata.deletionTimestamp` is set: it is going away.
    pub terminating: bool,
}

/// An AnalysisRun as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRunState {
    /// Its name.
    pub name: String,
    /// Its phase.
    pub phase: AnalysisPhase,
    /// Its message, if any.
    pub message: Option<String>,
}

/// The phase of an AnalysisRun (or of a step plugin run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnalysisPhase {
    /// Not started yet.
    Pending,
    /// Taking measurements.
    Running,
    /// Passed: the step completes.
    Successful,
    /// Failed: the update aborts.
    Failed,
    /// Could not measure: the update aborts.
    Error,
    /// Neither passed nor failed: the rollout pauses for a person.
    Inconclusive,
}

impl AnalysisPhase {
    /// The phase as Argo writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::Error => "Error",
            Self::Inconclusive => "Inconclusive",
        }
    }

    /// Whether the run has ended.
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            Self::Successful | Self::Failed | Self::Error | Self::Inconclusive
        )
    }
}

/// The outcome of a `plugin` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPluginState {
    /// The step index the outcome belongs to.
    pub step_index: usize,
    /// Its phase.
    pub phase: AnalysisPhase,
    /// Its message, if any.
    pub message: Option<String>,
}

/// Everything the engine decided in one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The status to write (status subresource). Write it after the traffic
    /// has been applied: it records `canary.weights` as applied.
    pub status: RolloutStatus,
    /// The traffic the router should be told; `None` for a basic canary,
    /// whose split is the ratio of pods.
    pub traffic: Option<DesiredTraffic>,
    /// The size each ReplicaSet should have, the current one first. A
    /// ReplicaSet missing here is left alone.
    pub replica_sets: Vec<ReplicaSetTarget>,
    /// The AnalysisRuns that should exist and run. Create those that do not
    /// exist; terminate any other running AnalysisRun of this rollout.
    pub analysis_runs: Vec<AnalysisRunRequest>,
    /// Kubernetes events worth recording, in order.
    pub events: Vec<Event>,
    /// The `rollouts-pod-template-hash` selector each Service must carry
    /// (blue-green: the active and preview Services). A Service not listed
    /// is left as it is. The controller patches a Service whose selector
    /// differs (adding `argo-rollouts.argoproj.io/managed-by-rollouts` with
    /// the Rollout's name when it is missing), after scaling the ReplicaSets
    /// and before writing the status, which records these selectors as set.
    pub services: Vec<ServiceSelector>,
    /// The Experiments of `experiment` steps: the one to run, those to
    /// cancel (see [`ExperimentDecision`]).
    pub experiments: ExperimentDecision,
    /// Pods to restart for `spec.restartAt`, if any may be restarted now.
    /// This comes first: when the controller evicted at least one of them it
    /// applies nothing else of this decision (the availability it was
    /// computed from no longer holds) and calls `decide` again with fresh
    /// observations, as Argo does. See [`PodRestart`].
    pub restart: Option<PodRestart>,
    /// Call `decide` again after this long even if nothing is observed to
    /// change (a timed pause ends, a scale-down deadline passes). Zero means
    /// "at once": the decision made progress that the next call builds on.
    pub requeue_after: Option<Duration>,
}

/// Pods created before `spec.restartAt`, to be replaced by evicting them.
///
/// The controller evicts them in order through the Eviction API (so
/// PodDisruptionBudgets are honoured), skipping a pod whose eviction a budget
/// refuses (HTTP 429) and stopping after `max_evictions` succeeded. Their
/// ReplicaSets create the replacements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRestart {
    /// Names of the pods to evict, in order (by name, the order Argo lists them).
    pub pods: Vec<String>,
    /// How many may be evicted now: the pods available beyond
    /// `max(spec.replicas, the ReplicaSets' replicas) - max(maxUnavailable, 1)`.
    pub max_evictions: usize,
}

/// Traffic as it should be now, all of it: weights plus the managed header
/// and mirror routes. Derived from the step history, so repeating it after
/// a restart or a router crash re-creates the same routes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredTraffic {
    /// The total weight (`maxTrafficWeight`, default 100).
    pub max_weight: i32,
    /// The canary's share, service and ReplicaSet.
    pub canary: WeightDestination,
    /// The stable share: `max_weight - canary - additional`.
    pub stable: WeightDestination,
    /// Extra destinations (experiments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<WeightDestination>,
    /// Managed header routes in effect, in `managedRoutes` order (each with
    /// a non-empty match); managed routes not listed should not exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_routes: Vec<SetHeaderRoute>,
    /// Managed mirror routes in effect, in `managedRoutes` order, each with
    /// its percentage set (default 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirror_routes: Vec<SetMirrorRoute>,
    /// With `canary.pingPong`: which of the two Services is the stable one
    /// now. The canary and stable destinations above name these Services
    /// when the Rollout names neither `canaryService` nor `stableService`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_pong: Option<PingPongTraffic>,
}

/// A Service and the `rollouts-pod-template-hash` its selector carries:
/// as observed in [`Observations::services`] (`None`: no such label), and
/// as decided in [`Decision::services`] (always set there).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSelector {
    /// The Service's name.
    pub service_name: String,
    /// The pod template hash it selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
}

/// The ping-pong Services in their current roles (see [`crate::pingpong`]).
///
/// While the update is in progress (the canary's pod template hash is not
/// the stable one's) the controller points `canary_service`'s
/// `rollouts-pod-template-hash` selector at the canary ReplicaSet, as Argo's
/// `reconcilePingAndPongService` does; `stable_service` is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingPongTraffic {
    /// The Service fronting the stable ReplicaSet.
    pub stable_service: String,
    /// The Service fronting the canary ReplicaSet.
    pub canary_service: String,
}

/// The role of a ReplicaSet in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplicaSetRole {
    /// The current pod template (the canary, until promoted).
    Current,
    /// The stable ReplicaSet.
    Stable,
    /// Any other ReplicaSet (a previous stable or an abandoned canary).
    Old,
}

/// The size a ReplicaSet should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetTarget {
    /// Its `rollouts-pod-template-hash`.
    pub pod_template_hash: String,
    /// Its role.
    pub role: ReplicaSetRole,
    /// The desired `spec.replicas`.
    pub replicas: i32,
    /// The `scale-down-deadline` annotation it should carry (`None`: none).
    pub scale_down_deadline: Option<Time>,
}

/// An AnalysisRun the rollout needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRunRequest {
    /// The run's name (Argo's scheme: `<rollout>-<hash>-<revision>[-<step>|-pre|-post][.<attempt>]`).
    pub name: String,
    /// A step run or the background run.
    pub kind: AnalysisKind,
    /// Templates and arguments.
    pub spec: AnalysisStep,
}

/// Why an AnalysisRun exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalysisKind {
    /// The `analysis` step at this index.
    Step(usize),
    /// `canary.analysis`, running in the background.
    Background,
    /// `blueGreen.prePromotionAnalysis`, gating the switch of the active Service.
    PrePromotion,
    /// `blueGreen.postPromotionAnalysis`, after the switch and before the
    /// new ReplicaSet becomes stable.
    PostPromotion,
}

/// A Kubernetes event to record on the Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub warning: bool,
    /// A CamelCase reason such as `RolloutStepCompleted`.
    pub reason: &'static str,
    /// A sentence for people.
    pub message: String,
}

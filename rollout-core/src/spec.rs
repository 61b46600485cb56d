//! The Rollout object as users write it: `argoproj.io/v1alpha1`, Argo's field names.
//!
//! Parsing is strict inside `spec`: an unknown field (a typo such as
//! `setWieght`, or a feature this engine does not know) is an error that names
//! it, because running a rollout while silently ignoring part of its strategy
//! is worse than refusing it. `metadata` and `status` are lenient: they are
//! written by other parties too. Pod templates, selectors and provider blocks
//! are kept as opaque JSON for the layers that understand them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::intstr::IntOrString;
use crate::status::RolloutStatus;

/// The default for `spec.replicas` when it is not set.
pub const DEFAULT_REPLICAS: i32 = 1;
/// The default for `trafficRouting.maxTrafficWeight`.
pub const DEFAULT_MAX_TRAFFIC_WEIGHT: i32 = 100;
/// The default for `scaleDownDelaySeconds` and `abortScaleDownDelaySeconds`.
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// The default for `spec.progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// An Argo Rollouts `Rollout` (`argoproj.io/v1alpha1`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Rollout`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name, namespace and the few metadata fields the engine reads.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the user asked for.
    pub spec: RolloutSpec,
    /// What the controller recorded; absent on a new object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RolloutStatus>,
}

/// The metadata fields the engine uses; others are ignored on input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// `metadata.generateName`: a prefix the API server completes when `name` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// `metadata.namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `metadata.generation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// `metadata.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of a Rollout.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutSpec {
    /// Desired pods; unset means 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Label selector (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Value>,
    /// Pod template (opaque); its hash is an observation, see [`crate::Observations`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    /// A Deployment (or other workload) whose pod template this Rollout uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<WorkloadRef>,
    /// Seconds a pod must be ready before it counts as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Old ReplicaSets to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Manual pause (`kubectl argo rollouts pause`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Seconds without progress before the update counts as failed (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Abort the update when the progress deadline is exceeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_abort: Option<bool>,
    /// Restart the pods created before this time, an RFC 3339 time checked by
    /// validation (`kubectl argo rollouts restart`); see [`crate::restart`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_at: Option<String>,
    /// Older revisions that roll back without steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_window: Option<RollbackWindow>,
    /// AnalysisRun history limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRunStrategy>,
    /// How updates are rolled out.
    #[serde(default)]
    pub strategy: Strategy,
}

/// `spec.workloadRef`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadRef {
    /// e.g. `apps/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// e.g. `Deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The workload's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `never`, `onsuccess` or `progressively`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<String>,
}

/// `spec.rollbackWindow`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackWindow {
    /// How many previous revisions roll back without running the steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<i32>,
}

/// `spec.analysis`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisRunStrategy {
    /// Successful AnalysisRuns to keep (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_run_history_limit: Option<i32>,
    /// Unsuccessful AnalysisRuns to keep (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsuccessful_run_history_limit: Option<i32>,
}

/// `spec.strategy`: exactly one of canary and blue-green.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Strategy {
    /// The canary strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    /// The blue-green strategy (see [`crate::bluegreen`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
}

/// `spec.strategy.canary`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryStrategy {
    /// Service the controller points at the canary pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    /// Service the controller points at the stable pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_service: Option<String>,
    /// The steps of an update; none means "promote as soon as the canary is ready".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CanaryStep>,
    /// How traffic is split; absent for a basic (replica-ratio) canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// Pods that may be unavailable during the update (default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Pods that may be created above `replicas` (default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Background analysis, running from `startingStep` until promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<BackgroundAnalysis>,
    /// Pod anti-affinity between canary and stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Labels/annotations for canary pods (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_metadata: Option<Value>,
    /// Labels/annotations for stable pods (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_metadata: Option<Value>,
    /// Seconds the old stable ReplicaSet keeps its pods after promotion (traffic routing; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Old ReplicaSets kept running during their scale-down delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// Seconds the canary keeps its pods after an abort (traffic routing; default 30; 0 = forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// Scale the stable ReplicaSet down as traffic moves to the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_stable_scale: Option<bool>,
    /// Two Services that take turns fronting the stable pods; see [`crate::pingpong`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_pong: Option<PingPong>,
    /// A floor for the pods of each ReplicaSet (traffic routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pods_per_replica_set: Option<i32>,
    /// When a ReplicaSet counts as progressed far enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_progress_threshold: Option<ReplicaProgressThreshold>,
}

/// `canary.pingPong`: two Services that take turns being the stable one.
/// Both names are required by the CRD; validation checks they are set and differ.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PingPong {
    /// The "ping" Service.
    pub ping_service: String,
    /// The "pong" Service.
    pub pong_service: String,
}

/// `antiAffinity` of a canary or blue-green strategy: exactly one of the two
/// kinds on valid input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntiAffinity {
    /// A scheduling preference with a weight (1 to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_during_scheduling_ignored_during_execution: Option<PreferredAntiAffinity>,
    /// A scheduling requirement (an empty object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<RequiredAntiAffinity>,
}

/// `antiAffinity.preferredDuringSchedulingIgnoredDuringExecution`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferredAntiAffinity {
    /// The weight of the injected preference, 1 to 100.
    pub weight: i32,
}

/// `antiAffinity.requiredDuringSchedulingIgnoredDuringExecution` (no fields).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredAntiAffinity {}

/// `canary.replicaProgressThreshold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaProgressThreshold {
    /// `Percent` or `Pods`.
    #[serde(rename = "type")]
    pub kind: ThresholdKind,
    /// The percentage or pod count.
    pub value: i32,
}

/// The unit of a [`ReplicaProgressThreshold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThresholdKind {
    /// A percentage of the desired replicas.
    Percent,
    /// A number of pods.
    Pods,
}

/// `canary.trafficRouting`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficRouting {
    /// Istio VirtualService/DestinationRule (opaque; read by the Istio router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istio: Option<Value>,
    /// NGINX canary Ingress (opaque; read by the NGINX router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx: Option<Value>,
    /// AWS ALB (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb: Option<Value>,
    /// SMI TrafficSplit (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smi: Option<Value>,
    /// Ambassador (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambassador: Option<Value>,
    /// AWS App Mesh (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_mesh: Option<Value>,
    /// Traefik (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traefik: Option<Value>,
    /// Apache APISIX (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apisix: Option<Value>,
    /// Router plugins by name (`argoproj-labs/gatewayAPI: {...}`), each config opaque JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, Value>,
    /// Routes the controller may add and remove, in precedence order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_routes: Vec<ManagedRoute>,
    /// The total weight that means "all traffic" (default 100; NGINX and plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_traffic_weight: Option<i32>,
}

impl TrafficRouting {
    /// The names of the configured providers (`istio`, `nginx`, ..., `plugins`).
    pub fn providers(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("istio", self.istio.is_some()),
            ("nginx", self.nginx.is_some()),
            ("alb", self.alb.is_some()),
            ("smi", self.smi.is_some()),
            ("ambassador", self.ambassador.is_some()),
            ("appMesh", self.app_mesh.is_some()),
            ("traefik", self.traefik.is_some()),
            ("apisix", self.apisix.is_some()),
            ("plugins", !self.plugins.is_empty()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
    }
}

/// An entry of `trafficRouting.managedRoutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedRoute {
    /// The route name that `setHeaderRoute`/`setMirrorRoute` steps refer to.
    pub name: String,
}

/// `canary.analysis`: background analysis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackgroundAnalysis {
    /// The templates and arguments of the run.
    #[serde(flatten)]
    pub run: AnalysisStep,
    /// The step index from which the background run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
}

/// An `analysis` step, or the run part of background analysis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisStep {
    /// AnalysisTemplates (or ClusterAnalysisTemplates) to instantiate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
    /// Arguments for the templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArg>,
    /// Metrics evaluated without affecting the outcome (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Value>,
    /// Measurements to keep per metric (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_retention: Option<Value>,
    /// Labels/annotations for the AnalysisRun (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<Value>,
}

/// A reference to an AnalysisTemplate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisTemplateRef {
    /// The template's name.
    #[serde(default)]
    pub template_name: String,
    /// A ClusterAnalysisTemplate rather than a namespaced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
}

/// An argument passed to an analysis template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisArg {
    /// The argument's name.
    pub name: String,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A value taken from the rollout (`podTemplateHashValue`, `fieldRef`; opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<Value>,
}

/// `spec.strategy.blueGreen`, run by [`crate::bluegreen`] as Argo runs it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreenStrategy {
    /// The Service that receives production traffic (required by the CRD).
    pub active_service: String,
    /// The Service that points at the new version before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    /// Promote without a pause (default true); `false` pauses with
    /// `BlueGreenPause` until `promote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_enabled: Option<bool>,
    /// Promote automatically after this many seconds of pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    /// Pods of the new version before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_replica_count: Option<i32>,
    /// Seconds the previous active ReplicaSet is kept after the switch (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Old ReplicaSets kept during their delay (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// Seconds the preview ReplicaSet is kept after an abort (default 30; 0 keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// Analysis gating the switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<AnalysisStep>,
    /// Analysis after the switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<AnalysisStep>,
    /// Pod anti-affinity between active and preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Metadata for preview pods (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_metadata: Option<Value>,
    /// Metadata for active pods (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_metadata: Option<Value>,
    /// Pods that may be unavailable during restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

impl Rollout {
    /// `spec.replicas`, or 1 when unset.
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(DEFAULT_REPLICAS)
    }

    /// The canary strategy, if that is the strategy.
    pub fn canary(&self) -> Option<&CanaryStrategy> {
        self.spec.strategy.canary.as_ref()
    }

    /// The blue-green strategy, if that is the strategy.
    pub fn blue_green(&self) -> Option<&BlueGreenStrategy> {
        self.spec.strategy.blue_green.as_ref()
    }

    /// The `rollout.argoproj.io/revision` annotation, if set and numeric.
    pub fn revision(&self) -> Option<u64> {
        self.metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .and_then(|s| s.parse().ok())
    }
}

/// The annotation Argo keeps the rollout revision in (on the Rollout, its
/// ReplicaSets and its AnalysisRuns).
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";

/// The label naming a ReplicaSet's pod-template hash, on the ReplicaSet,
/// its pods, the Services selecting them and the AnalysisRuns measuring them.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// The label assigning a Rollout (and what is created for it) to one
/// controller instance (`--instance-id`).
pub const INSTANCE_ID_LABEL: &str = "argo-rollouts.argoproj.io/controller-instance-id";

impl CanaryStrategy {
    /// `trafficRouting.maxTrafficWeight`, or 100.
    pub fn max_weight(&self) -> i32 {
        self.traffic_routing
            .as_ref()
            .and_then(|t| t.max_traffic_weight)
            .unwrap_or(DEFAULT_MAX_TRAFFIC_WEIGHT)
    }

    /// Whether traffic is routed (as opposed to a basic, replica-ratio canary).
    pub fn routes_traffic(&self) -> bool {
        self.traffic_routing.is_some()
    }

    /// `dynamicStableScale`, only meaningful with traffic routing.
    pub fn dynamic_stable_scale(&self) -> bool {
        self.routes_traffic() && self.dynamic_stable_scale == Some(true)
    }

    /// The managed route names in precedence order.
    pub fn managed_routes(&self) -> impl Iterator<Item = &str> {
        self.traffic_routing
            .iter()
            .flat_map(|t| t.managed_routes.iter().map(|r| r.name.as_str()))
    }
}

pub use crate::experiment::{ExperimentAnalysis, ExperimentStep, ExperimentTemplate};
pub use crate::step::{
    CanaryStep, EXCLUSIVE_STEP_FIELDS, HeaderMatch, MirrorMatch, Pause, PluginStep, STEP_FIELDS,
    SetCanaryScale, SetHeaderRoute, SetMirrorRoute, StepAction, StepError, StringMatch,
};

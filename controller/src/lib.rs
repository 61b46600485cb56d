//! `rollgate-controller`: a Kubernetes controller that runs
//! `argoproj.io/v1alpha1` Rollouts with [`rollout_core`].
//!
//! For every Rollout it watches, the controller finds or creates the
//! ReplicaSet of the current pod template ([`workload`]), observes the
//! Rollout's ReplicaSets from a watch cache ([`observe`]; every watch cache
//! keeps its objects packed, [`cache`]), asks
//! [`rollout_core::decide`] what happens next and carries the decision out
//! ([`reconcile`]): ReplicaSets scaled, the status written through the status
//! subresource, events recorded, and a requeue when the decision asks for
//! one. It writes what Argo Rollouts' controller writes, so every
//! `kubectl argo rollouts` command for a canary (`get`, `set image`,
//! `promote`, `abort`, `retry`, `pause`, `undo`, `restart`) works against
//! it (pods are restarted by eviction, as Argo does), and it
//! adopts the ReplicaSets Argo's controller created (a Rollout moved from
//! one controller to the other is not redeployed).
//!
//! What this controller runs today: the canary strategy with `setWeight`,
//! `pause`, `setHeaderRoute`, `setMirrorRoute` and `analysis` steps and
//! background analysis (AnalysisRuns created from the templates in the
//! watch caches and terminated when no longer wanted, their phases read
//! back: [`analysis`]; every run measured with its providers: [`measure`]), from a Rollout's
//! own `spec.template` or an `apps/v1` Deployment's (`workloadRef`, with
//! `scaleDown` never / onsuccess / progressively:
//! [`workload::reference`]), with its canary and stable Services' selectors
//! ([`service`]), the canary and stable pod metadata, `antiAffinity`
//! ([`workload::anti_affinity`]), orphaned ReplicaSets adopted and released
//! ([`workload::claim`]), and `revisionHistoryLimit`; either a basic canary
//! (no `trafficRouting`: the split is the ratio of pods) or one whose
//! traffic a router carries
//! ([`traffic`]): the Gateway API, NGINX and Istio routers in-process, any
//! other plugin loaded from Argo's `argo-rollouts-config` ConfigMap and run
//! over the native gRPC plugin protocol.
//! A Rollout asking for more (another of Argo's routers, blue-green,
//! experiments, step plugins, a `workloadRef` to a ReplicaSet or a
//! PodTemplate) gets the condition `Unsupported` naming the field and is
//! otherwise left alone; an invalid Rollout gets `InvalidSpec`, in Argo's
//! words, and nothing else is touched.
//!
//! Experiments are run beside them ([`experiment`]): each template's
//! ReplicaSet and Service, the AnalysisRuns of its analyses, and its status
//! as Argo's experiment controller writes it.
//!
//! As a service ([`operate`]): leader election on a Lease between replicas
//! ([`leader`]), Prometheus metrics with Argo's names ([`metrics`]) and
//! health endpoints ([`serve`]).
//!
//! What comes next: `workloadRef` to a ReplicaSet or a
//! PodTemplate.
#![warn(missing_docs)]

pub mod analysis;
pub mod cache;
mod error;
pub mod experiment;
pub mod leader;
pub mod measure;
pub mod metrics;
pub mod observe;
pub mod operate;
pub mod reconcile;
pub mod run;
pub mod serve;
pub mod service;
pub mod traffic;
pub mod triggers;
pub mod workload;

pub use error::Error;
pub use operate::{Operations, operate};
pub use run::{Hooks, Settings, run};

//! Istio traffic routing for canary Rollouts.
//!
//! Splits traffic on the http, tls and tcp routes of VirtualServices —
//! between the canary and stable Services (host level) or DestinationRule
//! subsets (subset level) — keeps the subsets' pod-template-hash labels in
//! step with the ReplicaSets, and manages header and mirror routes as named
//! http routes placed in `managedRoutes` order. Configuration is Argo's
//! `trafficRouting.istio` shape under `trafficRouting.plugins["rollgate/istio"]`
//! (see [`config`]).
//!
//! ```text
//!   VirtualService (JSON) ─┐
//!   TrafficTarget ─────────┼─▶ plan::plan_virtual_service ──▶ guarded weight patch, replace, or nothing
//!   managedRoutes ─────────┘    (pure)
//!   DestinationRule + hashes ─▶ plan::plan_destination_rule ─▶ replace, or nothing
//! ```
//!
//! [`IstioRouter`] reads each object once and writes it at most once, only
//! when something changes, whatever combination of weights, header and
//! mirror routes and ReplicaSets the target carries: a change of weights
//! only is a JSON patch whose `test` operations guard each destination it
//! reweights, a change of routes a replace with the `resourceVersion` it
//! read, so a concurrent edit is never overwritten (the router reads and
//! plans again). Unlike Argo's, its DestinationRule update keeps subsets
//! that are not the rollout's. A `maxTrafficWeight` other than 100 is
//! refused, as Argo refuses it (see [`config::check_max_traffic_weight`]).
//!
//! The router implements `router-core`'s [`TrafficRouter`](router_core::TrafficRouter):
//! it reads only the typed [`RolloutContext`](router_core::RolloutContext) and
//! reports failures as `router-core` errors of a kind (a Kubernetes API error by
//! its status code). It does not depend on `plugin-proto`: the `rollgate-istio`
//! binary (`bin/`) adds that to serve it as a plugin.
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod plan;
mod router;

pub use error::Error;
pub use router::{DEFAULT_API_VERSION, IstioRouter, WRITE_ATTEMPTS};
/// The constructors every router shares (`with_client`, `from_environment`,
/// `from_config`) and its `user_agent`: bring it into scope to call them.
pub use router_kube::client::KubeRouter;

//! The traffic-router contract, and what every Rollgate router shares.
//!
//! A traffic router makes a data plane (Gateway API routes, an NGINX canary
//! Ingress, an Istio VirtualService) follow the traffic that
//! [`rollout_core::decide`] asks for. This crate is the contract between
//! routers and whoever drives them, free of any wire protocol (the plugin
//! protocols live in `plugin-proto`, which depends on this crate):
//!
//! ```text
//!   controller ──▶ apply_traffic() ──▶ dyn TrafficRouter
//!                                        ├─ a router crate, linked in-process
//!                                        └─ plugin-proto's PluginRouter ══ gRPC ══▶ plugin binary
//! ```
//!
//! * [`TrafficRouter`]: one async, object-safe trait: `apply` a
//!   [`TrafficTarget`] (the whole desired traffic, or Argo's per-aspect
//!   calls as targets with one aspect given) and `verify` it. Every call carries a [`RolloutContext`]:
//!   typed facts about the rollout (services, managed routes with their
//!   kinds, `maxTrafficWeight`, promoted / aborted) and the router's own
//!   config block, built once by [`RolloutContext::new`] (or from a wire form).
//! * [`Error`]: one error type whose [`ErrorKind`] (config, not found,
//!   conflict, forbidden, invalid, unsupported, unavailable, timeout,
//!   internal) survives the native plugin wire.
//! * [`apply_traffic`] applies and verifies rollout-core's
//!   [`DesiredTraffic`](rollout_core::DesiredTraffic).
//! * [`check_listed`]: a header or mirror route must be listed in
//!   `spec.strategy.canary.trafficRouting.managedRoutes`, or it is refused
//!   before anything is written (a route not listed there could never be
//!   removed).
//! * The Kubernetes side every router shares (client, request limits,
//!   watch cache, write strategies and retries) is the `router-kube` crate,
//!   built on this one.
//! * With the `test-util` feature, [`test_util`]: a router that records its
//!   calls, for tests of hosts and controllers.
#![warn(missing_docs)]

mod context;
mod error;
mod managed;
mod router;
mod target;
#[cfg(feature = "test-util")]
pub mod test_util;
mod traffic;

pub use context::{ManagedRoute, RolloutContext};
pub use error::{Error, ErrorKind};
pub use managed::{RouteStep, check_listed};
pub use router::{TrafficRouter, Verified};
pub use target::{Hashes, RouteTarget, Routes, TrafficTarget};
pub use traffic::apply_traffic;

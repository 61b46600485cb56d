//! The traffic-router contract and its wire forms.
//!
//! A traffic router makes a data plane (Gateway API routes, an NGINX canary
//! Ingress, an Istio VirtualService) follow the traffic that
//! [`rollout_core::decide`] asks for. The same router code is used two ways:
//!
//! ```text
//!   controller ──▶ apply_traffic() ──▶ dyn TrafficRouter
//!                                        ├─ a router crate, linked in-process
//!                                        └─ PluginRouter ══ gRPC over a unix socket ══▶ plugin binary
//!                                                                                       serve(router)
//! ```
//!
//! * [`TrafficRouter`] is the contract: one async trait with the operations a
//!   rollout controller needs. Every call carries a [`RolloutContext`].
//! * [`apply_traffic`] is the one place that turns rollout-core's
//!   [`DesiredTraffic`](rollout_core::DesiredTraffic) into calls, in the
//!   right order, so a controller never hand-codes them.
//! * [`serve`] runs a router as a plugin process speaking the native gRPC
//!   protocol (`proto/rollgate/trafficrouter.proto`) with hashicorp
//!   go-plugin's conventions: magic-cookie check, a unix socket in a private
//!   directory, the handshake line `1|1|unix|<path>|grpc|` on stdout,
//!   `grpc.health.v1` service `plugin` SERVING, `plugin.GRPCController/Shutdown`,
//!   and logs as hclog-style JSON lines on stderr. A go-plugin host that
//!   allows gRPC can load such a binary too.
//! * [`PluginRouter`] is the host side: it spawns and supervises a plugin
//!   binary and is itself a [`TrafficRouter`].
#![warn(missing_docs)]

mod error;
pub mod gob;
pub mod handshake;
mod host;
pub mod journal;
pub mod log;
pub mod netrpc;
mod router;
mod server;
mod traffic;
pub mod wire;

pub use error::Error;
pub use host::{HostOptions, PluginRouter};
pub use router::{RolloutContext, TrafficRouter, Verified};
pub use server::{COOKIE_KEY, COOKIE_VALUE, serve, serve_with};
pub use traffic::apply_traffic;

//! The wire forms of the traffic-router contract, a plugin server and a
//! plugin host.
//!
//! The contract itself ([`TrafficRouter`], [`RolloutContext`], [`Error`]
//! and its kinds, `apply_traffic`) lives in `router-core`, free of any
//! protocol; this crate carries it across process boundaries:
//!
//! ```text
//!   controller ──▶ router_core::apply_traffic() ──▶ dyn TrafficRouter
//!                                                  └─ PluginRouter ══ gRPC over a unix socket ══▶ plugin binary
//!                                                                                                 serve(router)
//! ```
//!
//! * [`serve`] runs a router as a plugin process speaking the native gRPC
//!   protocol (`proto/rollgate/trafficrouter.proto`) with hashicorp
//!   go-plugin's conventions: magic-cookie check, a unix socket in a private
//!   directory, the handshake line `1|1|unix|<path>|grpc|` on stdout,
//!   `grpc.health.v1` service `plugin` SERVING, `plugin.GRPCController/Shutdown`,
//!   and logs as hclog-style JSON lines on stderr. A go-plugin host that
//!   allows gRPC can load such a binary too. Errors cross with their kind
//!   as a gRPC status code ([`status`]).
//! * [`netrpc`] serves the same router to Argo Rollouts over its net/rpc
//!   plugin protocol, where errors are text.
//! * [`PluginRouter`] is the host side: it spawns and supervises a plugin
//!   binary and is itself a [`TrafficRouter`].
#![warn(missing_docs)]

pub mod gob;
pub mod handshake;
mod host;
pub mod log;
pub mod netrpc;
mod server;
pub mod status;
pub mod wire;

pub use host::{HostOptions, PluginRouter};
/// The contract's types, as the host and server signatures use them.
pub use router_core::{Error, ErrorKind, RolloutContext, TrafficRouter, Verified};
pub use server::{COOKIE_KEY, COOKIE_VALUE, serve, serve_with};

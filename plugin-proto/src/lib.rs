//! The wire forms of the traffic-router contract, a plugin server and a
//! plugin host.
//!
//! The contract itself ([`TrafficRouter`], [`RolloutContext`],
//! [`TrafficTarget`], [`Error`] and its kinds, `apply_traffic`) lives in
//! `router-core`, free of any protocol; this crate carries it across process
//! boundaries:
//!
//! ```text
//!   controller ──▶ router_core::apply_traffic() ──▶ dyn TrafficRouter
//!                                                  └─ PluginRouter ══ gRPC over a unix socket ══▶ plugin binary
//!                                                                                                 serve(router)
//! ```
//!
//! * [`serve`] runs a router as a plugin process speaking the native gRPC
//!   protocol (`rollgate.trafficrouter.v2`,
//!   `proto/rollgate/trafficrouter/v2/trafficrouter.proto`): `Apply` and
//!   `Verify`, each carrying the rollout's typed context and the whole
//!   [`TrafficTarget`], so one step is one call whatever it changes. It
//!   follows hashicorp go-plugin's conventions: magic-cookie check, a unix
//!   socket in a private directory, the handshake line
//!   `1|2|unix|<path>|grpc|` (app protocol version 2) on stdout,
//!   `grpc.health.v1` service `plugin` SERVING, `plugin.GRPCController/Shutdown`,
//!   and logs as hclog-style JSON lines on stderr. A go-plugin host that
//!   allows gRPC can load such a binary too. Errors cross with their kind
//!   as a gRPC status code ([`status`]).
//! * [`netrpc`] serves the same router to Argo Rollouts over its net/rpc
//!   plugin protocol (app protocol version 1, Argo's), where errors are
//!   text; Argo's per-aspect calls become the trait's per-aspect methods,
//!   each an `apply` of a target with that one aspect given.
//! * [`serve_metered`] does either, with Prometheus metrics of the calls
//!   (and whatever the router registers) on an HTTP endpoint of its own
//!   ([`metrics`]).
//! * [`PluginRouter`] is the host side: it spawns and supervises a plugin
//!   binary and is itself a [`TrafficRouter`].
//!
//! # Protocol versions
//!
//! * **Native gRPC, version 2** (`rollgate.trafficrouter.v2`, app protocol
//!   version 2): `Init`, `Type`, `Apply(ApplyRequest{rollout, target})` and
//!   `Verify(VerifyRequest{rollout, target}) -> VerifyResponse`. The target
//!   message mirrors [`TrafficTarget`] (optional canary weight, optional
//!   hashes, additional destinations, routes as a `oneof` of `as_is`,
//!   `exactly`, `header` and `mirror`, with typed header and mirror routes)
//!   and the context mirrors [`RolloutContext`] (the plugin's config block
//!   stays JSON: it is the user's free form). The host offers only version
//!   2 (`PLUGIN_PROTOCOL_VERSIONS=2`) and refuses a plugin whose handshake
//!   answers another version, naming both; the plugin refuses a host that
//!   does not offer 2.
//! * **Native gRPC, version 1** (`rollgate.trafficrouter.v1`: `SetWeight`,
//!   `VerifyWeight`, `UpdateHash`, `SetHeaderRoute`, `SetMirrorRoute`,
//!   `RemoveManagedRoutes`, one call per aspect) is removed without a
//!   transition: it never had a released consumer. A step that changed the
//!   weight and a header route took two calls there; it is one `Apply` now.
//! * **Argo's net/rpc** is unchanged (app protocol version 1, the magic
//!   cookie `ARGO_ROLLOUTS_RPC_PLUGIN=trafficrouter`).
//!
//! The native magic cookie (`ROLLGATE_PLUGIN=trafficrouter-v1`) names the
//! kind of plugin, not the protocol version, and is unchanged.
#![warn(missing_docs)]

pub mod gob;
pub mod handshake;
mod host;
pub mod log;
pub mod metrics;
pub mod netrpc;
mod server;
pub mod status;
pub mod wire;

pub use host::{HostOptions, PluginRouter};
/// The contract's types, as the host and server signatures use them.
pub use router_core::{Error, ErrorKind, RolloutContext, TrafficRouter, TrafficTarget, Verified};
pub use server::{COOKIE_KEY, COOKIE_VALUE, serve, serve_metered, serve_with};

/// The largest plugin config block (`trafficRouting.plugins[<name>]`, as
/// JSON) a plugin accepts from a host: 1 MiB. A Rollout the API server
/// stores is at most 1.5 MiB in all, so a real config is far smaller; the
/// gob and gRPC messages around it allow more.
pub const MAX_PLUGIN_CONFIG_BYTES: usize = 1 << 20;

/// A plugin config block from the JSON bytes a host sent, at most
/// [`MAX_PLUGIN_CONFIG_BYTES`] and nested at most 128 levels deep (JSON's
/// reader stops there); `Err` says what is wrong, for the caller to place.
pub(crate) fn plugin_config(raw: &[u8]) -> Result<serde_json::Value, String> {
    if raw.len() > MAX_PLUGIN_CONFIG_BYTES {
        return Err(format!(
            "{} bytes, more than the limit of {MAX_PLUGIN_CONFIG_BYTES} bytes",
            raw.len()
        ));
    }
    serde_json::from_slice(raw).map_err(|e| format!("not JSON: {e}"))
}

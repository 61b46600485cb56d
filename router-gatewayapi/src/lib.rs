//! Gateway API traffic routing for canary Rollouts.
//!
//! Splits traffic between a rollout's canary and stable Services on
//! HTTPRoutes, GRPCRoutes, TCPRoutes and TLSRoutes, and manages header and
//! mirror routes as named rules on HTTP and gRPC routes (a gRPC mirror route
//! matches on the gRPC path, `/<service>/<method>`, and headers). Configuration is the
//! Gateway API plugin's schema users already have (see [`config`]).
//!
//! ```text
//!   route object (JSON, as read) ─┐
//!   desired traffic ──────────────┼─▶ plan::* ──▶ guarded JSON patch, or no change
//!   managedRoutes ────────────────┘    (pure)
//! ```
//!
//! [`plan`] is pure and holds all of the routing logic; it is tested from
//! YAML fixtures in `tests/fixtures/`. [`GatewayApiRouter`] is the thin I/O
//! layer: it reads each route, plans, and sends a guarded JSON patch only
//! when something changes (an unchanged state costs one read and no write),
//! re-reading and re-planning when a guard fails or the write conflicts.
//! `update_hash` is a no-op: routes point at Services, not ReplicaSets.
//!
//! # Managed routes
//!
//! Header and mirror routes must be listed in `managedRoutes`, and their
//! order there is their precedence: a request matching two of them goes
//! where the one listed first sends it. Gateway API ranks matches by
//! specificity (exact path, longest prefix, method, header count, query
//! count) before list order, so for each managed route listed before
//! another, the router adds a companion rule `<rule>--<other route>` that
//! behaves like the first and matches exactly the requests both match, more
//! specifically than the other's match. Where that intersection cannot be
//! written as one match (two different regular expressions on the same
//! path, header or query parameter), Gateway API's own precedence decides.
//!
//! The router implements `router-core`'s [`TrafficRouter`](router_core::TrafficRouter):
//! it reads only the typed [`RolloutContext`](router_core::RolloutContext) and
//! reports failures as `router-core` errors of a kind (a Kubernetes API error by
//! its status code). It does not depend on `plugin-proto`: the `rollgate-gatewayapi`
//! binary (`bin/`) adds that to serve it as a plugin.
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod plan;
mod precedence;
mod router;
mod versions;

pub use error::Error;
pub use router::{GatewayApiRouter, RequestLimit, WRITE_ATTEMPTS};
/// The constructors every router shares (`with_client`, `from_environment`,
/// `from_config`) and its `user_agent`: bring it into scope to call them.
pub use router_kube::client::KubeRouter;

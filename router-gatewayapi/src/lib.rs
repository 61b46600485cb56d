//! Gateway API traffic routing for canary Rollouts.
//!
//! Splits traffic between a rollout's canary and stable Services on
//! HTTPRoutes, GRPCRoutes, TCPRoutes and TLSRoutes, and manages header and
//! mirror routes as named rules on HTTP and gRPC routes. Configuration is the
//! Gateway API plugin's schema users already have (see [`config`]).
//!
//! ```text
//!   route object (JSON, as read) ─┐
//!   desired traffic ──────────────┼─▶ plan::* ──▶ guarded JSON patch, or no change
//!   managedRoutes ────────────────┘    (pure)
//! ```
//!
//! [`plan`] is pure and holds all of the routing logic; it is tested from
//! YAML fixtures in `tests/fixtures/`.
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod plan;

pub use error::Error;

//! The data plane of the real-cluster tier: real HTTP traffic through a
//! real Gateway API implementation to real backends, all on loopback.
//!
//! - [`traefik`]: Traefik (built by `ROLLGATE_DATAPLANE=1 scripts/cluster
//!   build`) serving one test namespace's Gateways and HTTPRoutes, its
//!   dynamic configuration (`/api/rawdata`) and the upstreams in it.
//! - [`runner`]: a [`Backend`] for every running pod of the namespace on
//!   the pod's loopback address, and the EndpointSlices Traefik reaches
//!   them by.
//! - [`backend`]: one pod's backend, answering with its version (the image
//!   tag), failing and delaying as its version's [`Behaviour`] says, with
//!   Prometheus metrics.
//! - [`load`]: a bounded load generator; [`tally`]: what it saw, as a
//!   whole or per window of time.
//! - [`measure`]: what the scenarios read from Traefik's configuration
//!   (weights, servers, loopback upstreams) and wait for.
//! - [`DataPlane`]: the three together for one namespace, with the
//!   GatewayClass and Gateway that put Traefik in front of its routes.
//!
//! No request goes anywhere but 127.0.0.0/8: every piece refuses another
//! address ([`Error::NotLoopback`]).
#![warn(missing_docs)]

pub mod backend;
mod dataplane;
mod http;
pub mod load;
pub mod measure;
pub mod runner;
pub mod tally;
pub mod traefik;

pub use backend::{Behaviour, Behaviours};
pub use dataplane::{DataPlane, GATEWAY_CLASS};
pub use load::Load;
pub use runner::PodRunner;
pub use tally::{Record, Tally};
pub use traefik::Traefik;

/// What can go wrong in the data plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address outside 127.0.0.0/8, where the data plane never sends.
    #[error("{0} is outside 127.0.0.0/8: the data plane sends only to loopback addresses")]
    NotLoopback(String),
    /// An environment variable the tier sets is missing.
    #[error(
        "{0} is not set (ROLLGATE_DATAPLANE=1 scripts/cluster up, then eval \"$(scripts/cluster env)\")"
    )]
    Setting(String),
    /// Traefik could not be started.
    #[error("starting Traefik: {0}")]
    Start(String),
    /// A backend could not listen.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The pod's address and port.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// An HTTP request failed.
    #[error("request {0}")]
    Request(String),
    /// A behaviour with an error rate outside 0..=1.
    #[error(
        "behaviour of version {version}: errorRate: expected a number from 0 to 1, found {found}"
    )]
    Behaviour {
        /// The version it was set for.
        version: String,
        /// The rate given.
        found: String,
    },
    /// The API server refused a write.
    #[error("writing {what}: {source}")]
    Kube {
        /// The object.
        what: String,
        /// Why.
        source: Box<kube::Error>,
    },
}

//! The errors of setting an applier up. Everything an applier does at run
//! time fails with a [`router_core::Error`], the routers' one error type.

/// A problem with an [`Applier`](crate::Applier)'s options.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request limit is not a positive, finite rate with a burst of at
    /// least one request.
    #[error(
        "request limit: qps {qps} burst {burst}: expected a positive number of requests per \
         second and a burst of at least 1"
    )]
    InvalidRequestLimit {
        /// The rate given.
        qps: f64,
        /// The burst given.
        burst: u32,
    },
}

impl From<Error> for router_core::Error {
    /// Options are the router's configuration: a config error.
    fn from(error: Error) -> Self {
        Self::config(error.to_string())
    }
}

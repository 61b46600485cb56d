//! The errors of setting an applier up, and of reading back an object kept
//! compactly ([`crate::Packed`]). Everything an applier does at run time
//! fails with a [`router_core::Error`], the routers' one error type.

/// A problem with an [`Applier`](crate::Applier)'s options, or with an
/// object read back from its compact form.
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
    /// An object kept compactly ([`crate::Packed`], [`crate::CompressedJson`])
    /// does not read back (it always does: it was written from a value of
    /// its type).
    #[error("{object}: {message}")]
    Unpack {
        /// The object, as `<namespace>/<name>` or what the caller named it.
        object: String,
        /// What went wrong.
        message: String,
    },
}

impl From<Error> for router_core::Error {
    /// Options are the router's configuration: a config error; an object
    /// that does not read back from the cache is an internal error.
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidRequestLimit { .. } => Self::config(error.to_string()),
            Error::Unpack { .. } => Self::internal(error.to_string()),
        }
    }
}

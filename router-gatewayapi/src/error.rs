//! The one error type of this crate.

/// What can go wrong routing traffic through Gateway API routes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plugin config is not usable.
    #[error("rollout {rollout}: {message}")]
    Config {
        /// `<namespace>/<name>` of the rollout.
        rollout: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A route cannot carry what the rollout asks for.
    #[error("{route}: {message}")]
    Route {
        /// `HTTPRoute <namespace>/<name>`.
        route: String,
        /// What is wrong.
        message: String,
    },
    /// A write would take a route past Gateway API's limits on rules and
    /// matches (see [`crate::plan::MAX_RULES`]); nothing is written.
    #[error("{route}: {message}; nothing was changed")]
    Limit {
        /// `HTTPRoute <namespace>/<name>`.
        route: String,
        /// The limit and the count.
        message: String,
    },
    /// A bug in this crate (a patch it built is not a JSON patch).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Error> for router_core::Error {
    /// Every variant is a configuration the router cannot carry out, except
    /// where noted.
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Internal(_) => router_core::ErrorKind::Internal,
            Error::Limit { .. } => router_core::ErrorKind::Invalid,
            Error::Config { .. } | Error::Route { .. } => router_core::ErrorKind::Config,
        };
        Self::new(kind, e.to_string())
    }
}

//! The one error type of this crate.

/// What can go wrong routing traffic through Istio objects.
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
    /// A VirtualService or DestinationRule cannot carry what the rollout asks for.
    #[error("{object}: {message}")]
    Object {
        /// `VirtualService <namespace>/<name>` or `DestinationRule <namespace>/<name>`.
        object: String,
        /// What is wrong (Argo's wording where it has one).
        message: String,
    },
}

impl From<Error> for router_core::Error {
    /// Every variant is a configuration the router cannot carry out, except
    /// where noted.
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Config { .. } | Error::Object { .. } => router_core::ErrorKind::Config,
        };
        Self::new(kind, e.to_string())
    }
}

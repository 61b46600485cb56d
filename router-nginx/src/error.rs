//! The one error type of this crate.

/// What can go wrong routing traffic through NGINX canary Ingresses and
/// F5 NGINX VirtualServers.
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
    /// An Ingress cannot carry what the rollout asks for.
    #[error("{ingress}: {message}")]
    Ingress {
        /// `Ingress <namespace>/<name>`.
        ingress: String,
        /// What is wrong.
        message: String,
    },
    /// An F5 NGINX VirtualServer or VirtualServerRoute cannot carry what the
    /// rollout asks for.
    #[error("{object}: {message}")]
    VirtualServer {
        /// `VirtualServer <namespace>/<name>` (or `VirtualServerRoute ...`).
        object: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A step that ingress-nginx's canary annotations cannot express.
    #[error("rollout {rollout}: {message}")]
    Unsupported {
        /// `<namespace>/<name>` of the rollout.
        rollout: String,
        /// What cannot be expressed, and why.
        message: String,
    },
}

impl From<Error> for router_core::Error {
    /// Every variant is a configuration the router cannot carry out, except
    /// where noted.
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Unsupported { .. } => router_core::ErrorKind::Unsupported,
            Error::Config { .. } | Error::Ingress { .. } | Error::VirtualServer { .. } => {
                router_core::ErrorKind::Config
            }
        };
        Self::new(kind, e.to_string())
    }
}

//! The controller's one error type.

/// What can stop a reconcile of one Rollout; the Rollout is tried again later.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("{action}: {source}")]
    Api {
        /// What was being done, naming the object.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The AnalysisRun the engine asks for cannot be built (its templates
    /// changed since the Rollout was checked).
    #[error("rollout {rollout}: {source}")]
    Analysis {
        /// `<namespace>/<name>`.
        rollout: String,
        /// What is wrong.
        #[source]
        source: Box<rollgate_analysis::Error>,
    },
    /// An object of a watch cache does not read back from its packed form
    /// (see [`crate::cache`]).
    #[error("the watch cache: {0}")]
    Cache(#[source] Box<router_kube::Error>),
    /// An object read from the API server is not of the expected shape.
    #[error("{object}: {message}")]
    Shape {
        /// `<kind> <namespace>/<name>`.
        object: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// An API error while doing `action`.
    pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Api {
            action,
            source: Box::new(source),
        }
    }
}

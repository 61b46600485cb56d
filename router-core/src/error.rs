//! The one error type of this crate.

/// What can go wrong in the parts the routers share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header or mirror route that `managedRoutes` does not list.
    #[error(
        "rollout {rollout}: {step} {name}: the route is not listed in \
         spec.strategy.canary.trafficRouting.managedRoutes ({listed}); a route not listed there \
         could never be removed, so nothing was changed"
    )]
    UnlistedRoute {
        /// `<namespace>/<name>` of the rollout.
        rollout: String,
        /// `setHeaderRoute` or `setMirrorRoute`.
        step: crate::RouteStep,
        /// The route's name.
        name: String,
        /// The names `managedRoutes` lists, for the message.
        listed: String,
    },
    /// The Kubernetes client cannot be built (no in-cluster service account
    /// and no usable `KUBECONFIG`, or a bad user agent).
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
    /// An API request failed.
    #[error("{object}: {message}")]
    Request {
        /// What the request was about, e.g. `HTTPRoute default/web`.
        object: String,
        /// The HTTP status code, when the API server answered.
        code: Option<u16>,
        /// One line: `<code> <reason>: <the server's message>`, or why no
        /// answer came.
        message: String,
    },
}

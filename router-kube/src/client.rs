//! The Kubernetes client of every router: built in one place, identified by
//! its user agent, created lazily, and its failures reported in one line.

use std::sync::Arc;

use http::header::{HeaderValue, USER_AGENT};
use kube::client::{Body, ClientBuilder};
use tokio::sync::OnceCell;
use tower_http::set_header::SetRequestHeaderLayer;

use router_core::{Error, ErrorKind};

use crate::applier::Applier;
use crate::options::ApplierOptions;

/// The `User-Agent` a router sends with every request, e.g.
/// `rollgate-gatewayapi/0.1.0`: audit logs and API priority and fairness
/// tell the routers apart by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent(HeaderValue);

impl UserAgent {
    /// `<product>/<version>`.
    ///
    /// # Errors
    ///
    /// When the two do not make a valid header value (control characters).
    ///
    /// ```
    /// use router_kube::client::UserAgent;
    /// let agent = UserAgent::new("rollgate-nginx", "0.1.0").unwrap();
    /// assert_eq!(agent.as_str(), "rollgate-nginx/0.1.0");
    /// assert!(UserAgent::new("bad\n", "1").is_err());
    /// ```
    pub fn new(product: &str, version: &str) -> Result<Self, Error> {
        HeaderValue::from_str(&format!("{product}/{version}"))
            .map(Self)
            .map_err(|_| {
                Error::config(format!(
                    "user agent {product:?}/{version:?}: not a valid header value"
                ))
            })
    }

    /// The header's value.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// The layer that sets it on every request (replacing any other).
    fn layer(&self) -> SetRequestHeaderLayer<HeaderValue> {
        SetRequestHeaderLayer::overriding(USER_AGENT, self.0.clone())
    }
}

/// A client for the cluster `config` describes, sending `user_agent`.
///
/// # Errors
///
/// When kube cannot build a client from `config` (TLS or auth set-up).
pub fn client_from_config(
    config: kube::Config,
    user_agent: &UserAgent,
) -> Result<kube::Client, Error> {
    let builder = ClientBuilder::try_from(config).map_err(|e| client_error(&e))?;
    Ok(builder.with_layer(&user_agent.layer()).build())
}

/// A client over `service` (any tower service speaking Kubernetes' HTTP
/// API, such as a mock in tests) sending `user_agent`, exactly as
/// [`client_from_config`] does.
pub fn client_with_service<S>(service: S, namespace: &str, user_agent: &UserAgent) -> kube::Client
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
{
    ClientBuilder::new(service, namespace)
        .with_layer(&user_agent.layer())
        .build()
}

/// Where a [`LazyClient`] gets its client from.
#[derive(Clone)]
enum Source {
    /// Given ready-made.
    Ready,
    /// The in-cluster service account, or `KUBECONFIG`.
    Environment(UserAgent),
    /// This config.
    Config(Box<kube::Config>, UserAgent),
}

/// A router's client, built on first use (so that a plugin process starts
/// and answers its handshake before it talks to the API server) and shared
/// by every clone.
#[derive(Clone)]
pub struct LazyClient {
    cell: Arc<OnceCell<kube::Client>>,
    source: Source,
}

impl std::fmt::Debug for LazyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClient")
            .field("connected", &self.cell.initialized())
            .finish()
    }
}

impl LazyClient {
    /// This client, as it is (its user agent is the caller's choice).
    pub fn ready(client: kube::Client) -> Self {
        Self {
            cell: Arc::new(OnceCell::new_with(Some(client))),
            source: Source::Ready,
        }
    }

    /// A client from the in-cluster service account or `KUBECONFIG`,
    /// sending `user_agent`.
    pub fn from_environment(user_agent: UserAgent) -> Self {
        Self {
            cell: Arc::new(OnceCell::new()),
            source: Source::Environment(user_agent),
        }
    }

    /// A client for `config`, sending `user_agent`.
    pub fn from_config(config: kube::Config, user_agent: UserAgent) -> Self {
        Self {
            cell: Arc::new(OnceCell::new()),
            source: Source::Config(Box::new(config), user_agent),
        }
    }

    /// Whether the client has been built.
    pub fn is_connected(&self) -> bool {
        self.cell.initialized()
    }

    /// The client, built now if it is not yet.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`] error when there is no usable configuration.
    pub async fn get(&self) -> Result<kube::Client, Error> {
        self.cell
            .get_or_try_init(|| async {
                match &self.source {
                    Source::Ready => Err(client_error(&"no client was given")),
                    Source::Environment(agent) => {
                        let config = kube::Config::infer().await.map_err(|e| client_error(&e))?;
                        client_from_config(config, agent)
                    }
                    Source::Config(config, agent) => client_from_config((**config).clone(), agent),
                }
            })
            .await
            .cloned()
    }
}

/// An API request's failure about `object` (e.g. `HTTPRoute default/web`)
/// as one line: the status code, the reason and the server's message when
/// the API server answered, else why no answer came. Its kind follows the
/// status code ([`ErrorKind::from_http_status`]: 403 forbidden, 404 not
/// found, 409 conflict, 422 invalid, 5xx unavailable); with no answer it is
/// [`ErrorKind::Timeout`] when the request timed out, else
/// [`ErrorKind::Unavailable`].
///
/// ```
/// use router_kube::client::request_error;
/// let status = kube::core::Status::failure("httproutes.gateway.networking.k8s.io \"web\" not found", "NotFound")
///     .with_code(404);
/// let err = request_error("HTTPRoute default/web", &kube::Error::Api(Box::new(status)));
/// assert_eq!(err.to_string(),
///     "HTTPRoute default/web: 404 NotFound: httproutes.gateway.networking.k8s.io \"web\" not found");
/// assert_eq!(err.kind(), router_core::ErrorKind::NotFound);
/// ```
pub fn request_error(object: impl Into<String>, error: &kube::Error) -> Error {
    let (kind, message) = match error {
        kube::Error::Api(status) => {
            let mut message = status.code.to_string();
            if !status.reason.is_empty() {
                message.push(' ');
                message.push_str(&status.reason);
            }
            if !status.message.is_empty() {
                message.push_str(": ");
                message.push_str(&status.message);
            }
            (ErrorKind::from_http_status(status.code), one_line(&message))
        }
        other => (
            if timed_out(other) {
                ErrorKind::Timeout
            } else {
                ErrorKind::Unavailable
            },
            format!("no answer from the API server: {}", one_line(other)),
        ),
    };
    Error::new(kind, format!("{}: {message}", object.into()))
}

/// Whether a request failed because it ran out of time (an I/O timeout or
/// an elapsed deadline anywhere in its chain of causes).
fn timed_out(error: &kube::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.is::<tokio::time::error::Elapsed>()
        {
            return true;
        }
        let text = e.to_string();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The HTTP status code of an API error, if the server answered.
pub fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// The Kubernetes client cannot be built (no in-cluster service account and
/// no usable `KUBECONFIG`, or TLS or auth set-up failed): a configuration
/// problem of the router's environment.
fn client_error(cause: &dyn std::fmt::Display) -> Error {
    Error::config(format!(
        "cannot build a Kubernetes client: {}",
        one_line(cause)
    ))
}

/// `value`'s message on one line.
fn one_line(value: &dyn std::fmt::Display) -> String {
    value
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A router that talks to the Kubernetes API through an [`Applier`]: the
/// ways to give it one, and its `User-Agent`, in one place. A router
/// implements [`KubeRouter::with_applier`] and names itself; the
/// constructors come with the trait. Every constructor but
/// [`KubeRouter::with_applier`] and [`KubeRouter::from_environment_with`]
/// uses [`ApplierOptions::default`]: no request limit, the watch cache on.
///
/// ```
/// use router_kube::client::KubeRouter;
/// use router_kube::{Applier, ApplierOptions, RequestLimit};
/// struct Echo(Applier);
/// impl KubeRouter for Echo {
///     const PRODUCT: &'static str = "rollgate-echo";
///     const VERSION: &'static str = "1.2.3";
///     fn with_applier(applier: Applier) -> Self {
///         Echo(applier)
///     }
/// }
/// assert_eq!(Echo::user_agent().as_str(), "rollgate-echo/1.2.3");
/// assert!(!Echo::from_environment().0.is_connected());
/// let limited = ApplierOptions {
///     request_limit: Some(RequestLimit { qps: 20.0, burst: 40 }),
///     ..ApplierOptions::default()
/// };
/// assert!(Echo::from_environment_with(limited).is_ok());
/// ```
pub trait KubeRouter: Sized {
    /// The product name in the `User-Agent`, e.g. `rollgate-gatewayapi`.
    const PRODUCT: &'static str;
    /// The version in the `User-Agent` (the router crate's version).
    const VERSION: &'static str;

    /// The router on this applier.
    fn with_applier(applier: Applier) -> Self;

    /// The `User-Agent` of this router's requests: `PRODUCT/VERSION`.
    fn user_agent() -> UserAgent {
        UserAgent::new(Self::PRODUCT, Self::VERSION)
            .expect("a router's product name and version make a valid header value")
    }

    /// The router using this Kubernetes client (its user agent is the
    /// caller's: see [`KubeRouter::user_agent`]).
    fn with_client(client: kube::Client) -> Self {
        Self::with_applier(Applier::new(LazyClient::ready(client)))
    }

    /// [`KubeRouter::with_client`] without the watch cache or a request
    /// limit ([`Applier::uncached`]): every read is a request, which a test
    /// can answer or count.
    fn with_client_uncached(client: kube::Client) -> Self {
        Self::with_applier(Applier::uncached(LazyClient::ready(client)))
    }

    /// [`KubeRouter::with_client`] with these options (e.g. a request
    /// limit).
    ///
    /// # Errors
    ///
    /// As [`KubeRouter::from_environment_with`].
    fn with_client_options(client: kube::Client, options: ApplierOptions) -> Result<Self, Error> {
        Ok(Self::with_applier(Applier::with_options(
            LazyClient::ready(client),
            options,
        )?))
    }

    /// The router whose client is built on first use from the environment
    /// (the in-cluster service account, or `KUBECONFIG`), sending
    /// [`KubeRouter::user_agent`].
    fn from_environment() -> Self {
        Self::with_applier(Applier::new(LazyClient::from_environment(
            Self::user_agent(),
        )))
    }

    /// Like [`KubeRouter::from_environment`], with these options (a plugin
    /// binary's flags: see `ApplierArgs`).
    ///
    /// # Errors
    ///
    /// A [`router_core::ErrorKind::Config`] error when the request limit is
    /// not a positive rate with a burst of at least 1.
    fn from_environment_with(options: ApplierOptions) -> Result<Self, Error> {
        let client = LazyClient::from_environment(Self::user_agent());
        Ok(Self::with_applier(Applier::with_options(client, options)?))
    }

    /// Like [`KubeRouter::from_environment_with`], with a plugin binary's
    /// flags (see `ApplierArgs`): its options and `--route-namespaces`; its
    /// applier's requests and watch caches reported in `registry` when one
    /// is given ([`crate::metrics::KubeMetrics`]), as a plugin binary that
    /// serves metrics (`--metrics-addr`) builds it.
    ///
    /// # Errors
    ///
    /// As [`KubeRouter::from_environment_with`].
    #[cfg(feature = "cli")]
    fn from_args(
        args: crate::ApplierArgs,
        registry: Option<&mut prometheus_client::registry::Registry>,
    ) -> Result<Self, Error> {
        let client = LazyClient::from_environment(Self::user_agent());
        Ok(Self::with_applier(args.applier(client, registry)?))
    }

    /// The router whose client is built on first use from `config`, sending
    /// [`KubeRouter::user_agent`].
    fn from_config(config: kube::Config) -> Self {
        Self::with_applier(Applier::new(LazyClient::from_config(
            config,
            Self::user_agent(),
        )))
    }
}

//! How an [`Applier`](crate::Applier) talks to the API server: its request
//! limit and whether it keeps a watch cache.

/// How fast an applier may send requests to the API server: a steady rate
/// with bursts, like client-go's `QPS` and `Burst`. Every request counts:
/// reads, writes, dry runs, and the list and watch requests of the cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLimit {
    /// Requests per second, sustained.
    pub qps: f64,
    /// Requests that may be sent at once after an idle period.
    pub burst: u32,
}

/// A `--qps` flag's value: a rate of requests, or none at all.
///
/// ```
/// use router_kube::{Qps, RequestLimit};
/// let qps: Qps = "20".parse().unwrap();
/// assert_eq!(qps.limit(None), Some(RequestLimit { qps: 20.0, burst: 20 }));
/// assert_eq!(qps.limit(Some(80)), Some(RequestLimit { qps: 20.0, burst: 80 }));
/// // client-go's and Argo's negative QPS: no client-side limit.
/// assert_eq!("-1".parse::<Qps>().unwrap(), Qps::Unlimited);
/// assert_eq!(Qps::Unlimited.limit(Some(80)), None);
/// assert!("0".parse::<Qps>().unwrap_err().contains("\"0\""));
/// assert!("fast".parse::<Qps>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Qps {
    /// At most this many requests per second, sustained (positive and
    /// finite).
    PerSecond(f64),
    /// No client-side limit, left to the API server's Priority and
    /// Fairness: a negative rate, as client-go's `QPS` and Argo's `--qps`.
    Unlimited,
}

impl Qps {
    /// The request limit at this rate with `burst` requests at once (the
    /// rate rounded up when `None`); `None` when unlimited.
    pub fn limit(self, burst: Option<u32>) -> Option<RequestLimit> {
        match self {
            Self::PerSecond(qps) => Some(RequestLimit {
                qps,
                burst: burst.unwrap_or_else(|| default_burst(qps)),
            }),
            Self::Unlimited => None,
        }
    }
}

impl std::str::FromStr for Qps {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(Self::PerSecond(rate)),
            Ok(rate) if rate < 0.0 => Ok(Self::Unlimited),
            _ => Err(format!(
                "expected a positive number of requests per second such as 40 or 0.5, \
                 or -1 for no client-side limit, found {text:?}"
            )),
        }
    }
}

/// The burst for `qps` when none is given: the rate rounded up (at least 1).
fn default_burst(qps: f64) -> u32 {
    // `qps` is positive and finite (the parser checks); the cast saturates.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let burst = qps.ceil() as u32;
    burst.max(1)
}

/// An applier's options. The default has no request limit and the watch
/// cache on.
///
/// ```
/// use router_kube::ApplierOptions;
/// let options = ApplierOptions::default();
/// assert!(options.watch_cache);
/// assert_eq!(options.request_limit, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApplierOptions {
    /// Wait before each request so as to stay within this limit (none by
    /// default).
    pub request_limit: Option<RequestLimit>,
    /// Read objects from watch caches (a kube-runtime watcher per resource
    /// and namespace, started on first use) instead of one GET per read, so
    /// that an unchanged state costs no request at all. On by default; it
    /// needs `list` and `watch` permission on the resources read (without
    /// it the applier logs once and reads directly).
    pub watch_cache: bool,
}

impl ApplierOptions {
    /// No request limit and no watch cache (`--no-watch-cache`): every read
    /// is a request to the API server, which a test can answer or count.
    ///
    /// ```
    /// use router_kube::ApplierOptions;
    /// let options = ApplierOptions::uncached();
    /// assert!(!options.watch_cache);
    /// assert_eq!(options.request_limit, None);
    /// ```
    pub const fn uncached() -> Self {
        Self {
            request_limit: None,
            watch_cache: false,
        }
    }
}

impl Default for ApplierOptions {
    fn default() -> Self {
        Self {
            request_limit: None,
            watch_cache: true,
        }
    }
}

/// The applier's command-line flags, for every plugin binary to flatten
/// into its own (`#[command(flatten)]`):
///
/// * `--qps RATE`: Kubernetes API requests per second, sustained (default:
///   no limit; a negative rate, as client-go's, is none too). `--kube-qps`
///   is accepted too.
/// * `--burst N`: requests allowed at once after an idle period (needs
///   `--qps`; default: the rate rounded up). `--kube-burst` is accepted too.
/// * `--no-watch-cache`: read every object from the API server instead of
///   watch caches (default: cache on).
/// * `--route-namespaces LIST`: the namespaces besides a rollout's own
///   that its config may make the router touch: `*` (any, the default, as
///   Argo Rollouts' routers), or names separated by commas (empty: the
///   rollout's own only). See [`RouteNamespaces`](crate::RouteNamespaces).
///
/// ```
/// use clap::Parser;
/// use router_kube::{ApplierArgs, ApplierOptions, RequestLimit};
///
/// #[derive(Parser)]
/// struct Args {
///     #[command(flatten)]
///     applier: ApplierArgs,
/// }
/// let args = Args::parse_from(["plugin", "--qps", "20", "--burst", "40"]);
/// assert_eq!(ApplierOptions::from(args.applier), ApplierOptions {
///     request_limit: Some(RequestLimit { qps: 20.0, burst: 40 }),
///     watch_cache: true,
/// });
/// let args = Args::parse_from(["plugin", "--no-watch-cache"]);
/// assert_eq!(args.applier.route_namespaces, router_kube::RouteNamespaces::Any);
/// assert_eq!(ApplierOptions::from(args.applier), ApplierOptions {
///     request_limit: None,
///     watch_cache: false,
/// });
/// let args = Args::parse_from(["plugin", "--route-namespaces="]);
/// assert!(!args.applier.route_namespaces.allows("shop", "gateways"));
/// assert!(Args::try_parse_from(["plugin", "--route-namespaces", "Not_A_Name"]).is_err());
/// assert!(Args::try_parse_from(["plugin", "--qps", "0"]).is_err());
/// let args = Args::parse_from(["plugin", "--qps", "-1", "--burst", "5"]);
/// assert_eq!(ApplierOptions::from(args.applier).request_limit, None);
/// assert!(Args::try_parse_from(["plugin", "--burst", "5"]).is_err());
/// ```
#[cfg(feature = "cli")]
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct ApplierArgs {
    /// Kubernetes API requests per second, sustained (-1: no limit)
    /// [default: no limit]
    #[arg(
        long,
        alias = "kube-qps",
        value_name = "RATE",
        allow_negative_numbers = true
    )]
    pub qps: Option<crate::Qps>,
    /// Kubernetes API requests allowed at once after an idle period
    /// [default: the rate rounded up]
    #[arg(
        long,
        alias = "kube-burst",
        value_name = "N",
        requires = "qps",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub burst: Option<u32>,
    /// Read every object from the API server instead of watch caches (which
    /// need `list` and `watch` permission) [default: cache on]
    #[arg(long)]
    pub no_watch_cache: bool,
    /// The namespaces besides a rollout's own that its config may make the
    /// router touch: * (any) or names separated by commas (empty: the
    /// rollout's own only)
    #[arg(long, value_name = "LIST", default_value = "*")]
    pub route_namespaces: crate::RouteNamespaces,
}

#[cfg(feature = "cli")]
impl ApplierArgs {
    /// An applier over `client` with these flags: its options and the
    /// namespaces its router may touch; its requests and watch caches
    /// reported in `registry` when one is given (`--metrics-addr`).
    ///
    /// # Errors
    ///
    /// As [`Applier::with_options`](crate::Applier::with_options).
    pub fn applier(
        self,
        client: crate::client::LazyClient,
        registry: Option<&mut prometheus_client::registry::Registry>,
    ) -> Result<crate::Applier, router_core::Error> {
        let namespaces = self.route_namespaces.clone();
        let options = self.into();
        let applier = match registry {
            None => crate::Applier::with_options(client, options)?,
            Some(registry) => {
                let metrics = crate::metrics::KubeMetrics::default();
                metrics.register(registry);
                crate::Applier::with_metrics(client, options, &metrics)?
            }
        };
        Ok(applier.with_route_namespaces(namespaces))
    }
}

#[cfg(feature = "cli")]
impl From<ApplierArgs> for ApplierOptions {
    fn from(args: ApplierArgs) -> Self {
        Self {
            request_limit: args.qps.and_then(|qps| qps.limit(args.burst)),
            watch_cache: !args.no_watch_cache,
        }
    }
}

//! One pod's HTTP backend: it answers every request with its version, fails
//! a share of them and delays them as its version's [`Behaviour`] says, and
//! exports Prometheus metrics on `/metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::Error;

/// How the backends of one version answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// The share of requests answered with 500, from 0 to 1.
    pub error_rate: f64,
    /// How long each answer waits before it is sent.
    pub latency: Duration,
}

impl Default for Behaviour {
    /// Every request succeeds at once.
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            latency: Duration::ZERO,
        }
    }
}

/// The behaviour of each version (the image tag of the pod's first
/// container); versions not listed behave as [`Behaviour::default`].
/// Shared by every backend of a runner and read on each request, so a
/// change applies at once.
#[derive(Debug, Clone, Default)]
pub struct Behaviours(Arc<RwLock<BTreeMap<String, Behaviour>>>);

impl Behaviours {
    /// Sets how the backends of `version` answer.
    ///
    /// # Errors
    ///
    /// [`Error::Behaviour`] when the error rate is not a number from 0 to 1.
    ///
    /// ```
    /// use rollgate_dataplane::{Behaviour, Behaviours};
    /// let behaviours = Behaviours::default();
    /// let bad = Behaviour { error_rate: 0.2, latency: std::time::Duration::from_millis(5) };
    /// behaviours.set("2", bad).unwrap();
    /// assert_eq!(behaviours.of("2"), bad);
    /// assert_eq!(behaviours.of("1"), Behaviour::default());
    /// assert!(behaviours.set("3", Behaviour { error_rate: 1.5, ..bad }).is_err());
    /// ```
    pub fn set(&self, version: &str, behaviour: Behaviour) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&behaviour.error_rate) {
            return Err(Error::Behaviour {
                version: version.to_owned(),
                found: behaviour.error_rate.to_string(),
            });
        }
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(version.to_owned(), behaviour);
        Ok(())
    }

    /// How the backends of `version` answer now.
    pub fn of(&self, version: &str) -> Behaviour {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(version)
            .copied()
            .unwrap_or_default()
    }
}

/// The labels of a backend's request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    code: u16,
    version: String,
    pod_template_hash: String,
}

/// Request metrics in Prometheus' text format: the counter
/// `rollgate_backend_requests_total` and the histogram
/// `rollgate_backend_request_duration_seconds`, labelled by `code`,
/// `version` and `pod_template_hash`. Clones share their counts, so the
/// backends given one [`Metrics`] are counted together (one series per
/// version, hash and code, however many pods serve it).
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        });
        registry.register(
            "rollgate_backend_requests",
            "Requests answered, by status code",
            requests.clone(),
        );
        registry.register(
            "rollgate_backend_request_duration_seconds",
            "Time from a request to its answer",
            latency.clone(),
        );
        Self {
            requests,
            latency,
            registry: Arc::new(registry),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Everything counted so far, in Prometheus' text format (OpenMetrics
    /// text, ending in `# EOF`).
    ///
    /// ```
    /// let text = rollgate_dataplane::backend::Metrics::default().encode();
    /// assert!(text.ends_with("# EOF\n"), "{text}");
    /// ```
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn count(&self, labels: &RequestLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.latency.get_or_create(labels).observe(seconds);
    }
}

/// What one backend serves: who it is, how it behaves, what it counted.
struct Served {
    version: String,
    pod_template_hash: String,
    behaviours: Behaviours,
    metrics: Metrics,
    /// Decides which requests fail.
    dice: std::sync::Mutex<SmallRng>,
}

/// Who a backend is: the pod's version and `pod-template-hash` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The image tag of the pod's first container.
    pub version: String,
    /// The pod's `pod-template-hash` label (empty without one).
    pub pod_template_hash: String,
}

/// A backend listening on a pod's address; stopped when dropped.
pub struct Backend {
    /// Where it listens (with the port bound when asked for port 0).
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Listens on `address` (a loopback one) and serves `identity`:
    /// `GET /` answers `<version>\n` (status 200, or 500 for the share of
    /// requests the version's error rate says), `GET /metrics` the
    /// Prometheus metrics `rollgate_backend_requests_total` and
    /// `rollgate_backend_request_duration_seconds`, labelled by `code`,
    /// `version` and `pod_template_hash`.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`] for an address outside 127.0.0.0/8,
    /// [`Error::Listen`] when it cannot be bound.
    pub async fn start(
        address: SocketAddr,
        identity: Identity,
        behaviours: Behaviours,
    ) -> Result<Self, Error> {
        Self::start_counted(address, identity, behaviours, Metrics::default()).await
    }

    /// [`Backend::start`], counting into `metrics` (which `/metrics`
    /// serves), shared with other backends.
    ///
    /// # Errors
    ///
    /// As [`Backend::start`].
    pub async fn start_counted(
        address: SocketAddr,
        identity: Identity,
        behaviours: Behaviours,
        metrics: Metrics,
    ) -> Result<Self, Error> {
        if !address.ip().is_loopback() {
            return Err(Error::NotLoopback(address.to_string()));
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| Error::Listen { address, source })?;
        // Port 0 takes a free port: record the one bound.
        let address = listener
            .local_addr()
            .map_err(|source| Error::Listen { address, source })?;
        let served = Arc::new(Served {
            version: identity.version,
            pod_template_hash: identity.pod_template_hash,
            behaviours,
            metrics,
            dice: std::sync::Mutex::new(SmallRng::seed_from_u64(seed(address))),
        });
        let app = Router::new()
            .route("/", get(answer))
            .route("/metrics", get(metrics_page))
            .with_state(served);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { address, task })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(served): State<Arc<Served>>) -> (StatusCode, String) {
    let started = std::time::Instant::now();
    let behaviour = served.behaviours.of(&served.version);
    if !behaviour.latency.is_zero() {
        tokio::time::sleep(behaviour.latency).await;
    }
    let fails = behaviour.error_rate > 0.0
        && served
            .dice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .random_bool(behaviour.error_rate);
    let code = if fails {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let labels = RequestLabels {
        code: code.as_u16(),
        version: served.version.clone(),
        pod_template_hash: served.pod_template_hash.clone(),
    };
    served
        .metrics
        .count(&labels, started.elapsed().as_secs_f64());
    (code, format!("{}\n", served.version))
}

async fn metrics_page(State(served): State<Arc<Served>>) -> String {
    served.metrics.encode()
}

/// A seed that differs between backends and runs.
fn seed(address: SocketAddr) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one((address, std::time::SystemTime::now()))
}

/// The version a pod serves: the tag of `image` (`example.com/web:2` is
/// `2`; an image without a tag is `latest`, as a container runtime reads
/// it; a digest is left out).
///
/// ```
/// use rollgate_dataplane::backend::version_of;
/// assert_eq!(version_of("example.com/web:2"), "2");
/// assert_eq!(version_of("registry:5000/web"), "latest");
/// assert_eq!(version_of("web:1.4@sha256:abc"), "1.4");
/// ```
pub fn version_of(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let name = image.rsplit('/').next().unwrap_or(image);
    match name.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag.to_owned(),
        _ => "latest".to_owned(),
    }
}

//! A plugin process's Prometheus metrics, served on request only
//! (`--metrics-addr`, [`crate::serve_metered`]).
//!
//! Every family has the prefix `rollgate_plugin`:
//!
//! | Metric | Labels | What |
//! |---|---|---|
//! | `rollgate_plugin_call_duration_seconds` | method, result | histogram of the router's calls ([`CALL_BUCKETS`]); `_count` counts them |
//! | `rollgate_plugin_tokio_alive_tasks` | | tokio tasks alive in the process at scrape time ([`AliveTasks`]) |
//!
//! `method` is the call as the contract names it, in either wire form:
//! `Init`, `Type`, `Apply`, `Verify` (the native protocol), `SetWeight`,
//! `UpdateHash`, `SetHeaderRoute`, `SetMirrorRoute`, `VerifyWeight`,
//! `RemoveManagedRoutes` (Argo's net/rpc calls; its `InitPlugin` is
//! `Init`). `result` is `ok` or the error's kind (`conflict`, `not-found`,
//! `forbidden`, ...: [`router_core::ErrorKind::name`]).
//!
//! The Kubernetes routers add their applier's families to the same
//! registry ([`Metrics::registry`]): API requests per object and verb, and
//! watch cache sizes (`router_kube::metrics`).
//!
//! The endpoint answers `GET /metrics` with Prometheus's text format 0.0.4
//! and 404 elsewhere.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_core::{Error, RolloutContext, TrafficRouter, TrafficTarget, Verified};
use tokio::net::TcpListener;

/// The prefix of every family a plugin serves.
pub const PREFIX: &str = "rollgate_plugin";

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The buckets of `rollgate_plugin_call_duration_seconds`, in seconds: a
/// call answered from the watch cache takes well under a millisecond, one
/// that writes a few milliseconds to a second, one that retries longer.
pub const CALL_BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The labels of one call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    result: &'static str,
}

type Calls = Family<CallLabels, Histogram, fn() -> Histogram>;

fn call_histogram() -> Histogram {
    Histogram::new(CALL_BUCKETS)
}

/// A plugin's registry (prefix [`PREFIX`]) with its call histogram.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls: Calls,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The registry, no call recorded yet.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let calls = Calls::new_with_constructor(call_histogram);
        registry.register_with_unit(
            "call_duration",
            "Traffic-router calls served by this plugin, by method and result",
            Unit::Seconds,
            calls.clone(),
        );
        registry.register_collector(Box::new(AliveTasks));
        Self { registry, calls }
    }

    /// The registry, for the router's own families.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// `router`, recording each of its calls here.
    pub fn metered<R: TrafficRouter>(&self, router: R) -> Metered<R> {
        Metered {
            inner: router,
            calls: self.calls.clone(),
        }
    }

    /// Every family in Prometheus's text format ([`CONTENT_TYPE`]).
    ///
    /// ```
    /// use plugin_proto::metrics::Metrics;
    /// use plugin_proto::TrafficRouter;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let metrics = Metrics::new();
    /// let router = metrics.metered(router_core::test_util::JournalRouter::default());
    /// router.init().await.unwrap();
    /// let text = metrics.encode();
    /// assert!(text.contains(r#"rollgate_plugin_call_duration_seconds_count{method="Init",result="ok"} 1"#));
    /// # });
    /// ```
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// The gauge `tokio_alive_tasks` (under the registry's prefix): the tokio
/// tasks alive in the process, spawned and not yet finished, read from the
/// runtime's own count when the registry is encoded; a leak of tasks shows
/// as a count that keeps rising while the work stays the same.
///
/// Encoded on a tokio runtime's thread (an endpoint's handler), it counts
/// that runtime's tasks; outside any runtime it writes nothing. Shared by
/// the plugins' registry ([`Metrics`]) and `rollgate-controller`'s.
#[derive(Debug, Clone, Copy, Default)]
pub struct AliveTasks;

impl AliveTasks {
    /// The family's name, before the registry's prefix.
    pub const NAME: &'static str = "tokio_alive_tasks";

    /// The tasks alive in the current runtime, `None` outside one.
    pub fn count() -> Option<usize> {
        tokio::runtime::Handle::try_current()
            .ok()
            .map(|runtime| runtime.metrics().num_alive_tasks())
    }
}

impl Collector for AliveTasks {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(count) = Self::count() else {
            return Ok(());
        };
        let metric = encoder.encode_descriptor(
            Self::NAME,
            "Tokio tasks alive in this process (spawned and not yet finished)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX)).encode(metric)
    }
}

/// Where a plugin serves its [`Metrics`]: `--metrics-addr`.
#[derive(Debug)]
pub struct MetricsEndpoint {
    /// The address to listen on, e.g. `127.0.0.1:9102`.
    pub address: SocketAddr,
    /// What it serves.
    pub metrics: Metrics,
}

impl MetricsEndpoint {
    /// An endpoint at `address` with a fresh [`Metrics`].
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            metrics: Metrics::new(),
        }
    }

    /// Its registry, for the router's own families.
    pub fn registry(&mut self) -> &mut Registry {
        self.metrics.registry()
    }
}

/// A listening address that cannot be had.
#[derive(Debug, thiserror::Error)]
#[error("--metrics-addr: cannot listen on {address}: {source}")]
pub struct BindError {
    /// The address.
    pub address: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Listens on the endpoint's address.
pub(crate) async fn bind(address: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| BindError { address, source })
}

/// Answers `GET /metrics` on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!("metrics endpoint: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = answer(&metrics, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("metrics endpoint: {e}");
            }
        });
    }
}

fn answer<B>(metrics: &Metrics, request: &Request<B>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::default());
    if request.uri().path() != "/metrics" {
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    *response.body_mut() = Full::new(Bytes::from(metrics.encode()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(CONTENT_TYPE),
    );
    response
}

/// A router whose every call is timed into `rollgate_plugin_call_duration_seconds`
/// ([`Metrics::metered`]).
#[derive(Debug)]
pub struct Metered<R> {
    inner: R,
    calls: Calls,
}

impl<R> Metered<R> {
    fn record<T>(&self, method: &'static str, started: Instant, result: &Result<T, Error>) {
        let result = match result {
            Ok(_) => "ok",
            Err(e) => e.kind().name(),
        };
        self.calls
            .get_or_create(&CallLabels { method, result })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Times `$call` on the inner router and records it as `$method`.
macro_rules! timed {
    ($self:ident, $method:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.record($method, started, &result);
        result
    }};
}

#[async_trait]
impl<R: TrafficRouter> TrafficRouter for Metered<R> {
    async fn init(&self) -> Result<(), Error> {
        timed!(self, "Init", self.inner.init())
    }

    async fn name(&self) -> Result<String, Error> {
        timed!(self, "Type", self.inner.name())
    }

    async fn apply(&self, rollout: &RolloutContext, target: &TrafficTarget) -> Result<(), Error> {
        timed!(self, "Apply", self.inner.apply(rollout, target))
    }

    async fn verify(
        &self,
        rollout: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, Error> {
        timed!(self, "Verify", self.inner.verify(rollout, target))
    }

    async fn set_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), Error> {
        timed!(
            self,
            "SetWeight",
            self.inner.set_weight(rollout, weight, additional)
        )
    }

    async fn set_header_route(
        &self,
        rollout: &RolloutContext,
        route: &SetHeaderRoute,
    ) -> Result<(), Error> {
        timed!(
            self,
            "SetHeaderRoute",
            self.inner.set_header_route(rollout, route)
        )
    }

    async fn set_mirror_route(
        &self,
        rollout: &RolloutContext,
        route: &SetMirrorRoute,
    ) -> Result<(), Error> {
        timed!(
            self,
            "SetMirrorRoute",
            self.inner.set_mirror_route(rollout, route)
        )
    }

    async fn verify_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<Verified, Error> {
        timed!(
            self,
            "VerifyWeight",
            self.inner.verify_weight(rollout, weight, additional)
        )
    }

    async fn update_hash(
        &self,
        rollout: &RolloutContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> Result<(), Error> {
        timed!(
            self,
            "UpdateHash",
            self.inner
                .update_hash(rollout, canary_hash, stable_hash, additional)
        )
    }

    async fn remove_managed_routes(&self, rollout: &RolloutContext) -> Result<(), Error> {
        timed!(
            self,
            "RemoveManagedRoutes",
            self.inner.remove_managed_routes(rollout)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_answered() {
        let metrics = Metrics::new();
        let get = |path: &str| Request::get(path).body(()).unwrap();
        assert_eq!(answer(&metrics, &get("/metrics")).status(), StatusCode::OK);
        assert_eq!(answer(&metrics, &get("/")).status(), StatusCode::NOT_FOUND);
        let post = Request::post("/metrics").body(()).unwrap();
        assert_eq!(
            answer(&metrics, &post).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[tokio::test]
    async fn calls_are_counted_by_method_and_result() {
        let metrics = Metrics::new();
        let router = metrics.metered(router_core::test_util::JournalRouter::default());
        let ctx = RolloutContext::default();
        router.set_weight(&ctx, 30, &[]).await.unwrap();
        router.set_weight(&ctx, 60, &[]).await.unwrap();
        router.verify_weight(&ctx, 60, &[]).await.unwrap();
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"rollgate_plugin_call_duration_seconds_count{method="SetWeight",result="ok"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"rollgate_plugin_call_duration_seconds_count{method="VerifyWeight",result="ok"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains(r#"method="Apply""#), "{text}");
    }

    /// The gauge's value in `text`.
    fn alive_tasks(text: &str) -> i64 {
        text.lines()
            .find_map(|line| line.strip_prefix("rollgate_plugin_tokio_alive_tasks "))
            .unwrap_or_else(|| panic!("no rollgate_plugin_tokio_alive_tasks in {text}"))
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn alive_tasks_are_served_and_count_a_spawned_task() {
        let metrics = Arc::new(Metrics::new());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::clone(&metrics)));
        let scrape = || async {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            tokio::io::AsyncWriteExt::write_all(
                &mut stream,
                b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            )
            .await
            .unwrap();
            let mut answer = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
                .await
                .unwrap();
            answer
        };
        let before = alive_tasks(&scrape().await);
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move { held.await.ok() });
        let during = scrape().await;
        assert!(
            during.contains("# TYPE rollgate_plugin_tokio_alive_tasks gauge"),
            "{during}"
        );
        assert_eq!(alive_tasks(&during), before + 1, "{during}");
        release.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(alive_tasks(&scrape().await), before);
        server.abort();
    }

    #[test]
    fn alive_tasks_outside_a_runtime_write_nothing() {
        assert!(!Metrics::new().encode().contains("tokio_alive_tasks"));
    }
}

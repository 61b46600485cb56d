//! Prometheus metrics of an [`Applier`](crate::Applier): its Kubernetes API
//! requests and the size of its watch caches.
//!
//! [`KubeMetrics::register`] adds two families to a registry (the plugin
//! binaries' registry has the prefix `rollgate_plugin`):
//!
//! | Metric | Labels | What |
//! |---|---|---|
//! | `k8s_request_total` | kind, namespace, name, verb, status_code | every answered request ([`requests`]: Argo's labels) |
//! | `watch_cache_objects` | resource, namespace | objects held by each watch cache (namespace empty: every namespace) |
//! | `watch_cache_bytes` | resource, namespace | their compressed JSON text, in bytes |
//!
//! The request labels and the tower layer that counts them are shared with
//! rollgate-controller's `controller_clientset_k8s_request_total`.

pub mod requests;

use std::sync::{Arc, Mutex, PoisonError, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::cache::Cache;
pub use requests::{CountRequests, RequestCounts, RequestLabels};

/// The request counts and watch caches of the appliers built with them
/// ([`Applier::with_metrics`](crate::Applier::with_metrics)). Clones share
/// them.
///
/// ```
/// use prometheus_client::registry::Registry;
/// use router_kube::metrics::KubeMetrics;
/// let mut registry = Registry::with_prefix("rollgate_plugin");
/// KubeMetrics::default().register(&mut registry);
/// let mut text = String::new();
/// prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
/// // The request counts appear with the first request counted.
/// assert!(text.contains("# TYPE rollgate_plugin_watch_cache_objects gauge"));
/// assert!(text.contains("# TYPE rollgate_plugin_watch_cache_bytes gauge"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct KubeMetrics {
    requests: Arc<RequestCounts>,
    caches: Arc<Mutex<Vec<Weak<Cache>>>>,
}

impl KubeMetrics {
    /// Adds `k8s_request_total`, `watch_cache_objects` and
    /// `watch_cache_bytes` to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "k8s_request",
            "Kubernetes API requests by resource, namespace, object, verb and status code",
            (*self.requests).clone(),
        );
        registry.register_collector(Box::new(CacheSizes(Arc::clone(&self.caches))));
    }

    /// The layer counting a client's requests.
    pub fn count_requests(&self) -> CountRequests {
        CountRequests(Arc::clone(&self.requests))
    }

    /// Reports `cache`'s size while it lives.
    pub(crate) fn watch(&self, cache: &Arc<Cache>) {
        let mut caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        caches.retain(|c| c.strong_count() > 0);
        caches.push(Arc::downgrade(cache));
    }
}

/// The labels of one watch cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
struct CacheLabels {
    resource: String,
    namespace: String,
}

/// `watch_cache_objects` and `watch_cache_bytes`, read at each scrape.
#[derive(Debug)]
struct CacheSizes(Arc<Mutex<Vec<Weak<Cache>>>>);

impl Collector for CacheSizes {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let caches: Vec<Arc<Cache>> = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut sizes: Vec<(CacheLabels, usize, usize)> = caches
            .iter()
            .flat_map(|cache| cache.sizes())
            .map(|size| {
                let labels = CacheLabels {
                    resource: size.resource,
                    namespace: size.namespace,
                };
                (labels, size.objects, size.bytes)
            })
            .collect();
        sizes.sort();
        let gauge = |n: usize| ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
        let mut objects = encoder.encode_descriptor(
            "watch_cache_objects",
            "Objects held by each watch cache of the Kubernetes applier",
            None,
            MetricType::Gauge,
        )?;
        for (labels, count, _) in &sizes {
            gauge(*count).encode(objects.encode_family(labels)?)?;
        }
        let mut bytes = encoder.encode_descriptor(
            "watch_cache_bytes",
            "Bytes of compressed JSON text held by each watch cache of the Kubernetes applier",
            None,
            MetricType::Gauge,
        )?;
        for (labels, _, size) in &sizes {
            gauge(*size).encode(bytes.encode_family(labels)?)?;
        }
        Ok(())
    }
}

/// `client`, counting each answered request into `counts`.
pub(crate) fn counted(client: kube::Client, counts: CountRequests) -> kube::Client {
    let namespace = client.default_namespace().to_owned();
    kube::Client::new(
        tower::Layer::layer(&counts, ClientService(client)),
        namespace,
    )
}

/// A kube client as a tower service (what it sends, answered as it is).
#[derive(Clone)]
struct ClientService(kube::Client);

impl tower::Service<http::Request<kube::client::Body>> for ClientService {
    type Response = http::Response<kube::client::Body>;
    type Error = kube::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, kube::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), kube::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move { client.send(request).await })
    }
}

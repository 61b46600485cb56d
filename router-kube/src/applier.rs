//! The applier: reads (from the watch cache when it can), plans, writes,
//! and retries when the object changed under it.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GetParams, ListParams, Resource as _};
use kube::core::Selector;
use router_core::Error;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::cache::{Cache, Cached, Watch};
use crate::client::{LazyClient, request_error, status_code};
use crate::limit::{Limiter, limited, limiter};
use crate::metrics::{CountRequests, KubeMetrics, counted};
use crate::namespaces::RouteNamespaces;
use crate::object::{ObjectRef, normalize, resource_version};
use crate::options::ApplierOptions;
use crate::write::{Outcome, Strategy, Write};

/// How many times [`Applier::converge`] reads, plans and writes before it
/// gives up on an object that keeps changing: with the doubling pause, a
/// writer that keeps changing the object for up to about 1.3 s (another
/// controller's burst of updates, on a loaded API server) is outlasted.
pub const WRITE_ATTEMPTS: u32 = 8;

/// The pause after the first lost race; it doubles after each.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Reads and writes Kubernetes objects for routers: one read per object
/// (from the watch cache when it is on and synced), a plan, and at most one
/// write, retried from a fresh read when the object changed under it. Every
/// request waits for the request limit, if one is set.
///
/// Clones share the client, the limit and the caches; the caches' watches
/// stop when the last clone is dropped.
///
/// ```
/// use router_kube::{Applier, ApplierOptions, RequestLimit};
/// use router_kube::client::{LazyClient, UserAgent};
/// let agent = UserAgent::new("rollgate-example", "0.1.0").unwrap();
/// let applier = Applier::new(LazyClient::from_environment(agent.clone()));
/// assert!(applier.options().watch_cache);
/// let limited = ApplierOptions { request_limit: Some(RequestLimit { qps: 0.0, burst: 1 }), watch_cache: false };
/// let err = Applier::with_options(LazyClient::from_environment(agent), limited).unwrap_err();
/// assert_eq!(err.to_string(),
///     "request limit: qps 0 burst 1: expected a positive number of requests per second and a burst of at least 1");
/// ```
#[derive(Clone)]
pub struct Applier {
    inner: Arc<Inner>,
    namespaces: Arc<RouteNamespaces>,
}

struct Inner {
    source: LazyClient,
    options: ApplierOptions,
    limiter: Option<Arc<Limiter>>,
    /// The source's client, behind the limiter when there is one.
    client: OnceCell<kube::Client>,
    cache: Option<Arc<Cache>>,
    /// Where its requests are counted, if anywhere.
    counts: Option<CountRequests>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("connected", &self.is_connected())
            .field("options", &self.inner.options)
            .field("route_namespaces", &self.namespaces)
            .finish()
    }
}

impl Applier {
    /// An applier over `client` with [`ApplierOptions::default`] (no
    /// request limit, the watch cache on).
    pub fn new(client: LazyClient) -> Self {
        Self::build(client, ApplierOptions::default(), None, None)
    }

    /// An applier over `client` with [`ApplierOptions::uncached`]: no
    /// request limit and no watch cache, so that every read is a request.
    pub fn uncached(client: LazyClient) -> Self {
        Self::build(client, ApplierOptions::uncached(), None, None)
    }

    /// An applier over `client` with `options`.
    ///
    /// # Errors
    ///
    /// A request limit whose rate is not positive and finite, or whose
    /// burst is 0.
    pub fn with_options(client: LazyClient, options: ApplierOptions) -> Result<Self, crate::Error> {
        let limiter = options.request_limit.map(limiter).transpose()?;
        Ok(Self::build(client, options, limiter, None))
    }

    /// [`Applier::with_options`], counting every request it sends (its
    /// reads, writes and the watch caches' lists and watches) into
    /// `metrics`, and reporting the size of its watch caches there.
    ///
    /// # Errors
    ///
    /// As [`Applier::with_options`].
    pub fn with_metrics(
        client: LazyClient,
        options: ApplierOptions,
        metrics: &KubeMetrics,
    ) -> Result<Self, crate::Error> {
        let limiter = options.request_limit.map(limiter).transpose()?;
        let applier = Self::build(client, options, limiter, Some(metrics.count_requests()));
        if let Some(cache) = &applier.inner.cache {
            metrics.watch(cache);
        }
        Ok(applier)
    }

    fn build(
        source: LazyClient,
        options: ApplierOptions,
        limiter: Option<Arc<Limiter>>,
        counts: Option<CountRequests>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                cache: options.watch_cache.then(Arc::default),
                options,
                limiter,
                client: OnceCell::new(),
                counts,
            }),
            namespaces: Arc::default(),
        }
    }

    /// The same applier, letting its router touch `namespaces` besides a
    /// rollout's own (default: [`RouteNamespaces::Any`]).
    #[must_use]
    pub fn with_route_namespaces(mut self, namespaces: RouteNamespaces) -> Self {
        self.namespaces = Arc::new(namespaces);
        self
    }

    /// The namespaces its router may touch besides a rollout's own; a
    /// router checks every namespace its config names with
    /// [`RouteNamespaces::check`] before reading anything there.
    pub fn route_namespaces(&self) -> &RouteNamespaces {
        &self.namespaces
    }

    /// Its options.
    pub fn options(&self) -> &ApplierOptions {
        &self.inner.options
    }

    /// Whether the client has been built (it is, on the first request).
    pub fn is_connected(&self) -> bool {
        self.inner.source.is_connected()
    }

    /// The client every request of this applier goes through (behind the
    /// request limit), built now if it is not yet: for requests the
    /// applier does not make itself, such as API discovery.
    ///
    /// # Errors
    ///
    /// A [`router_core::ErrorKind::Config`] error when there is no usable
    /// configuration.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        self.inner
            .client
            .get_or_try_init(|| async {
                let client = self.inner.source.get().await?;
                let client = match &self.inner.limiter {
                    Some(limiter) => limited(client, Arc::clone(limiter)),
                    None => client,
                };
                Ok(match &self.inner.counts {
                    Some(counts) => counted(client, counts.clone()),
                    None => client,
                })
            })
            .await
            .cloned()
    }

    /// Stops the watch caches of `resource` (in every namespace), so that
    /// no more requests go out for it: for a resource no longer used, such
    /// as a kind the API server now serves at another version. A later read
    /// of it starts a new watch. Returns how many watches were stopped (0
    /// without the watch cache).
    pub fn stop_watches(&self, resource: &ApiResource) -> usize {
        self.inner
            .cache
            .as_ref()
            .map_or(0, |cache| cache.stop(resource))
    }

    /// The watch of `resource` in `namespace`, when caching is on.
    async fn watch(
        &self,
        resource: &ApiResource,
        namespace: &str,
    ) -> Result<Option<Arc<Watch>>, Error> {
        match &self.inner.cache {
            Some(cache) => Ok(Some(cache.watch(
                &self.client().await?,
                resource,
                namespace,
            ))),
            None => Ok(None),
        }
    }

    /// The object as it is (`None` when it does not exist), without
    /// `metadata.managedFields`: from the watch cache when it is on and
    /// synced, else with one GET.
    ///
    /// # Errors
    ///
    /// The API server's answer, other than 404, as [`request_error`] words
    /// it.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, Error> {
        let watch = self.watch(&object.resource, &object.namespace).await?;
        if let Some(watch) = &watch
            && let Cached::Synced(cached) = watch.get(&object.name)?
        {
            return Ok(cached);
        }
        self.read_from_server(object, watch.as_deref()).await
    }

    /// One GET, refreshing the cache with what it returns.
    async fn read_from_server(
        &self,
        object: &ObjectRef,
        watch: Option<&Watch>,
    ) -> Result<Option<Value>, Error> {
        let url = DynamicObject::url_path(&object.resource, object.namespace());
        let request = kube::core::Request::new(url)
            .get(&object.name, &GetParams::default())
            .map_err(|e| {
                Error::internal(format!("{}: cannot build the request: {e}", object.label()))
            })?;
        match self.client().await?.request::<Value>(request).await {
            Ok(mut value) => {
                normalize(&object.resource, &mut value);
                if let Some(watch) = watch {
                    watch.refresh(&value);
                }
                Ok(Some(value))
            }
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(e) => Err(request_error(object.label(), &e)),
        }
    }

    /// The objects of `resource` in `namespace` whose labels match
    /// `selector` (every namespace when `namespace` is empty), ordered by
    /// name as the API server orders them: from the watch cache when it is
    /// on and synced, else with one LIST.
    ///
    /// ```
    /// use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    /// use kube::core::Selector;
    /// // A `metav1.LabelSelector` as JSON (matchLabels, matchExpressions) becomes a Selector:
    /// let json = serde_json::json!({"matchLabels": {"app": "web"},
    ///     "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["test"]}]});
    /// let selector: LabelSelector = serde_json::from_value(json).unwrap();
    /// let selector = Selector::try_from(selector).unwrap();
    /// assert_eq!(selector.to_string(), "app=web,tier notin (test)");
    /// ```
    ///
    /// # Errors
    ///
    /// The API server's answer, as [`request_error`] words it.
    pub async fn list(
        &self,
        resource: &ApiResource,
        namespace: &str,
        selector: &Selector,
    ) -> Result<Vec<Value>, Error> {
        let watch = self.watch(resource, namespace).await?;
        if let Some(watch) = &watch
            && let Cached::Synced(found) = watch.list(selector)?
        {
            return Ok(found);
        }
        let label = if namespace.is_empty() {
            format!("listing {}", resource.plural)
        } else {
            format!("listing {} in {namespace}", resource.plural)
        };
        let namespace = Some(namespace).filter(|n| !n.is_empty());
        let url = DynamicObject::url_path(resource, namespace);
        let request = kube::core::Request::new(url)
            .list(&ListParams::default().labels_from(selector))
            .map_err(|e| Error::internal(format!("{label}: cannot build the request: {e}")))?;
        let mut list: Value = self
            .client()
            .await?
            .request(request)
            .await
            .map_err(|e| request_error(&label, &e))?;
        let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) else {
            return Ok(Vec::new());
        };
        let mut items = std::mem::take(items);
        for item in &mut items {
            normalize(resource, item);
        }
        Ok(items)
    }

    /// Makes `object` what `plan` wants: reads it ([`Applier::get`]), asks
    /// `plan` for a write (`None`: it is as wanted) and makes that write,
    /// once. When the write finds the object changed since the read (409,
    /// or a guarded patch whose `test` failed), the object is read again
    /// from the API server (not the cache) and planned again, up to
    /// [`WRITE_ATTEMPTS`] times in all, with a short pause that doubles.
    /// The write's answer refreshes the cache.
    ///
    /// # Errors
    ///
    /// `plan`'s error; a preflight's error (nothing written); the API
    /// server's refusal as [`request_error`] words it (a 422 other than a
    /// failed guard is an [`router_core::ErrorKind::Invalid`] error with the
    /// server's message); a [`router_core::ErrorKind::Conflict`] error when
    /// the object still changed after the last attempt.
    pub async fn converge<F>(&self, object: &ObjectRef, mut plan: F) -> Result<Outcome, Error>
    where
        F: FnMut(Option<&Value>) -> Result<Option<Write>, Error> + Send,
    {
        let watch = self.watch(&object.resource, &object.namespace).await?;
        let mut last = "";
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            let current = if attempt == 0 {
                self.get(object).await?
            } else {
                self.read_from_server(object, watch.as_deref()).await?
            };
            let Some(write) = plan(current.as_ref())? else {
                return Ok(Outcome::Unchanged);
            };
            match self
                .write(object, current.as_ref(), &write, watch.as_deref())
                .await?
            {
                Sent::Done(outcome) => return Ok(outcome),
                Sent::Changed(reason) => {
                    last = reason;
                    tracing::debug!(object = %object.label(), attempt, reason, "changed since it was read; planning again");
                }
            }
        }
        Err(Error::conflict(format!(
            "{}: still changing after {WRITE_ATTEMPTS} attempts (the last write: {last})",
            object.label()
        )))
    }

    /// Sends `write` (after its preflight, if it has one).
    async fn write(
        &self,
        object: &ObjectRef,
        current: Option<&Value>,
        write: &Write,
        watch: Option<&Watch>,
    ) -> Result<Sent, Error> {
        if write.is_empty() {
            return Ok(Sent::Done(Outcome::Unchanged));
        }
        if matches!(write.strategy, Strategy::Delete) && current.is_none() {
            return Ok(Sent::Done(Outcome::Unchanged));
        }
        if let Some(check) = &write.preflight {
            match self.send(object, current, write, true).await? {
                Answer::Object(preview) => check(&preview)?,
                Answer::Changed(reason) => return Ok(Sent::Changed(reason)),
                Answer::Gone => return Ok(Sent::Done(Outcome::Unchanged)),
            }
        }
        match self.send(object, current, write, false).await? {
            Answer::Object(stored) => {
                if let Some(watch) = watch {
                    if matches!(write.strategy, Strategy::Delete) {
                        watch.deleted(&object.name, current.and_then(resource_version));
                    } else {
                        watch.refresh(&stored);
                    }
                }
                Ok(Sent::Done(Outcome::Written))
            }
            Answer::Changed(reason) => Ok(Sent::Changed(reason)),
            Answer::Gone => {
                if let Some(watch) = watch {
                    watch.deleted(&object.name, None);
                }
                Ok(Sent::Done(Outcome::Unchanged))
            }
        }
    }

    /// One request of `write`, its answer sorted.
    async fn send(
        &self,
        object: &ObjectRef,
        current: Option<&Value>,
        write: &Write,
        dry_run: bool,
    ) -> Result<Answer, Error> {
        let request = write.request(object, current, dry_run)?;
        match self.client().await?.request::<Value>(request).await {
            Ok(mut stored) => {
                normalize(&object.resource, &mut stored);
                Ok(Answer::Object(stored))
            }
            Err(e) => match status_code(&e) {
                Some(409) => Ok(Answer::Changed("409 Conflict")),
                Some(422)
                    if matches!(write.strategy, Strategy::GuardedPatch(_)) && failed_guard(&e) =>
                {
                    Ok(Answer::Changed("422, a guard of the patch failed"))
                }
                Some(404) if matches!(write.strategy, Strategy::Delete) => Ok(Answer::Gone),
                _ => Err(request_error(object.label(), &e)),
            },
        }
    }
}

/// What a write came to.
enum Sent {
    Done(Outcome),
    /// The object changed since it was read: read and plan again.
    Changed(&'static str),
}

/// The API server's answer to one write request.
enum Answer {
    /// The object as stored (or as it would be, for a dry run).
    Object(Value),
    /// A conflict or a failed guard.
    Changed(&'static str),
    /// The object to delete is gone.
    Gone,
}

/// Whether a 422 answer to a guarded JSON patch says the patch did not
/// apply: a `test` operation found another value, or a path it names is
/// gone. The API server words every failure to apply a JSON patch with the
/// same generic message and no field causes (kube-apiserver 1.36: "the
/// server rejected our request due to an error in our request"); older
/// servers added the json-patch library's own words ("test failed").
/// Validation failures of the patched object name their fields instead.
fn failed_guard(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    status.message == PATCH_NOT_APPLICABLE
        || status.message.contains("test failed")
        || status.message.contains("test operation does not apply")
}

/// The API server's message for a JSON patch that does not apply.
const PATCH_NOT_APPLICABLE: &str = "the server rejected our request due to an error in our request";

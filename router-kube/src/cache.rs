//! The watch cache: one kube-runtime watcher per (resource, namespace),
//! started on first use, keeping each object compactly (its JSON text
//! without managed fields, LZ4-compressed) and answering reads once it has
//! synced.
//!
//! Until a watch has listed its objects, reads go to the API server. A
//! watch the server refuses (401, 403: no permission; 404, 405: a resource
//! it does not serve) is set aside with one warning: reads of its resource
//! and namespace go to the API server, and the watch is tried again after
//! a pause that doubles from [`REFUSED_PAUSE_FIRST`] to
//! [`REFUSED_PAUSE_MAX`], so that a refusal that passes (the 403s of an API
//! server whose authorizer is still syncing after a restart, a permission
//! granted or a CRD installed later) does not cost the cache for good, and
//! one that stays costs a list every five minutes. A watch that fails for
//! another reason (a dropped connection) is retried with kube-runtime's
//! backoff, and reads go to the API server until it delivers again.
//!
//! Objects the applier reads from the API server or writes refresh the
//! cache when their `resourceVersion` is newer than the cached one, so that
//! the read after a write is not stale (a stale read would plan the same
//! write again).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::{Selector, SelectorExt as _};
use kube::runtime::{WatchStreamExt as _, watcher};
use router_core::Error;
use serde_json::Value;
use tokio::task::AbortHandle;

use crate::object::{normalize, resource_version};
use crate::packed::CompressedJson;

/// An object as the watch cache keeps it: its JSON text (without managed
/// fields) compressed with LZ4, its `resourceVersion` and its labels (for
/// selectors); decompressed and parsed back into a [`Value`] on each read.
/// A `Value` tree costs about ten times its JSON text in
/// memory, the compressed text about half of it (see BENCHMARKS.md).
///
/// ```
/// use router_kube::CachedObject;
/// use serde_json::json;
/// let route = json!({"apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "web", "resourceVersion": "42", "labels": {"app": "web"},
///                  "managedFields": [{"manager": "kubectl"}]},
///     "data": {"weight": "30"}});
/// let cached = CachedObject::new(&route);
/// assert_eq!(cached.resource_version(), "42");
/// let back = cached.to_value().unwrap();
/// assert_eq!(back["data"], json!({"weight": "30"}));
/// assert!(back["metadata"].get("managedFields").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedObject {
    /// The JSON text, compressed.
    text: CompressedJson,
    version: Box<str>,
    labels: Box<[(Box<str>, Box<str>)]>,
}

impl CachedObject {
    /// `object` as kept in the cache (its managed fields dropped).
    pub fn new(object: &Value) -> Self {
        let version = resource_version(object).unwrap_or_default().into();
        let labels = object["metadata"]["labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().into(), v.as_str()?.into())))
                    .collect()
            })
            .unwrap_or_default();
        let text = match object["metadata"].get("managedFields") {
            Some(_) => {
                let mut object = object.clone();
                if let Some(metadata) = object["metadata"].as_object_mut() {
                    metadata.remove("managedFields");
                }
                CompressedJson::from_value(&object)
            }
            None => CompressedJson::from_value(object),
        };
        Self {
            text,
            version,
            labels,
        }
    }

    /// The object, parsed again.
    ///
    /// # Errors
    ///
    /// An internal error if the text does not decompress or parse (it
    /// always does: the cache wrote it).
    pub fn to_value(&self) -> Result<Value, Error> {
        Ok(self.text.decode("a cached object")?)
    }

    /// Its `resourceVersion` (empty when it had none).
    pub fn resource_version(&self) -> &str {
        &self.version
    }

    /// Whether its labels match `selector`.
    pub fn matches(&self, selector: &Selector) -> bool {
        let labels: BTreeMap<String, String> = self
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        selector.matches(&labels)
    }
}

/// Whether `incoming` is a later version than `cached`. Resource versions
/// are etcd revisions (decimal integers) on every API server in use, and
/// compared as such; one that is not an integer counts as newer.
fn newer(incoming: &str, cached: &str) -> bool {
    match (incoming.parse::<u64>(), cached.parse::<u64>()) {
        (Ok(incoming), Ok(cached)) => incoming > cached,
        _ => true,
    }
}

/// What the cache keeps under a name: the object, or the fact that the
/// applier deleted it at that version (until the watch says so too), so
/// that an older event does not bring it back.
#[derive(Debug)]
enum Entry {
    Object(CachedObject),
    Deleted(Box<str>),
}

impl Entry {
    fn version(&self) -> &str {
        match self {
            Self::Object(object) => object.resource_version(),
            Self::Deleted(version) => version,
        }
    }
}

type Objects = HashMap<Box<str>, Entry>;

/// Keeps `entry` under `name` unless what is there is newer.
fn put(objects: &mut Objects, name: &str, entry: Entry) {
    match objects.get_mut(name) {
        Some(cached) if !newer(entry.version(), cached.version()) => {}
        Some(cached) => *cached = entry,
        None => {
            objects.insert(name.into(), entry);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Listing for the first time.
    Filling,
    /// Serving reads.
    Synced,
    /// The watch failed and is being retried: reads go to the server.
    Behind,
    /// The server refused the watch; it is tried again after a pause.
    /// Reads go to the server; nothing is kept.
    Refused,
    /// Stopped: reads go to the server, for good.
    Stopped,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    objects: Objects,
    /// Objects of a list in progress, swapped in when it is done.
    listing: Option<Objects>,
}

/// A watch's answer to a read.
#[derive(Debug)]
pub(crate) enum Cached<T> {
    /// The watch is synced: this is the answer.
    Synced(T),
    /// It is not (yet, or any more): ask the API server.
    NotSynced,
}

/// How much one watch cache holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Size {
    /// The resource (plural).
    pub(crate) resource: String,
    /// The namespace (empty: every namespace).
    pub(crate) namespace: String,
    /// Objects held.
    pub(crate) objects: usize,
    /// Their compressed JSON text, in bytes.
    pub(crate) bytes: usize,
}

/// The cache of one resource in one namespace.
#[derive(Debug)]
pub(crate) struct Watch {
    resource: ApiResource,
    namespace: String,
    label: String,
    state: RwLock<State>,
}

impl Watch {
    fn new(resource: &ApiResource, namespace: &str) -> Self {
        let label = if namespace.is_empty() {
            format!("{} (all namespaces)", resource.plural)
        } else {
            format!("{} in {namespace}", resource.plural)
        };
        Self {
            resource: resource.clone(),
            namespace: namespace.to_owned(),
            label,
            state: RwLock::new(State {
                phase: Phase::Filling,
                objects: Objects::new(),
                listing: None,
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The object `name` (`None` when it does not exist) once the watch has
    /// synced.
    pub(crate) fn get(&self, name: &str) -> Result<Cached<Option<Value>>, Error> {
        let state = self.read();
        if state.phase != Phase::Synced {
            return Ok(Cached::NotSynced);
        }
        match state.objects.get(name) {
            Some(Entry::Object(object)) => object.to_value().map(|v| Cached::Synced(Some(v))),
            Some(Entry::Deleted(_)) | None => Ok(Cached::Synced(None)),
        }
    }

    /// How much it holds now.
    fn size(&self) -> Size {
        let state = self.read();
        let (objects, bytes) = state
            .objects
            .values()
            .filter_map(|entry| match entry {
                Entry::Object(object) => Some(object.text.len()),
                Entry::Deleted(_) => None,
            })
            .fold((0, 0), |(n, total), len| (n + 1, total + len));
        Size {
            resource: self.resource.plural.clone(),
            namespace: self.namespace.clone(),
            objects,
            bytes,
        }
    }

    /// The objects whose labels match `selector`, ordered by name, once the
    /// watch has synced.
    pub(crate) fn list(&self, selector: &Selector) -> Result<Cached<Vec<Value>>, Error> {
        let state = self.read();
        if state.phase != Phase::Synced {
            return Ok(Cached::NotSynced);
        }
        let mut found: Vec<(&str, &CachedObject)> = state
            .objects
            .iter()
            .filter_map(|(name, entry)| match entry {
                Entry::Object(object) if object.matches(selector) => Some((&**name, object)),
                _ => None,
            })
            .collect();
        found.sort_by_key(|(name, _)| *name);
        found
            .into_iter()
            .map(|(_, object)| object.to_value())
            .collect::<Result<_, _>>()
            .map(Cached::Synced)
    }

    /// Keeps `object` (read from or written to the server) if it is newer
    /// than the cached one.
    pub(crate) fn refresh(&self, object: &Value) {
        let Some(name) = object["metadata"]["name"].as_str() else {
            return;
        };
        let mut state = self.write();
        if matches!(state.phase, Phase::Refused | Phase::Stopped) {
            return;
        }
        put(
            &mut state.objects,
            name,
            Entry::Object(CachedObject::new(object)),
        );
    }

    /// Forgets `name`, which the applier deleted at `version`.
    pub(crate) fn deleted(&self, name: &str, version: Option<&str>) {
        let mut state = self.write();
        match version {
            Some(version) => put(&mut state.objects, name, Entry::Deleted(version.into())),
            None => {
                state.objects.remove(name);
            }
        }
    }

    /// Takes in one event of the watcher.
    fn event(&self, event: watcher::Event<DynamicObject>) {
        let mut state = self.write();
        let state = &mut *state;
        match event {
            watcher::Event::Init => state.listing = Some(Objects::new()),
            watcher::Event::InitApply(object) => {
                let listing = state.listing.get_or_insert_with(Objects::new);
                if let Some((name, entry)) = self.entry(&object) {
                    put(listing, &name, entry);
                }
            }
            watcher::Event::InitDone => {
                let mut listed = state.listing.take().unwrap_or_default();
                // What the applier wrote after the list started is newer.
                for (name, entry) in state.objects.drain() {
                    if let Some(listed_entry) = listed.get_mut(&name)
                        && newer(entry.version(), listed_entry.version())
                    {
                        *listed_entry = entry;
                    }
                }
                state.objects = listed;
                match state.phase {
                    Phase::Synced => {}
                    Phase::Refused => {
                        tracing::info!(watch = %self.label, objects = state.objects.len(), "the watch works again; reads are served from its cache");
                    }
                    _ => {
                        tracing::debug!(watch = %self.label, objects = state.objects.len(), "the watch cache is synced");
                    }
                }
                state.phase = Phase::Synced;
            }
            watcher::Event::Apply(object) => {
                if let Some((name, entry)) = self.entry(&object) {
                    put(&mut state.objects, &name, entry);
                }
                state.phase = Phase::Synced;
            }
            watcher::Event::Delete(object) => {
                if let Some(name) = object.metadata.name.as_deref() {
                    state.objects.remove(name);
                }
                state.phase = Phase::Synced;
            }
        }
    }

    /// A watched object as a cache entry, under its name.
    fn entry(&self, object: &DynamicObject) -> Option<(String, Entry)> {
        let name = object.metadata.name.clone()?;
        let mut value = serde_json::to_value(object).ok()?;
        normalize(&self.resource, &mut value);
        Some((name, Entry::Object(CachedObject::new(&value))))
    }

    /// The watch failed; it is retried.
    fn behind(&self, error: &watcher::Error) {
        let mut state = self.write();
        if state.phase == Phase::Synced {
            tracing::info!(watch = %self.label, %error, "the watch failed; reading from the API server until it recovers");
            state.phase = Phase::Behind;
        } else {
            tracing::debug!(watch = %self.label, %error, "the watch failed; retrying");
        }
    }

    /// The watch was stopped: reads that still hold it go to the server.
    fn stop(&self) {
        tracing::debug!(watch = %self.label, "the watch is stopped");
        let mut state = self.write();
        state.phase = Phase::Stopped;
        state.objects = Objects::new();
        state.listing = None;
    }

    /// The server refused the watch: reads go to it until the watch, tried
    /// again after `pause`, lists. Warns the first time only.
    fn refused(&self, error: &watcher::Error, pause: Duration, first: bool) {
        if first {
            tracing::warn!(
                watch = %self.label,
                %error,
                retry_in_s = pause.as_secs_f64(),
                "the API server refuses to list and watch (does this identity have list and \
                 watch permission?); reading from the API server instead, and trying the \
                 watch again later"
            );
        } else {
            tracing::debug!(watch = %self.label, %error, retry_in_s = pause.as_secs_f64(), "the watch is still refused");
        }
        let mut state = self.write();
        state.phase = Phase::Refused;
        state.objects = Objects::new();
        state.listing = None;
    }

    /// Whether the watch serves reads.
    fn synced(&self) -> bool {
        self.read().phase == Phase::Synced
    }
}

/// Whether the server refused the watch: the identity may not list or
/// watch, or the server does not serve the resource. Retrying at once will
/// not help; retrying later may.
fn is_refusal(error: &watcher::Error) -> bool {
    let code = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => crate::client::status_code(e),
        watcher::Error::WatchError(status) => Some(status.code),
        watcher::Error::NoResourceVersion => return true,
    };
    matches!(code, Some(401 | 403 | 404 | 405))
}

/// The pause before a refused watch is tried again the first time: 1 s
/// (an API server's authorizer answers 403 for a few seconds after it
/// restarts).
pub const REFUSED_PAUSE_FIRST: Duration = Duration::from_secs(1);

/// The longest pause between tries of a refused watch: 5 minutes, so a
/// watch refused for good costs one list request per resource and
/// namespace every five minutes.
pub const REFUSED_PAUSE_MAX: Duration = Duration::from_secs(300);

/// The pauses between tries of a refused watch: doubling from
/// [`REFUSED_PAUSE_FIRST`] to [`REFUSED_PAUSE_MAX`], back to the first once
/// the watch has listed.
#[derive(Debug)]
struct RefusedPauses {
    next: Duration,
}

impl RefusedPauses {
    fn new() -> Self {
        Self {
            next: REFUSED_PAUSE_FIRST,
        }
    }

    /// The pause to take now; the following one doubles.
    fn take(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(REFUSED_PAUSE_MAX);
        pause
    }

    /// The pause [`Self::take`] will give.
    fn peek(&self) -> Duration {
        self.next
    }

    fn reset(&mut self) {
        self.next = REFUSED_PAUSE_FIRST;
    }

    /// Whether no pause has been taken since the last reset.
    fn at_first(&self) -> bool {
        self.next == REFUSED_PAUSE_FIRST
    }
}

/// A watch and the task feeding it.
type Running = (Arc<Watch>, AbortHandle);

/// Every watch of an applier, by resource and namespace, with the task
/// feeding it. Dropping it stops them.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    watches: Mutex<HashMap<(ApiResource, String), Running>>,
}

impl Cache {
    /// The watch of `resource` in `namespace` (every namespace when empty),
    /// started over `client` if it is not yet.
    pub(crate) fn watch(
        &self,
        client: &kube::Client,
        resource: &ApiResource,
        namespace: &str,
    ) -> Arc<Watch> {
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (resource.clone(), namespace.to_owned());
        if let Some((watch, _)) = watches.get(&key) {
            return Arc::clone(watch);
        }
        let watch = Arc::new(Watch::new(resource, namespace));
        let api: Api<DynamicObject> = if namespace.is_empty() {
            Api::all_with(client.clone(), resource)
        } else {
            Api::namespaced_with(client.clone(), namespace, resource)
        };
        let task = tokio::spawn(run(api, Arc::clone(&watch)));
        watches.insert(key, (Arc::clone(&watch), task.abort_handle()));
        watch
    }

    /// How much each watch holds.
    pub(crate) fn sizes(&self) -> Vec<Size> {
        let watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        watches.values().map(|(watch, _)| watch.size()).collect()
    }

    /// Stops the watches of `resource` in every namespace; how many there
    /// were. A later read of it starts a new watch.
    pub(crate) fn stop(&self, resource: &ApiResource) -> usize {
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        let before = watches.len();
        watches.retain(|(watched, _), (watch, task)| {
            if watched == resource {
                task.abort();
                watch.stop();
                false
            } else {
                true
            }
        });
        before - watches.len()
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let watches = self
            .watches
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, task) in watches.values() {
            task.abort();
        }
    }
}

/// How many objects one page of the watcher's initial list (and of each
/// relist) holds. Each object of a page is a full `DynamicObject` tree, about
/// ten times its JSON text, until it is converted to the cache's compact
/// form, so the page size bounds the cache's peak memory: with
/// kube-runtime's default of 500, a plugin's heap peaked at 6.7 MiB while
/// its cache of 1,000 HTTPRoutes filled (BENCHMARKS.md). Pages of 50 cost
/// 20 list requests instead of 2 for those routes, once at start.
pub const LIST_PAGE_SIZE: u32 = 50;

/// Feeds `watch` from a watcher for as long as the task runs: a refused
/// watch is started again after a pause ([`RefusedPauses`]).
async fn run(api: Api<DynamicObject>, watch: Arc<Watch>) {
    let config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
    let mut pauses = RefusedPauses::new();
    loop {
        let events = watcher(api.clone(), config.clone()).default_backoff();
        let mut events = std::pin::pin!(events);
        // The watcher's stream ends only on a refusal (below).
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    watch.event(event);
                    if watch.synced() && !pauses.at_first() {
                        pauses.reset();
                    }
                }
                Err(error) if is_refusal(&error) => {
                    // The first refusal since the watch last listed warns.
                    watch.refused(&error, pauses.peek(), pauses.at_first());
                    break;
                }
                Err(error) => watch.behind(&error),
            }
        }
        tokio::time::sleep(pauses.take()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_pauses_double_to_five_minutes_and_start_again_once_listed() {
        let mut pauses = RefusedPauses::new();
        let taken: Vec<u64> = (0..11).map(|_| pauses.take().as_secs()).collect();
        assert_eq!(taken, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        pauses.reset();
        assert!(pauses.at_first());
        assert_eq!(pauses.take(), REFUSED_PAUSE_FIRST);
    }
}

//! A fake API server of config maps on the testkit's mock API: it keeps
//! objects with resource versions, applies guarded JSON patches and
//! replaces as an API server does, lists, and holds each watch open until
//! the test sends an event (or a while passes).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rollgate_testkit::mock_api::{ApiResponse, MockApi, Seen, empty_reply, reply, status};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{COLLECTION, config_map};

/// How long a watch with nothing to send stays open.
const WATCH_HOLD: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    version: u64,
    /// Watch events not yet sent.
    events: Vec<Value>,
    requests: Vec<Seen>,
    /// Every request, never cleared, with when it came.
    all: Vec<Seen>,
    times: Vec<tokio::time::Instant>,
    forbid_list: bool,
}

/// The fake server's state, shared with the test.
#[derive(Clone, Default)]
pub struct Fake {
    state: Arc<Mutex<State>>,
    watch: Arc<Notify>,
}

impl Fake {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A server holding config map `name` with `weight`s, at version 7.
    pub fn with(names: &[(&str, &str)]) -> Self {
        let fake = Self::default();
        {
            let mut state = fake.lock();
            state.version = 7;
            for (name, weight) in names {
                state
                    .objects
                    .insert((*name).to_owned(), config_map(name, 7, weight));
            }
        }
        fake
    }

    /// Lists are refused with 403 (no list permission).
    pub fn forbid_list(&self) {
        self.lock().forbid_list = true;
    }

    /// Lists are allowed again (a permission granted, an authorizer synced).
    pub fn allow_list(&self) {
        self.lock().forbid_list = false;
    }

    /// Someone else sets `name`'s weight; the watch hears of it only when
    /// `tell_watch`.
    pub fn set_weight(&self, name: &str, weight: &str, tell_watch: bool) {
        let mut state = self.lock();
        state.version += 1;
        let object = config_map(name, state.version, weight);
        state.objects.insert(name.to_owned(), object.clone());
        if tell_watch {
            state
                .events
                .push(json!({"type": "MODIFIED", "object": object}));
            drop(state);
            self.watch.notify_waiters();
        }
    }

    /// Sends `event` (`{"type": ..., "object": ...}`) to the open watch,
    /// whatever the server holds.
    pub fn send_event(&self, event: Value) {
        self.lock().events.push(event);
        self.watch.notify_waiters();
    }

    /// How many lists and how many watches the cache has sent in all.
    pub fn lists_and_watches(&self) -> (usize, usize) {
        let state = self.lock();
        let watches = state
            .all
            .iter()
            .filter(|seen| seen.has_query("watch=true"))
            .count();
        let lists = state
            .all
            .iter()
            .filter(|seen| is_cache_request(seen))
            .count()
            - watches;
        (lists, watches)
    }

    /// The shortest time between two requests so far, and how many came.
    pub fn closest_requests(&self) -> (Duration, usize) {
        let state = self.lock();
        let closest = state
            .times
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .min()
            .unwrap_or(Duration::MAX);
        (closest, state.times.len())
    }

    /// `name`'s weight on the server.
    pub fn weight(&self, name: &str) -> String {
        self.lock().objects[name]["data"]["weight"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Every request so far, as `METHOD path?query`, the cache's own list
    /// and watch requests left out.
    pub fn requests(&self) -> Vec<String> {
        self.lock()
            .requests
            .iter()
            .filter(|seen| !is_cache_request(seen))
            .map(|seen| {
                if seen.query.is_empty() {
                    format!("{} {}", seen.method, seen.path)
                } else {
                    format!("{} {}?{}", seen.method, seen.path, seen.query)
                }
            })
            .collect()
    }

    /// The cache's own list and watch requests so far.
    pub fn cache_requests(&self) -> Vec<Seen> {
        self.lock()
            .requests
            .iter()
            .filter(|seen| is_cache_request(seen))
            .cloned()
            .collect()
    }

    /// Forgets the requests so far.
    pub fn clear(&self) {
        self.lock().requests.clear();
    }

    /// Answers `api`'s requests from now on, each in its own task (so that
    /// a held watch does not hold up the rest).
    pub fn serve(&self, mut api: MockApi) {
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((seen, send)) = api.next_within(Duration::from_secs(3600)).await {
                {
                    let mut state = fake.lock();
                    state.requests.push(seen.clone());
                    state.all.push(seen.clone());
                    state.times.push(tokio::time::Instant::now());
                }
                let fake = fake.clone();
                tokio::spawn(async move {
                    let response = fake.answer(&seen).await;
                    send.send_response(response);
                });
            }
        });
    }

    async fn answer(&self, seen: &Seen) -> ApiResponse {
        if seen.has_query("watch=true") {
            return self.answer_watch().await;
        }
        let mut state = self.lock();
        let name = seen.path.rsplit('/').next().unwrap_or_default().to_owned();
        match seen.method.as_str() {
            "GET" if seen.path == COLLECTION => {
                if state.forbid_list {
                    return reply(
                        403,
                        &status(403, "Forbidden", "configmaps is forbidden: cannot list"),
                    );
                }
                let items: Vec<Value> = state.objects.values().cloned().collect();
                reply(
                    200,
                    &json!({"apiVersion": "v1", "kind": "ConfigMapList",
                            "metadata": {"resourceVersion": state.version.to_string()},
                            "items": items}),
                )
            }
            "GET" => match state.objects.get(&name) {
                Some(object) => reply(200, object),
                None => not_found(&name),
            },
            "PATCH" => {
                let Some(mut object) = state.objects.get(&name).cloned() else {
                    return not_found(&name);
                };
                let patch: json_patch::Patch = serde_json::from_value(seen.body.clone()).unwrap();
                if let Err(e) = json_patch::patch(&mut object, &patch) {
                    return reply(
                        422,
                        &status(
                            422,
                            "Invalid",
                            &format!(
                                "the server rejected our request due to an error in our request: {e}: test failed"
                            ),
                        ),
                    );
                }
                store(&mut state, &name, object, seen.has_query("dryRun=All"))
            }
            "PUT" => {
                let Some(current) = state.objects.get(&name) else {
                    return not_found(&name);
                };
                if current["metadata"]["resourceVersion"]
                    != seen.body["metadata"]["resourceVersion"]
                {
                    return reply(
                        409,
                        &status(
                            409,
                            "Conflict",
                            "the object has been modified; please apply your changes to the latest version and try again",
                        ),
                    );
                }
                let object = seen.body.clone();
                store(&mut state, &name, object, seen.has_query("dryRun=All"))
            }
            other => panic!("the fake API server does not answer {other}"),
        }
    }

    /// A watch: the events queued, once there are some (or nothing, after
    /// a while).
    async fn answer_watch(&self) -> ApiResponse {
        let deadline = tokio::time::Instant::now() + WATCH_HOLD;
        loop {
            let notified = self.watch.notified();
            let events = std::mem::take(&mut self.lock().events);
            if !events.is_empty() {
                let mut body = Vec::new();
                for event in events {
                    body.extend(serde_json::to_vec(&event).unwrap());
                    body.push(b'\n');
                }
                return http::Response::builder()
                    .status(200)
                    .body(kube::client::Body::from(body))
                    .unwrap();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return empty_reply();
            }
        }
    }
}

/// Stores `object` as the next version (unless it is a dry run) and
/// answers with it.
fn store(state: &mut State, name: &str, mut object: Value, dry_run: bool) -> ApiResponse {
    let version = state.version + 1;
    object["metadata"]["resourceVersion"] = json!(version.to_string());
    object["metadata"]["managedFields"] = json!([{"manager": "rollgate-test"}]);
    if !dry_run {
        state.version = version;
        state.objects.insert(name.to_owned(), object.clone());
    }
    reply(200, &object)
}

fn not_found(name: &str) -> ApiResponse {
    reply(
        404,
        &status(404, "NotFound", &format!("configmaps \"{name}\" not found")),
    )
}

/// Whether a request is the watch cache's own (a list or a watch).
pub fn is_cache_request(seen: &Seen) -> bool {
    seen.has_query("watch=true") || (seen.method == "GET" && seen.path == COLLECTION)
}

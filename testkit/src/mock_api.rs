//! A scripted Kubernetes API server for asserting a router's requests
//! exactly (feature `mock-api`), on `tower-test`: the test holds a
//! [`MockApi`], the code under test holds a client over its
//! [`MockService`], and the test answers each request in turn.
//!
//! A router call waits for its answers, so it runs concurrently with the
//! script: start it with [`spawn`], answer with [`MockApi::next`], then
//! take its result with [`Call::result`].
//!
//! ```
//! use rollgate_testkit::mock_api::{self, MockApi, reply};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (client, mut api) = MockApi::client();
//! let call = mock_api::spawn(async move {
//!     let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::default_namespaced(client);
//!     pods.get("web").await.map(|pod| pod.metadata.name)
//! });
//! let seen = api
//!     .next(reply(200, &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}})))
//!     .await;
//! assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", "/api/v1/namespaces/default/pods/web"));
//! assert_eq!(call.result().await.unwrap(), Some("web".to_owned()));
//! api.no_more_requests().await;
//! # }
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle, SendResponse};

/// The API server side a client is built over (a `tower::Service`).
pub type MockService = mock::Mock<Request<Body>, Response<Body>>;

/// An answer of the mock API server.
pub type ApiResponse = Response<Body>;

/// How long [`MockApi::next`] waits for a request before failing.
pub const REQUEST_WAIT: Duration = Duration::from_secs(2);

/// How long [`MockApi::no_more_requests`] listens for a stray request.
pub const QUIET_WAIT: Duration = Duration::from_millis(100);

/// How long [`Call::result`] waits for the call to finish.
pub const CALL_WAIT: Duration = Duration::from_secs(10);

/// A request the code under test sent, as the test asserts it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path alone, e.g. `/api/v1/namespaces/default/pods/web`.
    pub path: String,
    /// The query string without `?` (empty when there is none).
    pub query: String,
    /// The path and the query as sent, e.g. `…/web?&fieldManager=x`.
    pub path_and_query: String,
    /// The `content-type` header (empty when absent).
    pub content_type: String,
    /// The `user-agent` header (empty when absent).
    pub user_agent: String,
    /// The body as JSON; `Value::Null` when empty.
    pub body: Value,
}

impl Seen {
    /// Whether the query has the pair `key=value` (e.g. `dryRun=All`).
    pub fn has_query(&self, pair: &str) -> bool {
        self.query.split('&').any(|p| p == pair)
    }

    /// Reads a request's parts and body.
    ///
    /// # Panics
    ///
    /// On a body that cannot be read or is not JSON: the code under test
    /// sent something no API server accepts.
    pub async fn read(request: Request<Body>) -> Self {
        let (parts, body) = request.into_parts();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().expect("an ASCII header").to_owned())
                .unwrap_or_default()
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default();
        let bytes = body.collect_bytes().await.expect("a readable request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON request body")
        };
        Self {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            path_and_query,
            content_type: header("content-type"),
            user_agent: header("user-agent"),
            body,
        }
    }
}

/// A response with `status` and `body` as JSON.
pub fn reply(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(
            serde_json::to_vec(body).expect("JSON serialises"),
        ))
        .expect("a valid status code")
}

/// An empty `200` response (e.g. a watch that ends at once).
pub fn empty_reply() -> Response<Body> {
    Response::builder()
        .status(200)
        .body(Body::empty())
        .expect("a valid response")
}

/// The body of an API error as the API server sends it (a `Status` of
/// kind `Failure`): `status(404, "NotFound", "pods \"web\" not found")`.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
           "reason": reason, "message": message, "code": code})
}

/// The test's side of the mock API server.
pub struct MockApi {
    handle: Handle<Request<Body>, Response<Body>>,
}

impl MockApi {
    /// A mock API server and the service to build a client over (for a
    /// client with its own layers, e.g. a router's user agent).
    pub fn new() -> (MockService, Self) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        (service, Self { handle })
    }

    /// A mock API server and a plain client over it, default namespace
    /// `default`.
    pub fn client() -> (kube::Client, Self) {
        let (service, api) = Self::new();
        (kube::Client::new(service, "default"), api)
    }

    /// Expects the next request within [`REQUEST_WAIT`], answers it with
    /// `response` and returns what was sent.
    ///
    /// # Panics
    ///
    /// When no request comes.
    pub async fn next(&mut self, response: Response<Body>) -> Seen {
        self.next_with(|_| response).await
    }

    /// Like [`MockApi::next`], with an answer made from the request (e.g.
    /// the object after the patch it carries).
    ///
    /// # Panics
    ///
    /// When no request comes.
    pub async fn next_with(&mut self, answer: impl FnOnce(&Seen) -> Response<Body>) -> Seen {
        let (request, send) = tokio::time::timeout(REQUEST_WAIT, self.handle.next_request())
            .await
            .expect("a request within 2 s")
            .expect("the code under test sent a request");
        let seen = Seen::read(request).await;
        send.send_response(answer(&seen));
        seen
    }

    /// The next request if one comes within `wait`, with the means to
    /// answer it; `None` otherwise.
    pub async fn next_within(
        &mut self,
        wait: Duration,
    ) -> Option<(Seen, SendResponse<Response<Body>>)> {
        match tokio::time::timeout(wait, self.handle.next_request()).await {
            Ok(Some((request, send))) => Some((Seen::read(request).await, send)),
            Ok(None) | Err(_) => None,
        }
    }

    /// Answers every request with `answer` until none comes for `quiet`;
    /// returns them in order.
    pub async fn answer_until_quiet(
        &mut self,
        quiet: Duration,
        mut answer: impl FnMut(&Seen) -> Response<Body>,
    ) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some((request, send)) = self.next_within(quiet).await {
            send.send_response(answer(&request));
            seen.push(request);
        }
        seen
    }

    /// Asserts that no request comes within `wait`.
    ///
    /// # Panics
    ///
    /// When one does, naming it.
    pub async fn assert_quiet_for(&mut self, wait: Duration) {
        if let Some((seen, _)) = self.next_within(wait).await {
            panic!(
                "unexpected request: {} {}",
                seen.method, seen.path_and_query
            );
        }
    }

    /// Asserts that no request comes within [`QUIET_WAIT`].
    ///
    /// # Panics
    ///
    /// When one does, naming it.
    pub async fn no_more_requests(&mut self) {
        self.assert_quiet_for(QUIET_WAIT).await;
    }

    /// Answers every request from now on with `answer`, in the
    /// background (for code that sends requests in an order not worth
    /// scripting, e.g. discovery); the [`Served`] log records them.
    pub fn serve(self, mut answer: impl FnMut(&Seen) -> Response<Body> + Send + 'static) -> Served {
        self.serve_async(move |seen| std::future::ready(answer(seen)))
    }

    /// Like [`MockApi::serve`], with an answer that may take its time (e.g.
    /// a watch that ends after a while, so that a watcher does not spin).
    pub fn serve_async<F>(mut self, mut answer: impl FnMut(&Seen) -> F + Send + 'static) -> Served
    where
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let served = Served::default();
        let log = served.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = self.handle.next_request().await {
                let seen = Seen::read(request).await;
                let response = answer(&seen);
                log.push(seen);
                send.send_response(response.await);
            }
        });
        served
    }
}

impl MockApi {
    /// Answers from `objects` in the background, as an API server holding
    /// them would for a watch cache: a GET of a name is that object, a list
    /// (a collection path ending in an object kind's plural) is those
    /// objects at resourceVersion 10, and a watch stays open with nothing to
    /// tell (for 30 s). Writes are not answered: a test of an unchanged
    /// state asserts that none is sent.
    pub fn serve_objects(self, objects: Vec<Value>) -> Served {
        self.serve_async(move |seen| {
            let response = if seen.has_query("watch=true") {
                None
            } else if let Some(object) = objects.iter().find(|o| {
                let name = o["metadata"]["name"].as_str().unwrap_or_default();
                seen.path.ends_with(&format!("/{name}"))
            }) {
                Some(reply(200, object))
            } else {
                let items: Vec<Value> = objects
                    .iter()
                    .filter(|o| {
                        let kind = o["kind"].as_str().unwrap_or_default();
                        seen.path.ends_with(&collection(kind))
                    })
                    .cloned()
                    .collect();
                let list = json!({"apiVersion": "v1", "kind": "List",
                    "metadata": {"resourceVersion": "10"}, "items": items});
                Some(reply(200, &list))
            };
            async move {
                match response {
                    Some(response) => response,
                    None => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        empty_reply()
                    }
                }
            }
        })
    }
}

/// `/<plural>` of `kind` as it ends a collection's path (`Ingress` ->
/// `/ingresses`, `VirtualService` -> `/virtualservices`).
fn collection(kind: &str) -> String {
    let kind = kind.to_lowercase();
    if kind.ends_with('s') {
        format!("/{kind}es")
    } else {
        format!("/{kind}s")
    }
}

/// The requests a [`MockApi::serve`] loop has answered, in order.
#[derive(Clone, Default)]
pub struct Served {
    requests: Arc<Mutex<Vec<Seen>>>,
}

impl Served {
    fn push(&self, seen: Seen) {
        self.lock().push(seen);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The requests so far, each as `METHOD path`.
    pub fn lines(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|seen| format!("{} {}", seen.method, seen.path))
            .collect()
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().clone()
    }

    /// Forgets the requests so far.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// A call of the code under test running concurrently with the script.
pub struct Call<T> {
    task: JoinHandle<T>,
}

/// Starts `call` on the runtime, so that the test can answer its requests.
pub fn spawn<T: Send + 'static>(call: impl Future<Output = T> + Send + 'static) -> Call<T> {
    Call {
        task: tokio::spawn(call),
    }
}

impl<T> Call<T> {
    /// The call's result, once it has finished (within [`CALL_WAIT`]).
    ///
    /// # Panics
    ///
    /// When the call panicked, or is still running after [`CALL_WAIT`]
    /// (most likely waiting for an answer to a request the script did not
    /// expect): a failing test, not a hanging one.
    pub async fn result(self) -> T {
        tokio::time::timeout(CALL_WAIT, self.task)
            .await
            .expect(
                "the call finishes within 10 s (is it waiting for an unexpected request's answer?)",
            )
            .expect("the call did not panic")
    }
}

//! A fault-injecting HTTP proxy in front of kube-apiserver.
//!
//! The proxy listens on plain HTTP/1.1 on 127.0.0.1 and forwards every
//! request to the API server over TLS with kube's client, which trusts the
//! cluster's CA. The `Authorization` header of a request goes through
//! unchanged, so a controller keeps its own identity (and its RBAC) behind
//! the proxy; a request without one gets the credentials of the proxy's
//! kubeconfig (client-go, as in Argo's controller, sends no bearer token to
//! a plain-HTTP server). Terminating TLS this way is
//! what lets it answer with an HTTP status, delay a request or end a watch
//! stream at a chosen moment; a TCP pass-through could only cut bytes.
//!
//! The [`Fault`] in effect is switched at run time with [`Proxy::set`]. The
//! proxy is bounded ([`MAX_CONNECTIONS`] connections, [`MAX_REQUEST_BODY`]
//! bytes per request body) and stops, closing every connection, when
//! dropped.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, BodyStream, Full, Limited, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The most connections the proxy holds open at once; more wait.
pub const MAX_CONNECTIONS: usize = 256;

/// The largest request body forwarded (16 MiB, above the API server's own
/// 3 MiB object limit); a larger one is answered 413.
pub const MAX_REQUEST_BODY: usize = 16 << 20;

/// What the proxy does to the requests it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Nothing: every request is forwarded as it is.
    #[default]
    Pass,
    /// One request in `one_in` is answered `503 Service Unavailable` with a
    /// Kubernetes `Status` body, as an API server that lost etcd answers;
    /// the others are forwarded.
    ServerError {
        /// 1 for every request, 2 for every second one, ...
        one_in: u32,
    },
    /// One request in `one_in` is answered `429 Too Many Requests` with
    /// `Retry-After: <retry_after_seconds>`, as API priority and fairness
    /// rejects a request.
    TooManyRequests {
        /// The `Retry-After` header, in seconds.
        retry_after_seconds: u32,
        /// 1 for every request, 2 for every second one, ...
        one_in: u32,
    },
    /// Every request waits this long before it is forwarded.
    Latency(Duration),
    /// Watch streams (`watch=true`) end cleanly this long after they start,
    /// as an API server ends them on its own timeout; the ones open when
    /// the fault is set end at once.
    DropWatches {
        /// How long a watch stream may stay open.
        after: Duration,
    },
    /// One request in `one_in` has its connection reset (TCP RST, no
    /// answer); setting it resets every open connection.
    Reset {
        /// 1 for every request, 2 for every second one, ...
        one_in: u32,
    },
}

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyStats {
    /// Requests received.
    pub requests: u64,
    /// Requests answered with an error status, delayed, cut or reset by a
    /// [`Fault`].
    pub faulted: u64,
    /// Connections accepted.
    pub connections: u64,
}

/// The proxy; stops when dropped.
pub struct Proxy {
    port: u16,
    state: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    kubeconfig: Mutex<Option<PathBuf>>,
}

struct Shared {
    /// For requests with their own `Authorization`: no credentials added.
    upstream: kube::Client,
    /// For requests without: the kubeconfig's credentials.
    credentialed: kube::Client,
    /// The fault in effect, with a generation bumped on every change, which
    /// open connections and watch streams follow.
    fault: watch::Sender<(u64, Fault)>,
    requests: AtomicU64,
    faulted: AtomicU64,
    connections: AtomicU64,
}

/// A response body: forwarded frames, or a whole answer of the proxy's.
type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

impl Proxy {
    /// A proxy in front of the API server of `KUBECONFIG` (the real-cluster
    /// tier's), listening on a free port of 127.0.0.1.
    ///
    /// # Panics
    ///
    /// When the kubeconfig cannot be read or no port is free.
    pub async fn for_cluster() -> Self {
        let config = kube::Config::infer()
            .await
            .expect("a KUBECONFIG (scripts/cluster env)");
        Self::start(config).await
    }

    /// A proxy forwarding to the server of `config`, trusting its CA; its
    /// credentials go only with requests that carry none of their own.
    ///
    /// # Panics
    ///
    /// When the client cannot be built or no loopback port is free.
    pub async fn start(mut config: kube::Config) -> Self {
        // Watches are long; the client of each request decides its timeouts.
        config.read_timeout = None;
        config.write_timeout = None;
        let credentialed =
            kube::Client::try_from(config.clone()).expect("a client for the API server");
        config.auth_info = kube::config::AuthInfo::default();
        let upstream = kube::Client::try_from(config).expect("a client for the API server");
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let state = Arc::new(Shared {
            upstream,
            credentialed,
            fault: watch::Sender::new((0, Fault::Pass)),
            requests: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&state)));
        Self {
            port,
            state,
            task,
            kubeconfig: Mutex::new(None),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Puts `fault` in effect from now on.
    pub fn set(&self, fault: Fault) {
        self.state.fault.send_modify(|(generation, f)| {
            *generation += 1;
            *f = fault;
        });
    }

    /// The fault in effect.
    pub fn fault(&self) -> Fault {
        self.state.fault.borrow().1
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            requests: self.state.requests.load(Ordering::Relaxed),
            faulted: self.state.faulted.load(Ordering::Relaxed),
            connections: self.state.connections.load(Ordering::Relaxed),
        }
    }

    /// A kubeconfig file that is `source`'s (its users and their
    /// credentials) with every cluster's server replaced by the proxy;
    /// removed when the proxy is dropped.
    ///
    /// # Panics
    ///
    /// When `source` is not a readable kubeconfig or the file cannot be
    /// written.
    pub fn kubeconfig_from(&self, source: &Path) -> PathBuf {
        let text = std::fs::read_to_string(source)
            .unwrap_or_else(|e| panic!("read kubeconfig {}: {e}", source.display()));
        let mut config: Value = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", source.display()));
        for cluster in config["clusters"].as_array_mut().into_iter().flatten() {
            cluster["cluster"] = json!({"server": self.url()});
        }
        let file = std::env::temp_dir().join(format!(
            "rollgate-proxy-{}-{}.kubeconfig",
            std::process::id(),
            self.port
        ));
        std::fs::write(&file, config.to_string()).expect("write the proxy's kubeconfig");
        let mut owned = self
            .kubeconfig
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = owned.replace(file.clone())
            && old != file
        {
            let _ = std::fs::remove_file(old);
        }
        file
    }

    /// [`Proxy::kubeconfig_from`] the test's `KUBECONFIG`.
    ///
    /// # Panics
    ///
    /// As [`Proxy::kubeconfig_from`], or without `KUBECONFIG`.
    pub fn kubeconfig(&self) -> PathBuf {
        let source = std::env::var_os("KUBECONFIG").expect("KUBECONFIG (scripts/cluster env)");
        self.kubeconfig_from(Path::new(&source))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task owns every connection task: aborting it closes them.
        self.task.abort();
        if let Some(file) = self
            .kubeconfig
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = std::fs::remove_file(file);
        }
    }
}

async fn accept(listener: TcpListener, state: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        state.connections.fetch_add(1, Ordering::Relaxed);
        // Closing with linger 0 sends a reset rather than a FIN: a dropped
        // connection under Fault::Reset is a reset one.
        let _ = stream.set_zero_linger();
        let state = Arc::clone(&state);
        connections.spawn(async move {
            serve(stream, state).await;
            drop(permit);
        });
    }
}

/// Serves one connection until it ends or [`Fault::Reset`] is set, which
/// drops it (a reset, as its linger is 0).
async fn serve(stream: TcpStream, state: Arc<Shared>) {
    let mut faults = state.fault.subscribe();
    let service_state = Arc::clone(&state);
    let service = hyper::service::service_fn(move |request| {
        let state = Arc::clone(&service_state);
        async move { handle(request, state).await }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            changed = faults.changed() => {
                if changed.is_err() || matches!(faults.borrow_and_update().1, Fault::Reset { .. }) {
                    return;
                }
            }
        }
    }
}

/// Whether this request (the `n`th, from 1) is one of the `one_in`.
fn chosen(n: u64, one_in: u32) -> bool {
    n.is_multiple_of(u64::from(one_in.max(1)))
}

/// The error a [`Fault::Reset`] request ends its connection with.
#[derive(Debug)]
struct ResetByFault;

impl std::fmt::Display for ResetByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}

impl std::error::Error for ResetByFault {}

async fn handle(
    request: Request<Incoming>,
    state: Arc<Shared>,
) -> Result<Response<ProxyBody>, ResetByFault> {
    let n = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (generation, fault) = *state.fault.borrow();
    let watching = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    });
    match fault {
        Fault::ServerError { one_in } if chosen(n, one_in) => {
            state.faulted.fetch_add(1, Ordering::Relaxed);
            return Ok(status(StatusCode::SERVICE_UNAVAILABLE, None));
        }
        Fault::TooManyRequests {
            retry_after_seconds,
            one_in,
        } if chosen(n, one_in) => {
            state.faulted.fetch_add(1, Ordering::Relaxed);
            return Ok(status(
                StatusCode::TOO_MANY_REQUESTS,
                Some(retry_after_seconds),
            ));
        }
        Fault::Reset { one_in } if chosen(n, one_in) => {
            state.faulted.fetch_add(1, Ordering::Relaxed);
            return Err(ResetByFault);
        }
        Fault::Latency(delay) => {
            state.faulted.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
        _ => {}
    }
    let (mut parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(status(StatusCode::PAYLOAD_TOO_LARGE, None)),
    };
    for hop in [
        header::HOST,
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
    ] {
        parts.headers.remove(hop);
    }
    parts.headers.remove("keep-alive");
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".parse().unwrap(), |p| p.as_str().parse().unwrap());
    let client = if parts.headers.contains_key(header::AUTHORIZATION) {
        &state.upstream
    } else {
        &state.credentialed
    };
    let upstream = match client
        .send(Request::from_parts(parts, kube::client::Body::from(body)))
        .await
    {
        Ok(response) => response,
        Err(e) => {
            return Ok(status_with(
                StatusCode::BAD_GATEWAY,
                None,
                &format!("the fault proxy could not reach the API server: {e}"),
            ));
        }
    };
    let (parts, body) = upstream.into_parts();
    let frames = BodyStream::new(body)
        .map(|frame| frame.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>));
    let body: ProxyBody = if watching {
        UnsyncBoxBody::new(StreamBody::new(cut_watch(
            frames,
            state.fault.subscribe(),
            generation,
            &state,
        )))
    } else {
        UnsyncBoxBody::new(StreamBody::new(frames))
    };
    Ok(Response::from_parts(parts, body))
}

/// The frames of a watch stream, ended early under [`Fault::DropWatches`]:
/// `after` its start if the fault was in effect then, at once if it is set
/// later.
fn cut_watch<S>(
    frames: S,
    mut faults: watch::Receiver<(u64, Fault)>,
    started_in: u64,
    state: &Arc<Shared>,
) -> impl futures::Stream<Item = S::Item> + Send + 'static
where
    S: futures::Stream + Send + 'static,
    S::Item: Send,
{
    let state = Arc::clone(state);
    let cut = async move {
        loop {
            let (generation, fault) = *faults.borrow_and_update();
            if let Fault::DropWatches { after } = fault {
                if generation == started_in {
                    tokio::time::sleep(after).await;
                }
                state.faulted.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if faults.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    frames.take_until(Box::pin(cut))
}

fn status(code: StatusCode, retry_after: Option<u32>) -> Response<ProxyBody> {
    let message = match code {
        StatusCode::TOO_MANY_REQUESTS => "too many requests (injected by the fault proxy)",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is over 16 MiB",
        _ => "service unavailable (injected by the fault proxy)",
    };
    status_with(code, retry_after, message)
}

/// A Kubernetes `Status` answer with `code` and `message`.
fn status_with(code: StatusCode, retry_after: Option<u32>, message: &str) -> Response<ProxyBody> {
    let reason = match code {
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
        StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
        _ => "ServiceUnavailable",
    };
    let mut details = json!({});
    if let Some(seconds) = retry_after {
        details["retryAfterSeconds"] = json!(seconds);
    }
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason,
        "details": details, "code": code.as_u16()});
    let mut response = Response::new(UnsyncBoxBody::new(
        Full::new(Bytes::from(body.to_string())).map_err(|e: Infallible| match e {}),
    ));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;

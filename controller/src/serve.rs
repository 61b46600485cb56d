//! The controller's HTTP endpoints: `/metrics` on the metrics port, and
//! `/healthz` and `/readyz` on the health port (Argo's 8090 and 8080).
//!
//! * `/healthz` answers 200 `ok` while the process runs, as Argo's.
//! * `/readyz` answers 200 `ok` when the controller can do its work: a
//!   standby waiting for the Lease is ready (whether or not a process leads
//!   does not decide its readiness), and a controller that runs is ready
//!   once its Rollout, ReplicaSet and Service caches are filled; before
//!   that it answers 503 `caches not synced`.
//! * `/metrics` is [`crate::metrics::Metrics::encode`].
//!
//! Any other path is 404.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{CONTENT_TYPE, Metrics};

/// A port that cannot be listened on.
#[derive(Debug, thiserror::Error)]
#[error("--{flag}: cannot listen on {address}: {source}")]
pub struct BindError {
    /// The flag that gave the port.
    pub flag: &'static str,
    /// The address.
    pub address: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Listens on `address:port`, the port given by `flag`.
pub async fn bind(
    flag: &'static str,
    address: IpAddr,
    port: u16,
) -> Result<TcpListener, BindError> {
    let address = SocketAddr::new(address, port);
    TcpListener::bind(address)
        .await
        .map_err(|source| BindError {
            flag,
            address,
            source,
        })
}

type Check = Arc<dyn Fn() -> bool + Send + Sync>;

/// Whether `/readyz` says ready; set by the run loop as the process
/// becomes a standby or starts the controller.
#[derive(Clone, Default)]
pub struct Readiness(Arc<Mutex<Option<Check>>>);

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Readiness").field(&self.is_ready()).finish()
    }
}

impl Readiness {
    /// A standby, waiting for the Lease: ready.
    pub fn standby(&self) {
        if let Ok(mut check) = self.0.lock() {
            *check = None;
        }
    }

    /// A running controller: ready when `caches_filled` says so.
    pub fn running(&self, caches_filled: impl Fn() -> bool + Send + Sync + 'static) {
        if let Ok(mut check) = self.0.lock() {
            *check = Some(Arc::new(caches_filled));
        }
    }

    /// Whether `/readyz` answers 200.
    ///
    /// ```
    /// use rollgate_controller::serve::Readiness;
    /// let readiness = Readiness::default();
    /// assert!(readiness.is_ready());
    /// readiness.running(|| false);
    /// assert!(!readiness.is_ready());
    /// readiness.standby();
    /// assert!(readiness.is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        let check = self.0.lock().ok().and_then(|c| c.clone());
        check.is_none_or(|filled| filled())
    }
}

/// The routes of the metrics port.
pub fn metrics_routes(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()) }
        }),
    )
}

/// The routes of the health port.
pub fn health_routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = readiness.is_ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
                    }
                }
            }),
        )
}

/// Serves `routes` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    routes: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let address = listener.local_addr().ok();
    if let Err(e) = axum::serve(listener, routes)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(address = ?address, error = %e, "the HTTP server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One HTTP/1.1 GET on loopback; the status line and the body.
    async fn get(port: u16, path: &str) -> (String, String) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer.lines().next().unwrap_or_default().to_owned();
        let body = answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        (status, body)
    }

    async fn start(routes: Router) -> (u16, tokio_util::sync::CancellationToken) {
        let listener = bind("test-port", IpAddr::from([127, 0, 0, 1]), 0)
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(serve(listener, routes, stop.clone().cancelled_owned()));
        (port, stop)
    }

    #[tokio::test]
    async fn health_answers_as_the_readiness_says() {
        let readiness = Readiness::default();
        let (port, stop) = start(health_routes(readiness.clone())).await;
        assert_eq!(
            get(port, "/healthz").await,
            ("HTTP/1.1 200 OK".into(), "ok".into())
        );
        assert_eq!(get(port, "/readyz").await.0, "HTTP/1.1 200 OK");
        readiness.running(|| false);
        assert_eq!(
            get(port, "/readyz").await,
            (
                "HTTP/1.1 503 Service Unavailable".into(),
                "caches not synced".into()
            )
        );
        assert_eq!(get(port, "/healthz").await.0, "HTTP/1.1 200 OK");
        assert_eq!(get(port, "/metrics").await.0, "HTTP/1.1 404 Not Found");
        stop.cancel();
    }

    #[tokio::test]
    async fn metrics_are_served_as_prometheus_text() {
        let metrics = Arc::new(Metrics::new());
        metrics.reconciled("shop", "web", std::time::Duration::from_millis(1), false);
        let (port, stop) = start(metrics_routes(metrics)).await;
        let (status, body) = get(port, "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            body.contains(r#"rollout_reconcile_count{namespace="shop",name="web"} 1"#),
            "{body}"
        );
        stop.cancel();
    }

    /// `rollgate_controller_tokio_alive_tasks` as served now.
    async fn alive_tasks(port: u16) -> i64 {
        let (_, body) = get(port, "/metrics").await;
        assert!(
            body.contains("# TYPE rollgate_controller_tokio_alive_tasks gauge"),
            "{body}"
        );
        body.lines()
            .find_map(|line| line.strip_prefix("rollgate_controller_tokio_alive_tasks "))
            .unwrap_or_else(|| panic!("no alive tasks in {body}"))
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn alive_tasks_count_a_spawned_task_until_it_ends() {
        let (port, stop) = start(metrics_routes(Arc::new(Metrics::new()))).await;
        let before = alive_tasks(port).await;
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move { held.await.ok() });
        assert_eq!(alive_tasks(port).await, before + 1);
        release.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(alive_tasks(port).await, before);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_port_in_use_is_an_error_naming_the_flag() {
        let taken = bind("metrics-port", IpAddr::from([127, 0, 0, 1]), 0)
            .await
            .unwrap();
        let port = taken.local_addr().unwrap().port();
        let error = bind("metrics-port", IpAddr::from([127, 0, 0, 1]), port)
            .await
            .unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "--metrics-port: cannot listen on 127.0.0.1:{port}: "
            )),
            "{error}"
        );
    }
}

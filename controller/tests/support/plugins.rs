//! External traffic-router plugins for the controller's tests: the journal
//! router, registered in the test namespace's `argo-rollouts-config` and,
//! for downloads, served over HTTP on loopback.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rollgate_testkit::{Cluster, RollgateController};
use serde_json::json;

use super::Controller;

/// The journal router binary, built for this test if it is not yet.
pub(crate) fn journal_router() -> PathBuf {
    rollgate_testkit::workspace_binary("plugin-proto", "rollgate-journal-router")
}

/// Writes `plugins` (the YAML list) as `trafficRouterPlugins` of the
/// `argo-rollouts-config` ConfigMap in the test's namespace.
pub(crate) async fn register_plugins(cluster: &Cluster, plugins: &str) {
    cluster
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argo-rollouts-config"},
            "data": {"trafficRouterPlugins": plugins}}))
        .await;
}

/// The controller reading its plugin registry in the test's namespace
/// (with exactly its ClusterRole), downloading into a directory of its
/// own, with `env`; the directory goes when the returned value is dropped.
pub(crate) async fn start_with_plugins(
    cluster: &Cluster,
    env: &[(&str, &str)],
) -> (RollgateController, tempfile::TempDir) {
    let plugin_dir = tempfile::tempdir().expect("a plugin directory");
    let plugin_dir_arg = plugin_dir.path().display().to_string();
    let controller = Controller::start_with_role_and(
        cluster,
        &[
            "--config-namespace",
            &cluster.namespace,
            "--plugin-dir",
            &plugin_dir_arg,
        ],
        env,
    )
    .await;
    (controller, plugin_dir)
}

/// The token a [`FileServer`] asks for under `/private/`.
pub(crate) const DOWNLOAD_TOKEN: &str = "Bearer rollgate-e2e-download";

/// A file served over HTTP on 127.0.0.1 under any path, counting the
/// requests of each path; under `/private/` only to requests whose
/// `Authorization` is [`DOWNLOAD_TOKEN`] (others are answered 401).
pub(crate) struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    hits: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicUsize>>>>,
}

impl FileServer {
    /// Serves `file` until the test's runtime ends.
    pub(crate) async fn start(file: &Path) -> Self {
        use axum::response::IntoResponse as _;
        let body = std::fs::read(file).expect("the file to serve");
        let hits: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicUsize>>>> =
            Arc::default();
        let counted = hits.clone();
        let router = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                let body = body.clone();
                let counter = counted
                    .lock()
                    .unwrap()
                    .entry(uri.path().to_owned())
                    .or_default()
                    .clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let authorized = headers
                        .get(axum::http::header::AUTHORIZATION)
                        .is_some_and(|v| v == DOWNLOAD_TOKEN);
                    if uri.path().starts_with("/private/") && !authorized {
                        return axum::http::StatusCode::UNAUTHORIZED.into_response();
                    }
                    body.into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, hits }
    }

    /// How many times `path` was asked for.
    pub(crate) fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .get(path)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

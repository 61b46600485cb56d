//! A loopback HTTP server for the download tests (127.0.0.1 only).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Serves `router` on a free loopback port until the test's runtime ends;
/// returns its base URL, `http://127.0.0.1:PORT`.
pub(crate) async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// Counts the requests of a handler.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hits(Arc<AtomicUsize>);

impl Hits {
    pub(crate) fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

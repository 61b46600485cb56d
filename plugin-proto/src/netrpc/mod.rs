//! hashicorp/go-plugin's net/rpc protocol, the one stock Argo Rollouts
//! loads: a yamux session per connection, Go `net/rpc` with the gob codec
//! on its streams, and go-plugin's control services and MuxBroker.
//!
//! ```text
//! host (yamux client)                       plugin (yamux server, this module)
//!   stream 1  control ── Control.Ping / Control.Quit / Dispenser.Dispense
//!   stream 3  stdout  ── accepted, acknowledged, kept open, never written
//!   stream 5  stderr  ── likewise (logs go to the process's stderr)
//!   stream 7+ broker  ── LE u32 id ⇄ echo, then Plugin.<Method> calls
//! ```
//!
//! Each `Plugin.<Method>` call is mapped onto the [`TrafficRouter`]
//! contract; calls on one stream are served concurrently and answered by
//! sequence number, as Go's net/rpc server does.

mod argo;
mod rpc;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures::AsyncWriteExt as _;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_util::compat::TokioAsyncReadCompatExt as _;

use router_core::TrafficRouter;

pub use rpc::{Call, Reply};

/// The environment variable and value Argo Rollouts starts traffic-router plugins with.
pub const ARGO_COOKIE_KEY: &str = "ARGO_ROLLOUTS_RPC_PLUGIN";
/// See [`ARGO_COOKIE_KEY`].
pub const ARGO_COOKIE_VALUE: &str = "trafficrouter";
/// The plugin name Argo dispenses.
pub const DISPENSE_NAME: &str = "RpcTrafficRouterPlugin";

/// Serves `router` over go-plugin net/rpc on `listener` until the host calls
/// `Control.Quit`, or its last connection ends (the host went away: a
/// plugin must not outlive it).
/// `plugin_name` is the key under `trafficRouting.plugins` the router's
/// config is read from.
pub(crate) async fn serve(
    listener: UnixListener,
    router: Arc<dyn TrafficRouter>,
    plugin_name: String,
) {
    let (shared, mut quitting) = Shared::new(router, plugin_name);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((conn, _)) => {
                    let shared = shared.clone();
                    shared.sessions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        session(conn, shared.clone()).await;
                        if shared.sessions.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                            tracing::info!("the host closed its last connection");
                            let _ = shared.quit.send(true);
                        }
                    });
                }
                Err(e) => {
                    tracing::error!("accept failed: {e}");
                    return;
                }
            },
            _ = quitting.wait_for(|q| *q) => break,
        }
    }
    // The reply to Control.Quit is queued in the session: let the host read
    // it and hang up (it does at once) before the process ends.
    let drained = async {
        while shared.sessions.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let _ = tokio::time::timeout(QUIT_GRACE, drained).await;
}

/// How long a quitting plugin waits for its host to hang up.
const QUIT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves one host connection (any byte stream) until it ends or the host
/// calls `Control.Quit`. The building block of `serve`; also what the fuzz
/// target drives.
pub async fn serve_connection<T>(conn: T, router: Arc<dyn TrafficRouter>, plugin_name: String)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (shared, mut quitting) = Shared::new(router, plugin_name);
    tokio::select! {
        () = session(conn, shared) => {}
        _ = quitting.wait_for(|q| *q) => {}
    }
}

impl Shared {
    fn new(
        router: Arc<dyn TrafficRouter>,
        plugin_name: String,
    ) -> (Arc<Self>, watch::Receiver<bool>) {
        let (quit, quitting) = watch::channel(false);
        let shared = Arc::new(Self {
            router,
            plugin_name,
            dispensed: Mutex::new(HashSet::new()),
            dispensing: tokio::sync::Notify::new(),
            next_id: std::sync::atomic::AtomicU32::new(1),
            sessions: std::sync::atomic::AtomicUsize::new(0),
            quit,
        });
        (shared, quitting)
    }
}

/// What all sessions of the plugin share.
struct Shared {
    router: Arc<dyn TrafficRouter>,
    plugin_name: String,
    /// Broker ids handed out by `Dispense` and not yet connected.
    dispensed: Mutex<HashSet<u32>>,
    /// Woken when an id is dispensed (its stream may already be waiting).
    dispensing: tokio::sync::Notify,
    next_id: std::sync::atomic::AtomicU32,
    /// Connections being served.
    sessions: std::sync::atomic::AtomicUsize,
    quit: watch::Sender<bool>,
}

/// One yamux session: the host's connection.
async fn session<T>(conn: T, shared: Arc<Shared>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut config = yamux::Config::default();
    // Keep stream windows at 256 KiB like hashicorp/yamux: a larger window
    // lets the Go side send frames the Rust side rejects as too large.
    config.set_max_connection_receive_window(Some(512 * 256 * 1024));
    let mut connection = yamux::Connection::new(conn.compat(), config, yamux::Mode::Server);
    let mut kept = Vec::new();
    let mut accepted = 0usize;
    loop {
        // Poll the connection continuously: it answers keep-alive pings.
        let next = futures::future::poll_fn(|cx| connection.poll_next_inbound(cx)).await;
        let mut stream = match next {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::debug!("yamux session ended: {e}");
                return;
            }
            None => return,
        };
        // Acknowledge at once (an empty data frame carries the ACK): the
        // host closes the session if a stream it opened stays unacknowledged.
        if let Err(e) = stream.write(&[]).await {
            tracing::debug!("cannot acknowledge stream: {e}");
            continue;
        }
        accepted += 1;
        match accepted {
            1 => {
                let shared = shared.clone();
                tokio::spawn(async move { rpc::serve_control(stream, shared).await });
            }
            // stdout and stderr: kept open, never written.
            2 | 3 => kept.push(stream),
            _ => {
                let shared = shared.clone();
                tokio::spawn(async move { rpc::serve_broker_stream(stream, shared).await });
            }
        }
    }
}

/// Where the socket goes: as the gRPC form, in `PLUGIN_UNIX_SOCKET_DIR` or
/// a private temporary directory.
pub(crate) fn socket_dir() -> std::io::Result<tempfile::TempDir> {
    match std::env::var_os("PLUGIN_UNIX_SOCKET_DIR") {
        Some(parent) => tempfile::Builder::new()
            .prefix("plugin")
            .tempdir_in(Path::new(&parent)),
        None => tempfile::Builder::new().prefix("plugin").tempdir(),
    }
}

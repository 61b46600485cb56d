//! Running a [`TrafficRouter`] as a plugin process (go-plugin gRPC conventions).

use std::io::Write as _;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status, Streaming};

use crate::handshake::{
    ARGO_PROTOCOL_VERSION, CORE_PROTOCOL_VERSION, Handshake, NATIVE_PROTOCOL_VERSION, Network,
    Protocol, offers_version,
};
use crate::log::LogFormat;
use crate::metrics::MetricsEndpoint;
use crate::wire::{self, goplugin, trafficrouter as pb};
use router_core::Error;
use router_core::TrafficRouter;

/// The environment variable a host sets so the plugin knows it is one.
pub const COOKIE_KEY: &str = "ROLLGATE_PLUGIN";
/// Its value for traffic routers. It names the kind of plugin; the protocol
/// version is negotiated separately
/// ([`NATIVE_PROTOCOL_VERSION`](crate::handshake::NATIVE_PROTOCOL_VERSION)).
pub const COOKIE_VALUE: &str = "trafficrouter-v1";

/// What a person who runs a plugin binary directly is told (go-plugin's words).
const NOT_A_PROGRAM: &str = "This binary is a plugin. These are not meant to be executed directly.\n\
Please execute the program that consumes these plugins, which will\n\
load any plugins automatically";

/// How long connections may linger after a shutdown request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Serves `router` as a plugin process and returns the process exit code,
/// taking `--plugin-name <name>` (default `default_plugin_name`),
/// `--log-format json|text` (default `json`) and `--metrics-addr
/// <address:port>` (default: no metrics) from the command line; see
/// [`serve_metered`].
pub fn serve<R: TrafficRouter + 'static>(router: R, default_plugin_name: &str) -> ExitCode {
    let plugin_name = flag_value("plugin-name", std::env::args().skip(1))
        .unwrap_or_else(|| default_plugin_name.to_owned());
    let format = match flag_value("log-format", std::env::args().skip(1))
        .as_deref()
        .map(str::parse::<LogFormat>)
    {
        None => LogFormat::Json,
        Some(Ok(format)) => format,
        Some(Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let metrics = match flag_value("metrics-addr", std::env::args().skip(1)).map(|a| {
        a.parse::<std::net::SocketAddr>().map_err(|_| {
            format!(
                "--metrics-addr: expected an address and port such as 127.0.0.1:9102, found {a:?}"
            )
        })
    }) {
        None => None,
        Some(Ok(address)) => Some(MetricsEndpoint::new(address)),
        Some(Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    serve_metered(router, &plugin_name, format, metrics)
}

/// Serves `router` as a plugin process and returns the process exit code.
///
/// Call it from a plugin binary's `main`. The host is recognised by its
/// magic cookie: with `ROLLGATE_PLUGIN=trafficrouter-v1` the binary speaks
/// Rollgate's native gRPC protocol (version 2: `Apply` and `Verify` map to
/// the router's [`TrafficRouter::apply`] and [`TrafficRouter::verify`]);
/// with `ARGO_ROLLOUTS_RPC_PLUGIN=trafficrouter` (stock Argo Rollouts) it
/// speaks go-plugin net/rpc (version 1, Argo's), reading the router's
/// config from `trafficRouting.plugins[<plugin_name>]`. Without either
/// cookie (a person ran the binary) it prints an explanation to stderr and
/// returns failure.
///
/// A host's `PLUGIN_PROTOCOL_VERSIONS` that does not include the form's
/// version is refused: an error naming both on stderr, failure, no
/// handshake.
///
/// Either way it listens on a unix socket in `PLUGIN_UNIX_SOCKET_DIR` (or a
/// fresh private temporary directory), prints the handshake line on stdout,
/// logs on stderr in `log_format`, ignores interrupts (the host owns the
/// lifecycle) and serves until the host asks it to stop
/// (`GRPCController/Shutdown` or `Control.Quit`).
pub fn serve_with<R: TrafficRouter + 'static>(
    router: R,
    plugin_name: &str,
    log_format: LogFormat,
) -> ExitCode {
    serve_metered(router, plugin_name, log_format, None)
}

/// [`serve_with`], and, when `metrics` is given, its [`Metrics`](crate::metrics::Metrics)
/// served on `GET /metrics` at its address ([`crate::metrics`]), every
/// call of `router` recorded there. The address is bound before the
/// handshake: one that cannot be had fails the start, its reason on
/// stderr (`--metrics-addr: cannot listen on 127.0.0.1:9102: ...`).
pub fn serve_metered<R: TrafficRouter + 'static>(
    router: R,
    plugin_name: &str,
    log_format: LogFormat,
    metrics: Option<MetricsEndpoint>,
) -> ExitCode {
    let cookie = |key: &str, value: &str| std::env::var(key).ok().as_deref() == Some(value);
    let argo = cookie(
        crate::netrpc::ARGO_COOKIE_KEY,
        crate::netrpc::ARGO_COOKIE_VALUE,
    );
    if !argo && !cookie(COOKIE_KEY, COOKIE_VALUE) {
        eprintln!("{NOT_A_PROGRAM}");
        return ExitCode::FAILURE;
    }
    crate::log::init_plugin_logging(log_format);
    let offered = std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok();
    // Argo's net/rpc form keeps Argo's version; the native form speaks its own.
    let app_version = if argo {
        ARGO_PROTOCOL_VERSION
    } else {
        NATIVE_PROTOCOL_VERSION
    };
    if !offers_version(offered.as_deref(), app_version) {
        let offered = offered.unwrap_or_default();
        tracing::error!(
            offered = %offered,
            "incompatible API version with plugin: the host offers version(s) {offered}; \
             this plugin speaks version {app_version}"
        );
        return ExitCode::FAILURE;
    }
    let plugin_name = plugin_name.to_owned();
    // Argo calls one plugin stream at a time per rollout worker and each call
    // is short: one thread serves net/rpc without cross-thread wake-ups.
    let runtime = if argo {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async move {
        tokio::spawn(async {
            while tokio::signal::ctrl_c().await.is_ok() {
                tracing::debug!("interrupt ignored: the host stops this plugin");
            }
        });
        let router: Arc<dyn TrafficRouter> = match metrics {
            None => Arc::new(router),
            Some(endpoint) => {
                let listener = crate::metrics::bind(endpoint.address)
                    .await
                    .map_err(|e| e.to_string())?;
                let metered: Arc<dyn TrafficRouter> = Arc::new(endpoint.metrics.metered(router));
                tracing::info!(address = %endpoint.address, "metrics served on /metrics");
                tokio::spawn(crate::metrics::serve(listener, Arc::new(endpoint.metrics)));
                metered
            }
        };
        if argo {
            serve_netrpc(router, plugin_name, app_version).await
        } else {
            serve_grpc(router, app_version).await
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The value of `--<flag> <value>` or `--<flag>=<value>` among `args`.
fn flag_value(flag: &str, mut args: impl Iterator<Item = String>) -> Option<String> {
    let long = format!("--{flag}");
    while let Some(arg) = args.next() {
        if arg == long {
            return args.next();
        }
        if let Some(value) = arg.strip_prefix(&long).and_then(|v| v.strip_prefix('=')) {
            return Some(value.to_owned());
        }
    }
    None
}

/// A unix socket in a fresh private directory (removed when dropped).
fn listen() -> Result<(tempfile::TempDir, std::path::PathBuf, UnixListener), String> {
    let dir = crate::netrpc::socket_dir()
        .map_err(|e| format!("cannot create the socket directory: {e}"))?;
    let socket = dir.path().join("plugin.sock");
    let listener = UnixListener::bind(&socket)
        .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    Ok((dir, socket, listener))
}

/// Prints the handshake line and flushes stdout.
fn print_handshake(handshake: &Handshake) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{handshake}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the handshake: {e}"))
}

async fn serve_netrpc(
    router: Arc<dyn TrafficRouter>,
    plugin_name: String,
    app_version: u32,
) -> Result<(), String> {
    let (dir, socket, listener) = listen()?;
    print_handshake(&Handshake {
        core_version: CORE_PROTOCOL_VERSION,
        app_version,
        network: Network::Unix,
        address: socket.display().to_string(),
        protocol: Protocol::NetRpc,
        server_cert: String::new(),
    })?;
    tracing::info!(address = %socket.display(), plugin = %plugin_name, "plugin serving (net/rpc)");
    tokio::select! {
        () = crate::netrpc::serve(listener, router, plugin_name) => {}
        () = parent_gone() => tracing::warn!("the host process is gone; exiting"),
    }
    tracing::info!("plugin stopped");
    drop(dir);
    Ok(())
}

async fn serve_grpc(router: Arc<dyn TrafficRouter>, app_version: u32) -> Result<(), String> {
    let (dir, socket, listener) = listen()?;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let (stop, stopped) = watch::channel(false);

    let handshake = Handshake {
        core_version: CORE_PROTOCOL_VERSION,
        app_version,
        network: Network::Unix,
        address: socket.display().to_string(),
        protocol: Protocol::Grpc,
        server_cert: String::new(),
    };
    print_handshake(&handshake)?;
    tracing::info!(address = %socket.display(), "plugin serving");

    let mut until_stopped = stopped.clone();
    let server = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(pb::traffic_router_server::TrafficRouterServer::new(
            RouterService { router },
        ))
        .add_service(goplugin::grpc_controller_server::GrpcControllerServer::new(
            Controller { stop },
        ))
        .add_service(goplugin::grpc_stdio_server::GrpcStdioServer::new(Idle {
            stopped: stopped.clone(),
        }))
        .add_service(goplugin::grpc_broker_server::GrpcBrokerServer::new(Idle {
            stopped: stopped.clone(),
        }))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
            let _ = until_stopped.wait_for(|s| *s).await;
        });
    let mut after_stop = stopped;
    let deadline = async move {
        let _ = after_stop.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served.map_err(|e| format!("serving failed: {e}"))?,
        () = deadline => tracing::debug!("connections still open after shutdown; exiting"),
        () = parent_gone() => tracing::warn!("the host process is gone; exiting"),
    }
    tracing::info!("plugin stopped");
    drop(dir);
    Ok(())
}

/// Resolves once the process that started this plugin has exited (the
/// plugin was re-parented), so a host killed without shutting its plugin
/// down does not leave the plugin running. Checked once a second.
async fn parent_gone() {
    let parent = std::os::unix::process::parent_id();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

/// The traffic-router gRPC service over a [`TrafficRouter`].
struct RouterService {
    router: Arc<dyn TrafficRouter>,
}

/// Router errors travel with the code of their kind, marked as the
/// router's answer, the message intact (see [`crate::status`]).
fn status(e: Error) -> Status {
    crate::status::to_status(&e)
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::traffic_router_server::TrafficRouter for RouterService {
    async fn init(&self, _: Request<pb::InitRequest>) -> Reply<pb::Empty> {
        self.router.init().await.map_err(status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn r#type(&self, _: Request<pb::Empty>) -> Reply<pb::TypeResponse> {
        let name = self.router.name().await.map_err(status)?;
        Ok(Response::new(pb::TypeResponse { r#type: name }))
    }

    async fn apply(&self, req: Request<pb::ApplyRequest>) -> Reply<pb::Empty> {
        let req = req.into_inner();
        let (ctx, target) = wire::request("Apply", req.rollout, req.target).map_err(status)?;
        self.router.apply(&ctx, &target).await.map_err(status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn verify(&self, req: Request<pb::VerifyRequest>) -> Reply<pb::VerifyResponse> {
        let req = req.into_inner();
        let (ctx, target) = wire::request("Verify", req.rollout, req.target).map_err(status)?;
        let verified = self.router.verify(&ctx, &target).await.map_err(status)?;
        Ok(Response::new(pb::VerifyResponse {
            verification: pb::Verification::from(verified).into(),
        }))
    }
}

/// `plugin.GRPCController`: `Shutdown` stops the server.
struct Controller {
    stop: watch::Sender<bool>,
}

#[tonic::async_trait]
impl goplugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<goplugin::Empty>) -> Reply<goplugin::Empty> {
        tracing::info!("shutdown requested by the host");
        let _ = self.stop.send(true);
        Ok(Response::new(goplugin::Empty {}))
    }
}

/// `plugin.GRPCStdio` and `plugin.GRPCBroker`: streams that carry nothing
/// and end when the plugin stops.
struct Idle {
    stopped: watch::Receiver<bool>,
}

type Silent<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn silent_until_stopped<T: Send + 'static>(mut stopped: watch::Receiver<bool>) -> Silent<T> {
    Box::pin(
        futures::stream::once(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .filter_map(|()| async { None }),
    )
}

use futures::StreamExt as _;

#[tonic::async_trait]
impl goplugin::grpc_stdio_server::GrpcStdio for Idle {
    type StreamStdioStream = Silent<goplugin::StdioData>;

    async fn stream_stdio(&self, _: Request<goplugin::Empty>) -> Reply<Self::StreamStdioStream> {
        Ok(Response::new(silent_until_stopped(self.stopped.clone())))
    }
}

#[tonic::async_trait]
impl goplugin::grpc_broker_server::GrpcBroker for Idle {
    type StartStreamStream = Silent<goplugin::ConnInfo>;

    async fn start_stream(
        &self,
        _: Request<Streaming<goplugin::ConnInfo>>,
    ) -> Reply<Self::StartStreamStream> {
        Ok(Response::new(silent_until_stopped(self.stopped.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::flag_value;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn flags_in_both_spellings_and_only_whole_names() {
        assert_eq!(
            flag_value(
                "log-format",
                args(&["--kube-qps", "5", "--log-format", "text"])
            ),
            Some("text".into())
        );
        assert_eq!(
            flag_value("plugin-name", args(&["--plugin-name=rollgate/gatewayapi"])),
            Some("rollgate/gatewayapi".into())
        );
        assert_eq!(
            flag_value("log-format", args(&["--log-formats=json"])),
            None
        );
        assert_eq!(flag_value("log-format", args(&["--log-format"])), None);
    }
}

//! The host side: a plugin process behind the [`TrafficRouter`] trait.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use router_core::{Error, ErrorKind};

use crate::handshake::{Handshake, NATIVE_PROTOCOL_VERSION, Network, Protocol};
use crate::server::{COOKIE_KEY, COOKIE_VALUE};
use crate::status;
use crate::wire::{self, goplugin, trafficrouter as pb};
use router_core::{RolloutContext, TrafficRouter, TrafficTarget, Verified};

type Client = pb::traffic_router_client::TrafficRouterClient<Channel>;

/// How long the host waits for the stderr of a plugin that exited before its
/// handshake to be read to its end.
const STDERR_DRAIN: Duration = Duration::from_secs(1);

/// How a [`PluginRouter`] runs its plugin.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Arguments for the plugin binary.
    pub args: Vec<String>,
    /// Extra environment for the plugin process.
    pub env: Vec<(String, String)>,
    /// How long the plugin may take to print its handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// The deadline of each call once the plugin is running (default 30 s);
    /// starting the plugin is bounded by `handshake_timeout` on top.
    pub call_timeout: Duration,
    /// How long a plugin asked to shut down may take before it is killed (default 2 s).
    pub shutdown_grace: Duration,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// A traffic router that runs in a plugin process.
///
/// It speaks the native protocol, version 2: each [`TrafficRouter::apply`]
/// is one `Apply` call carrying the whole [`TrafficTarget`] and each
/// [`TrafficRouter::verify`] one `Verify` call, so Argo's per-aspect
/// operations (provided by the trait on top of them) are one call each too,
/// and a step that changes the weight and a route together is one call, not
/// two. The process is started on first use (spawned with the magic cookie
/// and `PLUGIN_PROTOCOL_VERSIONS=2`; its handshake is read and checked
/// within a deadline, and a plugin that answers another protocol version is
/// refused with an [`ErrorKind::Config`] error naming both versions; the
/// connection is health-checked and the router initialised) and supervised
/// afterwards:
/// when a call fails because the process died or the connection broke, that
/// call returns an [`ErrorKind::Unavailable`] error and the next call starts
/// a fresh process and runs `init` again. An error the router answered with
/// comes back with its kind and message as the router gave them, and never
/// restarts the plugin, whatever its kind (a router whose API server is
/// unavailable is itself alive). A call that outlives its deadline returns
/// an [`ErrorKind::Timeout`] error and leaves the plugin running for other
/// calls. The plugin's stderr is forwarded to this process's `tracing` logs. Dropping
/// the router (or [`PluginRouter::shutdown`]) asks the plugin to exit and
/// kills it after a grace period.
///
/// ```no_run
/// # async fn demo(rollout: &rollout_core::Rollout, desired: &rollout_core::DesiredTraffic) -> Result<(), router_core::Error> {
/// use plugin_proto::{HostOptions, PluginRouter};
/// use router_core::{apply_traffic, RolloutContext};
/// let router = PluginRouter::new("/usr/local/bin/rollgate-gatewayapi", HostOptions::default());
/// let ctx = RolloutContext::new(rollout, "rollgate/gatewayapi")?;
/// let verified = apply_traffic(&router, &ctx, desired).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PluginRouter {
    program: PathBuf,
    options: HostOptions,
    running: Mutex<Option<Arc<Running>>>,
    starts: std::sync::atomic::AtomicU64,
}

/// A started plugin process and its connection.
#[derive(Debug)]
struct Running {
    generation: u64,
    client: Client,
    controller: goplugin::grpc_controller_client::GrpcControllerClient<Channel>,
    child: std::sync::Mutex<Option<Child>>,
    pid: Option<u32>,
    /// The plugin's socket, removed (with its directory, when empty) if the
    /// plugin had to be killed and could not clean up itself.
    socket: PathBuf,
}

impl PluginRouter {
    /// A router served by the plugin binary at `program`. Nothing is started yet.
    pub fn new(program: impl Into<PathBuf>, options: HostOptions) -> Self {
        Self {
            program: program.into(),
            options,
            running: Mutex::new(None),
            starts: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The plugin process id, if one is running.
    pub async fn pid(&self) -> Option<u32> {
        self.running.lock().await.as_ref().and_then(|r| r.pid)
    }

    /// How many times a plugin process was started.
    pub fn starts(&self) -> u64 {
        self.starts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks the plugin to exit (`GRPCController/Shutdown`), waits up to the
    /// grace period, then kills it.
    pub async fn shutdown(&self) {
        let running = self.running.lock().await.take();
        if let Some(running) = running {
            stop(running, self.options.shutdown_grace).await;
        }
    }

    fn label(&self) -> String {
        self.program.display().to_string()
    }

    fn plugin_error(&self, message: impl Into<String>) -> Error {
        Error::unavailable(format!("plugin {}: {}", self.label(), message.into()))
    }

    fn deadline_error(&self, call: &str) -> Error {
        Error::timeout(format!(
            "plugin {}: {call} did not answer within {}",
            self.label(),
            humantime::format_duration(self.options.call_timeout)
        ))
    }

    /// The running plugin, started (and initialised) if there is none.
    async fn connection(&self) -> Result<Arc<Running>, Error> {
        let mut guard = self.running.lock().await;
        if let Some(running) = guard.as_ref() {
            return Ok(running.clone());
        }
        let running = Arc::new(self.start().await?);
        *guard = Some(running.clone());
        Ok(running)
    }

    async fn start(&self) -> Result<Running, Error> {
        let generation = self
            .starts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut command = Command::new(&self.program);
        command
            .args(&self.options.args)
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .env(COOKIE_KEY, COOKIE_VALUE)
            .env(
                "PLUGIN_PROTOCOL_VERSIONS",
                NATIVE_PROTOCOL_VERSION.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| self.plugin_error(format!("cannot start: {e}")))?;
        let pid = child.id();
        let label = self.label();
        // Forwards the plugin's stderr; ends with the message of its last
        // line, which says why a plugin that exits early did.
        let last_words = child.stderr.take().map(|stderr| {
            let label = label.clone();
            tokio::spawn(async move {
                let mut last = None;
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    crate::log::forward(&label, &line);
                    last = Some(line);
                }
                last.map(|line| crate::log::message(&line))
            })
        });
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| self.plugin_error("no stdout to read the handshake from"))?;
        let mut stdout = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(self.options.handshake_timeout, stdout.next_line())
            .await
        {
            Err(_) => {
                let _ = child.start_kill();
                return Err(self.plugin_error(format!(
                    "no handshake within {}",
                    humantime::format_duration(self.options.handshake_timeout)
                )));
            }
            Ok(Err(e)) => return Err(self.plugin_error(format!("cannot read the handshake: {e}"))),
            Ok(Ok(None)) => {
                let status = child.wait().await.ok();
                let said = match last_words {
                    Some(task) => tokio::time::timeout(STDERR_DRAIN, task)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .flatten(),
                    None => None,
                };
                return Err(self.plugin_error(format!(
                    "exited before its handshake ({}; this host offers protocol version \
                     {NATIVE_PROTOCOL_VERSION}){}",
                    status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string()),
                    said.map(|s| format!(": {s}")).unwrap_or_default()
                )));
            }
            Ok(Ok(Some(line))) => line,
        };
        let handshake: Handshake = line.parse().map_err(|e| {
            let _ = child.start_kill();
            self.plugin_error(format!("{e}"))
        })?;
        if handshake.app_version != NATIVE_PROTOCOL_VERSION {
            let _ = child.start_kill();
            return Err(Error::config(format!(
                "plugin {label}: it speaks version {} of the traffic-router plugin protocol; \
                 this host speaks version {NATIVE_PROTOCOL_VERSION} (rollgate.trafficrouter.v2): \
                 install a plugin binary built for it",
                handshake.app_version
            )));
        }
        if handshake.protocol != Protocol::Grpc || handshake.network != Network::Unix {
            let _ = child.start_kill();
            return Err(self.plugin_error(format!(
                "handshake {line:?} offers {:?} over {:?}; this host speaks gRPC over a unix socket",
                handshake.protocol, handshake.network
            )));
        }
        {
            let label = label.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = stdout.next_line().await {
                    tracing::debug!(plugin = %label, stdout = %line);
                }
            });
        }
        let channel = connect(Path::new(&handshake.address)).await.map_err(|e| {
            let _ = child.start_kill();
            self.plugin_error(format!("cannot connect to {}: {e}", handshake.address))
        })?;
        let mut health = HealthClient::new(channel.clone());
        let check = health.check(HealthCheckRequest {
            service: "plugin".into(),
        });
        match tokio::time::timeout(self.options.handshake_timeout, check).await {
            Ok(Ok(resp)) if resp.get_ref().status == ServingStatus::Serving as i32 => {}
            Ok(Ok(resp)) => {
                let _ = child.start_kill();
                return Err(self.plugin_error(format!(
                    "health check: service \"plugin\" is {:?}",
                    ServingStatus::try_from(resp.get_ref().status)
                        .unwrap_or(ServingStatus::Unknown)
                )));
            }
            Ok(Err(status)) => {
                let _ = child.start_kill();
                return Err(self.plugin_error(format!("health check failed: {status}")));
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(self.plugin_error("health check did not answer"));
            }
        }
        let running = Running {
            generation,
            client: Client::new(channel.clone())
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
            controller: goplugin::grpc_controller_client::GrpcControllerClient::new(channel),
            child: std::sync::Mutex::new(Some(child)),
            pid,
            socket: PathBuf::from(&handshake.address),
        };
        let mut client = running.client.clone();
        let init = client.init(pb::InitRequest {});
        match tokio::time::timeout(self.options.call_timeout, init).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => {
                stop(Arc::new(running), self.options.shutdown_grace).await;
                return Err(match status::router_error(&status) {
                    Some(error) => error,
                    None if status.code() == Code::FailedPrecondition => {
                        Error::config(status.message())
                    }
                    None => self.plugin_error(format!("Init: {status}")),
                });
            }
            Err(_) => {
                stop(Arc::new(running), self.options.shutdown_grace).await;
                return Err(self.deadline_error("Init"));
            }
        }
        tracing::debug!(plugin = %label, pid, generation, "plugin started");
        Ok(running)
    }

    /// Forgets a plugin whose connection failed, so the next call restarts it.
    async fn discard(&self, generation: u64) {
        let mut guard = self.running.lock().await;
        if guard.as_ref().is_some_and(|r| r.generation == generation)
            && let Some(running) = guard.take()
        {
            tracing::warn!(plugin = %self.label(), "plugin connection failed; it will be restarted");
            tokio::spawn(stop(running, Duration::ZERO));
        }
    }

    /// One call with the deadline and the error mapping.
    async fn call<T, F, Fut>(&self, name: &'static str, f: F) -> Result<T, Error>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let running = self.connection().await?;
        match tokio::time::timeout(self.options.call_timeout, f(running.client.clone())).await {
            Err(_) => Err(self.deadline_error(name)),
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => {
                // The router's own answer: it is alive, whatever the kind.
                if let Some(error) = status::router_error(&status) {
                    return Err(error);
                }
                match status::kind_of(status.code()) {
                    kind if process_failure(kind) => {
                        self.discard(running.generation).await;
                        Err(self.plugin_error(format!("{name}: {status}")))
                    }
                    // Unmarked, as from plugins that predate the kinds:
                    // FAILED_PRECONDITION carried the router's message.
                    ErrorKind::Config if status.code() == Code::FailedPrecondition => {
                        Err(Error::config(status.message()))
                    }
                    kind => Err(Error::new(
                        kind,
                        format!("{name}: {:?}: {}", status.code(), status.message()),
                    )),
                }
            }
        }
    }
}

/// The restart rule: an unmarked status of one of these kinds means the
/// plugin process or its connection failed (it is restarted on the next
/// call) rather than that the router answered.
fn process_failure(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Unavailable | ErrorKind::Internal)
}

/// Dials the plugin's unix socket.
async fn connect(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_owned();
    Endpoint::from_static("http://plugin")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
}

/// Asks a plugin to shut down, then kills it after `grace`.
async fn stop(running: Arc<Running>, grace: Duration) {
    let mut controller = running.controller.clone();
    if !grace.is_zero() {
        let _ = tokio::time::timeout(grace, controller.shutdown(goplugin::Empty {})).await;
    }
    let child = running.child.lock().ok().and_then(|mut c| c.take());
    if let Some(mut child) = child {
        if !grace.is_zero() && tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
        remove_socket(&running.socket);
    }
}

/// Removes a killed plugin's socket and its directory if nothing else is in it.
fn remove_socket(socket: &Path) {
    if std::fs::remove_file(socket).is_ok()
        && let Some(dir) = socket.parent()
    {
        let _ = std::fs::remove_dir(dir);
    }
}

impl Drop for PluginRouter {
    fn drop(&mut self) {
        let Some(running) = self.running.get_mut().take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(stop(running, self.options.shutdown_grace));
            }
            Err(_) => {
                if let Some(mut child) = running.child.lock().ok().and_then(|mut c| c.take()) {
                    let _ = child.start_kill();
                    remove_socket(&running.socket);
                }
            }
        }
    }
}

#[async_trait]
impl TrafficRouter for PluginRouter {
    async fn init(&self) -> Result<(), Error> {
        // Starting the plugin runs its Init; a running plugin is initialised.
        self.connection().await.map(|_| ())
    }

    async fn name(&self) -> Result<String, Error> {
        let reply = self
            .call("Type", |mut c| async move { c.r#type(pb::Empty {}).await })
            .await?;
        Ok(reply.r#type)
    }

    /// One `Apply` call carrying the whole target. Routes `managedRoutes`
    /// does not list are refused here, before the plugin is started or called.
    async fn apply(&self, ctx: &RolloutContext, target: &TrafficTarget) -> Result<(), Error> {
        ctx.require_listed_routes(target)?;
        let req = pb::ApplyRequest {
            rollout: Some(ctx.into()),
            target: Some(target.into()),
        };
        self.call("Apply", |mut c| async move { c.apply(req).await })
            .await
            .map(|_| ())
    }

    /// One `Verify` call carrying the whole target.
    async fn verify(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, Error> {
        let req = pb::VerifyRequest {
            rollout: Some(ctx.into()),
            target: Some(target.into()),
        };
        let reply = self
            .call("Verify", |mut c| async move { c.verify(req).await })
            .await?;
        wire::verified_from(&reply).ok_or_else(|| {
            Error::internal(format!(
                "plugin {}: Verify answered verification {}; expected NOT_VERIFIED (0), \
                 VERIFIED (1) or NOT_IMPLEMENTED (2)",
                self.label(),
                reply.verification
            ))
        })
    }
}

//! The two sides of the controller-level benchmarks (`side_by_side`,
//! `soak`): which sides run and with which client limits (from the
//! environment), a side's controller process in a work directory of its own
//! (for Argo, with the `rollgate-gatewayapi` plugin registered), the
//! requests it sent, and the clean-up of a benchmark namespace.
// Each harness uses the part it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::{Api, PostParams};
use rollgate_testkit::bench::{self, BenchNamespace, Requests, Sampler};
use rollgate_testkit::scrape;
use serde_json::json;

/// The controller binary cargo built beside the benchmark.
const ROLLGATE: &str = env!("CARGO_BIN_EXE_rollgate-controller");

/// Which controller a side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SideKind {
    Rollgate,
    Argo,
}

/// One side of a benchmark.
pub(crate) struct Side {
    /// As given in `ROLLGATE_BENCH_SIDES`: the kind, then any flags.
    pub(crate) name: String,
    /// Its controller.
    pub(crate) kind: SideKind,
    /// Flags for the controller after the harness's own.
    pub(crate) flags: Vec<String>,
}

impl Side {
    /// `rollgate` or `argo`, then flags, separated by spaces.
    ///
    /// # Panics
    ///
    /// On another first word, naming `ROLLGATE_BENCH_SIDES`.
    pub(crate) fn parse(spec: &str) -> Self {
        let mut words = spec.split_whitespace();
        let kind = match words.next() {
            Some("rollgate") => SideKind::Rollgate,
            Some("argo") => SideKind::Argo,
            _ => panic!(
                "ROLLGATE_BENCH_SIDES: expected rollgate or argo, then flags, found \"{spec}\""
            ),
        };
        Self {
            name: spec.trim().to_owned(),
            kind,
            flags: words.map(str::to_owned).collect(),
        }
    }

    /// The sides `ROLLGATE_BENCH_SIDES` picks (default `rollgate,argo`).
    pub(crate) fn chosen() -> Vec<Self> {
        bench::env_list("ROLLGATE_BENCH_SIDES", "rollgate,argo")
            .iter()
            .map(|spec| Self::parse(spec))
            .collect()
    }
}

/// The client limits the sides run with, and Argo's plugin binary.
pub(crate) struct Limits {
    /// `--qps` and `--burst` for both controllers and the plugin
    /// (`ROLLGATE_BENCH_QPS`, `ROLLGATE_BENCH_BURST`, default 80); `None`:
    /// each at its default.
    pub(crate) client: Option<(String, String)>,
    /// `--rollout-threads` (`ROLLGATE_BENCH_THREADS`, default Argo's 10).
    pub(crate) threads: String,
    /// The `rollgate-gatewayapi` binary (see [`plugin_binary`]).
    pub(crate) plugin: PathBuf,
}

impl Limits {
    /// The limits from the environment.
    pub(crate) fn from_env() -> Self {
        Self {
            client: std::env::var("ROLLGATE_BENCH_QPS").ok().map(|qps| {
                let burst = std::env::var("ROLLGATE_BENCH_BURST").unwrap_or_else(|_| "80".into());
                (qps, burst)
            }),
            threads: std::env::var("ROLLGATE_BENCH_THREADS").unwrap_or_else(|_| "10".into()),
            plugin: plugin_binary(),
        }
    }

    /// The client limits as printed at the start of a run.
    pub(crate) fn describe(&self) -> String {
        self.client.as_ref().map_or_else(
            || "each side's defaults".to_owned(),
            |(qps, burst)| format!("--qps {qps} --burst {burst} for both"),
        )
    }
}

/// The `rollgate-gatewayapi` binary Argo's side loads
/// (`ROLLGATE_BENCH_PLUGIN`, default: beside the bench's own build).
pub(crate) fn plugin_binary() -> PathBuf {
    let path = std::env::var_os("ROLLGATE_BENCH_PLUGIN").map_or_else(
        || {
            // target/<profile>/deps/<bench>-* → target/<profile>/
            let exe = std::env::current_exe().expect("the bench's own path");
            exe.parent()
                .and_then(Path::parent)
                .expect("the bench runs from target/<profile>/deps")
                .join("rollgate-gatewayapi")
        },
        PathBuf::from,
    );
    if !path.is_file() {
        eprintln!(
            "no plugin binary at {}: cargo build --release -p rollgate-gatewayapi, or set ROLLGATE_BENCH_PLUGIN (needed by the argo side)",
            path.display()
        );
    }
    path
}

/// A controller process of one side, in a work directory of its own.
pub(crate) struct Running {
    child: Child,
    work: PathBuf,
    /// The loopback port of `rollgate-controller`'s `/metrics` (`None`
    /// for Argo's controller).
    pub(crate) metrics_port: Option<u16>,
    /// The controller's (and Argo's plugin processes') figures so far.
    pub(crate) sampler: Sampler,
}

impl Running {
    /// Starts `side`'s controller watching only `ns`.
    pub(crate) fn start(side: &Side, limits: &Limits, ns: &str) -> Self {
        let work = std::env::temp_dir().join(format!("rollgate-{ns}"));
        std::fs::create_dir_all(&work).unwrap();
        let log = std::fs::File::create(work.join("controller.log")).unwrap();
        let metrics_port = (side.kind == SideKind::Rollgate).then(scrape::free_port);
        let mut command = match side.kind {
            SideKind::Rollgate => {
                let bin = std::env::var_os("ROLLGATE_BENCH_CONTROLLER")
                    .map_or_else(|| PathBuf::from(ROLLGATE), PathBuf::from);
                let mut c = Command::new(bin);
                c.args(["--namespace", ns, "--config-namespace", ns])
                    .args(["--leader-elect=false", "--log-format", "text"])
                    .args(["--metrics-port", &metrics_port.unwrap_or(0).to_string()])
                    .args(["--healthz-port", "0"])
                    .args(["--bind-address", "127.0.0.1"])
                    .args(["--rollout-threads", &limits.threads])
                    .env("ROLLGATE_LOG", "warn");
                c
            }
            SideKind::Argo => {
                let bin = std::env::var("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER")
                    .expect("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER (scripts/cluster env)");
                let mut c = Command::new(bin);
                c.args(["--namespaced", "--namespace", ns, "--leader-elect=false"])
                    .args(["--metricsPort", "0", "--healthzPort", "0"])
                    .args(["--rollout-threads", &limits.threads])
                    .args(["--loglevel", "warn"]);
                c
            }
        };
        if let Some((qps, burst)) = &limits.client {
            command.args(["--qps", qps, "--burst", burst]);
        }
        command.args(&side.flags);
        let child = command
            .env("POD_NAMESPACE", ns)
            .current_dir(&work)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start the {} controller: {e}", side.name));
        let pid = child.id();
        // The controller itself, and for Argo the plugin processes it starts
        // from its own plugin-bin/ (never another run's processes).
        let plugins = work.join("plugin-bin");
        let sampler = Sampler::start(move |p, exe| p == pid || exe.starts_with(&plugins));
        Self {
            child,
            work,
            metrics_port,
            sampler,
        }
    }

    /// Stops it (see [`Drop`]).
    pub(crate) fn stop(self) {
        drop(self);
    }

    /// The controller's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The plugin processes the controller started (Argo's side; none for
    /// rollgate-controller, whose routers run in-process).
    pub(crate) fn plugin_pids(&self) -> Vec<u32> {
        let plugins = self.work.join("plugin-bin");
        bench::processes(|_, exe| exe.starts_with(&plugins))
    }
}

impl Drop for Running {
    /// Stops the controller (also when the harness panics), and for Argo
    /// the plugin processes it started, then removes the work directory.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in self.plugin_pids() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// The requests of a side's controller (and plugin) in `ns` since audit
/// line `from`, each also given to `each`.
pub(crate) fn side_requests(
    side: &Side,
    ns: &str,
    from: u64,
    each: impl Fn(&serde_json::Value),
) -> Requests {
    let agents: &[&str] = match side.kind {
        SideKind::Rollgate => &["rollgate-controller/"],
        SideKind::Argo => &["rollouts-controller/", "rollgate-gatewayapi/"],
    };
    bench::audited_requests(from, |e| {
        let selected =
            e["objectRef"]["namespace"] == ns && agents.iter().any(|a| bench::user_agent_is(e, a));
        if selected {
            each(e);
        }
        selected
    })
}

/// Argo registers the plugin in `argo-rollouts-config` of its namespace,
/// with the harness's client limits if it sets any, serving its metrics on
/// `127.0.0.1:<metrics_port>` if given.
pub(crate) async fn register_plugin(
    client: &Client,
    ns: &str,
    limits: &Limits,
    metrics_port: Option<u16>,
) {
    let mut plugins = format!(
        "- name: argoproj-labs/gatewayAPI\n  location: file://{}\n",
        limits.plugin.display(),
    );
    let mut args = Vec::new();
    if let Some((qps, burst)) = &limits.client {
        args.extend([format!("--qps={qps}"), format!("--burst={burst}")]);
    }
    if let Some(port) = metrics_port {
        args.push(format!("--metrics-addr=127.0.0.1:{port}"));
    }
    if !args.is_empty() {
        plugins += "  args:\n";
        for arg in args {
            plugins += &format!("    - \"{arg}\"\n");
        }
    }
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "argo-rollouts-config"},
                "data": {"trafficRouterPlugins": plugins}
            }))
            .unwrap(),
        )
        .await
        .expect("write argo-rollouts-config");
}

/// Deletes the namespace and waits until it is gone, so that the garbage
/// collection of its objects does not run beside the next side.
pub(crate) async fn delete_and_wait(client: &Client, ns: BenchNamespace) {
    let name = ns.name.clone();
    ns.delete().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let started = Instant::now();
    while namespaces.get_opt(&name).await.ok().flatten().is_some() {
        if started.elapsed() > Duration::from_secs(900) {
            eprintln!("namespace {name} still terminating after 15 minutes; going on");
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// KiB in MiB, for the tables.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A namespace for `side` titled `title` holding `n` HTTPRoutes and
/// `n` canary Rollouts weighting them through the Gateway API router; for
/// Argo's side the plugin is registered there first (its metrics on
/// `plugin_port` when given).
pub(crate) async fn routed_namespace(
    client: &Client,
    side: &Side,
    limits: &Limits,
    title: &str,
    n: usize,
    plugin_port: Option<u16>,
) -> BenchNamespace {
    let ns = BenchNamespace::create(client, title, n).await;
    if side.kind == SideKind::Argo {
        register_plugin(client, &ns.name, limits, plugin_port).await;
    }
    ns.create_routes(n).await;
    let namespace = ns.name.clone();
    ns.create_rollouts(n, |i| {
        bench::canary_rollout(
            i,
            Some((
                "argoproj-labs/gatewayAPI",
                json!({"httpRoute": format!("demo-{i}"), "namespace": namespace, "verifyWeight": false}),
            )),
        )
    })
    .await;
    ns
}

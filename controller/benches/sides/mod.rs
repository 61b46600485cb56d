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
use serde_json::json;

/// The controller binary cargo built beside the benchmark.
const ROLLGATE: &str = env!("CARGO_BIN_EXE_rollgate-controller");

/// Which controller a side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideKind {
    Rollgate,
    Argo,
}

/// One side of a benchmark.
pub struct Side {
    /// `rollgate` or `argo`.
    pub name: &'static str,
    /// Its controller.
    pub kind: SideKind,
}

impl Side {
    /// The sides `ROLLGATE_BENCH_SIDES` picks (default `rollgate,argo`).
    pub fn chosen() -> Vec<Self> {
        let chosen = bench::env_list("ROLLGATE_BENCH_SIDES", "rollgate,argo");
        [
            Self {
                name: "rollgate",
                kind: SideKind::Rollgate,
            },
            Self {
                name: "argo",
                kind: SideKind::Argo,
            },
        ]
        .into_iter()
        .filter(|s| chosen.iter().any(|c| c == s.name))
        .collect()
    }
}

/// The client limits both sides run with, and Argo's plugin binary.
pub struct Limits {
    /// `--qps` (`ROLLGATE_BENCH_QPS`, default Argo's 40).
    pub qps: String,
    /// `--burst` (`ROLLGATE_BENCH_BURST`, default Argo's 80).
    pub burst: String,
    /// `--rollout-threads` (`ROLLGATE_BENCH_THREADS`, default Argo's 10).
    pub threads: String,
    /// The `rollgate-gatewayapi` binary (see [`plugin_binary`]).
    pub plugin: PathBuf,
}

impl Limits {
    /// The limits from the environment.
    pub fn from_env() -> Self {
        Self {
            qps: std::env::var("ROLLGATE_BENCH_QPS").unwrap_or_else(|_| "40".into()),
            burst: std::env::var("ROLLGATE_BENCH_BURST").unwrap_or_else(|_| "80".into()),
            threads: std::env::var("ROLLGATE_BENCH_THREADS").unwrap_or_else(|_| "10".into()),
            plugin: plugin_binary(),
        }
    }
}

/// The `rollgate-gatewayapi` binary Argo's side loads.
pub fn plugin_binary() -> PathBuf {
    let path = std::env::var_os("ROLLGATE_BENCH_PLUGIN").map_or_else(
        || {
            // target/release/deps/<bench>-* → target/release/
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
pub struct Running {
    child: Child,
    work: PathBuf,
    /// The controller's (and Argo's plugin processes') figures so far.
    pub sampler: Sampler,
}

impl Running {
    /// Starts `side`'s controller watching only `ns`.
    pub fn start(side: &Side, limits: &Limits, ns: &str) -> Self {
        let work = std::env::temp_dir().join(format!("rollgate-{ns}"));
        std::fs::create_dir_all(&work).unwrap();
        let log = std::fs::File::create(work.join("controller.log")).unwrap();
        let mut command = match side.kind {
            SideKind::Rollgate => {
                let bin = std::env::var_os("ROLLGATE_BENCH_CONTROLLER")
                    .map_or_else(|| PathBuf::from(ROLLGATE), PathBuf::from);
                let mut c = Command::new(bin);
                c.args(["--namespace", ns, "--config-namespace", ns])
                    .args(["--leader-elect=false", "--log-format", "text"])
                    .args(["--metrics-port", "0", "--healthz-port", "0"])
                    .args(["--bind-address", "127.0.0.1"])
                    .args(["--qps", &limits.qps, "--burst", &limits.burst])
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
                    .args(["--qps", &limits.qps, "--burst", &limits.burst])
                    .args(["--loglevel", "warn"]);
                c
            }
        };
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
            sampler,
        }
    }

    /// Stops it (see [`Drop`]).
    pub fn stop(self) {
        drop(self);
    }

    /// The controller's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The plugin processes the controller started (Argo's side; none for
    /// rollgate-controller, whose routers run in-process).
    pub fn plugin_pids(&self) -> Vec<u32> {
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
/// line `from`.
pub fn side_requests(side: &Side, ns: &str, from: u64) -> Requests {
    let agents: &[&str] = match side.kind {
        SideKind::Rollgate => &["rollgate-controller/"],
        SideKind::Argo => &["rollouts-controller/", "rollgate-gatewayapi/"],
    };
    bench::audited_requests(from, |e| {
        e["objectRef"]["namespace"] == ns && agents.iter().any(|a| bench::user_agent_is(e, a))
    })
}

/// Argo registers the plugin in `argo-rollouts-config` of its namespace,
/// with the same client limits as the controller's.
pub async fn register_plugin(client: &Client, ns: &str, limits: &Limits) {
    let plugins = format!(
        "- name: argoproj-labs/gatewayAPI\n  location: file://{}\n  args:\n    - \"--qps={}\"\n    - \"--burst={}\"\n",
        limits.plugin.display(),
        limits.qps,
        limits.burst
    );
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
pub async fn delete_and_wait(client: &Client, ns: BenchNamespace) {
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

//! `rollgate-controller` as a child process of a test, and the real
//! `kubectl argo rollouts` a user would type.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Cluster;

/// `rollgate-controller --namespace <ns>` for one test's namespace, electing
/// its leader on a Lease there and serving its endpoints on free loopback
/// ports; stopped when dropped (its log's tail printed if the test is
/// failing).
pub struct RollgateController {
    child: Child,
    log: PathBuf,
    kubeconfig: Option<PathBuf>,
    /// The port of /metrics.
    pub metrics_port: u16,
    /// The port of /healthz and /readyz.
    pub healthz_port: u16,
}

/// A loopback port free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RollgateController {
    /// Runs `binary` with the cluster's own credentials (`KUBECONFIG`).
    ///
    /// # Panics
    ///
    /// When the process cannot be started.
    pub fn start(binary: &Path, cluster: &Cluster) -> Self {
        Self::start_with(binary, cluster, None, &[], &[])
    }

    /// Runs `binary` as a service account holding exactly the documented
    /// ClusterRole (`examples/rbac/rollgate-controller.yaml`), through a
    /// kubeconfig of its own (`--kubeconfig`).
    ///
    /// # Panics
    ///
    /// As [`Cluster::config_with_role`], or when the process cannot be
    /// started.
    pub async fn start_with_role(binary: &Path, cluster: &Cluster) -> Self {
        Self::start_with_role_and(binary, cluster, &[], &[]).await
    }

    /// [`RollgateController::start_with_role`] with more arguments and
    /// environment.
    ///
    /// # Panics
    ///
    /// As [`RollgateController::start_with_role`].
    pub async fn start_with_role_and(
        binary: &Path,
        cluster: &Cluster,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_with_role_via(binary, cluster, None, args, env).await
    }

    /// [`RollgateController::start_with_role_and`] talking to the API
    /// server at `server` (a fault proxy, for instance) when given, with
    /// the same credentials.
    ///
    /// # Panics
    ///
    /// As [`RollgateController::start_with_role`].
    pub async fn start_with_role_via(
        binary: &Path,
        cluster: &Cluster,
        server: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let rbac = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/rbac/rollgate-controller.yaml");
        let config = cluster.config_with_role(&rbac).await;
        let token = config.auth_info.token.expect("a token");
        Self::start_with_credentials(
            binary,
            cluster,
            secrecy::ExposeSecret::expose_secret(&token),
            server,
            args,
            env,
        )
    }

    /// Runs `binary` with a bearer token (a service account's, say) in
    /// place of the cluster's own credentials, through a kubeconfig of its
    /// own (`--kubeconfig`), with more arguments and environment.
    ///
    /// # Panics
    ///
    /// When `KUBECONFIG` cannot be read, or the process cannot be started.
    pub fn start_with_token(
        binary: &Path,
        cluster: &Cluster,
        token: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_with_credentials(binary, cluster, token, None, args, env)
    }

    /// [`RollgateController::start_with_token`], talking to `server` when
    /// given.
    fn start_with_credentials(
        binary: &Path,
        cluster: &Cluster,
        token: &str,
        server: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let file = kubeconfig_with_token(
            token,
            server,
            &std::env::temp_dir().join(format!(
                "rollgate-controller-{}.kubeconfig",
                cluster.namespace
            )),
        );
        Self::start_with(binary, cluster, Some(file), args, env)
    }

    fn start_with(
        binary: &Path,
        cluster: &Cluster,
        kubeconfig: Option<PathBuf>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let (metrics_port, healthz_port) = (free_port(), free_port());
        let log = std::env::temp_dir().join(format!(
            "rollgate-controller-{}-{metrics_port}.log",
            cluster.namespace
        ));
        let file = std::fs::File::create(&log).expect("create the controller's log");
        let mut command = Command::new(binary);
        if let Some(kubeconfig) = &kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        let child = command
            .args(["--namespace", &cluster.namespace, "--log-format", "text"])
            .args(["--leader-election-namespace", &cluster.namespace])
            .args(["--bind-address", "127.0.0.1"])
            .args(["--metrics-port", &metrics_port.to_string()])
            .args(["--healthz-port", &healthz_port.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::from(file.try_clone().expect("the log file")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start rollgate-controller");
        Self {
            child,
            log,
            kubeconfig,
            metrics_port,
            healthz_port,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL, as a node failure would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes to `file` the test's kubeconfig (`KUBECONFIG`) with every user's
/// credentials replaced by the bearer `token`, talking to `server` when
/// given; returns `file`. For processes that must run as a service account
/// (a controller, a plugin binary through `KUBECONFIG`).
///
/// # Panics
///
/// When `KUBECONFIG` cannot be read or `file` written.
pub fn kubeconfig_with_token(token: &str, server: Option<&str>, file: &Path) -> PathBuf {
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG (scripts/cluster env)");
    let mut kubeconfig: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("the kubeconfig"))
            .expect("a kubeconfig in YAML");
    for user in kubeconfig["users"].as_array_mut().into_iter().flatten() {
        user["user"] = json!({ "token": token });
    }
    if let Some(server) = server {
        for entry in kubeconfig["clusters"].as_array_mut().into_iter().flatten() {
            entry["cluster"] = json!({"server": server});
        }
    }
    std::fs::write(file, kubeconfig.to_string()).expect("write the kubeconfig");
    file.to_path_buf()
}

impl Drop for RollgateController {
    /// Stops it as Kubernetes does: SIGTERM (it finishes the reconciles in
    /// flight and releases the Lease, so a successor leads at once), then
    /// SIGKILL after 5 s.
    fn drop(&mut self) {
        // Only a process still running (and so not reaped): its id is still its own.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- rollgate-controller log (last 40 lines; all of it in {}) ---",
                self.log.display()
            );
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
        if let Some(kubeconfig) = &self.kubeconfig {
            let _ = std::fs::remove_file(kubeconfig);
        }
    }
}

/// `kubectl argo rollouts ARGS -n <namespace>` with the real plugin
/// (`$ROLLGATE_KUBECTL_ARGO_ROLLOUTS`, from `scripts/cluster env`).
///
/// # Panics
///
/// When the plugin cannot be run or exits with an error (its stderr in the
/// message).
pub fn kubectl_argo_rollouts(cluster: &Cluster, args: &[&str]) -> Output {
    let plugin = std::env::var("ROLLGATE_KUBECTL_ARGO_ROLLOUTS")
        .expect("ROLLGATE_KUBECTL_ARGO_ROLLOUTS (scripts/cluster env)");
    let output = Command::new(plugin)
        .args(args)
        .args(["-n", &cluster.namespace])
        .output()
        .expect("run kubectl-argo-rollouts");
    assert!(
        output.status.success(),
        "kubectl argo rollouts {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

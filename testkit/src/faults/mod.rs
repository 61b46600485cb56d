//! Fault injection for the real-cluster tier (feature `faults`).
//!
//! - [`proxy`]: a proxy in front of kube-apiserver that answers 5xx or 429,
//!   adds latency, ends watch streams or resets connections, switched at
//!   run time.
//! - [`invariants`]: a watcher recording every violation of what must hold
//!   during a run, and the time to converge once the fault clears.
//! - [`writers`]: other writers of a rollout's route (Argo CD's server-side
//!   apply, `kubectl edit`).
//! - Here: restarting a control-plane component of `scripts/cluster`, and
//!   killing a process a test started.

pub mod invariants;
pub mod proxy;
pub mod writers;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub use invariants::{Invariants, Report, Snapshot};
pub use proxy::{Fault, Proxy, ProxyStats};
pub use writers::{ArgoCdLike, Rules, kubectl_edit};

/// A component of the cluster that [`restart`] can restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// kube-apiserver.
    ApiServer,
    /// etcd.
    Etcd,
}

/// Kills `component` of the running cluster with SIGKILL and starts it
/// again (`scripts/cluster restart kube-apiserver|etcd`, on the cluster of
/// `ROLLGATE_CLUSTER` and its ports); returns once it is ready again, with
/// the time it was down.
///
/// # Panics
///
/// When the script fails.
pub fn restart(component: Component) -> Duration {
    let name = match component {
        Component::ApiServer => "kube-apiserver",
        Component::Etcd => "etcd",
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster");
    let started = Instant::now();
    let output = Command::new(script)
        .args(["restart", name])
        .output()
        .expect("run scripts/cluster restart");
    assert!(
        output.status.success(),
        "scripts/cluster restart {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

/// The ids of the running processes whose parent is `parent` and whose
/// command name starts with `name` (as `/proc/<pid>/stat` gives it: 15
/// bytes at most).
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let prefix: String = name.chars().take(15).collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so split at the last ')'.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let comm = head.split_once('(').map_or("", |(_, c)| c);
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            comm.starts_with(&prefix) && ppid == Some(parent)
        })
        .collect()
}

/// Sends SIGKILL to process `pid` (one the test started, directly or
/// through a process it started).
///
/// # Panics
///
/// When `kill` cannot be run.
pub fn kill_9(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid}");
}

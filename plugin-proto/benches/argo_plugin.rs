//! SetWeight round trips through Argo Rollouts' own plugin client with a full
//! Rollout object: this crate's plugin binary versus a no-op Go plugin built
//! on Argo's RpcTrafficRouterPlugin, same client, same machine, one run.
//! Prints p50, p99 and the plugin process's RSS, and the Rust/Go ratios.
//!
//! Run: `cargo bench -p plugin-proto --bench argo_plugin` (needs Go and the
//! Go module proxy; prints a message and does nothing without Go).

use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");

fn go_build(out: &Path, package: &str) -> bool {
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(out)
        .arg(package)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/argo-controller"))
        .env("GOTOOLCHAIN", "local")
        .status();
    matches!(status, Ok(s) if s.success())
}

fn main() {
    if Command::new("go").arg("version").output().is_err() {
        println!("argo_plugin: skipped, no Go toolchain");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("rollgate-argo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let (host, noop) = (tmp.join("argo-controller"), tmp.join("noopplugin"));
    assert!(
        go_build(&host, "."),
        "building the Argo client harness failed"
    );
    assert!(
        go_build(&noop, "./noopplugin"),
        "building the Go baseline plugin failed"
    );
    let manifest: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/manifests/seed001-rollout-canary.yaml");
    let out = Command::new(&host)
        .arg("bench")
        .arg(PLUGIN)
        .arg(&noop)
        .arg(&manifest)
        .arg(tmp.join("work"))
        .output()
        .expect("the harness runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let (rust, go) = (&rows[0], &rows[1]);
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "SetWeight through Argo's plugin client, {} calls each, full Rollout",
        rust["calls"]
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10}",
        "", "p50 µs", "p99 µs", "RSS KiB"
    );
    for (name, row) in [("rust", rust), ("go", go)] {
        println!(
            "{name:<8} {:>10.1} {:>10.1} {:>10.0}",
            f(row, "p50_us"),
            f(row, "p99_us"),
            f(row, "rss_kib")
        );
    }
    println!(
        "{:<8} {:>10.2} {:>10.2} {:>10.2}",
        "rust/go",
        f(rust, "p50_us") / f(go, "p50_us"),
        f(rust, "p99_us") / f(go, "p99_us"),
        f(rust, "rss_kib") / f(go, "rss_kib")
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

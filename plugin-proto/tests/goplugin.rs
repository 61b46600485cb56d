//! hashicorp/go-plugin's real client (built from the Go module proxy) loads
//! the journal router binary over gRPC: handshake (app protocol version 2),
//! health ping, a call on our service, and a graceful shutdown through
//! `GRPCController`; a go-plugin client offering only version 1 is refused
//! by the plugin with both versions named.
//!
//! Needs the Go toolchain; skipped with a message without it, except under
//! CI (`CI` set), where a missing toolchain fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");

fn go() -> Option<PathBuf> {
    let found = Command::new("go")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success());
    found.map(|_| PathBuf::from("go"))
}

#[test]
fn go_plugin_client_loads_the_plugin_over_grpc() {
    let Some(go) = go() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the go-plugin interop test, but `go` is missing"
        );
        eprintln!("skipped: no Go toolchain on this machine");
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/goplugin");
    let harness = Path::new(env!("CARGO_TARGET_TMPDIR")).join("goplugin-host");
    let build = Command::new(&go)
        .args(["build", "-o"])
        .arg(&harness)
        .arg(".")
        .current_dir(&source)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .expect("go runs");
    assert!(
        build.status.success(),
        "go build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(&harness)
        .arg(PLUGIN)
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "go-plugin host failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");
}

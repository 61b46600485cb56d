//! The plugin binary loaded over go-plugin net/rpc, the way Argo Rollouts
//! loads traffic routers: hashicorp/go-plugin's client with Argo's handshake
//! and plugin name, and calls shaped like Argo's (`interop/argo host`). The
//! harness checks the replies; this test checks what the router received.
//!
//! Needs the Go toolchain; skipped without it, except under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");

#[test]
fn argo_shaped_host_drives_the_plugin_over_netrpc() {
    if Command::new("go").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the net/rpc interop test, but `go` is missing"
        );
        eprintln!("skipped: no Go toolchain on this machine");
        return;
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let harness = tmp.join("argo-netrpc-host");
    let build = Command::new("go")
        .args(["build", "-o"])
        .arg(&harness)
        .arg(".")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/argo"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let journal = tmp.join(format!("argo-netrpc-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    let run = Command::new(&harness)
        .args(["host", PLUGIN])
        .env("ROLLGATE_JOURNAL", &journal)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");

    let entries: Vec<Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |call: &str| {
        entries
            .iter()
            .find(|e| e["call"] == call)
            .unwrap_or_else(|| panic!("no {call}"))
    };
    assert_eq!(entries[0]["call"], "Init");
    let hash = find("UpdateHash");
    assert_eq!(
        (hash["canaryHash"].as_str(), hash["stableHash"].as_str()),
        (Some("5898765588"), Some("5c9d79697b"))
    );
    assert_eq!(hash["rollout"], "default/rollout-canary");
    let weight = find("SetWeight");
    assert_eq!(weight["weight"], 30);
    assert_eq!(
        weight["additional"],
        json!([{"weight": 10, "serviceName": "web-exp", "podTemplateHash": "abc"}])
    );
    assert_eq!(weight["maxTrafficWeight"], 100);
    assert_eq!(
        find("SetHeaderRoute")["route"],
        json!({"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]})
    );
    assert_eq!(
        find("SetMirrorRoute")["route"],
        json!({"name": "shadow", "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}], "percentage": 20})
    );
    find("RemoveManagedRoutes");
    let mut concurrent: Vec<i64> = entries
        .iter()
        .filter(|e| e["call"] == "SetWeight")
        .filter_map(|e| e["weight"].as_i64())
        .filter(|w| *w >= 100)
        .collect();
    concurrent.sort_unstable();
    assert_eq!(
        concurrent,
        (100..132).collect::<Vec<_>>(),
        "every concurrent call arrived once"
    );
}

//! The plugin binary loaded over go-plugin net/rpc, the way Argo Rollouts
//! loads traffic routers:
//!
//! * by Argo Rollouts' own plugin client code (`interop/argo-controller`,
//!   github.com/argoproj/argo-rollouts v1.10.1 from the Go module proxy):
//!   ConfigMap entry with args, `plugin-bin/<name>`, `GetTrafficPlugin`,
//!   real `v1alpha1.Rollout` objects built from seed 001's manifest;
//! * by hashicorp/go-plugin's client with Argo's handshake and calls shaped
//!   like Argo's (`interop/argo host`), including 32 concurrent calls.
//!
//! The harnesses check the replies; these tests check what the router received.
//! They need the Go toolchain; skipped without it, except under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");

/// Builds the Go program in `interop/<dir>`; `None` when Go is missing outside CI.
fn go_build(dir: &str) -> Option<PathBuf> {
    if Command::new("go").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the net/rpc interop tests, but `go` is missing"
        );
        eprintln!("skipped: no Go toolchain on this machine");
        return None;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-{dir}"));
    let build = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("interop")
                .join(dir),
        )
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    Some(out)
}

fn read_journal(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn argo_rollouts_own_client_loads_and_drives_the_plugin() {
    let Some(harness) = go_build("argo-controller") else {
        return;
    };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let work = tmp.join(format!("argo-controller-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let journal = work.join("journal.jsonl");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/manifests/seed001-rollout-canary.yaml");
    let run = Command::new(&harness)
        .arg(PLUGIN)
        .arg(&manifest)
        .arg(&work)
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

    let entries = read_journal(&journal);
    assert_eq!(entries[0]["call"], "Init");
    let find = |call: &str| {
        entries
            .iter()
            .find(|e| e["call"] == call)
            .unwrap_or_else(|| panic!("no {call}"))
    };
    let weight = find("SetWeight");
    assert_eq!(
        weight["plugin"], "argoproj-labs/gatewayAPI",
        "the name came from the ConfigMap args"
    );
    assert_eq!(weight["rollout"], "default/rollout-canary");
    assert_eq!(weight["weight"], 30);
    assert_eq!(
        weight["additional"],
        json!([{"weight": 10, "serviceName": "web-exp", "podTemplateHash": "abc"}])
    );
    // The typed context, read from Argo's own v1alpha1.Rollout: the kinds of
    // the managed routes from its steps; mid-update (stableRS is not the
    // current pod hash), not aborted.
    assert_eq!(
        weight["managedRoutes"],
        json!([{"name": "beta", "kind": "setHeaderRoute"}, {"name": "shadow", "kind": "setMirrorRoute"}])
    );
    assert_eq!(
        (&weight["promoted"], &weight["aborted"]),
        (&json!(false), &json!(false))
    );
    let hash = find("UpdateHash");
    assert_eq!(
        (hash["canaryHash"].as_str(), hash["stableHash"].as_str()),
        (Some("5898765588"), Some("5c9d79697b"))
    );
    assert_eq!(
        find("SetHeaderRoute")["route"],
        json!({"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]})
    );
    assert_eq!(
        find("SetMirrorRoute")["route"],
        json!({"name": "shadow", "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"},
            "headers": {"x-user": {"regex": "^a"}}}], "percentage": 20})
    );
    find("RemoveManagedRoutes");
    let concurrent = entries
        .iter()
        .filter(|e| e["call"] == "SetWeight" && e["weight"].as_i64().is_some_and(|w| w >= 100))
        .count();
    assert_eq!(concurrent, 32);
}

#[test]
fn argo_shaped_host_drives_the_plugin_over_netrpc() {
    let Some(harness) = go_build("argo") else {
        return;
    };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
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

    let entries = read_journal(&journal);
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

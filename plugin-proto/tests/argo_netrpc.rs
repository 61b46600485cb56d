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
//! The harnesses check the replies; these tests check what the router
//! received: each of Argo's per-aspect calls as one `Apply` of a target
//! with exactly that aspect given.
//! They need the Go toolchain; skipped without it, except under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_core::TrafficTarget;
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

/// The Apply entries' targets whose canary weight is below 100 (the
/// sequential calls), and the weights of those at 100 or more (the
/// concurrent calls, each checked to carry the weight alone), sorted.
fn applies(entries: &[Value]) -> (Vec<Value>, Vec<i64>) {
    let mut sequential = Vec::new();
    let mut concurrent = Vec::new();
    for e in entries.iter().filter(|e| e["call"] == "Apply") {
        match e["target"]["canaryWeight"].as_i64() {
            Some(w) if w >= 100 => {
                assert_eq!(e["target"], target(&TrafficTarget::weight(w as i32, &[])));
                concurrent.push(w);
            }
            _ => sequential.push(e["target"].clone()),
        }
    }
    concurrent.sort_unstable();
    (sequential, concurrent)
}

fn target(t: &TrafficTarget) -> Value {
    serde_json::to_value(t).unwrap()
}

fn extra() -> Vec<WeightDestination> {
    vec![WeightDestination {
        weight: 10,
        service_name: Some("web-exp".into()),
        pod_template_hash: Some("abc".into()),
    }]
}

fn beta() -> SetHeaderRoute {
    serde_json::from_value(
        json!({"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}),
    )
    .unwrap()
}

/// Each of Argo's per-aspect calls arrives as one Apply carrying exactly
/// that aspect (the rest as they are), in the order Argo made them;
/// `VerifyWeight` as a Verify of the weight alone.
fn assert_one_aspect_per_call(
    entries: &[Value],
    hash_destinations: &[WeightDestination],
    mirror: Value,
) {
    assert_eq!(entries[0]["call"], "Init");
    let mirror: SetMirrorRoute = serde_json::from_value(mirror).unwrap();
    let (sequential, concurrent) = applies(entries);
    assert_eq!(
        sequential,
        [
            target(&TrafficTarget::hashes(
                "5898765588",
                "5c9d79697b",
                hash_destinations
            )),
            target(&TrafficTarget::weight(30, &extra())),
            target(&TrafficTarget::header_route(beta())),
            target(&TrafficTarget::mirror_route(mirror)),
            target(&TrafficTarget::no_managed_routes()),
        ]
    );
    assert_eq!(
        concurrent,
        (100..132).collect::<Vec<_>>(),
        "every concurrent call arrived once"
    );
    let verifies: Vec<&Value> = entries
        .iter()
        .filter(|e| e["call"] == "Verify")
        .map(|e| &e["target"])
        .collect();
    assert_eq!(verifies.len(), 3);
    for v in verifies {
        assert_eq!(*v, target(&TrafficTarget::weight(30, &[])));
    }
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
    assert_one_aspect_per_call(
        &entries,
        &extra(),
        json!({"name": "shadow", "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"},
            "headers": {"x-user": {"regex": "^a"}}}], "percentage": 20}),
    );
    let weight = entries
        .iter()
        .find(|e| e["target"]["canaryWeight"] == 30)
        .unwrap();
    assert_eq!(
        weight["plugin"], "argoproj-labs/gatewayAPI",
        "the name came from the ConfigMap args"
    );
    assert_eq!(weight["rollout"], "default/rollout-canary");
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
    // Argo's UpdateHash here carries no additional destinations.
    assert_one_aspect_per_call(
        &entries,
        &[],
        json!({"name": "shadow", "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}],
            "percentage": 20}),
    );
    let hash = &entries[1];
    assert_eq!(hash["rollout"], "default/rollout-canary");
    assert_eq!(hash["maxTrafficWeight"], 100);
}

//! Seed 001 under Argo's controller with the Gateway API plugin installed
//! as `examples/install` describes: `plugins.sh` run on the plugin binaries
//! (with `--metrics-port`), the binaries copied into the plugin directory as
//! its init container copies them, and `argo-rollouts-config` exactly as
//! the script wrote it (`file://` locations, `sha256`, `args`), in the
//! test's namespace. The plugin's `/metrics` then counts the calls Argo made
//! and the route patches the API server's audit log recorded.
//!
//! Argo's own controller runs as a process here, not from Argo's Helm chart
//! (README, "The real-cluster tier").

use std::path::Path;
use std::process::Command;

use rollgate_e2e::{GATEWAY_API, Under};
use rollgate_testkit::scrape::{Samples, free_port, http_get};
use rollgate_testkit::workspace_binary;
use serde_json::Value;

use crate::gateway_api::{gateway_for, seed_001, seed_001_steps, set_up};

const PLUGINS: [&str; 3] = ["rollgate-gatewayapi", "rollgate-nginx", "rollgate-istio"];

/// `examples/install/plugins.sh` with `args`; its output directory's files.
fn plugins_sh(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/install/plugins.sh");
    let output = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run plugins.sh");
    assert!(
        output.status.success(),
        "plugins.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port of 127.0.0.1 free with the two after it: `--metrics-port` gives
/// the three plugins one each.
fn three_free_ports() -> u16 {
    loop {
        let port = free_port();
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if port < 65533 && free(port + 1) && free(port + 2) {
            return port;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_under_argo_with_the_plugins_installed_by_plugins_sh() {
    let Some(mut s) = set_up(
        "seed-001-installed",
        Under::Argo,
        seed_001_steps(),
        &[],
        true,
    )
    .await
    else {
        return;
    };
    // The three plugins, as the script takes them (`--binaries DIR`).
    let built: Vec<_> = PLUGINS.iter().map(|b| workspace_binary(b, b)).collect();
    let binaries = built[0].parent().expect("the binaries' directory");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("install");
    let plugin_dir = work.path().join("plugins");
    let port = three_free_ports();
    plugins_sh(&[
        "--binaries",
        binaries.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plugin-dir",
        plugin_dir.to_str().unwrap(),
        "--metrics-port",
        &port.to_string(),
    ]);
    // What the init container does: the published binaries into the
    // plugin directory under their plain names.
    std::fs::create_dir(&plugin_dir).unwrap();
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    for binary in PLUGINS {
        let published = out.join(format!("bin/{binary}-linux-{arch}"));
        std::fs::copy(published, plugin_dir.join(binary)).expect("copy a published binary");
    }
    let configmap = std::fs::read_to_string(out.join("argo-rollouts-config.file.yaml")).unwrap();
    let configmap: Value = serde_yaml_ng::from_str(&configmap).expect("the ConfigMap is YAML");
    let registrations = configmap["data"]["trafficRouterPlugins"]
        .as_str()
        .expect("trafficRouterPlugins");
    assert!(registrations.contains("sha256: "), "{registrations}");
    assert!(
        registrations.contains(&format!(
            "file://{}/rollgate-gatewayapi",
            plugin_dir.display()
        )),
        "{registrations}"
    );
    s.start_argo_registered(registrations).await;
    let gateway = gateway_for(&s);

    seed_001(&s, &gateway).await;

    // The plugin Argo started with the registration's `args` serves its
    // metrics; its patches of the route are the audit log's.
    let (status, body) = http_get(port, "/metrics")
        .await
        .expect("the plugin serves /metrics on the registered port");
    assert_eq!(status, 200, "{body}");
    let scraped = Samples::parse(&body);
    let calls = "rollgate_plugin_call_duration_seconds_count";
    assert!(
        scraped.sum(calls, &[("method", "SetWeight"), ("result", "ok")]) >= 3.0,
        "{body}"
    );
    assert!(scraped.sum(calls, &[("method", "Init")]) >= 1.0, "{body}");
    s.cluster.audit_barrier().await;
    let ns = s.cluster.namespace.clone();
    let patches = scraped.sum(
        "rollgate_plugin_k8s_request_total",
        &[
            ("kind", "httproutes"),
            ("namespace", &ns),
            ("name", "web"),
            ("verb", "Patch"),
        ],
    );
    let audited = s
        .cluster
        .audited_requests("httproutes", "web")
        .into_iter()
        .filter(|r| r.verb == "patch" && r.user_agent == Under::Argo.route_writer(GATEWAY_API))
        .count();
    assert!(patches >= 3.0, "{body}");
    assert_eq!(
        patches, audited as f64,
        "the plugin's count is the audit log's"
    );
}

//! Starting a plugin: the handshake as the host reads it (garbage, another
//! protocol or version, none, an early exit) and as the plugin binary
//! writes it (refusing a person, a wrong cookie or an unsupported version,
//! and exiting when its host dies).

use std::time::Duration;

use plugin_proto::{HostOptions, PluginRouter, TrafficRouter};
use router_core::ErrorKind;

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");

#[tokio::test]
async fn garbage_handshake_is_rejected() {
    let router = PluginRouter::new(
        "sh",
        HostOptions {
            args: vec!["-c".into(), "echo hello; sleep 5".into()],
            ..HostOptions::default()
        },
    );
    let err = router.init().await.unwrap_err().to_string();
    assert!(err.contains(r#"invalid handshake line "hello""#), "{err}");
}

#[tokio::test]
async fn a_netrpc_handshake_is_refused_by_the_grpc_host() {
    let router = PluginRouter::new(
        "sh",
        HostOptions {
            args: vec![
                "-c".into(),
                "echo '1|2|unix|/tmp/x.sock|netrpc|'; sleep 5".into(),
            ],
            ..HostOptions::default()
        },
    );
    let err = router.init().await.unwrap_err().to_string();
    assert!(
        err.contains("this host speaks gRPC over a unix socket"),
        "{err}"
    );
}

/// A plugin built for another version of the native protocol (version 1
/// had one call per aspect) is refused at its handshake, by both versions.
#[tokio::test]
async fn a_plugin_speaking_another_protocol_version_is_refused() {
    let router = PluginRouter::new(
        "sh",
        HostOptions {
            args: vec![
                "-c".into(),
                "echo '1|1|unix|/tmp/x.sock|grpc|'; sleep 5".into(),
            ],
            ..HostOptions::default()
        },
    );
    let err = router.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "plugin sh: it speaks version 1 of the traffic-router plugin protocol; this host \
         speaks version 2 (rollgate.trafficrouter.v2): install a plugin binary built for it"
    );
}

#[tokio::test]
async fn missing_handshake_times_out() {
    let router = PluginRouter::new(
        "sh",
        HostOptions {
            args: vec!["-c".into(), "sleep 30".into()],
            handshake_timeout: Duration::from_millis(500),
            ..HostOptions::default()
        },
    );
    let err = router.init().await.unwrap_err().to_string();
    assert!(err.contains("no handshake within 500ms"), "{err}");
}

#[tokio::test]
async fn a_plugin_that_exits_early_is_reported() {
    let router = PluginRouter::new(
        "sh",
        HostOptions {
            args: vec!["-c".into(), "exit 3".into()],
            ..HostOptions::default()
        },
    );
    let err = router.init().await.unwrap_err().to_string();
    assert!(err.contains("exited before its handshake"), "{err}");
}

/// A plugin that refuses the host's version (as one built for protocol
/// version 1 does) exits before its handshake; the host's error says which
/// version it offered and what the plugin said.
#[tokio::test]
async fn a_plugin_that_refuses_the_hosts_version_is_reported_with_its_reason() {
    let said = r#"{"@level":"error","@message":"incompatible API version with plugin: this plugin speaks version 1"}"#;
    let router = PluginRouter::new(
        "sh",
        HostOptions {
            args: vec!["-c".into(), format!("echo '{said}' >&2; exit 1")],
            ..HostOptions::default()
        },
    );
    let err = router.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        err.to_string(),
        "plugin sh: exited before its handshake (exit status: 1; this host offers protocol \
         version 2): incompatible API version with plugin: this plugin speaks version 1"
    );
}

#[test]
fn run_by_a_person_the_plugin_explains_itself() {
    let out = std::process::Command::new(PLUGIN)
        .env_remove("ROLLGATE_PLUGIN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("This binary is a plugin"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_wrong_cookie_is_refused() {
    let out = std::process::Command::new(PLUGIN)
        .env("ROLLGATE_PLUGIN", "something-else")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// The native form speaks version 2 only; Argo's net/rpc form keeps
/// Argo's version 1. A host offering neither's version is refused, and told
/// both what it offered and what the plugin speaks.
#[test]
fn an_unsupported_protocol_version_is_refused() {
    for (cookie, value, offered, speaks) in [
        ("ROLLGATE_PLUGIN", plugin_proto::COOKIE_VALUE, "7", 2),
        ("ROLLGATE_PLUGIN", plugin_proto::COOKIE_VALUE, "1", 2),
        ("ARGO_ROLLOUTS_RPC_PLUGIN", "trafficrouter", "2", 1),
    ] {
        let out = std::process::Command::new(PLUGIN)
            .env(cookie, value)
            .env("PLUGIN_PROTOCOL_VERSIONS", offered)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("\"@level\":\"error\""),
            "logs are JSON lines: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "incompatible API version with plugin: the host offers version(s) {offered}; \
                 this plugin speaks version {speaks}"
            )),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "no handshake");
    }
}

#[test]
fn a_plugin_whose_host_dies_exits_on_its_own() {
    for (cookie, value, version, protocol) in [
        ("ROLLGATE_PLUGIN", plugin_proto::COOKIE_VALUE, 2, "grpc"),
        ("ARGO_ROLLOUTS_RPC_PLUGIN", "trafficrouter", 1, "netrpc"),
    ] {
        orphaned_plugin_exits(cookie, value, version, protocol);
    }
}

fn orphaned_plugin_exits(cookie: &str, value: &str, version: u32, protocol: &str) {
    use std::io::Read;
    // The shell starts the plugin and exits a second later without stopping it, as
    // a host killed with SIGKILL would. The pipe reaches end of file only
    // when the plugin, which holds it as stdout, has exited too.
    let mut shell = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" 2>/dev/null & sleep 1")
        .arg(PLUGIN)
        .env(cookie, value)
        .env("PLUGIN_PROTOCOL_VERSIONS", version.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = shell.stdout.take().unwrap();
    assert!(shell.wait().unwrap().success());
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = done.send(out);
    });
    let out = finished
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("the orphaned {protocol} plugin is still running after 20 s"));
    assert!(
        out.starts_with(&format!("1|{version}|unix|")),
        "it had started: {out}"
    );
    assert!(out.trim_end().ends_with(&format!("|{protocol}|")), "{out}");
}

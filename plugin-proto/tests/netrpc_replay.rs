//! Replays bytes a go-plugin host sent (recorded by `interop/argo record`
//! from hashicorp/go-plugin's net/rpc client: yamux frames carrying gob
//! calls) into the plugin binary, without Go: the calls must reach the
//! router, the plugin must exit when its host goes away, and a stream cut
//! mid-frame must end it cleanly too.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plugin_proto::TrafficTarget;
use plugin_proto::handshake::{Handshake, Protocol};

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");

fn recorded() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/netrpc/argo-session.bin"))
        .unwrap()
}

/// What the recorded session's calls (InitPlugin, SetWeight 30,
/// SetHeaderRoute beta, RemoveManagedRoutes) reach the router as, sorted.
fn recorded_calls() -> Vec<String> {
    let beta = serde_json::from_value(serde_json::json!(
        {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}
    ))
    .unwrap();
    let mut calls: Vec<String> = [
        TrafficTarget::weight(30, &[]),
        TrafficTarget::header_route(beta),
        TrafficTarget::no_managed_routes(),
    ]
    .iter()
    .map(|t| format!("Apply {}", serde_json::to_value(t).unwrap()))
    .chain(["Init".to_owned()])
    .collect();
    calls.sort();
    calls
}

/// Starts the plugin as Argo would and connects to it.
fn start(journal: &Path) -> (Child, UnixStream) {
    let mut child = Command::new(PLUGIN)
        .env("ARGO_ROLLOUTS_RPC_PLUGIN", "trafficrouter")
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .env("ROLLGATE_JOURNAL", journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let handshake: Handshake = line.parse().unwrap();
    assert_eq!(handshake.protocol, Protocol::NetRpc);
    assert!(line.ends_with("|netrpc|\n"), "{line:?}");
    (child, UnixStream::connect(&handshake.address).unwrap())
}

/// Waits for the process to exit, draining the socket meanwhile.
fn wait_exit(mut child: Child, mut conn: UnixStream) -> (std::process::ExitStatus, String) {
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the plugin did not exit"
        );
        let _ = conn.read(&mut sink);
    }
}

fn journal_path(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("replay-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn a_recorded_argo_session_replays_against_the_plugin() {
    let journal = journal_path("full");
    let (child, mut conn) = start(&journal);
    conn.write_all(&recorded()).unwrap();
    let entries = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let started = Instant::now();
    while entries().len() < 4 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Replayed at once, the calls are served concurrently (as Go's net/rpc
    // server does), so they may finish in any order. Argo's SetWeight,
    // SetHeaderRoute and RemoveManagedRoutes each arrive as one Apply
    // carrying that aspect alone.
    let mut got: Vec<String> = entries()
        .iter()
        .map(|e| match e["call"].as_str().unwrap() {
            "Apply" => format!("Apply {}", e["target"]),
            call => call.to_owned(),
        })
        .collect();
    got.sort();
    assert_eq!(got, recorded_calls());
    conn.shutdown(std::net::Shutdown::Both).unwrap();
    let (status, stderr) = wait_exit(child, conn);
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_stream_cut_mid_frame_ends_the_plugin_cleanly() {
    let bytes = recorded();
    for cut in [5, 12, 40, bytes.len() / 2, bytes.len() - 3] {
        let journal = journal_path(&format!("cut{cut}"));
        let (child, mut conn) = start(&journal);
        conn.write_all(&bytes[..cut]).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let (status, stderr) = wait_exit(child, conn);
        assert!(status.success(), "cut at {cut}: {status}: {stderr}");
        assert!(!stderr.contains("panicked"), "cut at {cut}: {stderr}");
    }
}

#[test]
fn the_plugin_exits_when_its_host_goes_away() {
    let journal = journal_path("gone");
    let (child, conn) = start(&journal);
    drop(conn);
    let started = Instant::now();
    let (status, stderr) = wait_exit(child, UnixStream::pair().unwrap().0);
    assert!(status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        stderr.contains("the host closed its last connection"),
        "{stderr}"
    );
}

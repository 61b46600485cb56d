//! The same Argo Rollouts controller build, the same cluster, two Gateway API
//! plugins: `rollgate-gatewayapi` and the anchor
//! (argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi), each registered
//! under `argoproj-labs/gatewayAPI` with the same client limits (QPS 40,
//! burst 80). For each size, N rollouts step through seed 002's steps
//! (setWeight 20, pause, 40, pause 10 s, 60, pause 10 s, 80, pause 10 s);
//! the harness measures the time for all N HTTPRoutes to reach each weight,
//! the plugin's requests to HTTPRoutes (from the API server's audit log) per
//! weight change and per idle reconcile, and the plugin process's peak RSS.
//! It prints each side's figures and ours/anchor ratios.
//!
//! ```sh
//! scripts/cluster up && eval "$(scripts/cluster env)"
//! ROLLGATE_ANCHOR_PLUGIN=/path/to/anchor ROLLGATE_BENCH_SIZES=1,100 \
//!   cargo bench -p rollgate-gatewayapi --bench side_by_side
//! ```
//!
//! Without `ROLLGATE_E2E=1` it prints how to run it and exits; without
//! `ROLLGATE_ANCHOR_PLUGIN` it measures our side only;
//! `ROLLGATE_BENCH_SIDES=rollgate,anchor` picks sides (`rollgate`, with its
//! default flags: the watch cache on; `rollgate --no-watch-cache`; `anchor`).
//! `ROLLGATE_BENCH_OURS` runs another build of ours (a path to a
//! `rollgate-gatewayapi` binary) instead of the one cargo built with the
//! bench.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams};
use rollgate_testkit::bench::{
    self, BenchNamespace, Sampler, WEIGHT_CHANGES, WEIGHTS, canary_rollout, ratio,
};
use serde_json::{Value, json};

const OURS: &str = env!("CARGO_BIN_EXE_rollgate-gatewayapi");

#[derive(Debug, Default, Clone)]
struct Figures {
    /// Seconds from the trigger until every route carries the weight.
    to_weight: BTreeMap<i64, f64>,
    /// Seconds from the last pause until every route is back at 0 and every
    /// rollout Healthy.
    to_done: f64,
    /// Plugin requests to HTTPRoutes while stepping, per route per weight change.
    requests_per_change: f64,
    /// Plugin writes (patch, update) while stepping, per route per weight change.
    writes_per_change: f64,
    /// Plugin requests per rollout for one idle reconcile of every rollout.
    requests_per_idle: f64,
    /// Peak resident set of the plugin process, in KiB.
    peak_rss_kib: u64,
    /// The largest anonymous part of the resident set (heap, stacks) seen
    /// in a sample, in KiB.
    peak_rss_anon_kib: u64,
    /// The largest file-backed part of the resident set (the binary's code
    /// and read-only data, shared libraries) seen in a sample, in KiB.
    peak_rss_file_kib: u64,
}

struct Side {
    name: &'static str,
    plugin: PathBuf,
    args: Vec<String>,
    config: Value,
}

#[tokio::main]
async fn main() {
    if !bench::enabled("set ROLLGATE_ANCHOR_PLUGIN to the anchor's binary for the comparison") {
        return;
    }
    let sizes = bench::sizes("1,100");
    let ours: PathBuf =
        std::env::var_os("ROLLGATE_BENCH_OURS").map_or_else(|| OURS.into(), PathBuf::from);
    let mut sides = vec![Side {
        name: "rollgate",
        plugin: ours.clone(),
        args: vec!["--qps=40".into(), "--burst=80".into()],
        // The anchor has no weight verification; ours is turned off so that
        // both advance on the controller's own pace (no gateway runs here).
        config: json!({"verifyWeight": false}),
    }];
    sides.push(Side {
        name: "rollgate --no-watch-cache",
        plugin: ours.clone(),
        args: vec![
            "--qps=40".into(),
            "--burst=80".into(),
            "--no-watch-cache".into(),
        ],
        config: json!({"verifyWeight": false}),
    });
    if let Ok(anchor) = std::env::var("ROLLGATE_ANCHOR_PLUGIN") {
        sides.push(Side {
            name: "anchor",
            plugin: anchor.into(),
            args: vec!["-kubeClientQPS=40".into(), "-kubeClientBurst=80".into()],
            config: json!({}),
        });
    }
    if std::env::var_os("ROLLGATE_BENCH_SIDES").is_some() {
        let only = bench::env_list("ROLLGATE_BENCH_SIDES", "");
        sides.retain(|s| only.iter().any(|o| o == s.name));
    }
    let client = Client::try_default().await.expect("KUBECONFIG");
    let mut results: Vec<(usize, &str, Figures)> = Vec::new();
    for &n in &sizes {
        for side in &sides {
            let figures = run(&client, side, n).await;
            println!("{n:>5} rollouts  {:<26} {figures:?}", side.name);
            results.push((n, side.name, figures));
        }
    }
    println!();
    println!(
        "| rollouts | plugin | {} | all done (s) | requests / change | writes / change | requests / idle reconcile | peak RSS (MiB) | peak anonymous (MiB) | peak file-backed (MiB) |",
        WEIGHTS
            .iter()
            .map(|w| format!("all at {w} (s)"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "|---|---|{}---|---|---|---|---|---|---|",
        "---|".repeat(WEIGHTS.len())
    );
    for (n, name, f) in &results {
        println!(
            "| {n} | {name} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} |",
            WEIGHTS
                .iter()
                .map(|w| format!("{:.1}", f.to_weight[w]))
                .collect::<Vec<_>>()
                .join(" | "),
            f.to_done,
            f.requests_per_change,
            f.writes_per_change,
            f.requests_per_idle,
            f.peak_rss_kib as f64 / 1024.0,
            f.peak_rss_anon_kib as f64 / 1024.0,
            f.peak_rss_file_kib as f64 / 1024.0,
        );
    }
    for &n in &sizes {
        let get = |name: &str| {
            results
                .iter()
                .find(|(m, s, _)| *m == n && *s == name)
                .map(|(_, _, f)| f.clone())
        };
        for (label, ours, anchor) in [
            ("ours/anchor", get("rollgate"), get("anchor")),
            (
                "ours with --no-watch-cache/anchor",
                get("rollgate --no-watch-cache"),
                get("anchor"),
            ),
        ] {
            let (Some(ours), Some(anchor)) = (ours, anchor) else {
                continue;
            };
            println!(
                "ratios {label} at {n}: time to 20 {}, to 40 {}, to done {}, requests/change {}, writes/change {}, requests/idle {}, peak RSS {}",
                ratio(ours.to_weight[&20], anchor.to_weight[&20]),
                ratio(ours.to_weight[&40], anchor.to_weight[&40]),
                ratio(ours.to_done, anchor.to_done),
                ratio(ours.requests_per_change, anchor.requests_per_change),
                ratio(ours.writes_per_change, anchor.writes_per_change),
                ratio(ours.requests_per_idle, anchor.requests_per_idle),
                ratio(ours.peak_rss_kib as f64, anchor.peak_rss_kib as f64),
            );
        }
    }
}

async fn run(client: &Client, side: &Side, n: usize) -> Figures {
    let ns = BenchNamespace::create(client, side.name, n).await;
    let args: String = side
        .args
        .iter()
        .map(|a| format!("\n    - \"{a}\""))
        .collect();
    let plugins = format!(
        "- name: argoproj-labs/gatewayAPI\n  location: file://{}\n  args:{args}\n",
        side.plugin.display()
    );
    Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "argo-rollouts-config"},
                "data": {"trafficRouterPlugins": plugins}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    ns.create_routes(n).await;
    ns.create_rollouts(n, |i| {
        let mut config = side.config.clone();
        config["httpRoute"] = json!(format!("demo-{i}"));
        config["namespace"] = json!(ns.name);
        canary_rollout(i, Some(("argoproj-labs/gatewayAPI", config)))
    })
    .await;

    let work = std::env::temp_dir().join(format!("rollgate-{}", ns.name));
    std::fs::create_dir_all(&work).unwrap();
    let mut controller = start_controller(&ns.name, &work);
    let plugin_dir = work.join("plugin-bin");
    let sampler = Sampler::start(move |_, exe| exe.starts_with(&plugin_dir));

    let mut figures = Figures::default();
    ns.wait_all(n, Some(0), "Healthy", Duration::from_secs(600))
        .await;

    // Trigger: a new image for every rollout.
    let audit_start = bench::audit_offset();
    let started = Instant::now();
    ns.change_images(n).await;
    // Paused, too: promoting before the pause is recorded would be lost.
    ns.wait_all(n, Some(20), "Paused", Duration::from_secs(900))
        .await;
    figures
        .to_weight
        .insert(20, started.elapsed().as_secs_f64());

    // Promote every rollout past the indefinite pause, as kubectl does.
    ns.count_weights_from_now();
    let started = Instant::now();
    ns.promote_all(n).await;
    // Rollouts move on independently: wait until every route has carried
    // at least the weight at some point (the highest weight seen per route).
    for weight in [40, 60, 80] {
        ns.wait_reached(n, weight, Duration::from_secs(900)).await;
        figures
            .to_weight
            .insert(weight, started.elapsed().as_secs_f64());
    }
    let last = Instant::now();
    ns.wait_all(n, Some(0), "Healthy", Duration::from_secs(900))
        .await;
    figures.to_done = last.elapsed().as_secs_f64();
    bench::settle().await;
    let stepping = plugin_requests(&ns.name, audit_start);
    let changes = (n * WEIGHT_CHANGES) as f64;
    figures.requests_per_change = stepping.all as f64 / changes;
    figures.writes_per_change = stepping.writes as f64 / changes;

    // Idle: every rollout reconciled once with nothing to change.
    let audit_idle = bench::audit_offset();
    ns.touch_all(n).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    bench::settle().await;
    figures.requests_per_idle = plugin_requests(&ns.name, audit_idle).all as f64 / n as f64;

    let process = sampler.figures().await;
    drop(sampler);
    figures.peak_rss_kib = process.peak_rss_kib;
    figures.peak_rss_anon_kib = process.peak_rss_anon_kib;
    figures.peak_rss_file_kib = process.peak_rss_file_kib;
    let _ = controller.kill();
    let _ = controller.wait();
    let _ = std::fs::remove_dir_all(&work);
    ns.delete().await;
    figures
}

fn start_controller(ns: &str, work: &Path) -> Child {
    let bin = std::env::var("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER")
        .expect("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER (scripts/cluster env)");
    let log = std::fs::File::create(work.join("controller.log")).unwrap();
    Command::new(bin)
        .args(["--namespaced", "--leader-elect=false", "--namespace", ns])
        .args(["--metricsPort", "0", "--healthzPort", "0"])
        .args(["--rollout-threads", "10"])
        .env("POD_NAMESPACE", ns)
        .current_dir(work)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start the Argo Rollouts controller")
}

/// Requests and writes to HTTPRoutes in `ns` since audit line `from` made by
/// the plugin: every request on a named route (the harness only lists, the
/// controller never touches routes, and both plugins here are configured by
/// route name), plus the watch cache's lists and watches (paged lists and
/// `watch=true`, which the harness's own plain lists are not).
fn plugin_requests(ns: &str, from: u64) -> bench::Requests {
    bench::audited_requests(from, |event| {
        if event["objectRef"]["resource"] != "httproutes" || event["objectRef"]["namespace"] != ns {
            return false;
        }
        let named = event["objectRef"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        let uri = event["requestURI"].as_str().unwrap_or_default();
        let cache = uri.contains("watch=true") || uri.contains("limit=");
        named || cache
    })
}

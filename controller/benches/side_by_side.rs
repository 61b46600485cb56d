//! The two controllers side by side on one cluster: `rollgate` (this
//! crate's `rollgate-controller`, release build, the Gateway API router
//! in-process) and `argo` (Argo Rollouts' controller from `scripts/cluster`,
//! `$ROLLGATE_ARGO_ROLLOUTS_CONTROLLER`, with the `rollgate-gatewayapi`
//! release binary registered under `argoproj-labs/gatewayAPI`). Each side
//! runs alone, one after the other, watching only its own namespace
//! (`--namespace`; Argo's `--namespaced`), each with its own default client
//! limits (Argo's controller: 40 requests per second with bursts of 80 per
//! clientset; `rollgate-controller`: 40 with bursts of 80 for its one
//! client; the plugin: none of its own)
//! unless `ROLLGATE_BENCH_QPS` (and `ROLLGATE_BENCH_BURST`) give both
//! controllers and the plugin the same `--qps` and `--burst`, and both with
//! `--rollout-threads` from `ROLLGATE_BENCH_THREADS` (default 10, Argo's).
//! A side named with more words (`argo --qps=-1 --burst=1`) passes them to
//! its controller after the harness's own flags.
//!
//! Two modes (`ROLLGATE_BENCH_MODES`, default `stepping,settled`):
//!
//! * `stepping`: N rollouts, each with one HTTPRoute and seed 002's steps
//!   (setWeight 20, pause, 40, pause 10 s, 60, pause 10 s, 80, pause 10 s),
//!   settled Healthy, then every image changed; the harness waits until
//!   every route carries 20 and every rollout is Paused, sends each the
//!   promote patches of `kubectl argo rollouts promote`, and records when
//!   every route has carried 40, 60 and 80 and when every rollout is
//!   Healthy again at 0. Requests are the controller's (and for Argo its
//!   plugin's) requests in the namespace, from the API server's audit log,
//!   per rollout per step; RSS and CPU seconds are the controller
//!   process's (plus, for Argo, the plugin process's).
//! * `settled`: N rollouts (1 replica each, kwok pods, no traffic routing)
//!   created and settled Healthy; then the controller's resident set after
//!   settling, its CPU seconds and requests over one idle minute, and the
//!   resident set per rollout (the slope between sizes).
//!
//! ```sh
//! cargo build --release -p rollgate-gatewayapi
//! ROLLGATE_KWOK_NODES=12 scripts/cluster up && eval "$(scripts/cluster env)"
//! ROLLGATE_BENCH_SIZES=100,1000 ROLLGATE_BENCH_MODES=stepping \
//!   cargo bench -p rollgate-controller --bench side_by_side
//! ```
//!
//! `ROLLGATE_BENCH_SIDES` picks sides (default `rollgate,argo`; each
//! `rollgate` or `argo`, then any flags of its own);
//! `ROLLGATE_BENCH_CONTROLLER` runs another build of `rollgate-controller`
//! (a path) instead of the one cargo built with the bench;
//! `ROLLGATE_BENCH_PLUGIN` is the plugin binary for Argo's side (default:
//! `rollgate-gatewayapi` beside the bench's own release build). A kwok
//! node holds 1,000 pods: settled runs need N / 1,000 nodes, stepping runs
//! twice that.

mod sides;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::Client;
use rollgate_testkit::bench::{
    self, BenchNamespace, ProcessFigures, WEIGHTS, canary_rollout, ratio,
};
use sides::{
    Limits, Running, Side, SideKind, delete_and_wait, mib, routed_namespace, side_requests,
};

/// Seed 002's steps per update.
const STEPS: usize = 8;
/// How long the idle measurement of a settled run lasts.
const IDLE: Duration = Duration::from_secs(60);
/// The limit of any one wait: an hour, or 0.6 s per rollout when that is
/// longer (10,000 rollouts settle in about 50 minutes at `--qps 40`, more
/// with another run beside them).
fn limit(n: usize) -> Duration {
    Duration::from_secs(3600).max(Duration::from_millis(600 * n as u64))
}

#[derive(Debug, Default, Clone)]
struct Stepping {
    /// Seconds from the image change until every route carries 20 and
    /// every rollout is Paused.
    to_20: f64,
    /// Seconds from the promotion until every route has carried the weight.
    to_weight: BTreeMap<i64, f64>,
    /// Seconds from the promotion until every rollout is Healthy at 0.
    to_done: f64,
    /// Requests (and writes) per rollout per step while stepping.
    per_step: (f64, f64),
    /// Requests per rollout for one idle reconcile of each.
    per_idle: f64,
    /// Requests per rollout per step by verb and resource, most first.
    by_kind: Vec<(String, f64)>,
    process: ProcessFigures,
}

#[derive(Debug, Default, Clone)]
struct Settled {
    /// Seconds from the controller's start until every rollout is Healthy.
    to_healthy: f64,
    /// Resident set after settling, in KiB.
    rss_kib: u64,
    /// CPU seconds over one idle minute.
    idle_cpu: f64,
    /// Requests over the idle minute.
    idle_requests: u64,
    process: ProcessFigures,
}

#[tokio::main]
async fn main() {
    if !bench::enabled("then cargo build --release -p rollgate-gatewayapi for Argo's side") {
        return;
    }
    let sizes = bench::sizes("100");
    let modes = bench::env_list("ROLLGATE_BENCH_MODES", "stepping,settled");
    let sides = Side::chosen();
    let limits = Limits::from_env();
    let client = Client::try_default().await.expect("KUBECONFIG");
    let mut stepping: Vec<(usize, &str, Stepping)> = Vec::new();
    let mut settled: Vec<(usize, &str, Settled)> = Vec::new();
    println!("client limits: {}", limits.describe());
    for &n in &sizes {
        for mode in &modes {
            for side in &sides {
                println!(
                    "{n} rollouts, {mode}, {}: started, load average {}",
                    side.name,
                    bench::load_average()
                );
                match mode.as_str() {
                    "stepping" => {
                        let f = run_stepping(&client, side, &limits, n).await;
                        println!("{n:>6} {mode} {:<9} {f:?}", side.name);
                        stepping.push((n, &side.name, f));
                    }
                    "settled" => {
                        let f = run_settled(&client, side, &limits, n).await;
                        settled.push((n, &side.name, f));
                    }
                    other => panic!(
                        "ROLLGATE_BENCH_MODES: expected stepping or settled, found \"{other}\""
                    ),
                }
                println!("  finished, load average {}", bench::load_average());
            }
        }
    }
    print_stepping(&sizes, &stepping);
    print_settled(&sizes, &settled);
}

async fn run_stepping(client: &Client, side: &Side, limits: &Limits, n: usize) -> Stepping {
    let ns = routed_namespace(
        client,
        side,
        limits,
        &format!("{} stepping", side.name),
        n,
        None,
    )
    .await;
    let running = Running::start(side, limits, &ns.name);
    let mut figures = Stepping::default();
    ns.wait_all(n, Some(0), "Healthy", limit(n)).await;

    let audit_start = bench::audit_offset();
    let started = Instant::now();
    ns.change_images(n).await;
    // Paused, too: promoting before the pause is recorded would be lost.
    ns.wait_all(n, Some(20), "Paused", limit(n)).await;
    figures.to_20 = started.elapsed().as_secs_f64();

    ns.count_weights_from_now();
    let started = Instant::now();
    ns.promote_all(n).await;
    for weight in &WEIGHTS[1..] {
        ns.wait_reached(n, *weight, limit(n)).await;
        figures
            .to_weight
            .insert(*weight, started.elapsed().as_secs_f64());
    }
    ns.wait_all(n, Some(0), "Healthy", limit(n)).await;
    figures.to_done = started.elapsed().as_secs_f64();
    bench::settle().await;
    let kinds = std::cell::RefCell::new(BTreeMap::<String, u64>::new());
    let stepping = side_requests(side, &ns.name, audit_start, |e| {
        let kind = format!(
            "{} {}{}",
            e["verb"].as_str().unwrap_or("?"),
            e["objectRef"]["resource"].as_str().unwrap_or("?"),
            e["objectRef"]["subresource"]
                .as_str()
                .map_or_else(String::new, |s| format!("/{s}"))
        );
        *kinds.borrow_mut().entry(kind).or_default() += 1;
    });
    let steps = (n * STEPS) as f64;
    figures.per_step = (stepping.all as f64 / steps, stepping.writes as f64 / steps);
    let mut by_kind: Vec<(String, f64)> = kinds
        .into_inner()
        .into_iter()
        .map(|(kind, count)| (kind, count as f64 / steps))
        .collect();
    by_kind.sort_by(|a, b| b.1.total_cmp(&a.1));
    figures.by_kind = by_kind;

    let audit_idle = bench::audit_offset();
    ns.touch_all(n).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    bench::settle().await;
    figures.per_idle = side_requests(side, &ns.name, audit_idle, |_| ()).all as f64 / n as f64;
    figures.process = running.sampler.figures().await;
    running.stop();
    delete_and_wait(client, ns).await;
    figures
}

async fn run_settled(client: &Client, side: &Side, limits: &Limits, n: usize) -> Settled {
    let ns = BenchNamespace::create(client, &format!("{} settled", side.name), n).await;
    ns.create_rollouts(n, |i| canary_rollout(i, None)).await;
    let started = Instant::now();
    let running = Running::start(side, limits, &ns.name);
    ns.wait_all(n, None, "Healthy", limit(n)).await;
    let mut figures = Settled {
        to_healthy: started.elapsed().as_secs_f64(),
        ..Settled::default()
    };
    // Steady: the last writes of settling answered, the caches full.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let before = running.sampler.figures().await;
    let audit_idle = bench::audit_offset();
    tokio::time::sleep(IDLE).await;
    let after = running.sampler.figures().await;
    bench::settle().await;
    figures.rss_kib = after.rss_kib;
    figures.idle_cpu = after.cpu_seconds - before.cpu_seconds;
    figures.idle_requests = side_requests(side, &ns.name, audit_idle, |_| ()).all;
    figures.process = after;
    running.stop();
    // Recorded before the namespace's deletion, which takes minutes at
    // 10,000 rollouts.
    println!("{n:>6} settled {:<9} {figures:?}", side.name);
    delete_and_wait(client, ns).await;
    figures
}

fn print_stepping(sizes: &[usize], results: &[(usize, &str, Stepping)]) {
    if results.is_empty() {
        return;
    }
    println!();
    println!(
        "| rollouts | controller | all at 20 (s) | all at 40 (s) | all at 60 (s) | all at 80 (s) | all done (s) | requests / rollout / step | writes / rollout / step | requests / idle reconcile | peak RSS (MiB) | CPU (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (n, name, f) in results {
        println!(
            "| {n} | {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} |",
            f.to_20,
            f.to_weight[&40],
            f.to_weight[&60],
            f.to_weight[&80],
            f.to_done,
            f.per_step.0,
            f.per_step.1,
            f.per_idle,
            mib(f.process.peak_rss_kib),
            f.process.cpu_seconds,
        );
    }
    for (n, name, f) in results {
        let kinds: Vec<String> = f
            .by_kind
            .iter()
            .map(|(kind, per)| format!("{kind} {per:.2}"))
            .collect();
        println!(
            "requests / rollout / step at {n}, {name}: {}",
            kinds.join(", ")
        );
    }
    for &n in sizes {
        let at = |kind: SideKind| {
            results
                .iter()
                .filter(move |(m, s, _)| *m == n && Side::parse(s).kind == kind)
        };
        for ((_, ours_name, ours), (_, argo_name, argo)) in
            at(SideKind::Rollgate).flat_map(|o| at(SideKind::Argo).map(move |a| (o, a)))
        {
            println!(
                "stepping ratios {ours_name} / {argo_name} at {n}: to 20 {}, to 40 {}, to 80 {}, to done {}, whole update {}, requests/step {}, writes/step {}, peak RSS {}, CPU {}",
                ratio(ours.to_20, argo.to_20),
                ratio(ours.to_weight[&40], argo.to_weight[&40]),
                ratio(ours.to_weight[&80], argo.to_weight[&80]),
                ratio(ours.to_done, argo.to_done),
                ratio(ours.to_20 + ours.to_done, argo.to_20 + argo.to_done),
                ratio(ours.per_step.0, argo.per_step.0),
                ratio(ours.per_step.1, argo.per_step.1),
                ratio(
                    ours.process.peak_rss_kib as f64,
                    argo.process.peak_rss_kib as f64
                ),
                ratio(ours.process.cpu_seconds, argo.process.cpu_seconds),
            );
        }
    }
}

fn print_settled(sizes: &[usize], results: &[(usize, &str, Settled)]) {
    if results.is_empty() {
        return;
    }
    println!();
    println!(
        "| rollouts | controller | all Healthy (s) | RSS settled (MiB) | peak RSS (MiB) | CPU s / idle minute | requests / idle minute | KiB / rollout (slope from the previous size) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (n, name, f) in results {
        let previous = results
            .iter()
            .filter(|(m, s, _)| s == name && m < n)
            .max_by_key(|(m, _, _)| *m);
        let slope = previous.map_or_else(
            || "-".to_owned(),
            |(m, _, p)| {
                format!(
                    "{:.1}",
                    (f.rss_kib as f64 - p.rss_kib as f64) / (n - m) as f64
                )
            },
        );
        println!(
            "| {n} | {name} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {slope} |",
            f.to_healthy,
            mib(f.rss_kib),
            mib(f.process.peak_rss_kib),
            f.idle_cpu,
            f.idle_requests,
        );
    }
    for &n in sizes {
        let get = |name| results.iter().find(|(m, s, _)| *m == n && *s == name);
        let (Some((_, _, ours)), Some((_, _, argo))) = (get("rollgate"), get("argo")) else {
            continue;
        };
        println!(
            "settled ratios rollgate/argo at {n}: RSS {}, peak RSS {}, idle CPU {}, time to Healthy {}",
            ratio(ours.rss_kib as f64, argo.rss_kib as f64),
            ratio(
                ours.process.peak_rss_kib as f64,
                argo.process.peak_rss_kib as f64
            ),
            ratio(ours.idle_cpu, argo.idle_cpu),
            ratio(ours.to_healthy, argo.to_healthy),
        );
    }
}

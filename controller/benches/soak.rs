//! The soak: N rollouts (default 100) stepping again and again for a while
//! (default 30 minutes) under `rollgate-controller` (release build, the
//! Gateway API router in-process) and, at the same time in a namespace of
//! its own, Argo Rollouts' controller with the `rollgate-gatewayapi`
//! plugin process; the same sides, limits and objects as `side_by_side`
//! (seed 002's steps, one HTTPRoute per rollout, kwok pods).
//!
//! Each rollout that is done (Healthy, its stable ReplicaSet the current
//! one) gets a new image; one paused at its indefinite pause (step 2) is
//! promoted with the patches of `kubectl argo rollouts promote`; the timed
//! pauses run out. Every `ROLLGATE_SOAK_SAMPLE_SECONDS` (default 30) the
//! harness records, for the controller and the plugin process apart, the
//! resident set (`VmRSS`), open file descriptors (`/proc/PID/fd`),
//! threads and, for ours, the tokio tasks alive (scraped from their
//! `/metrics`: `rollgate_controller_tokio_alive_tasks`,
//! `rollgate_plugin_tokio_alive_tasks`, the plugin given `--metrics-addr`
//! through `argo-rollouts-config`), and prints the series and a verdict
//! against this bound:
//!
//! * resident set: the last sample within 8 MiB or 10 % (whichever is
//!   larger) of the first sample after the warm-up
//!   (`ROLLGATE_SOAK_WARMUP_MINUTES`, default 5; caches filled, every
//!   rollout through a few updates), with the least-squares slope after the
//!   warm-up printed beside it;
//! * file descriptors: the last sample at most 4 above the largest seen
//!   during the warm-up (connections come and go);
//! * threads: the last sample at most 2 above the largest seen during the
//!   warm-up;
//! * tokio tasks: the last sample at most 8 above the largest seen during
//!   the warm-up (a task per connection, and connections come and go).
//!
//! ```sh
//! cargo build --release -p rollgate-gatewayapi
//! scripts/cluster up && eval "$(scripts/cluster env)"
//! ROLLGATE_SOAK_MINUTES=30 cargo bench -p rollgate-controller --bench soak
//! ```
//!
//! `ROLLGATE_SOAK_ROLLOUTS` sets N; `ROLLGATE_BENCH_SIDES`,
//! `ROLLGATE_BENCH_QPS`, `ROLLGATE_BENCH_BURST`, `ROLLGATE_BENCH_THREADS`,
//! `ROLLGATE_BENCH_CONTROLLER` and `ROLLGATE_BENCH_PLUGIN` are
//! `side_by_side`'s. Exits with 1 when a process of ours (rollgate-controller,
//! rollgate-gatewayapi) is outside the bound.

mod sides;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Client;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use rollgate_testkit::bench::{self, BenchNamespace, Snapshot, promote_patches};
use rollgate_testkit::scrape::{self, Samples};
use rollout_core::Phase;
use serde_json::{Value, json};
use sides::{Limits, Running, Side, SideKind, delete_and_wait, mib, routed_namespace};

/// The limit of the first settling.
const LIMIT: Duration = Duration::from_secs(1800);
/// How long the harness waits between two looks at the rollouts.
const POLL: Duration = Duration::from_secs(2);
/// How many patches go out at once.
const PARALLEL: usize = 16;

/// The bound: slack of the resident set, in KiB and as a fraction.
const RSS_SLACK_KIB: u64 = 8 * 1024;
const RSS_SLACK_FRACTION: f64 = 0.10;
/// The bound: file descriptors and threads above the warm-up's largest.
const FD_SLACK: u64 = 4;
const THREAD_SLACK: u64 = 2;
/// The bound: tokio tasks above the warm-up's largest.
const TASK_SLACK: u64 = 8;
/// How long a scrape of `/metrics` may take.
const SCRAPE: Duration = Duration::from_secs(5);

/// One sample of a side.
#[derive(Debug, Clone)]
struct Sample {
    /// Seconds since the soak started.
    at: f64,
    controller: Option<Snapshot>,
    /// Summed over the plugin processes (Argo's side).
    plugin: Option<Snapshot>,
    plugin_pids: Vec<u32>,
    /// Tokio tasks alive in `rollgate-controller` and in the plugin
    /// process (`None` for Argo's controller, or when a scrape failed).
    controller_tasks: Option<u64>,
    plugin_tasks: Option<u64>,
    /// Updates finished so far (every rollout back at Healthy on a new image).
    updates: u64,
}

/// What a side went through.
struct Soaked {
    name: String,
    kind: SideKind,
    samples: Vec<Sample>,
    updates: u64,
    promotions: u64,
    failed_patches: u64,
}

fn minutes(name: &str, default: f64) -> Duration {
    let value = std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: expected a number of minutes, found \"{v}\""))
    });
    Duration::from_secs_f64(value * 60.0)
}

#[tokio::main]
async fn main() -> ExitCode {
    if !bench::enabled("then cargo build --release -p rollgate-gatewayapi for Argo's side") {
        return ExitCode::SUCCESS;
    }
    let n: usize = std::env::var("ROLLGATE_SOAK_ROLLOUTS").map_or(100, |v| {
        v.parse().unwrap_or_else(|_| {
            panic!("ROLLGATE_SOAK_ROLLOUTS: expected a whole number, found \"{v}\"")
        })
    });
    let duration = minutes("ROLLGATE_SOAK_MINUTES", 30.0);
    let warm_up = minutes("ROLLGATE_SOAK_WARMUP_MINUTES", 5.0);
    let every = Duration::from_secs(std::env::var("ROLLGATE_SOAK_SAMPLE_SECONDS").map_or(
        30,
        |v| {
            v.parse().unwrap_or_else(|_| {
                panic!("ROLLGATE_SOAK_SAMPLE_SECONDS: expected whole seconds, found \"{v}\"")
            })
        },
    ));
    let limits = Limits::from_env();
    let client = Client::try_default().await.expect("KUBECONFIG");
    println!("client limits: {}", limits.describe());
    println!(
        "soak: {n} rollouts per side, {:.0} minutes, a sample every {}s, warm-up {:.0} minutes, load average {}",
        duration.as_secs_f64() / 60.0,
        every.as_secs(),
        warm_up.as_secs_f64() / 60.0,
        bench::load_average()
    );
    let sides = Side::chosen();
    let soaked = futures::future::join_all(
        sides
            .iter()
            .map(|side| soak(&client, side, &limits, n, duration, every)),
    )
    .await;
    println!("soak finished, load average {}", bench::load_average());
    let mut within = true;
    for (side, _) in &soaked {
        within &= report(side, warm_up);
    }
    // After the report: the deletion of a namespace of rollouts takes
    // minutes on a loaded machine.
    futures::future::join_all(
        soaked
            .into_iter()
            .map(|(_, ns)| delete_and_wait(&client, ns)),
    )
    .await;
    if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one side for `duration`, sampling every `every`; its controller
/// stopped, its namespace left to delete.
async fn soak(
    client: &Client,
    side: &Side,
    limits: &Limits,
    n: usize,
    duration: Duration,
    every: Duration,
) -> (Soaked, BenchNamespace) {
    let plugin_port = (side.kind == SideKind::Argo).then(scrape::free_port);
    let ns = routed_namespace(
        client,
        side,
        limits,
        &format!("soak {}", side.name),
        n,
        plugin_port,
    )
    .await;
    let running = Running::start(side, limits, &ns.name);
    ns.wait_all(n, Some(0), "Healthy", LIMIT).await;
    println!("{}: {n} rollouts Healthy; soaking", side.name);
    let mut soaked = Soaked {
        name: side.name.clone(),
        kind: side.kind,
        samples: Vec::new(),
        updates: 0,
        promotions: 0,
        failed_patches: 0,
    };
    // The image version each rollout is on (all start at 1).
    let mut versions: HashMap<String, u64> = HashMap::new();
    let started = Instant::now();
    let mut next_sample = started;
    loop {
        let elapsed = started.elapsed();
        if Instant::now() >= next_sample || elapsed >= duration {
            let sample = sample(&running, plugin_port, elapsed, soaked.updates).await;
            println!("{}: {}", side.name, row(&sample));
            soaked.samples.push(sample);
            next_sample += every;
        }
        if elapsed >= duration {
            break;
        }
        step(&ns, &mut versions, &mut soaked).await;
        tokio::time::sleep(POLL).await;
    }
    running.stop();
    (soaked, ns)
}

/// The tokio tasks alive in the process serving `/metrics` on `port`
/// (gauge `name`), `None` when it does not answer with the gauge.
async fn alive_tasks(port: Option<u16>, name: &str) -> Option<u64> {
    let (status, body) = tokio::time::timeout(SCRAPE, scrape::http_get(port?, "/metrics"))
        .await
        .ok()??;
    let served = status == 200 && body.lines().any(|line| line.starts_with(name));
    served.then(|| Samples::parse(&body).sum(name, &[]) as u64)
}

/// The controller and its plugin processes now.
async fn sample(running: &Running, plugin_port: Option<u16>, at: Duration, updates: u64) -> Sample {
    let plugin_pids = running.plugin_pids();
    let plugin = plugin_pids
        .iter()
        .filter_map(|&pid| bench::snapshot(pid))
        .reduce(|a, b| Snapshot {
            rss_kib: a.rss_kib + b.rss_kib,
            fds: a.fds + b.fds,
            threads: a.threads + b.threads,
        });
    Sample {
        at: at.as_secs_f64(),
        controller: bench::snapshot(running.pid()),
        plugin,
        plugin_pids,
        controller_tasks: alive_tasks(
            running.metrics_port,
            "rollgate_controller_tokio_alive_tasks",
        )
        .await,
        plugin_tasks: alive_tasks(plugin_port, "rollgate_plugin_tokio_alive_tasks").await,
        updates,
    }
}

/// One look at the rollouts: a new image for each one done, a promotion
/// for each one at its indefinite pause.
async fn step(ns: &BenchNamespace, versions: &mut HashMap<String, u64>, soaked: &mut Soaked) {
    let listed = match ns.rollouts.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            eprintln!("{}: list rollouts failed ({e}); trying again", soaked.name);
            return;
        }
    };
    let mut patches: Vec<(String, bool, Value)> = Vec::new();
    for object in listed {
        let name = object.metadata.name.clone().unwrap_or_default();
        let version = versions.entry(name.clone()).or_insert(1);
        match next_action(&object, *version) {
            Some(Action::NewImage) => {
                *version += 1;
                if *version > 2 {
                    soaked.updates += 1;
                }
                let image = json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "demo", "image": format!("example.com/demo:{version}")}]}}}});
                patches.push((name, false, image));
            }
            Some(Action::Promote) => {
                soaked.promotions += 1;
                for (status, body) in promote_patches(object) {
                    patches.push((name.clone(), status, body));
                }
            }
            None => {}
        }
    }
    let failed = futures::stream::iter(patches)
        .map(|(name, status, body)| async move {
            let params = PatchParams::default();
            let patch = Patch::Merge(&body);
            let result = if status {
                ns.rollouts.patch_status(&name, &params, &patch).await
            } else {
                ns.rollouts.patch(&name, &params, &patch).await
            };
            result
                .map_err(|e| eprintln!("patch Rollout {name}: {e}"))
                .is_err()
        })
        .buffer_unordered(PARALLEL)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    soaked.failed_patches += failed as u64;
}

enum Action {
    NewImage,
    Promote,
}

/// What the harness does to `object`, on image `version`: a new image
/// once it is done with this one, a promotion at its indefinite pause.
fn next_action(object: &DynamicObject, version: u64) -> Option<Action> {
    let value = serde_json::to_value(object).ok()?;
    let image = value["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    let rollout = rollout_core::Rollout::from_value(value, "the soak's rollout").ok()?;
    let status = rollout.status.as_ref()?;
    let (phase, _) = rollout_core::conditions::rollout_phase(&rollout);
    let promoted = status.stable_rs.is_some() && status.stable_rs == status.current_pod_hash;
    if phase == Phase::Healthy && promoted && image == format!("example.com/demo:{version}") {
        Some(Action::NewImage)
    } else if phase == Phase::Paused
        && status.current_step_index == Some(1)
        && !status.pause_conditions.is_empty()
    {
        Some(Action::Promote)
    } else {
        None
    }
}

fn cells(snapshot: Option<Snapshot>, tasks: Option<u64>) -> String {
    let tasks = tasks.map_or_else(|| "-".to_owned(), |t| t.to_string());
    snapshot.map_or_else(
        || format!("- | - | - | {tasks}"),
        |s| {
            format!(
                "{:.1} | {} | {} | {tasks}",
                mib(s.rss_kib),
                s.fds,
                s.threads
            )
        },
    )
}

fn row(sample: &Sample) -> String {
    format!(
        "| {:.1} | {} | {} | {} |",
        sample.at / 60.0,
        cells(sample.controller, sample.controller_tasks),
        cells(sample.plugin, sample.plugin_tasks),
        sample.updates
    )
}

/// Prints a side's series and verdicts; false when a process of ours is
/// outside the bound.
fn report(side: &Soaked, warm_up: Duration) -> bool {
    println!();
    println!(
        "{}: {} updates finished, {} promotions, {} patches refused (tried again)",
        side.name, side.updates, side.promotions, side.failed_patches
    );
    println!(
        "| minute | controller RSS (MiB) | fds | threads | tasks | plugin RSS (MiB) | fds | threads | tasks | updates finished |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for sample in &side.samples {
        println!("{}", row(sample));
    }
    let pids: Vec<&Vec<u32>> = side
        .samples
        .iter()
        .map(|s| &s.plugin_pids)
        .filter(|p| !p.is_empty())
        .collect();
    if pids.windows(2).any(|w| w[0] != w[1]) {
        println!("{}: the plugin process changed during the soak", side.name);
    }
    let (controller, plugin) = match side.kind {
        SideKind::Rollgate => ("rollgate-controller", None),
        SideKind::Argo => ("argo-rollouts controller", Some("rollgate-gatewayapi")),
    };
    let mut within = true;
    let ours = side.kind == SideKind::Rollgate;
    let series = |pick: fn(&Sample) -> Option<Snapshot>| -> Vec<(f64, Snapshot)> {
        side.samples
            .iter()
            .filter_map(|s| pick(s).map(|snap| (s.at, snap)))
            .collect()
    };
    let tasks = |pick: fn(&Sample) -> Option<u64>| -> Vec<(f64, u64)> {
        side.samples
            .iter()
            .filter_map(|s| pick(s).map(|tasks| (s.at, tasks)))
            .collect()
    };
    if let Some(ok) = verdict(&side.name, controller, &series(|s| s.controller), warm_up) {
        within &= ok || !ours;
    }
    if ours {
        within &= task_verdict(side, controller, &tasks(|s| s.controller_tasks), warm_up);
    }
    if let Some(plugin) = plugin {
        if let Some(ok) = verdict(&side.name, plugin, &series(|s| s.plugin), warm_up) {
            within &= ok;
        }
        within &= task_verdict(side, plugin, &tasks(|s| s.plugin_tasks), warm_up);
    }
    within
}

/// The verdict on one process's tokio tasks: the last sample at most
/// [`TASK_SLACK`] above the largest during the warm-up. A process of ours
/// that never answered a scrape after the warm-up is outside the bound
/// (nothing was measured).
fn task_verdict(side: &Soaked, process: &str, series: &[(f64, u64)], warm_up: Duration) -> bool {
    let (samples, side) = (side.samples.len(), &side.name);
    let warm = warm_up.as_secs_f64();
    let during = series
        .iter()
        .filter(|(t, _)| *t < warm)
        .map(|(_, n)| *n)
        .max();
    let Some(&(_, last)) = series.iter().rfind(|(t, _)| *t >= warm) else {
        println!("{side}: {process}: no tokio task count after the warm-up: OUTSIDE the bound");
        return false;
    };
    let bound = during.unwrap_or(last) + TASK_SLACK;
    let ok = last <= bound;
    println!(
        "{side}: {process}: tokio tasks {} at most during the warm-up, {last} at the end (bound {bound}), {} of {} samples scraped: {}",
        during.map_or_else(|| "-".to_owned(), |n| n.to_string()),
        series.len(),
        samples,
        if ok {
            "within the bound"
        } else {
            "OUTSIDE the bound"
        }
    );
    ok
}

/// The verdict on one process's series against the bound (`None` when the
/// series is too short to have one after the warm-up).
fn verdict(
    side: &str,
    process: &str,
    series: &[(f64, Snapshot)],
    warm_up: Duration,
) -> Option<bool> {
    let warm = warm_up.as_secs_f64();
    let during: Vec<&Snapshot> = series
        .iter()
        .filter(|(t, _)| *t < warm)
        .map(|(_, s)| s)
        .collect();
    let after: Vec<(f64, Snapshot)> = series.iter().filter(|(t, _)| *t >= warm).copied().collect();
    let (Some((_, base)), Some((_, last))) = (after.first(), after.last()) else {
        println!("{side}: {process}: no sample after the warm-up; no verdict");
        return None;
    };
    let slack = RSS_SLACK_KIB.max((base.rss_kib as f64 * RSS_SLACK_FRACTION) as u64);
    let rss_ok = last.rss_kib <= base.rss_kib + slack;
    let max_fds = during.iter().map(|s| s.fds).max().unwrap_or(base.fds);
    let max_threads = during
        .iter()
        .map(|s| s.threads)
        .max()
        .unwrap_or(base.threads);
    let fds_ok = last.fds <= max_fds + FD_SLACK;
    let threads_ok = last.threads <= max_threads + THREAD_SLACK;
    let ok = rss_ok && fds_ok && threads_ok;
    println!(
        "{side}: {process}: RSS {:.1} MiB after the warm-up, {:.1} MiB at the end (bound {:.1}), slope {:+.1} KiB/min; \
         fds {} at the end (bound {}); threads {} at the end (bound {}): {}",
        mib(base.rss_kib),
        mib(last.rss_kib),
        mib(base.rss_kib + slack),
        slope(&after),
        last.fds,
        max_fds + FD_SLACK,
        last.threads,
        max_threads + THREAD_SLACK,
        if ok {
            "within the bound"
        } else {
            "OUTSIDE the bound"
        }
    );
    Some(ok)
}

/// The least-squares slope of the resident set over the samples, in KiB
/// per minute.
fn slope(samples: &[(f64, Snapshot)]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|(t, _)| t / 60.0).sum::<f64>() / n;
    let mean_r = samples.iter().map(|(_, s)| s.rss_kib as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, s) in samples {
        let dt = t / 60.0 - mean_t;
        num += dt * (s.rss_kib as f64 - mean_r);
        den += dt * dt;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

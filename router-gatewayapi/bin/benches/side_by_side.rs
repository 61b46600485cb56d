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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

const OURS: &str = env!("CARGO_BIN_EXE_rollgate-gatewayapi");
/// Seed 002's steps; the weights the routes pass through, in order.
const WEIGHTS: [i64; 4] = [20, 40, 60, 80];
/// The weight changes of one rollout's update: the four steps' weights,
/// then `maxTrafficWeight` (Argo Rollouts sends the whole traffic to the
/// canary once the last step is done, before it becomes the stable), then
/// 0 on the new stable. The last two come within milliseconds of each other,
/// too fast for the harness's polls to see, so they are counted by rule.
const WEIGHT_CHANGES: usize = WEIGHTS.len() + 2;

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

fn gvk(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

#[tokio::main]
async fn main() {
    if std::env::var("ROLLGATE_E2E").as_deref() != Ok("1") {
        eprintln!(
            "side_by_side needs the real cluster: scripts/cluster up && eval \"$(scripts/cluster env)\"; \
             set ROLLGATE_ANCHOR_PLUGIN to the anchor's binary for the comparison"
        );
        return;
    }
    let sizes: Vec<usize> = std::env::var("ROLLGATE_BENCH_SIZES")
        .unwrap_or_else(|_| "1,100".into())
        .split(',')
        .map(|s| s.trim().parse().expect("ROLLGATE_BENCH_SIZES: numbers"))
        .collect();
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
    if let Ok(only) = std::env::var("ROLLGATE_BENCH_SIDES") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        sides.retain(|s| only.contains(&s.name));
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
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}", a / b)
                } else {
                    "-".into()
                }
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
    let suffix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let slug: String = side
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ' ')
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-");
    let ns = format!("bench-{slug}-{n}-{suffix:x}");
    let pp = PostParams::default();
    Api::<Namespace>::all(client.clone())
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let args: String = side
        .args
        .iter()
        .map(|a| format!("\n    - \"{a}\""))
        .collect();
    let plugins = format!(
        "- name: argoproj-labs/gatewayAPI\n  location: file://{}\n  args:{args}\n",
        side.plugin.display()
    );
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": "argo-rollouts-config"},
                "data": {"trafficRouterPlugins": plugins}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let routes: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
    );
    let rollouts: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &gvk("argoproj.io", "v1alpha1", "Rollout"),
    );
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    for i in 0..n {
        for role in ["stable", "canary"] {
            services
                .create(
                    &pp,
                    &serde_json::from_value(json!({
                        "metadata": {"name": format!("demo-{i}-{role}")},
                        "spec": {"selector": {"app": format!("demo-{i}")}, "ports": [{"port": 80}]}
                    }))
                    .unwrap(),
                )
                .await
                .unwrap();
        }
        routes
            .create(
                &pp,
                &serde_json::from_value(json!({
                    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                    "metadata": {"name": format!("demo-{i}")},
                    "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
                        {"name": format!("demo-{i}-stable"), "port": 80, "weight": 100},
                        {"name": format!("demo-{i}-canary"), "port": 80, "weight": 0}]}]}
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        let mut config = side.config.clone();
        config["httpRoute"] = json!(format!("demo-{i}"));
        config["namespace"] = json!(ns);
        rollouts
            .create(&pp, &serde_json::from_value(rollout(i, config)).unwrap())
            .await
            .unwrap();
    }

    let work = std::env::temp_dir().join(format!("rollgate-{ns}"));
    std::fs::create_dir_all(&work).unwrap();
    let mut controller = start_controller(&ns, &work);
    let peak = Arc::new(Peaks::default());
    let sampler = tokio::spawn(sample_rss(work.join("plugin-bin"), Arc::clone(&peak)));

    let mut figures = Figures::default();
    wait_all(
        &rollouts,
        &routes,
        n,
        0,
        Some("Healthy"),
        Duration::from_secs(600),
    )
    .await;

    // Trigger: a new image for every rollout.
    let audit_start = audit_lines();
    let started = Instant::now();
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "demo", "image": "example.com/demo:2"}]}}}});
    for i in 0..n {
        rollouts
            .patch(
                &format!("demo-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&image),
            )
            .await
            .unwrap();
    }
    // Paused, too: promoting before the pause is recorded would be lost.
    wait_all(
        &rollouts,
        &routes,
        n,
        20,
        Some("Paused"),
        Duration::from_secs(900),
    )
    .await;
    figures
        .to_weight
        .insert(20, started.elapsed().as_secs_f64());

    // Promote every rollout past the indefinite pause, as kubectl does.
    let started = Instant::now();
    for i in 0..n {
        let object = rollouts.get(&format!("demo-{i}")).await.unwrap();
        let rollout =
            rollout_core::Rollout::from_value(serde_json::to_value(&object).unwrap(), "demo")
                .unwrap();
        let patch = rollout_core::ops::promote(&rollout);
        if let Some(body) = patch.status_body() {
            rollouts
                .patch_status(
                    &format!("demo-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(&body),
                )
                .await
                .unwrap();
        }
        if let Some(body) = patch.spec_body() {
            rollouts
                .patch(
                    &format!("demo-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(&body),
                )
                .await
                .unwrap();
        }
    }
    // Rollouts move on independently: wait until every route has carried
    // at least the weight at some point (the highest weight seen per route).
    let mut highest = std::collections::HashMap::new();
    for weight in [40, 60, 80] {
        wait_reached(&routes, n, weight, &mut highest, Duration::from_secs(900)).await;
        figures
            .to_weight
            .insert(weight, started.elapsed().as_secs_f64());
    }
    let last = Instant::now();
    wait_all(
        &rollouts,
        &routes,
        n,
        0,
        Some("Healthy"),
        Duration::from_secs(900),
    )
    .await;
    figures.to_done = last.elapsed().as_secs_f64();
    settle().await;
    let stepping = plugin_requests(&ns, audit_start);
    let changes = (n * WEIGHT_CHANGES) as f64;
    figures.requests_per_change = stepping.0 as f64 / changes;
    figures.writes_per_change = stepping.1 as f64 / changes;

    // Idle: every rollout reconciled once with nothing to change.
    let audit_idle = audit_lines();
    for i in 0..n {
        let touch = json!({"metadata": {"annotations": {"bench/touch": "1"}}});
        rollouts
            .patch(
                &format!("demo-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&touch),
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    settle().await;
    figures.requests_per_idle = plugin_requests(&ns, audit_idle).0 as f64 / n as f64;

    sampler.abort();
    figures.peak_rss_kib = peak.hwm.load(Ordering::Relaxed);
    figures.peak_rss_anon_kib = peak.anon.load(Ordering::Relaxed);
    figures.peak_rss_file_kib = peak.file.load(Ordering::Relaxed);
    let _ = controller.kill();
    let _ = controller.wait();
    let _ = std::fs::remove_dir_all(&work);
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&ns, &Default::default())
        .await;
    figures
}

fn rollout(i: usize, config: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": format!("demo-{i}")},
        "spec": {
            "replicas": 1, "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": format!("demo-{i}")}},
            "template": {"metadata": {"labels": {"app": format!("demo-{i}")}},
                         "spec": {"containers": [{"name": "demo", "image": "example.com/demo:1"}]}},
            "strategy": {"canary": {
                "canaryService": format!("demo-{i}-canary"), "stableService": format!("demo-{i}-stable"),
                "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {"duration": 10}},
                          {"setWeight": 60}, {"pause": {"duration": 10}}, {"setWeight": 80}, {"pause": {"duration": 10}}],
                "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": config}}
            }}
        }
    })
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

/// Waits until every route's canary weight is `weight` and, with a
/// `phase`, every rollout is in it.
async fn wait_all(
    rollouts: &Api<DynamicObject>,
    routes: &Api<DynamicObject>,
    n: usize,
    weight: i64,
    phase: Option<&str>,
    limit: Duration,
) {
    let started = Instant::now();
    loop {
        let at = routes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|r| canary_weight(&r.data) == Some(weight))
            .count();
        let ok = match phase {
            Some(phase) => {
                rollouts
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .filter(|r| r.data["status"]["phase"] == phase)
                    .count()
                    == n
            }
            None => true,
        };
        if at == n && ok {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{at} of {n} routes at canary weight {weight} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until every route has carried a canary weight of at least
/// `weight` (tracking the highest weight seen per route in `highest`).
async fn wait_reached(
    routes: &Api<DynamicObject>,
    n: usize,
    weight: i64,
    highest: &mut std::collections::HashMap<String, i64>,
    limit: Duration,
) {
    let started = Instant::now();
    loop {
        for route in routes.list(&ListParams::default()).await.unwrap().items {
            let w = canary_weight(&route.data).unwrap_or(0);
            let name = route.metadata.name.unwrap_or_default();
            let entry = highest.entry(name).or_insert(w);
            *entry = (*entry).max(w);
        }
        let at = highest.values().filter(|&&w| w >= weight).count();
        if at == n {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{at} of {n} routes reached canary weight {weight} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn canary_weight(route: &Value) -> Option<i64> {
    route["spec"]["rules"][0]["backendRefs"]
        .as_array()?
        .iter()
        .find(|b| b["name"].as_str().is_some_and(|n| n.ends_with("-canary")))
        .map(|b| b["weight"].as_i64().unwrap_or(1))
}

fn audit_path() -> PathBuf {
    PathBuf::from(std::env::var("ROLLGATE_CLUSTER").expect("ROLLGATE_CLUSTER")).join("audit.log")
}

fn audit_lines() -> usize {
    std::fs::read_to_string(audit_path())
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Lets the audit log catch up.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// (requests, writes) to HTTPRoutes in `ns` since audit line `from` made by
/// the plugin: every request on a named route (the harness only lists, the
/// controller never touches routes, and both plugins here are configured by
/// route name), plus the watch cache's lists and watches (paged lists and
/// `watch=true`, which the harness's plain lists are not).
fn plugin_requests(ns: &str, from: usize) -> (u64, u64) {
    let log = std::fs::read_to_string(audit_path()).unwrap_or_default();
    let (mut requests, mut writes) = (0, 0);
    for event in log
        .lines()
        .skip(from)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if event["stage"] != "ResponseComplete"
            || event["objectRef"]["resource"] != "httproutes"
            || event["objectRef"]["namespace"] != ns
        {
            continue;
        }
        let named = event["objectRef"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        let uri = event["requestURI"].as_str().unwrap_or_default();
        let cache = uri.contains("watch=true") || uri.contains("limit=");
        if !(named || cache) {
            continue;
        }
        requests += 1;
        if matches!(
            event["verb"].as_str(),
            Some("patch" | "update" | "create" | "delete")
        ) {
            writes += 1;
        }
    }
    (requests, writes)
}

/// The peaks [`sample_rss`] records, in KiB.
#[derive(Debug, Default)]
struct Peaks {
    /// `VmHWM`: the kernel's own high-water mark of the resident set.
    hwm: AtomicU64,
    /// The largest `RssAnon` sampled.
    anon: AtomicU64,
    /// The largest `RssFile` sampled.
    file: AtomicU64,
}

/// Samples the resident set of processes started from `plugin_dir` every
/// half second.
async fn sample_rss(plugin_dir: PathBuf, peak: Arc<Peaks>) {
    loop {
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for entry in procs.flatten() {
                let path = entry.path();
                let Ok(exe) = std::fs::read_link(path.join("exe")) else {
                    continue;
                };
                if !exe.starts_with(&plugin_dir) {
                    continue;
                }
                let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
                for line in status.lines() {
                    let Some((key, value)) = line.split_once(':') else {
                        continue;
                    };
                    let counter = match key {
                        "VmHWM" => &peak.hwm,
                        "RssAnon" => &peak.anon,
                        "RssFile" => &peak.file,
                        _ => continue,
                    };
                    let kib: u64 = value
                        .trim()
                        .trim_end_matches(" kB")
                        .trim()
                        .parse()
                        .unwrap_or(0);
                    counter.fetch_max(kib, Ordering::Relaxed);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

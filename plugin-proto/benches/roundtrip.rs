//! Round-trip latency of `Apply`: through the plugin host to a plugin
//! process over its unix socket (one native `Apply` call each), versus the
//! same router called in-process. Two targets: `set_weight` (Argo's
//! per-aspect call, a target with the weight alone) and a whole step (the
//! desired traffic of a step that sets the weight and a header route). Prints
//! p50 and p99 at 1 and 64 concurrent callers, and their ratios.
//!
//! Run: `cargo bench -p plugin-proto --bench roundtrip`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_proto::{HostOptions, PluginRouter, RolloutContext, TrafficRouter, TrafficTarget};
use rollout_core::spec::{HeaderMatch, SetHeaderRoute, StringMatch};
use rollout_core::{DesiredTraffic, Rollout};
use router_core::test_util::JournalRouter;

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");
const SEQUENTIAL_CALLS: usize = 20_000;
const CONCURRENT_CALLERS: usize = 64;
const CALLS_PER_CALLER: usize = 500;

fn context() -> RolloutContext {
    let rollout = Rollout::from_value(
        serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 10, "strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "steps": [{"setWeight": 20}, {"setHeaderRoute": {"name": "beta",
                    "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}}, {"pause": {}}],
                "trafficRouting": {"managedRoutes": [{"name": "beta"}],
                    "plugins": {"rollgate/journal": {"httpRoute": "web"}}}}}}
        }),
        "bench",
    )
    .expect("valid");
    RolloutContext::new(&rollout, "rollgate/journal").expect("configured")
}

/// The target of the `i`th call.
type Target = fn(usize) -> TrafficTarget;

/// Argo's `SetWeight` as a target: the weight alone.
fn set_weight(i: usize) -> TrafficTarget {
    TrafficTarget::weight((i % 100) as i32, &[])
}

/// A step's whole desired traffic: weight, ReplicaSets and a header route.
fn step(i: usize) -> TrafficTarget {
    let mut desired = DesiredTraffic::default();
    desired.canary.weight = (i % 100) as i32;
    desired.canary.pod_template_hash = Some("5898765588".into());
    desired.stable.pod_template_hash = Some("5c9d79697b".into());
    desired.header_routes = vec![SetHeaderRoute {
        name: "beta".into(),
        matches: vec![HeaderMatch {
            header_name: "x-beta".into(),
            header_value: StringMatch {
                exact: Some("yes".into()),
                ..StringMatch::default()
            },
        }],
    }];
    TrafficTarget::desired(&desired)
}

/// Latencies of `callers` tasks each making `calls` applies of `target(i)`.
async fn measure(
    router: Arc<dyn TrafficRouter>,
    target: Target,
    callers: usize,
    calls: usize,
) -> Vec<Duration> {
    let ctx = Arc::new(context());
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (router, ctx) = (router.clone(), ctx.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(calls);
                for i in 0..calls {
                    let target = target(i);
                    let started = Instant::now();
                    router.apply(&ctx, &target).await.expect("apply");
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(callers * calls);
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let in_process: Arc<dyn TrafficRouter> = Arc::new(JournalRouter::new());
        let plugin = Arc::new(PluginRouter::new(PLUGIN, HostOptions::default()));
        plugin.init().await.expect("plugin starts");
        let plugin_dyn: Arc<dyn TrafficRouter> = plugin.clone();
        // Warm up both paths.
        measure(in_process.clone(), set_weight, 1, 1_000).await;
        measure(plugin_dyn.clone(), set_weight, 1, 1_000).await;

        println!("Apply round trip: plugin over a unix socket vs in-process (same router)");
        println!(
            "{:<12} {:<8} {:>14} {:>14} {:>14} {:>14} {:>10} {:>10}",
            "target",
            "callers",
            "plugin p50",
            "plugin p99",
            "inproc p50",
            "inproc p99",
            "p50 x",
            "p99 x"
        );
        let targets: [(&str, Target); 2] = [("set_weight", set_weight), ("step", step)];
        for (label, target) in targets {
            for (callers, calls) in [
                (1, SEQUENTIAL_CALLS),
                (CONCURRENT_CALLERS, CALLS_PER_CALLER),
            ] {
                let remote = measure(plugin_dyn.clone(), target, callers, calls).await;
                let local = measure(in_process.clone(), target, callers, calls).await;
                let (rp50, rp99) = (percentile(&remote, 0.50), percentile(&remote, 0.99));
                let (lp50, lp99) = (percentile(&local, 0.50), percentile(&local, 0.99));
                println!(
                    "{:<12} {:<8} {:>11.1} µs {:>11.1} µs {:>11.2} µs {:>11.2} µs {:>10.0} {:>10.0}",
                    label,
                    callers,
                    micros(rp50),
                    micros(rp99),
                    micros(lp50),
                    micros(lp99),
                    micros(rp50) / micros(lp50).max(0.001),
                    micros(rp99) / micros(lp99).max(0.001),
                );
            }
        }
        plugin.shutdown().await;
    });
}

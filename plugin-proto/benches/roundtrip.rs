//! Round-trip latency of `set_weight`: through the plugin host to a plugin
//! process over its unix socket, versus the same router called in-process.
//! Prints p50 and p99 at 1 and 64 concurrent callers, and their ratios.
//!
//! Run: `cargo bench -p plugin-proto --bench roundtrip`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_proto::{HostOptions, PluginRouter, RolloutContext, TrafficRouter};
use rollout_core::Rollout;
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
                "steps": [{"setWeight": 20}, {"pause": {}}],
                "trafficRouting": {"plugins": {"rollgate/journal": {"httpRoute": "web"}}}}}}
        }),
        "bench",
    )
    .expect("valid");
    RolloutContext::new(&rollout, "rollgate/journal").expect("configured")
}

/// Latencies of `callers` tasks each making `calls` set_weight calls.
async fn measure(router: Arc<dyn TrafficRouter>, callers: usize, calls: usize) -> Vec<Duration> {
    let ctx = Arc::new(context());
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (router, ctx) = (router.clone(), ctx.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(calls);
                for i in 0..calls {
                    let started = Instant::now();
                    router
                        .set_weight(&ctx, (i % 100) as i32, &[])
                        .await
                        .expect("set_weight");
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
        measure(in_process.clone(), 1, 1_000).await;
        measure(plugin_dyn.clone(), 1, 1_000).await;

        println!("set_weight round trip: plugin over a unix socket vs in-process (same router)");
        println!(
            "{:<10} {:>14} {:>14} {:>14} {:>14} {:>10} {:>10}",
            "callers", "plugin p50", "plugin p99", "inproc p50", "inproc p99", "p50 x", "p99 x"
        );
        for (callers, calls) in [
            (1, SEQUENTIAL_CALLS),
            (CONCURRENT_CALLERS, CALLS_PER_CALLER),
        ] {
            let remote = measure(plugin_dyn.clone(), callers, calls).await;
            let local = measure(in_process.clone(), callers, calls).await;
            let (rp50, rp99) = (percentile(&remote, 0.50), percentile(&remote, 0.99));
            let (lp50, lp99) = (percentile(&local, 0.50), percentile(&local, 0.99));
            println!(
                "{:<10} {:>11.1} µs {:>11.1} µs {:>11.2} µs {:>11.2} µs {:>10.0} {:>10.0}",
                callers,
                micros(rp50),
                micros(rp99),
                micros(lp50),
                micros(lp99),
                micros(rp50) / micros(lp50).max(0.001),
                micros(rp99) / micros(lp99).max(0.001),
            );
        }
        plugin.shutdown().await;
    });
}

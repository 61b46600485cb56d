//! The `rollgate/judge` provider against a real Prometheus (testkit's:
//! Debian's package, installed by scripts/prometheus) scraping a small
//! exporter of the test's on 127.0.0.1: a latency gauge per pod-template-hash whose values we
//! control. `stable1` is the baseline; `same2` reports exactly its values,
//! `slow3` 20 % more.
//!
//! Skips, saying why, when Prometheus cannot be installed; fails instead
//! when `CI` is set.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::{Reply, Server};
use rollgate_judge::{Classification, RunResult};
use rollgate_providers::Client;
use rollgate_providers::judge::{CanaryJudge, Judgement};
use rollgate_testkit::prometheus::Prometheus;
use serde_json::json;

/// How long Prometheus may take to start and gather the samples on a
/// loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// Samples per side wanted: 20 s of scrapes at a step of 1 s.
const SAMPLES: usize = 20;

/// The stable latency at the `n`th scrape: 100 to 112 ms, varying.
fn stable_latency(n: u64) -> f64 {
    0.1 + 0.001 * ((n * 7) % 13) as f64
}

fn judge(prometheus: &Prometheus, canary: &str) -> CanaryJudge {
    let block = json!({
        "prometheus": {"address": prometheus.address(), "timeout": 10},
        "lookback": "30s",
        "step": "1s",
        "canaryScope": canary,
        "baselineScope": "stable1",
        "metrics": [{
            "name": "latency",
            "query": "max(latency_seconds{pod_template_hash=\"${scope}\"})",
            "direction": "increase",
            "effectSize": {"allowedIncrease": 1.1}
        }],
        "scoreThresholds": {"marginal": 50, "pass": 75}
    });
    CanaryJudge::new("canary-judge", &block, None, None).expect("a valid judge")
}

/// Measures until both sides have [`SAMPLES`] samples (Prometheus has just
/// started scraping), within [`READY_WITHIN`].
async fn judged(prometheus: &Prometheus, scrapes: &AtomicU64, canary: &str) -> Judgement {
    let judge = judge(prometheus, canary);
    let client = Client::new();
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let outcome = judge.measure(&client, SystemTime::now()).await;
        let enough = outcome.as_ref().is_ok_and(|j| {
            let m = &j.verdict.metrics[0];
            m.canary.count >= SAMPLES && m.baseline.count >= SAMPLES
        });
        match outcome {
            Ok(judgement) if enough => return judgement,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(500)).await,
            other => panic!(
                "fewer than {SAMPLES} samples per side within {READY_WITHIN:?} ({} scrapes): {other:?}\nlog:\n{}",
                scrapes.load(Ordering::SeqCst),
                prometheus.log()
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_canary_fails_and_an_identical_one_passes() {
    let scrapes = Arc::new(AtomicU64::new(0));
    let counter = scrapes.clone();
    let exporter = Server::start(move |request| {
        if request.target != "/metrics" {
            return Reply::text(404, "not found");
        }
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let stable = stable_latency(n);
        Reply::text(
            200,
            &format!(
                "# TYPE latency_seconds gauge\n\
                 latency_seconds{{pod_template_hash=\"stable1\"}} {stable}\n\
                 latency_seconds{{pod_template_hash=\"same2\"}} {stable}\n\
                 latency_seconds{{pod_template_hash=\"slow3\"}} {}\n",
                stable * 1.2
            ),
        )
    })
    .await;
    let Some(prometheus) = Prometheus::start(&[exporter.addr]) else {
        return;
    };

    let slow = judged(&prometheus, &scrapes, "slow3").await;
    eprintln!("{}", slow.message);
    let m = &slow.verdict.metrics[0];
    assert_eq!(slow.verdict.result, RunResult::Fail, "{}", slow.message);
    assert_eq!(slow.verdict.score, 0.0, "{}", slow.message);
    assert_eq!(m.classification, Classification::High, "{}", slow.message);
    let ratio = m.canary.mean / m.baseline.mean;
    assert!((ratio - 1.2).abs() < 0.01, "{ratio}\n{}", slow.message);
    assert_eq!(slow.result["result"], "Fail");

    let same = judged(&prometheus, &scrapes, "same2").await;
    assert_eq!(same.verdict.result, RunResult::Pass, "{}", same.message);
    assert_eq!(same.verdict.score, 100.0, "{}", same.message);
    assert_eq!(same.verdict.metrics[0].classification, Classification::Pass);
    assert_eq!(same.value, r#"{"result":"Pass","score":100.0}"#);
}

//! Seed 003 on real metrics: a real Prometheus scrapes the backends' own
//! request counters (the pod runner's `/metrics`, by `version` and
//! `pod_template_hash`); an AnalysisTemplate reads the canary's success
//! rate. A version failing 20 % of its requests fails the analysis at 20 %
//! of the traffic, the rollout aborts and the traffic measured under a
//! steady load is back on the stable version alone within 30 s of the
//! failed measurement (its `finishedAt`, to the second); then a healthy
//! version passes the same analysis and completes. Under Argo's controller
//! (loading `rollgate-gatewayapi`, measuring with its own Prometheus
//! provider) and under `rollgate-controller`, with the same assertions.
//! Skips without Prometheus (`scripts/prometheus`), saying why.

mod support;

use std::time::{Duration, SystemTime};

use rollgate_dataplane::{Behaviour, Load};
use rollgate_e2e::{Under, scenario};
use rollgate_testkit::prometheus::Prometheus;
use serde_json::json;
use support::Stage;

/// The longest the traffic may take to be back on stable after the failed
/// measurement.
const ROLLBACK_GOAL: Duration = Duration::from_secs(30);

/// The windows the steady load is counted in.
const WINDOW: Duration = Duration::from_secs(1);

/// When the failed measurement of the Failed AnalysisRun finished.
async fn failed_measurement(stage: &Stage) -> SystemTime {
    let runs = stage.cluster.api("argoproj.io", "v1alpha1", "AnalysisRun");
    let runs = runs.list(&Default::default()).await.unwrap().items;
    let run = runs
        .iter()
        .find(|r| r.data["status"]["phase"] == "Failed")
        .unwrap_or_else(|| panic!("{:?}: no Failed AnalysisRun", stage.under));
    let finished = run.data["status"]["metricResults"][0]["measurements"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["phase"] == "Failed")
        .and_then(|m| m["finishedAt"].as_str())
        .unwrap_or_else(|| panic!("{:?}: no failed measurement: {}", stage.under, run.data));
    eprintln!(
        "{:?}: {} failed: {}",
        stage.under,
        run.metadata.name.as_deref().unwrap_or_default(),
        run.data["status"]["message"]
    );
    humantime::parse_rfc3339(finished).expect("an RFC 3339 time")
}

async fn a_bad_version_is_rolled_back_on_real_metrics(under: Under) {
    let Some(mut stage) = Stage::start(under, "dp-seed003").await else {
        return;
    };
    let Some(prometheus) = Prometheus::start(&[stage.plane.runner.metrics_address()]) else {
        return;
    };
    stage
        .cluster
        .create(support::success_rate_template(prometheus.address()))
        .await;
    stage
        .roll_out(json!({"steps": [
            {"setWeight": 20},
            support::success_rate_step(),
            {"setWeight": 50}, {"pause": {"duration": "5s"}}]}))
        .await;
    let bad = Behaviour {
        error_rate: 0.2,
        latency: Duration::ZERO,
    };
    stage.plane.behaviours.set("2", bad).unwrap();

    let limit = Duration::from_secs(200);
    let load = Load::steady(stage.plane.traefik.web, 200, limit)
        .start()
        .unwrap();
    stage.update_to("2").await;
    stage.wait_rollout("aborted", |s| s["abort"] == true).await;
    let failed_at = failed_measurement(&stage).await;
    stage.wait_weight(0).await;
    stage.wait_all_on("1").await;
    // Two more windows of load, so that the record holds whole seconds
    // after the traffic came back.
    tokio::time::sleep(2 * WINDOW).await;
    let record = load.stop().await;
    assert!(
        record.elapsed < limit,
        "{under:?}: the load ended before the rollback"
    );
    let back = record
        .first_window_all_on(failed_at, WINDOW, "1")
        .unwrap_or_else(|| {
            let seen: Vec<String> = record
                .windows(failed_at, WINDOW)
                .iter()
                .map(|(start, t)| {
                    let offset = start.duration_since(failed_at).unwrap_or_default();
                    format!(
                        "+{}s: {:?} {} failed",
                        offset.as_secs(),
                        t.answers,
                        t.failed
                    )
                })
                .collect();
            panic!(
                "{under:?}: no second of traffic on version 1 alone after the failed measurement \
                 ({} requests in {:?}); per second: {seen:#?}",
                record.outcomes.len(),
                record.elapsed
            )
        });
    let rollback = back.duration_since(failed_at).unwrap_or_default();
    eprintln!(
        "{under:?}: traffic back on stable {:.1} s after the failed measurement (1 s windows, 200 requests/s)",
        rollback.as_secs_f64()
    );
    assert!(rollback <= ROLLBACK_GOAL, "{under:?}: {rollback:?}");

    // A healthy version passes the same analysis (on the traffic it gets
    // from a load of its own) and completes.
    let load = Load::steady(stage.plane.traefik.web, 200, limit)
        .start()
        .unwrap();
    let stable = stage.update_to("3").await;
    stage.wait_promoted(&stable).await;
    stage.wait_all_on("3").await;
    let tally = load.stop().await.tally();
    assert_eq!(tally.unsuccessful(), 0, "{under:?}: {tally:?}");
    stage.assert_runner_clean();
    drop(prometheus);
}

scenario!(a_bad_version_is_rolled_back_on_real_metrics);

//! The Prometheus provider against a real Prometheus (Debian's package,
//! installed by scripts/prometheus) scraping testkit's exporter on
//! 127.0.0.1, whose error ratios the test sets: one pod-template-hash
//! answers every request, the other fails 20 % of them.
//!
//! Skips, saying why, when Prometheus cannot be installed; fails instead
//! when `CI` is set.

use std::time::{Duration, Instant, SystemTime};

use rollgate_analysis::types::PrometheusMetric;
use rollgate_providers::{Client, Measured, MetricResult, PrometheusQuery};
use rollgate_testkit::exporter::{Exporter, success_rate};
use rollgate_testkit::prometheus::Prometheus;

/// How long Prometheus may take to start and scrape twice on a loaded
/// machine.
const READY_WITHIN: Duration = Duration::from_secs(120);

async fn measure(prometheus: &Prometheus, client: &Client, query: &str) -> Measured {
    let spec = PrometheusMetric {
        address: Some(prometheus.address().to_owned()),
        query: Some(query.to_owned()),
        timeout: Some(10),
        ..Default::default()
    };
    PrometheusQuery::new("success-rate", &spec, None, None)
        .expect("a valid metric")
        .measure(client, SystemTime::now())
        .await
        .unwrap_or_else(|e| panic!("{e}\nPrometheus' log:\n{}", prometheus.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_rate_query_through_a_real_prometheus_reads_the_exporters_ratio() {
    // Every request of "stable1" succeeds; 20 % of "canary2"'s fail.
    let exporter = Exporter::start().await;
    exporter.set_error_ratio("stable1", 0.0);
    exporter.set_error_ratio("canary2", 0.2);
    let Some(mut prometheus) = Prometheus::start(&[exporter.target()]) else {
        return;
    };
    prometheus.until_scraped(&exporter, 2, READY_WITHIN).await;
    let client = Client::new();

    // A scrape the exporter has answered may not be stored yet: wait until
    // a query sees two samples of the canary.
    let deadline = Instant::now() + READY_WITHIN;
    let canary = loop {
        let spec = PrometheusMetric {
            address: Some(prometheus.address().to_owned()),
            query: Some(success_rate("canary2", "1m")),
            timeout: Some(5),
            ..Default::default()
        };
        let query = PrometheusQuery::new("success-rate", &spec, None, None).unwrap();
        match query.measure(&client, SystemTime::now()).await {
            Ok(m) if !m.result.is_nil_or_empty() => break m,
            Ok(_) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => panic!(
                "Prometheus had no success rate within {READY_WITHIN:?} ({} scrapes): {other:?}\nlog:\n{}",
                exporter.scrapes(),
                prometheus.log()
            ),
        }
    };
    let MetricResult::Numbers(values) = &canary.result else {
        panic!("a vector was expected: {canary:?}");
    };
    assert_eq!(values.len(), 1, "{canary:?}");
    assert!((values[0] - 0.8).abs() < 1e-9, "{canary:?}");

    let stable = measure(&prometheus, &client, &success_rate("stable1", "1m")).await;
    assert_eq!(stable.result, MetricResult::Numbers(vec![1.0]));
    assert_eq!(stable.value, "[1]");

    // No series for the hash: an empty array, as Argo measures it.
    let none = measure(&prometheus, &client, &success_rate("absent3", "1m")).await;
    assert_eq!(none.result, MetricResult::Numbers(vec![]));
    assert_eq!(none.value, "[]");

    // 0/0 is NaN, kept as a value for isNaN(result[0]).
    let nan = measure(&prometheus, &client, "vector(0) / 0").await;
    assert_eq!(nan.value, "[NaN]");
    assert!(matches!(&nan.result, MetricResult::Numbers(v) if v.len() == 1 && v[0].is_nan()));

    // A scalar is a number.
    let scalar = measure(&prometheus, &client, "scalar(vector(0.25))").await;
    assert_eq!(scalar.result, MetricResult::Number(0.25));
}

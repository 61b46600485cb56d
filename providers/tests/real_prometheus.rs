//! The Prometheus provider against a real Prometheus (Debian's package,
//! installed by scripts/prometheus) scraping a small exporter of ours on
//! 127.0.0.1 whose counters we control: one pod-template-hash answers
//! every request, the other fails 20 % of them.
//!
//! Skips, saying why, when Prometheus cannot be installed; fails instead
//! when `CI` is set.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::{Reply, Server};
use rollgate_analysis::types::PrometheusMetric;
use rollgate_providers::{Client, Measured, MetricResult, PrometheusQuery};

/// How long Prometheus may take to start and scrape twice on a loaded
/// machine.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The success rate of one pod-template-hash, as an analysis template
/// writes it once `{{args.hash}}` is substituted.
fn success_rate(hash: &str) -> String {
    format!(
        r#"sum(rate(http_requests_total{{pod_template_hash="{hash}",code!~"5.."}}[1m])) / sum(rate(http_requests_total{{pod_template_hash="{hash}"}}[1m]))"#
    )
}

/// The Prometheus binary, or `None` (after saying why) when it cannot be
/// installed and `CI` is not set.
fn prometheus_binary() -> Option<PathBuf> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/prometheus");
    let output = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{} could not be run: {e}", script.display()));
    if output.status.success() {
        let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        return Some(PathBuf::from(path));
    }
    let why = format!(
        "Prometheus is not installed and {} could not install it ({})",
        script.display(),
        output.status
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}; CI is set, so this is a failure");
    }
    eprintln!("skipping the real-Prometheus test: {why}");
    None
}

/// Prometheus, stopped when dropped.
struct Prometheus {
    child: Child,
    address: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(binary: &PathBuf, exporter: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: [\"{exporter}\"]\n"
            ),
        )
        .expect("the Prometheus configuration");
        // A free loopback port: bound, then given to Prometheus.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path().join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("the Prometheus log"))
            .spawn()
            .unwrap_or_else(|e| panic!("{} could not start: {e}", binary.display()));
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn measure(prometheus: &Prometheus, client: &Client, query: &str) -> Measured {
    let spec = PrometheusMetric {
        address: Some(prometheus.address.clone()),
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
    let Some(binary) = prometheus_binary() else {
        return;
    };
    // Each scrape adds 100 requests per hash: all good for "stable1", 20
    // failing for "canary2".
    let scrapes = Arc::new(AtomicU64::new(0));
    let counter = scrapes.clone();
    let exporter = Server::start(move |request| {
        if request.target != "/metrics" {
            return Reply::text(404, "not found");
        }
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::text(
            200,
            &format!(
                "# TYPE http_requests_total counter\n\
                 http_requests_total{{pod_template_hash=\"stable1\",code=\"200\"}} {}\n\
                 http_requests_total{{pod_template_hash=\"canary2\",code=\"200\"}} {}\n\
                 http_requests_total{{pod_template_hash=\"canary2\",code=\"500\"}} {}\n",
                100 * n,
                80 * n,
                20 * n
            ),
        )
    })
    .await;
    let prometheus = Prometheus::start(&binary, &exporter.addr.to_string());
    let client = Client::new();

    // Wait until Prometheus is up and has two scrapes of the canary.
    let deadline = Instant::now() + READY_WITHIN;
    let canary = loop {
        let spec = PrometheusMetric {
            address: Some(prometheus.address.clone()),
            query: Some(success_rate("canary2")),
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
                scrapes.load(Ordering::SeqCst),
                prometheus.log()
            ),
        }
    };
    let MetricResult::Numbers(values) = &canary.result else {
        panic!("a vector was expected: {canary:?}");
    };
    assert_eq!(values.len(), 1, "{canary:?}");
    assert!((values[0] - 0.8).abs() < 1e-9, "{canary:?}");

    let stable = measure(&prometheus, &client, &success_rate("stable1")).await;
    assert_eq!(stable.result, MetricResult::Numbers(vec![1.0]));
    assert_eq!(stable.value, "[1]");

    // No series for the hash: an empty array, as Argo measures it.
    let none = measure(&prometheus, &client, &success_rate("absent3")).await;
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

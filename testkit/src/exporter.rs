//! An application's request counters, served for Prometheus to scrape, with
//! each pod-template-hash's error ratio set by the test at run time.
//!
//! The exporter serves `GET /metrics` on `127.0.0.1` in Prometheus' text
//! format: counter [`METRIC`] with labels `pod_template_hash` and `code`
//! (`200` or `500`), for every hash the test has given an error ratio. Each
//! hash's requests grow at [`REQUESTS_PER_SECOND`] from the moment it is
//! given a ratio, that share of them answered `500`; a new ratio applies to
//! the requests from then on, so the counters never go down.
//! [`success_rate`] is the query that reads the ratio back.
//!
//! ```no_run
//! # async fn example() {
//! use rollgate_testkit::exporter::Exporter;
//!
//! let exporter = Exporter::start().await;
//! exporter.set_error_ratio("6f8d9c7b5", 0.2); // a canary failing 20 % of its requests
//! let target = exporter.target();             // give this to Prometheus
//! # let _ = target;
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::routing::get;
use tokio::sync::watch;

/// The counter the exporter serves.
pub const METRIC: &str = "http_requests_total";

/// How fast each hash's request counter grows.
pub const REQUESTS_PER_SECOND: f64 = 100.0;

/// The PromQL success rate of pod-template-hash `hash` over `window` (such
/// as `30s`): the rate of requests not answered 5xx over the rate of all of
/// them. `hash` may be an analysis argument, `{{args.canary-hash}}`, for an
/// AnalysisTemplate to substitute.
///
/// ```
/// let query = rollgate_testkit::exporter::success_rate("{{args.canary-hash}}", "30s");
/// assert!(query.starts_with(
///     r#"sum(rate(http_requests_total{pod_template_hash="{{args.canary-hash}}",code!~"5.."}[30s]))"#
/// ));
/// ```
pub fn success_rate(hash: &str, window: &str) -> String {
    format!(
        r#"sum(rate({METRIC}{{pod_template_hash="{hash}",code!~"5.."}}[{window}])) / sum(rate({METRIC}{{pod_template_hash="{hash}"}}[{window}]))"#
    )
}

/// One hash's counters.
#[derive(Debug)]
struct Requests {
    ok: f64,
    failed: f64,
    error_ratio: f64,
    counted_until: Instant,
}

impl Requests {
    /// Adds the requests since the last count, at the current ratio.
    fn count_until(&mut self, now: Instant) {
        let n = REQUESTS_PER_SECOND * now.duration_since(self.counted_until).as_secs_f64();
        self.failed += n * self.error_ratio;
        self.ok += n * (1.0 - self.error_ratio);
        self.counted_until = now;
    }
}

#[derive(Debug)]
struct Shared {
    hashes: Mutex<BTreeMap<String, Requests>>,
    scrapes: watch::Sender<u64>,
}

/// The exporter; it stops serving when dropped.
#[derive(Debug)]
pub struct Exporter {
    target: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    /// Serves `/metrics` on a free port of 127.0.0.1, on the current tokio
    /// runtime, with no hash yet.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port on 127.0.0.1");
        let target = listener.local_addr().expect("the exporter's address");
        let shared = Arc::new(Shared {
            hashes: Mutex::new(BTreeMap::new()),
            scrapes: watch::Sender::new(0),
        });
        let routes = Router::new()
            .route("/metrics", get(metrics))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        Self {
            target,
            shared,
            task,
        }
    }

    /// The `host:port` Prometheus scrapes.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// From now on, `ratio` (0 to 1) of pod-template-hash `hash`'s requests
    /// fail with code 500; a hash not seen before starts counting now.
    ///
    /// # Panics
    ///
    /// When `ratio` is not between 0 and 1.
    pub fn set_error_ratio(&self, hash: &str, ratio: f64) {
        assert!(
            (0.0..=1.0).contains(&ratio),
            "an error ratio is between 0 and 1, not {ratio}"
        );
        let now = Instant::now();
        let mut hashes = self.hashes();
        let requests = hashes.entry(hash.to_owned()).or_insert(Requests {
            ok: 0.0,
            failed: 0.0,
            error_ratio: ratio,
            counted_until: now,
        });
        requests.count_until(now);
        requests.error_ratio = ratio;
    }

    /// How many times `/metrics` has been read.
    pub fn scrapes(&self) -> u64 {
        *self.shared.scrapes.borrow()
    }

    /// Waits until `/metrics` has been read `more` times after the call,
    /// `within` at most; `false` if it was not.
    pub async fn scraped(&self, more: u64, within: Duration) -> bool {
        let mut scrapes = self.shared.scrapes.subscribe();
        let wanted = *scrapes.borrow_and_update() + more;
        tokio::time::timeout(within, scrapes.wait_for(|n| *n >= wanted))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn hashes(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Requests>> {
        self.shared
            .hashes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `GET /metrics`: every hash's counters, counted up to now.
async fn metrics(
    State(shared): State<Arc<Shared>>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    let now = Instant::now();
    let mut text = format!("# TYPE {METRIC} counter\n");
    {
        let mut hashes = shared.hashes.lock().unwrap_or_else(PoisonError::into_inner);
        for (hash, requests) in hashes.iter_mut() {
            requests.count_until(now);
            for (code, count) in [("200", requests.ok), ("500", requests.failed)] {
                text.push_str(&format!(
                    "{METRIC}{{pod_template_hash=\"{hash}\",code=\"{code}\"}} {count}\n"
                ));
            }
        }
    }
    shared.scrapes.send_modify(|n| *n += 1);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn requests_grow_at_the_rate_with_the_ratio_in_force_when_they_were_made() {
        let start = Instant::now();
        let mut requests = Requests {
            ok: 0.0,
            failed: 0.0,
            error_ratio: 0.25,
            counted_until: start,
        };
        requests.count_until(start + Duration::from_secs(2));
        assert!(approx(requests.failed, 50.0), "{requests:?}");
        assert!(approx(requests.ok, 150.0), "{requests:?}");
        // A new ratio applies from now on: nothing counted goes down.
        requests.error_ratio = 0.0;
        requests.count_until(start + Duration::from_secs(3));
        assert!(approx(requests.failed, 50.0), "{requests:?}");
        assert!(approx(requests.ok, 250.0), "{requests:?}");
    }

    #[tokio::test]
    async fn metrics_lists_each_hash_by_code_and_counts_the_scrape() {
        let exporter = Exporter::start().await;
        assert!(exporter.target().ip().is_loopback());
        exporter.set_error_ratio("canary2", 0.2);
        exporter.set_error_ratio("stable1", 0.0);
        let (headers, text) = metrics(State(Arc::clone(&exporter.shared))).await;
        assert_eq!(headers[0].1, "text/plain; version=0.0.4");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# TYPE http_requests_total counter");
        let series: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.rsplit_once(' ').expect("a sample").0)
            .collect();
        assert_eq!(
            series,
            [
                r#"http_requests_total{pod_template_hash="canary2",code="200"}"#,
                r#"http_requests_total{pod_template_hash="canary2",code="500"}"#,
                r#"http_requests_total{pod_template_hash="stable1",code="200"}"#,
                r#"http_requests_total{pod_template_hash="stable1",code="500"}"#,
            ]
        );
        let value = |i: usize| -> f64 { lines[i].rsplit_once(' ').unwrap().1.parse().unwrap() };
        assert!(approx(value(2), value(1) / 4.0), "20 % failed: {text}");
        assert_eq!(value(4), 0.0, "{text}");
        assert_eq!(exporter.scrapes(), 1);
        assert!(!exporter.scraped(1, Duration::from_millis(50)).await);
    }

    #[test]
    #[should_panic(expected = "an error ratio is between 0 and 1, not 1.5")]
    fn a_ratio_above_one_is_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let exporter = runtime.block_on(Exporter::start());
        exporter.set_error_ratio("web", 1.5);
    }
}

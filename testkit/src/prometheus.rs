//! A real Prometheus (Debian's package, installed by `scripts/prometheus`)
//! for the tests that measure through it: it listens on a free port of
//! 127.0.0.1 and scrapes the given targets every second.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! use rollgate_testkit::exporter::Exporter;
//! use rollgate_testkit::prometheus::Prometheus;
//!
//! let exporter = Exporter::start().await;
//! let Some(mut prometheus) = Prometheus::start(&[exporter.target()]) else {
//!     return; // not installed, and CI is not set: the test skips
//! };
//! prometheus.until_scraped(&exporter, 2, Duration::from_secs(120)).await;
//! let address = prometheus.address(); // http://127.0.0.1:<port>
//! # let _ = address;
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::exporter::Exporter;

/// A Prometheus process, stopped when dropped (with its data).
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    address: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`host:port`, path `/metrics`)
    /// every second, installing it first with `scripts/prometheus` when it
    /// is missing. `None`, after saying why on stderr, when it cannot be
    /// installed and `CI` is not set.
    ///
    /// # Panics
    ///
    /// When it cannot be installed and `CI` is set (a run that must test
    /// it), or when it cannot be started.
    pub fn start(targets: &[SocketAddr]) -> Option<Self> {
        let binary = binary()?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .expect("write the Prometheus configuration");
        // A free loopback port: bound, then given to Prometheus.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let log = dir.path().join("prometheus.log");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the Prometheus log"))
            .spawn()
            .unwrap_or_else(|e| panic!("{} could not start: {e}", binary.display()));
        Some(Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        })
    }

    /// Its base URL, `http://127.0.0.1:<port>`: a Prometheus provider's
    /// `address`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What it has logged (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until Prometheus has scraped `exporter` `more` times after the
    /// call, so that its queries see the exporter's counters as they are
    /// now (`rate` needs two samples).
    ///
    /// # Panics
    ///
    /// When it has not, `within` at most, or Prometheus has exited: the
    /// message carries its log.
    pub async fn until_scraped(&mut self, exporter: &Exporter, more: u64, within: Duration) {
        if exporter.scraped(more, within).await {
            return;
        }
        let exited = match self.child.try_wait() {
            Ok(Some(status)) => format!("it exited ({status})"),
            _ => "it is running".to_owned(),
        };
        panic!(
            "Prometheus at {} did not scrape the exporter {more} times within {within:?} \
             ({} scrapes in all; {exited}); its log:\n{}",
            self.address,
            exporter.scrapes(),
            self.log()
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Prometheus binary from `scripts/prometheus`, or `None` (after saying
/// why) when it cannot be installed and `CI` is not set.
fn binary() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/prometheus");
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
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}; CI is set, so this is a failure"
    );
    eprintln!("skipped: {why}");
    None
}

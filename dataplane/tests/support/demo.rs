//! The live demo (`scripts/cluster demo`, the `demo` example) and its
//! test: a Rollout routed by the Gateway API router under
//! `rollgate-controller`, Traefik in front, one second of load per frame.
//! Version 2 is healthy and walks through every step to promotion; version
//! 3 fails 20 % of its requests, its analysis on the backends' real
//! metrics fails and the Rollout aborts back to version 2. Every frame
//! shows the step, Traefik's weights and who answered in that second.
//!
//! Bounded: at most [`Options::frames`] frames of [`Options::rate`]
//! requests each, and [`Options::time_limit`] in all; everything it
//! created (namespace, Traefik, backends, controller, Prometheus) goes
//! when it returns.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rollgate_dataplane::measure::split;
use rollgate_dataplane::{Behaviour, Load, Tally};
use rollgate_e2e::Under;
use rollgate_testkit::prometheus::Prometheus;
use serde_json::{Value, json};

use super::{Stage, success_rate_step, success_rate_template};

/// Frames drawn after the rollback, so that the traffic is seen settled.
const TAIL: usize = 3;

/// The width of a full bar, in characters.
const BAR: usize = 50;

/// How the demo runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Requests a second (a frame is one second of them).
    pub(crate) rate: u32,
    /// The most frames drawn.
    pub(crate) frames: usize,
    /// The longest the demo runs.
    pub(crate) time_limit: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate: 100,
            frames: 300,
            time_limit: Duration::from_secs(300),
        }
    }
}

/// One second of the demo.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// Seconds since the load started.
    pub(crate) second: u64,
    /// What is going on, in words.
    pub(crate) act: String,
    /// The Rollout's phase.
    pub(crate) phase: String,
    /// Its `currentStepIndex` (none once promoted).
    pub(crate) step: Option<i64>,
    /// How many steps its strategy has.
    pub(crate) steps: usize,
    /// Whether it was aborted.
    pub(crate) aborted: bool,
    /// Traefik's weights for the stable and the canary Service.
    pub(crate) weights: (i64, i64),
    /// Who answered this second's requests.
    pub(crate) tally: Tally,
}

/// The canary steps: the analysis at 20 % catches a bad version early.
fn steps() -> Value {
    json!([{"setWeight": 20}, success_rate_step(),
           {"setWeight": 50}, {"pause": {"duration": "5s"}},
           {"setWeight": 80}, {"pause": {"duration": "5s"}}])
}

/// Runs the demo, giving each frame to `show` as it is drawn, and returns
/// the frames. `None`, after saying why, without the data plane or
/// Prometheus.
///
/// # Panics
///
/// When the cluster does not reach a state the demo waits for within the
/// scenarios' patience (the failure says which).
pub(crate) async fn run(options: Options, mut show: impl FnMut(&Frame)) -> Option<Vec<Frame>> {
    let mut stage = Stage::start(Under::Rollgate, "demo").await?;
    let prometheus = Prometheus::start(&[stage.plane.runner.metrics_address()])?;
    stage
        .cluster
        .create(success_rate_template(prometheus.address()))
        .await;
    let steps = steps();
    let count = steps.as_array().map_or(0, Vec::len);
    stage.roll_out(json!({"steps": steps})).await;

    let act = RefCell::new(String::from("version 1 is stable"));
    let done = Cell::new(false);
    let script = async {
        *act.borrow_mut() = "rolling out version 2 (healthy)".into();
        let stable = stage.update_to("2").await;
        stage.wait_promoted(&stable).await;
        stage.wait_all_on("2").await;
        *act.borrow_mut() = "rolling out version 3 (fails 20 % of requests)".into();
        let bad = Behaviour {
            error_rate: 0.2,
            latency: Duration::ZERO,
        };
        stage
            .plane
            .behaviours
            .set("3", bad)
            .expect("a rate from 0 to 1");
        stage.update_to("3").await;
        stage.wait_rollout("aborted", |s| s["abort"] == true).await;
        *act.borrow_mut() = "analysis failed: rolling back to version 2".into();
        stage.wait_weight(0).await;
        stage.wait_all_on("2").await;
        *act.borrow_mut() = "rolled back: version 2 serves everything".into();
        done.set(true);
        std::future::pending::<()>().await;
    };
    let draw = async {
        let started = Instant::now();
        let mut frames = Vec::new();
        let mut tail = 0;
        while frames.len() < options.frames && started.elapsed() < options.time_limit {
            // A second's worth of requests paced over a second; the longer
            // limit only lets the last ones be answered.
            let tally = Load::steady(
                stage.plane.traefik.web,
                options.rate,
                Duration::from_secs(1),
            )
            .within(Duration::from_secs(2))
            .run()
            .await
            .expect("Traefik listens on loopback");
            let status = stage.wait_rollout("a status", |_| true).await;
            let rawdata = stage.plane.traefik.rawdata().await.unwrap_or_default();
            let frame = Frame {
                second: started.elapsed().as_secs(),
                act: act.borrow().clone(),
                phase: status["phase"].as_str().unwrap_or("-").to_owned(),
                step: status["currentStepIndex"].as_i64(),
                steps: count,
                aborted: status["abort"] == true,
                weights: split(&rawdata, "web-stable", "web-canary"),
                tally,
            };
            show(&frame);
            frames.push(frame);
            if done.get() {
                tail += 1;
                if tail >= TAIL {
                    break;
                }
            }
        }
        frames
    };
    let frames = tokio::select! {
        frames = draw => frames,
        () = script => unreachable!("the script waits once it is done"),
    };
    stage.assert_runner_clean();
    drop(prometheus);
    Some(frames)
}

/// `frame` as text: a header line (time, what is going on, step, phase, Traefik's weights), then a bar per version for its
/// answers this second, successes then failures; with `ansi`, coloured
/// (successes green, failures red) and drawn over the previous frame.
pub(crate) fn render(frame: &Frame, ansi: bool) -> String {
    let (green, red, bold, reset) = if ansi {
        ("\x1b[32m", "\x1b[31m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let mut out = String::new();
    if ansi {
        out.push_str("\x1b[H\x1b[2J");
    }
    let step = frame
        .step
        .map_or_else(|| "-".to_owned(), |s| format!("{s}/{}", frame.steps));
    let _ = writeln!(
        out,
        "{bold}{:>4} s  {}{reset}\n        step {step}  phase {}{}  Traefik: stable {} % | canary {} %",
        frame.second,
        frame.act,
        frame.phase,
        if frame.aborted { " (aborted)" } else { "" },
        frame.weights.0,
        frame.weights.1
    );
    let mut versions: Vec<&str> = frame
        .tally
        .answers
        .keys()
        .map(|(v, _)| v.as_str())
        .collect();
    versions.dedup();
    let total = frame.tally.answered().max(1);
    for version in versions {
        let all = frame.tally.by_version(version);
        let failed: usize = frame
            .tally
            .answers
            .iter()
            .filter(|((v, code), _)| v == version && !(200..300).contains(code))
            .map(|(_, n)| n)
            .sum();
        let width = |n: usize| (n * BAR).div_ceil(total);
        let bad = width(failed);
        let good = width(all).saturating_sub(bad);
        let _ = writeln!(
            out,
            "   v{version:<3} {green}{}{red}{}{reset}{} {all:>4}/s{}",
            "#".repeat(good),
            "x".repeat(bad),
            " ".repeat(BAR.saturating_sub(good + bad)),
            if failed > 0 {
                format!("  {red}{failed} failed{reset}")
            } else {
                String::new()
            }
        );
    }
    if frame.tally.failed > 0 {
        let _ = writeln!(
            out,
            "   {red}{} without an answer{reset}",
            frame.tally.failed
        );
    }
    out
}

//! The judge's power and false-failure rate by simulation, with a fixed seed.
//!
//! Latency samples are log-normal: latency is positive and right-skewed, and
//! its logarithm is close to normal. Each sample stands for what one query
//! step of a Prometheus range query returns (a mean or quantile over a scrape
//! interval), whose spread from step to step is far narrower than that of
//! single requests: σ = 0.15 in log space, a coefficient of variation of
//! about 15 %, with a median of 100 ms, as the mean latency of a steady
//! service over steps of a minute varies. A 10 % slower canary multiplies
//! every latency by 1.1.
//!
//! The power falls as the spread grows (Kayenta's rule asks the 98 % interval
//! of the shift to clear a quarter of the estimate, which is conservative:
//! false failures stay well under 1 %): the power test prints it for σ from
//! 0.1 to 0.3 (at σ = 0.2 it is about 94 %).
//!
//! The rates are counted over 1,000 runs of 200 samples per side and
//! asserted; `cargo test -p rollgate-judge --test simulation -- --nocapture`
//! prints them.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal, Normal};
use rollgate_judge::{JudgeConfig, RunResult, Samples, judge, location_shift};

const RUNS: usize = 1000;
const SAMPLES: usize = 200;
const SIGMA: f64 = 0.15;

fn config(direction: &str) -> JudgeConfig {
    JudgeConfig::from_value(
        serde_json::json!({
            "metrics": [{"name": "latency", "direction": direction}],
            "scoreThresholds": {"marginal": 50, "pass": 75}
        }),
        "simulation",
    )
    .expect("valid configuration")
}

/// The share of `RUNS` runs that fail when the canary is `slower` times the baseline.
fn failure_rate(seed: u64, slower: f64, sigma: f64, direction: &str) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let latency = LogNormal::new(0.1f64.ln(), sigma).expect("valid parameters");
    let config = config(direction);
    let mut failed = 0;
    for _ in 0..RUNS {
        let baseline: Vec<f64> = (0..SAMPLES).map(|_| latency.sample(&mut rng)).collect();
        let canary: Vec<f64> = (0..SAMPLES)
            .map(|_| slower * latency.sample(&mut rng))
            .collect();
        let samples = [Samples {
            metric: "latency",
            canary: &canary,
            baseline: &baseline,
        }];
        if judge(&config, &samples).expect("judged").result == RunResult::Fail {
            failed += 1;
        }
    }
    failed as f64 / RUNS as f64
}

#[test]
fn a_ten_percent_slower_canary_fails_at_least_95_percent_of_runs() {
    for sigma in [0.1, 0.2, 0.3] {
        let power = failure_rate(1, 1.1, sigma, "increase");
        eprintln!("power against a 10% latency shift at sigma {sigma}: {power:.3}");
    }
    let power = failure_rate(1, 1.1, SIGMA, "increase");
    eprintln!(
        "power against a 10% latency shift (log-normal, sigma {SIGMA}, {SAMPLES} per side): {power:.3}"
    );
    assert!(power >= 0.95, "power {power}");
    let either = failure_rate(2, 1.1, SIGMA, "either");
    eprintln!("the same with direction either: {either:.3}");
    assert!(either >= 0.95, "power {either}");
}

#[test]
fn identical_distributions_fail_at_most_5_percent_of_runs() {
    for direction in ["increase", "either"] {
        let rate = failure_rate(3, 1.0, SIGMA, direction);
        eprintln!("false failures on identical distributions (direction {direction}): {rate:.3}");
        assert!(rate <= 0.05, "{direction}: false failure rate {rate}");
    }
    // A wider spread does not raise the false failures, only lowers the power.
    let wide = failure_rate(4, 1.0, 0.6, "either");
    eprintln!("false failures at sigma 0.6: {wide:.3}");
    assert!(wide <= 0.05, "false failure rate {wide} at sigma 0.6");
}

#[test]
fn a_faster_canary_passes_when_only_increase_is_bad() {
    let rate = failure_rate(5, 0.9, SIGMA, "increase");
    assert_eq!(rate, 0.0, "a 10% faster canary failed {rate} of runs");
    assert!(failure_rate(6, 0.9, SIGMA, "decrease") >= 0.95);
}

#[test]
fn the_shift_interval_covers_the_true_shift_at_its_level() {
    // A pure location shift of 3 on normal samples: the 98% interval should
    // miss it in about 2% of runs.
    let mut rng = StdRng::seed_from_u64(7);
    let d = Normal::new(50.0, 10.0).expect("valid parameters");
    let mut missed = 0;
    for _ in 0..RUNS {
        let baseline: Vec<f64> = (0..SAMPLES).map(|_| d.sample(&mut rng)).collect();
        let canary: Vec<f64> = (0..SAMPLES).map(|_| d.sample(&mut rng) + 3.0).collect();
        let s = location_shift(&canary, &baseline, 0.98).expect("finite samples");
        if !(s.lower <= 3.0 && 3.0 <= s.upper) {
            missed += 1;
        }
    }
    let rate = missed as f64 / RUNS as f64;
    eprintln!("the 98% interval missed the true shift in {rate:.3} of runs");
    assert!((0.005..=0.04).contains(&rate), "miss rate {rate}");
}

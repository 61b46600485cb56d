//! The embedded canary judge: compares a canary's samples with a baseline's,
//! metric by metric, and returns a verdict, with no I/O.
//!
//! Per metric, a two-sided Mann-Whitney U test (as SciPy's `mannwhitneyu`
//! computes it) and the Hodges-Lehmann shift of the canary with its 98 %
//! confidence interval, classified Pass, High, Low, NoData or Error with a
//! reason, by the rules of Kayenta's `MannWhitneyClassifier` ([`classify`]);
//! then groups, weights and a score from 0 to 100 held against marginal and
//! pass thresholds, as Kayenta's NetflixACAJudge scores, where a failing
//! critical metric fails the run on its own ([`Verdict`]). The verdict
//! prints as a short table for a measurement's message.
//!
//! ```
//! use rollgate_judge::{JudgeConfig, RunResult, Samples, judge};
//!
//! let config = JudgeConfig::from_value(
//!     serde_json::json!({
//!         "metrics": [
//!             {"name": "latency", "direction": "increase", "groups": ["latency"]},
//!             {"name": "errors", "direction": "increase", "critical": true, "groups": ["errors"]}
//!         ],
//!         "groupWeights": {"latency": 60, "errors": 40},
//!         "scoreThresholds": {"marginal": 50, "pass": 75}
//!     }),
//!     "template web-judge",
//! )?;
//! let baseline: Vec<f64> = (0..100).map(|i| 100.0 + f64::from(i % 10)).collect();
//! let slower: Vec<f64> = baseline.iter().map(|v| v * 1.3).collect();
//! let errors = vec![0.0; 100];
//! let verdict = judge(
//!     &config,
//!     &[
//!         Samples { metric: "latency", canary: &slower, baseline: &baseline },
//!         Samples { metric: "errors", canary: &errors, baseline: &errors },
//!     ],
//! )?;
//! assert_eq!(verdict.result, RunResult::Fail);
//! assert_eq!(verdict.score, 40.0);
//! println!("{verdict}"); // the summary line and one row per metric
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod classify;
mod config;
mod describe;
mod error;
mod exact;
mod mann_whitney;
mod score;
mod select;
mod shift;
mod table;

use std::collections::BTreeMap;

pub use classify::{
    CONFIDENCE, Classification, Comparison, MetricResult, SampleSummary, TOLERANCE, classify,
};
pub use config::{
    Direction, EffectMeasure, EffectSize, JudgeConfig, MetricConfig, NanStrategy, OutlierStrategy,
    Outliers, ScoreThresholds,
};
pub use error::{ConfigError, JudgeError};
pub use mann_whitney::{MannWhitney, PValueMethod};
pub use score::{GroupScore, RunResult, Verdict};
pub use shift::LocationShift;

/// One metric's samples over the analysis window.
#[derive(Debug, Clone, Copy)]
pub struct Samples<'a> {
    /// The metric's name in the configuration.
    pub metric: &'a str,
    /// The canary's values (NaN are handled by the metric's `nanStrategy`).
    pub canary: &'a [f64],
    /// The baseline's values.
    pub baseline: &'a [f64],
}

/// Judges a canary: classifies every metric of `config` from its samples and
/// scores the run. Every metric needs exactly one entry in `samples` (empty
/// slices when a query returned nothing); samples for a metric the
/// configuration does not have are an error.
pub fn judge(config: &JudgeConfig, samples: &[Samples<'_>]) -> Result<Verdict, JudgeError> {
    let mut by_name = BTreeMap::new();
    for s in samples {
        if !config.metrics.iter().any(|m| m.name == s.metric) {
            return Err(JudgeError::UnknownMetric(s.metric.to_owned()));
        }
        if by_name.insert(s.metric, s).is_some() {
            return Err(JudgeError::DuplicateSamples(s.metric.to_owned()));
        }
    }
    let mut results = Vec::with_capacity(config.metrics.len());
    for m in &config.metrics {
        let s = by_name
            .get(m.name.as_str())
            .ok_or_else(|| JudgeError::MissingSamples(m.name.clone()))?;
        results.push(classify(m, s.canary, s.baseline));
    }
    Ok(score::score(config, results))
}

/// The Mann-Whitney U test of `canary` against `baseline` alone; `None` when
/// either is empty or holds a NaN.
///
/// ```
/// let t = rollgate_judge::mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(t.u, 0.0);
/// assert!((t.p_value - 0.1).abs() < 1e-12); // exact: 2 of the 20 arrangements are as extreme
/// ```
pub fn mann_whitney_u(canary: &[f64], baseline: &[f64]) -> Option<MannWhitney> {
    let (x, y) = (sorted(canary)?, sorted(baseline)?);
    Some(mann_whitney::test_sorted(
        &x,
        &y,
        &mann_whitney::ranks(&x, &y),
    ))
}

/// The Hodges-Lehmann shift of `canary` against `baseline` with its
/// interval at `confidence` (in `(0, 1)`); `None` when either sample is
/// empty or holds a NaN or an infinity, or `confidence` is out of range.
///
/// ```
/// let s = rollgate_judge::location_shift(&[11.0, 12.0, 13.0], &[1.0, 2.0, 3.0], 0.9).unwrap();
/// assert_eq!(s.estimate, 10.0);
/// ```
pub fn location_shift(canary: &[f64], baseline: &[f64], confidence: f64) -> Option<LocationShift> {
    if !(confidence > 0.0 && confidence < 1.0)
        || canary.iter().chain(baseline).any(|v| v.is_infinite())
    {
        return None;
    }
    let (x, y) = (sorted(canary)?, sorted(baseline)?);
    let ranks = mann_whitney::ranks(&x, &y);
    Some(shift::shift_sorted(&x, &y, ranks.within_ties, confidence))
}

fn sorted(values: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    Some(v)
}

//! One metric's classification.

use serde::Serialize;

use crate::config::{Direction, EffectMeasure, MetricConfig, NanStrategy, OutlierStrategy};
use crate::describe::{mean, median, percentile};
use crate::mann_whitney::{MannWhitney, ranks, test_sorted};
use crate::shift::{LocationShift, shift_sorted};

/// The confidence level of the shift interval (Kayenta's `confLevel`).
pub const CONFIDENCE: f64 = 0.98;
/// The interval must clear this fraction of the estimate (Kayenta's `tolerance`).
pub const TOLERANCE: f64 = 0.25;
/// Kayenta's default outlier factor.
const OUTLIER_FACTOR: f64 = 3.0;

/// A metric's classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Classification {
    /// No significant change in a bad direction.
    Pass,
    /// The canary is significantly higher than the baseline.
    High,
    /// The canary is significantly lower than the baseline.
    Low,
    /// The canary or the baseline has no samples.
    NoData,
    /// The samples cannot be compared.
    Error,
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pass => "Pass",
            Self::High => "High",
            Self::Low => "Low",
            Self::NoData => "NoData",
            Self::Error => "Error",
        })
    }
}

/// A sample's size and centre, after NaN handling and outlier removal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleSummary {
    /// Values judged.
    pub count: usize,
    /// Their median (NaN when there are none).
    pub median: f64,
    /// Their mean (NaN when there are none).
    pub mean: f64,
}

/// The statistics behind a classification.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The Mann-Whitney U test.
    pub test: MannWhitney,
    /// The canary's shift against the baseline, with its interval.
    pub shift: LocationShift,
    /// The effect size in the configured measure (NaN when undefined).
    pub effect_size: f64,
    /// Which measure `effect_size` is.
    pub effect_measure: EffectMeasure,
}

/// One metric's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// The metric's name.
    pub name: String,
    /// Its classification.
    pub classification: Classification,
    /// Why, in a sentence.
    pub reason: String,
    /// Whether this result fails the run on its own (a critical metric that failed).
    pub critical: bool,
    /// NoData that counts as a failure in the metric's groups (`mustHaveData`).
    pub missing_required_data: bool,
    /// Left out of the score.
    pub muted: bool,
    /// The groups it counts in.
    pub groups: Vec<String>,
    /// The canary's samples.
    pub canary: SampleSummary,
    /// The baseline's samples.
    pub baseline: SampleSummary,
    /// The test, shift and effect size, when the samples were compared.
    pub comparison: Option<Comparison>,
}

/// One metric's classification, as Kayenta's `MannWhitneyClassifier.classify`
/// and `NetflixACAJudge.classifyMetric` (kayenta-judge) decide it.
///
/// 1. NaN samples are removed or read as 0 (`nanStrategy`); then, with
///    `outliers.strategy: remove`, each side loses the values outside its
///    fences (`IQRDetector` with reduced sensitivity: the wider of
///    `Q1 - f·IQR` / `Q3 + f·IQR` and the 1st / 99th percentiles).
/// 2. A side left empty is NoData (with `remove`; with `replace` it passes).
/// 3. Identical samples, or samples of a single value, pass.
/// 4. Otherwise the 98 % confidence interval of the Hodges-Lehmann shift
///    decides: High when its lower bound lies above `0.25 · |estimate|` and
///    the effect size reaches `allowedIncrease`; Low when its upper bound lies
///    below `-0.25 · |estimate|` and the effect size is at most
///    `allowedDecrease`; a direction that is not bad passes. An effect size
///    that cannot be computed (a mean of 0) is not checked.
/// 5. A critical metric's High (Low) fails the run when the effect also
///    reaches `criticalIncrease` (`criticalDecrease`); its NoData or Error
///    fails the run too.
///
/// Deliberate differences: an infinite sample makes the metric Error with a
/// reason naming it (in Kayenta it reaches the statistics and fails there);
/// a critical metric's Error fails the run (Kayenta's exception path drops
/// the critical flag); the Mann-Whitney p-value is computed and reported,
/// though, as in Kayenta, the interval decides.
pub fn classify(config: &MetricConfig, canary: &[f64], baseline: &[f64]) -> MetricResult {
    let mut result = MetricResult {
        name: config.name.clone(),
        classification: Classification::Pass,
        reason: String::new(),
        critical: false,
        missing_required_data: false,
        muted: config.muted,
        groups: config
            .effective_groups()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        canary: summary(&[]),
        baseline: summary(&[]),
        comparison: None,
    };
    for (side, values) in [("canary", canary), ("baseline", baseline)] {
        if let Some(i) = values.iter().position(|v| v.is_infinite()) {
            result.classification = Classification::Error;
            result.reason = format!(
                "{side} sample {} is {}; only finite values can be compared",
                i + 1,
                values[i]
            );
            result.critical = config.critical;
            return result;
        }
    }
    let canary = prepare(config, canary);
    let baseline = prepare(config, baseline);
    result.canary = summary(&canary);
    result.baseline = summary(&baseline);
    let (classification, reason, critical) =
        decide(config, &canary, &baseline, &mut result.comparison);
    result.classification = classification;
    result.reason = reason;
    result.critical = critical;
    result.missing_required_data =
        classification == Classification::NoData && config.must_have_data && !config.critical;
    result
}

fn decide(
    config: &MetricConfig,
    canary: &[f64],
    baseline: &[f64],
    comparison: &mut Option<Comparison>,
) -> (Classification, String, bool) {
    if canary.is_empty() || baseline.is_empty() {
        let which = match (canary.is_empty(), baseline.is_empty()) {
            (true, true) => "neither the canary nor the baseline has samples",
            (true, false) => "the canary has no samples",
            _ => "the baseline has no samples",
        };
        return match config.nan_strategy {
            NanStrategy::Remove => (Classification::NoData, which.to_owned(), config.critical),
            NanStrategy::Replace => (
                Classification::Pass,
                format!("{which} (nanStrategy replace passes it)"),
                false,
            ),
        };
    }
    if canary == baseline {
        return (
            Classification::Pass,
            "the canary and baseline samples are identical".into(),
            false,
        );
    }
    if canary[0] == canary[canary.len() - 1]
        && canary[0] == baseline[0]
        && baseline[0] == baseline[baseline.len() - 1]
    {
        return (
            Classification::Pass,
            format!("every sample is {}", canary[0]),
            false,
        );
    }
    let ranks = ranks(canary, baseline);
    let test = test_sorted(canary, baseline, &ranks);
    let shift = shift_sorted(canary, baseline, ranks.within_ties, CONFIDENCE);
    let measure = config.effect_size.measure;
    let effect_size = match measure {
        EffectMeasure::MeanRatio => {
            let (c, b) = (mean(canary), mean(baseline));
            if c == 0.0 || b == 0.0 {
                f64::NAN
            } else {
                c / b
            }
        }
        EffectMeasure::Cles => ranks.u / (canary.len() * baseline.len()) as f64,
    };
    *comparison = Some(Comparison {
        test,
        shift,
        effect_size,
        effect_measure: measure,
    });
    let tolerance = config.effect_size.tolerance();
    let band = TOLERANCE * shift.estimate.abs();
    let interval = format!(
        "the {:.0}% interval of the shift, [{}, {}],",
        CONFIDENCE * 100.0,
        crate::table::number(shift.lower),
        crate::table::number(shift.upper)
    );
    let effect = |v: f64| match measure {
        EffectMeasure::MeanRatio => format!("mean ratio {}", crate::table::number(v)),
        EffectMeasure::Cles => format!("CLES {}", crate::table::number(v)),
    };
    let checks_increase = matches!(config.direction, Direction::Increase | Direction::Either);
    let checks_decrease = matches!(config.direction, Direction::Decrease | Direction::Either);
    let reaches = |bound: f64, up: bool| {
        effect_size.is_nan()
            || if up {
                effect_size >= bound
            } else {
                effect_size <= bound
            }
    };
    let significant_up = shift.lower > band;
    let significant_down = shift.upper < -band;
    if checks_increase && significant_up && reaches(tolerance.allowed_increase, true) {
        let critical = config.critical && reaches(tolerance.critical_increase, true);
        let reason = format!(
            "canary higher{}: {interval} lies above +{} (25% of the estimate), {}",
            if critical { " (critical)" } else { "" },
            crate::table::number(band),
            effect(effect_size)
        );
        return (Classification::High, reason, critical);
    }
    if checks_decrease && significant_down && reaches(tolerance.allowed_decrease, false) {
        let critical = config.critical && reaches(tolerance.critical_decrease, false);
        let reason = format!(
            "canary lower{}: {interval} lies below -{} (25% of the estimate), {}",
            if critical { " (critical)" } else { "" },
            crate::table::number(band),
            effect(effect_size)
        );
        return (Classification::Low, reason, critical);
    }
    let reason = if significant_up && checks_increase {
        format!(
            "higher, but {} is below allowedIncrease {}",
            effect(effect_size),
            tolerance.allowed_increase
        )
    } else if significant_down && checks_decrease {
        format!(
            "lower, but {} is above allowedDecrease {}",
            effect(effect_size),
            tolerance.allowed_decrease
        )
    } else if significant_up {
        "higher, which direction decrease allows".into()
    } else if significant_down {
        "lower, which direction increase allows".into()
    } else {
        format!(
            "no clear shift: {interval} reaches within ±{} (25% of the estimate)",
            crate::table::number(band)
        )
    };
    (Classification::Pass, reason, false)
}

/// NaN handling, outlier removal, and sorting.
fn prepare(config: &MetricConfig, values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = match config.nan_strategy {
        NanStrategy::Remove => values.iter().copied().filter(|v| !v.is_nan()).collect(),
        NanStrategy::Replace => values
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { v })
            .collect(),
    };
    v.sort_unstable_by(f64::total_cmp);
    if config.outliers.strategy == OutlierStrategy::Remove && !v.is_empty() {
        let f = config.outliers.outlier_factor.unwrap_or(OUTLIER_FACTOR);
        let (q1, q3) = (percentile(&v, 25.0), percentile(&v, 75.0));
        let iqr = q3 - q1;
        let low = percentile(&v, 1.0).min(q1 - f * iqr);
        let high = percentile(&v, 99.0).max(q3 + f * iqr);
        v.retain(|&x| x >= low && x <= high);
    }
    v
}

fn summary(sorted: &[f64]) -> SampleSummary {
    SampleSummary {
        count: sorted.len(),
        median: median(sorted),
        mean: mean(sorted),
    }
}

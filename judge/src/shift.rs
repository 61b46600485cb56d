//! The location shift of the canary against the baseline: the
//! Hodges-Lehmann estimate and its distribution-free confidence interval.
//!
//! The estimate is the median of the `n1 × n2` differences `canary[i] -
//! baseline[j]`, the value Kayenta's `MannWhitney.calculateConfidenceInterval`
//! (kayenta-mannwhitney) searches for with a root finder. The interval is the
//! one Kayenta (like R's `wilcox.test` with the normal approximation) gets by
//! inverting the tie- and continuity-corrected test: the bounds are the
//! differences at ranks `⌈N/2 - 1/2 - zσ⌉` and `⌈N/2 + 1/2 + zσ⌉`, where
//! `N = n1·n2`, `z` is the standard normal quantile for the confidence level
//! and `σ` the standard deviation of U with the ties inside each sample. We
//! select those order statistics exactly instead of approaching them with a
//! root finder to a tolerance, so the bounds are always observed differences,
//! and a sample of equal values needs none of the random noise Kayenta adds to
//! keep its root finder defined: the result is deterministic.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::mann_whitney::sigma;
use crate::select::Differences;

/// A location shift of the canary against the baseline, in the metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationShift {
    /// The Hodges-Lehmann estimate: the median of all canary - baseline differences.
    pub estimate: f64,
    /// The lower bound of the confidence interval.
    pub lower: f64,
    /// The upper bound of the confidence interval.
    pub upper: f64,
    /// The interval's confidence level, such as 0.98.
    pub confidence: f64,
}

/// The shift of `canary` against `baseline`, both sorted ascending, non-empty
/// and free of NaN; `within_ties` is the sum of `t³ - t` over the groups of
/// tied values inside each sample. `confidence` is in `(0, 1)`.
pub(crate) fn shift_sorted(
    canary: &[f64],
    baseline: &[f64],
    within_ties: f64,
    confidence: f64,
) -> LocationShift {
    let d = Differences::new(canary, baseline);
    let n = d.len();
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let reach = z * sigma(canary.len(), baseline.len(), within_ties);
    let half = n as f64 / 2.0;
    let rank = |r: f64| (r.ceil().max(1.0) as usize).min(n);
    let (lower, upper) = (rank(half - 0.5 - reach), rank(half + 0.5 + reach));
    let middle = n.div_ceil(2);
    // The three order statistics lie close together: narrow to them once.
    let span = d.span(lower.min(middle), upper.max((middle + 1).min(n)));
    let estimate = if n % 2 == 1 {
        d.kth_in(middle, &span)
    } else {
        let (a, b) = d.kth_and_next(n / 2, &span);
        (a + b) / 2.0
    };
    LocationShift {
        estimate,
        lower: d.kth_in(lower, &span),
        upper: d.kth_in(upper, &span),
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_samples_shift_by_their_difference() {
        let s = shift_sorted(&[5.0; 4], &[3.0; 6], 60.0 + 210.0, 0.98);
        assert_eq!((s.estimate, s.lower, s.upper), (2.0, 2.0, 2.0));
    }

    #[test]
    fn the_interval_brackets_the_estimate() {
        let canary: Vec<f64> = (0..50).map(|i| f64::from(i) + 10.0).collect();
        let baseline: Vec<f64> = (0..40).map(f64::from).collect();
        let s = shift_sorted(&canary, &baseline, 0.0, 0.98);
        assert_eq!(s.estimate, 15.0); // the centres are 34.5 and 19.5
        assert!(s.lower < s.estimate && s.estimate < s.upper, "{s:?}");
    }
}

//! The two-sided Mann-Whitney U test (Wilcoxon rank-sum test) of a canary
//! sample against a baseline sample.
//!
//! The statistic and p-value follow SciPy's `mannwhitneyu` with its default
//! `method="auto"`: `U` is the canary's statistic `R1 - n1(n1+1)/2` from
//! mid-ranks; the p-value is exact (the permutation distribution of U) when
//! there are no ties and one sample has at most 8 values, and otherwise the
//! normal approximation with the tie correction and a continuity correction
//! of one half. One deliberate limit: the exact distribution is counted only
//! up to two million pairs (`n1 × n2`); beyond that
//! the approximation, which is then as precise as anything a canary reads, is
//! used.

use serde::Serialize;
use statrs::function::erf::erfc;

use crate::exact;

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PValueMethod {
    /// From the exact permutation distribution of U (small samples, no ties).
    Exact,
    /// From the normal approximation with tie and continuity corrections.
    Asymptotic,
}

/// The result of a two-sided Mann-Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MannWhitney {
    /// The canary's U statistic: the number of (canary, baseline) pairs in
    /// which the canary value is larger, ties counting one half.
    pub u: f64,
    /// The two-sided p-value.
    pub p_value: f64,
    /// How the p-value was computed.
    pub method: PValueMethod,
}

/// What the ranks of two sorted samples give: the canary's U and the sums of
/// `t³ - t` over groups of tied values, pooled and within each sample.
pub(crate) struct Ranks {
    pub(crate) u: f64,
    /// Over ties in the pooled sample (the test's variance).
    pub(crate) pooled_ties: f64,
    /// Over ties inside each sample alone (the shift interval's variance).
    pub(crate) within_ties: f64,
}

/// Ranks two samples sorted ascending by merging them.
pub(crate) fn ranks(x: &[f64], y: &[f64]) -> Ranks {
    let (mut i, mut j) = (0, 0);
    let mut rank_sum = 0.0;
    let mut pooled_ties = 0.0;
    let mut within_ties = 0.0;
    let mut next_rank = 1.0;
    let cube = |t: f64| t * t * t - t;
    while i < x.len() || j < y.len() {
        let v = match (x.get(i), y.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => unreachable!("the loop runs while a sample has values"),
        };
        let from_x = x[i..].iter().take_while(|&&a| a == v).count();
        let from_y = y[j..].iter().take_while(|&&b| b == v).count();
        let t = (from_x + from_y) as f64;
        let mid_rank = next_rank + (t - 1.0) / 2.0;
        rank_sum += from_x as f64 * mid_rank;
        pooled_ties += cube(t);
        within_ties += cube(from_x as f64) + cube(from_y as f64);
        next_rank += t;
        i += from_x;
        j += from_y;
    }
    let n1 = x.len() as f64;
    Ranks {
        u: rank_sum - n1 * (n1 + 1.0) / 2.0,
        pooled_ties,
        within_ties,
    }
}

/// The standard deviation of U under the null hypothesis, corrected for
/// `ties` (a sum of `t³ - t` over groups of tied values).
pub(crate) fn sigma(n1: usize, n2: usize, ties: f64) -> f64 {
    let (a, b) = (n1 as f64, n2 as f64);
    let n = a + b;
    (a * b / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0))))
        .max(0.0)
        .sqrt()
}

/// The two-sided test of two samples sorted ascending, non-empty, free of NaN.
pub(crate) fn test_sorted(x: &[f64], y: &[f64], ranks: &Ranks) -> MannWhitney {
    let (n1, n2) = (x.len(), y.len());
    let pairs = (n1 * n2) as f64;
    let u = ranks.u.max(pairs - ranks.u);
    let exact_allowed =
        (n1 <= 8 || n2 <= 8) && ranks.pooled_ties == 0.0 && n1 * n2 <= exact::MAX_PAIRS;
    if exact_allowed {
        // P(U ≥ u) = P(U ≤ n1·n2 - u) by symmetry; U is an integer without ties.
        if let Some(p) = exact::cdf(n1, n2, (pairs - u) as usize) {
            return MannWhitney {
                u: ranks.u,
                p_value: (2.0 * p).clamp(0.0, 1.0),
                method: PValueMethod::Exact,
            };
        }
    }
    let s = sigma(n1, n2, ranks.pooled_ties);
    let p_value = if s > 0.0 {
        let z = (u - pairs / 2.0 - 0.5) / s;
        // 2 · P(Z > z) for a standard normal Z.
        erfc(z / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
    } else {
        1.0 // every value tied: nothing tells the samples apart
    };
    MannWhitney {
        u: ranks.u,
        p_value,
        method: PValueMethod::Asymptotic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_use_mid_ranks_for_ties() {
        // Pooled: 1 2 2 3 → ranks 1, 2.5, 2.5, 4; x = [1, 2] has rank sum 3.5.
        let r = ranks(&[1.0, 2.0], &[2.0, 3.0]);
        assert_eq!(r.u, 3.5 - 3.0);
        assert_eq!(r.pooled_ties, 6.0);
        assert_eq!(r.within_ties, 0.0);
    }

    #[test]
    fn identical_constant_samples_have_p_value_one() {
        let x = [4.0; 5];
        let t = test_sorted(&x, &x, &ranks(&x, &x));
        assert_eq!(t.p_value, 1.0);
        assert_eq!(t.method, PValueMethod::Asymptotic);
    }
}

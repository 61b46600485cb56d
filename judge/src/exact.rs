//! The exact null distribution of the Mann-Whitney U statistic, for small
//! samples without ties.
//!
//! The number of arrangements of `n1` and `n2` distinct values whose U is
//! `u` is the coefficient of `q^u` in the Gaussian binomial coefficient
//! `[n1 + n2 choose n1]_q = Π_{i=1..n1} (1 - q^(n2+i)) / (1 - q^i)`. The
//! product is built one factor at a time in integers (a multiplication by
//! `1 - q^a` and an exact division by `1 - q^i`, both truncated at the degree
//! needed), so the probabilities carry no rounding error before the final
//! division.

/// The largest `n1 × n2` for which the exact distribution is computed; larger
/// samples use the normal approximation.
pub(crate) const MAX_PAIRS: usize = 2_000_000;

/// `P(U ≤ k)` under the null hypothesis for samples of sizes `n1` and `n2`,
/// or `None` when the counts would overflow (the caller then approximates).
pub(crate) fn cdf(n1: usize, n2: usize, k: usize) -> Option<f64> {
    let (small, large) = if n1 <= n2 { (n1, n2) } else { (n2, n1) };
    let top = k.min(small * large);
    let mut counts = vec![0i128; top + 1];
    counts[0] = 1;
    let mut total: i128 = 1;
    for i in 1..=small {
        let a = large + i;
        for u in (a..=top).rev() {
            counts[u] = counts[u].checked_sub(counts[u - a])?;
        }
        for u in i..=top {
            counts[u] = counts[u].checked_add(counts[u - i])?;
        }
        // C(large + i, i) = C(large + i - 1, i - 1) · (large + i) / i, exactly.
        total = total.checked_mul(a as i128)? / i as i128;
    }
    let below: i128 = counts.iter().try_fold(0i128, |s, &c| s.checked_add(c))?;
    Some(below as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_distributions_are_counted_exactly() {
        // n1 = n2 = 2: U takes 0, 1, 2, 2, 3, 4 over the six arrangements.
        assert_eq!(cdf(2, 2, 0), Some(1.0 / 6.0));
        assert_eq!(cdf(2, 2, 2), Some(4.0 / 6.0));
        assert_eq!(cdf(2, 2, 4), Some(1.0));
        assert_eq!(cdf(1, 3, 1), Some(0.5));
    }
}

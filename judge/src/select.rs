//! Order statistics of the pairwise differences `x[i] - y[j]` of two sorted
//! samples, without forming the `n × m` differences.
//!
//! The differences form a matrix whose rows (one per `x[i]`, columns taking
//! `y` from its largest value down) ascend along both axes. A selection keeps,
//! per row, the range of columns that may still hold the wanted order
//! statistic and narrows it with pivots drawn from a random sample of the
//! remaining candidates (Floyd and Rivest's sampling idea): each round costs a
//! few passes of `O(n + m)`, and a few rounds leave few enough candidates to
//! select among directly. Comparisons are made on the computed differences
//! (`x[i] - y[j]` in `f64`), which are monotone in each argument, so the value
//! returned is exactly the one a full sort of the computed differences puts
//! at that rank.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The pairwise differences of two samples sorted ascending, with no NaN.
pub(crate) struct Differences<'a> {
    x: &'a [f64],
    y: &'a [f64],
}

/// Candidates left at which the selection stops narrowing and selects directly.
const DIRECT: usize = 4096;
/// Random candidates drawn per round to place the pivots.
const SAMPLE: usize = 1024;

impl<'a> Differences<'a> {
    /// `x` and `y` must be sorted ascending, non-empty and free of NaN.
    pub(crate) fn new(x: &'a [f64], y: &'a [f64]) -> Self {
        debug_assert!(!x.is_empty() && !y.is_empty());
        Self { x, y }
    }

    /// How many differences there are.
    pub(crate) fn len(&self) -> usize {
        self.x.len() * self.y.len()
    }

    /// The element in row `i`, column `c` (columns ascend).
    fn at(&self, i: usize, c: usize) -> f64 {
        self.x[i] - self.y[self.y.len() - 1 - c]
    }

    /// Per row, how many differences are below `p` (`strict`) or at most `p`;
    /// returns the total.
    fn count(&self, p: f64, strict: bool, out: &mut [usize]) -> usize {
        let m = self.y.len();
        let mut c = m;
        let mut total = 0;
        // A row's count falls as `x[i]` grows, so one column pointer serves all rows.
        for (i, slot) in out.iter_mut().enumerate() {
            while c > 0 {
                let d = self.at(i, c - 1);
                if (strict && d >= p) || (!strict && d > p) {
                    c -= 1;
                } else {
                    break;
                }
            }
            *slot = c;
            total += c;
        }
        total
    }

    /// Narrows the candidates to a span that holds every rank in
    /// `first..=last` (counting from 1), so that several close order
    /// statistics share the first rounds of their selections.
    pub(crate) fn span(&self, first: usize, last: usize) -> Span {
        let n = self.x.len();
        let mut span = Span::whole(self);
        let mut below = vec![0usize; n];
        let mut upto = vec![0usize; n];
        let mut rng = SmallRng::seed_from_u64(0x7370_616e);
        let mut sample = Vec::with_capacity(SAMPLE);
        let spread = 2.0 * (SAMPLE as f64).sqrt();
        loop {
            let (active, skipped, widths) = span.widths();
            if active <= DIRECT.max(n + self.y.len()).max(2 * (last - first + 1)) {
                return span;
            }
            self.draw(&span, &widths, active, &mut rng, &mut sample);
            let q1 = (first - skipped) as f64 / active as f64 * SAMPLE as f64;
            let q2 = (last - skipped) as f64 / active as f64 * SAMPLE as f64;
            let ia = ((q1 - spread).floor().max(0.0) as usize).min(SAMPLE - 1);
            let ib = ((q2 + spread).ceil() as usize).min(SAMPLE - 1);
            let (_, &mut b, _) = sample.select_nth_unstable_by(ib, f64::total_cmp);
            let (_, &mut a, _) = sample[..=ib].select_nth_unstable_by(ia, f64::total_cmp);
            let mut progress = false;
            if first > self.count(a, true, &mut below) {
                clamp_into(&mut span.lo, &below, &span.hi);
                progress = true;
            }
            if last <= self.count(b, false, &mut upto) {
                clamp_into(&mut span.hi, &upto, &span.lo);
                progress = true;
            }
            // Stop once a round takes less than a quarter off: the span is
            // then about as narrow as the ranks sought allow.
            let (after, _, _) = span.widths();
            if !progress || after * 4 > active * 3 {
                return span;
            }
        }
    }

    /// Draws `SAMPLE` candidates of `span` at random into `sample`.
    fn draw(
        &self,
        span: &Span,
        widths: &[usize],
        active: usize,
        rng: &mut SmallRng,
        sample: &mut Vec<f64>,
    ) {
        sample.clear();
        for _ in 0..SAMPLE {
            let r = rng.random_range(0..active);
            let i = widths.partition_point(|&w| w <= r);
            let before = if i == 0 { 0 } else { widths[i - 1] };
            sample.push(self.at(i, span.lo[i] + r - before));
        }
    }

    /// The `k`-th smallest difference (counting from 1), which must lie in `span`.
    ///
    /// # Panics
    /// When `k` is 0 or more than [`Differences::len`] (a caller's bug, not input).
    pub(crate) fn kth_in(&self, k: usize, span: &Span) -> f64 {
        assert!(
            k >= 1 && k <= self.len(),
            "rank {k} out of 1..={}",
            self.len()
        );
        let n = self.x.len();
        let m = self.y.len();
        let mut lo = span.lo.clone();
        let mut hi = span.hi.clone();
        let mut below = vec![0usize; n];
        let mut upto = vec![0usize; n];
        let mut widths = vec![0usize; n];
        let mut rng = SmallRng::seed_from_u64(0x6a75_6467_6521);
        let mut sample = Vec::with_capacity(SAMPLE);
        loop {
            let mut active = 0;
            let mut skipped = 0;
            for i in 0..n {
                skipped += lo[i];
                active += hi[i] - lo[i];
                widths[i] = active;
            }
            let rank = k - skipped; // 1-based among the candidates
            if active <= DIRECT.max(n + m) {
                return self.select_directly(&lo, &hi, rank, active);
            }
            sample.clear();
            for _ in 0..SAMPLE {
                let r = rng.random_range(0..active);
                let i = widths.partition_point(|&w| w <= r);
                let before = if i == 0 { 0 } else { widths[i - 1] };
                sample.push(self.at(i, lo[i] + r - before));
            }
            let q = rank as f64 / active as f64 * SAMPLE as f64;
            let spread = 2.0 * (SAMPLE as f64).sqrt();
            let ia = ((q - spread).floor().max(0.0) as usize).min(SAMPLE - 1);
            let ib = ((q + spread).ceil() as usize).min(SAMPLE - 1);
            // Two partial selections place both pivots without sorting the sample.
            let (_, &mut b, _) = sample.select_nth_unstable_by(ib, f64::total_cmp);
            let (_, &mut a, _) = sample[..=ib].select_nth_unstable_by(ia, f64::total_cmp);
            let less_a = self.count(a, true, &mut below);
            if k <= less_a {
                clamp_into(&mut hi, &below, &lo);
                continue;
            }
            let upto_b = self.count(b, false, &mut upto);
            if k > upto_b {
                clamp_into(&mut lo, &upto, &hi);
                continue;
            }
            if a == b {
                return a;
            }
            let before = active;
            for i in 0..n {
                lo[i] = below[i].clamp(lo[i], hi[i]);
                hi[i] = upto[i].clamp(lo[i], hi[i]);
            }
            let after: usize = (0..n).map(|i| hi[i] - lo[i]).sum();
            if after == before {
                // Every candidate lies in [a, b]: split at a single pivot instead.
                let p = b;
                let less = self.count(p, true, &mut below);
                if k > less {
                    return p; // the rank falls among the differences equal to b
                }
                clamp_into(&mut hi, &below, &lo);
            }
        }
    }

    /// The `k`-th and `k + 1`-th smallest differences (for an even count's
    /// median); the `k`-th must lie in `span`.
    pub(crate) fn kth_and_next(&self, k: usize, span: &Span) -> (f64, f64) {
        let first = self.kth_in(k, span);
        let mut upto = vec![0usize; self.x.len()];
        if self.count(first, false, &mut upto) > k {
            return (first, first);
        }
        let m = self.y.len();
        let next = upto
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c < m)
            .map(|(i, &c)| self.at(i, c))
            .min_by(f64::total_cmp)
            .unwrap_or(first);
        (first, next)
    }

    fn select_directly(&self, lo: &[usize], hi: &[usize], rank: usize, active: usize) -> f64 {
        let mut left = Vec::with_capacity(active);
        for (i, (&l, &h)) in lo.iter().zip(hi).enumerate() {
            left.extend((l..h).map(|c| self.at(i, c)));
        }
        let (_, v, _) = left.select_nth_unstable_by(rank - 1, f64::total_cmp);
        *v
    }
}

/// Per row, the columns `lo[i]..hi[i]` that may hold the order statistics
/// sought; every difference left of them ranks below.
pub(crate) struct Span {
    lo: Vec<usize>,
    hi: Vec<usize>,
}

impl Span {
    fn whole(d: &Differences<'_>) -> Self {
        Self {
            lo: vec![0; d.x.len()],
            hi: vec![d.y.len(); d.x.len()],
        }
    }

    /// The candidates, the differences ranked below them, and the running
    /// totals of candidates per row.
    fn widths(&self) -> (usize, usize, Vec<usize>) {
        let (mut active, mut skipped) = (0, 0);
        let widths = self
            .lo
            .iter()
            .zip(&self.hi)
            .map(|(&l, &h)| {
                skipped += l;
                active += h - l;
                active
            })
            .collect();
        (active, skipped, widths)
    }
}

/// `bound[i] = new[i]` kept within `[floor[i], bound[i]]` (or `[bound[i], floor[i]]`).
fn clamp_into(bound: &mut [usize], new: &[usize], other: &[usize]) {
    for i in 0..bound.len() {
        let (a, b) = if other[i] <= bound[i] {
            (other[i], bound[i])
        } else {
            (bound[i], other[i])
        };
        bound[i] = new[i].clamp(a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut d: Vec<f64> = x
            .iter()
            .flat_map(|a| y.iter().map(move |b| a - b))
            .collect();
        d.sort_by(f64::total_cmp);
        d
    }

    #[test]
    fn every_rank_matches_a_full_sort() {
        let mut rng = SmallRng::seed_from_u64(7);
        for (n, m, levels) in [
            (1, 1, 3),
            (3, 7, 2),
            (40, 25, 1000),
            (90, 130, 5),
            (200, 150, 100000),
        ] {
            let mut x: Vec<f64> = (0..n)
                .map(|_| rng.random_range(0..levels) as f64 / 7.0)
                .collect();
            let mut y: Vec<f64> = (0..m)
                .map(|_| rng.random_range(0..levels) as f64 / 3.0)
                .collect();
            x.sort_by(f64::total_cmp);
            y.sort_by(f64::total_cmp);
            let all = brute(&x, &y);
            let d = Differences::new(&x, &y);
            let step = (all.len() / 97).max(1);
            for k in (1..=all.len()).step_by(step).chain([all.len()]) {
                assert_eq!(
                    d.kth_in(k, &Span::whole(&d)),
                    all[k - 1],
                    "n={n} m={m} k={k}"
                );
                if k < all.len() {
                    let whole = Span::whole(&d);
                    assert_eq!(
                        d.kth_and_next(k, &whole),
                        (all[k - 1], all[k]),
                        "n={n} m={m} k={k}"
                    );
                    let last = (k + all.len() / 10).min(all.len());
                    let span = d.span(k, last);
                    assert_eq!(
                        d.kth_in(k, &span),
                        all[k - 1],
                        "n={n} m={m} k={k} in a span"
                    );
                    assert_eq!(
                        d.kth_in(last, &span),
                        all[last - 1],
                        "n={n} m={m} rank {last} in a span"
                    );
                }
            }
        }
    }
}

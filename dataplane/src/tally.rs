//! What a load saw: every request's [`Outcome`] in a [`Record`], counted
//! into a [`Tally`] as a whole or per window of time.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// One request: when it was sent, and the answer (the version in its body
/// and its status code) or `None` when it got none.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// When it was sent.
    pub at: SystemTime,
    /// (version, status code), or `None`: connection refused or reset,
    /// time up.
    pub answer: Option<(String, u16)>,
}

/// Every request of a load, in the order they were sent.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The requests, by the time they were sent.
    pub outcomes: Vec<Outcome>,
    /// How long the load ran.
    pub elapsed: Duration,
}

impl Record {
    /// The record of `outcomes`, sorted by time.
    pub fn new(mut outcomes: Vec<Outcome>, elapsed: Duration) -> Self {
        outcomes.sort_by_key(|o| o.at);
        Self { outcomes, elapsed }
    }

    /// All of it counted.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::count(&self.outcomes);
        tally.elapsed = self.elapsed;
        tally
    }

    /// The requests sent from `from` on, counted in consecutive windows of
    /// `width` (the first starting at `from`); empty windows are left out.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use rollgate_dataplane::tally::{Outcome, Record};
    /// let t0 = SystemTime::UNIX_EPOCH;
    /// let at = |ms| Outcome { at: t0 + Duration::from_millis(ms), answer: Some(("1".into(), 200)) };
    /// let record = Record::new(vec![at(100), at(900), at(1_500)], Duration::from_secs(2));
    /// let windows = record.windows(t0, Duration::from_secs(1));
    /// assert_eq!(windows.len(), 2);
    /// assert_eq!(windows[0].1.answered(), 2);
    /// assert_eq!(windows[1].0, t0 + Duration::from_secs(1));
    /// ```
    pub fn windows(&self, from: SystemTime, width: Duration) -> Vec<(SystemTime, Tally)> {
        let mut windows: BTreeMap<u128, Vec<Outcome>> = BTreeMap::new();
        let width_ns = width.as_nanos().max(1);
        for outcome in &self.outcomes {
            if let Ok(since) = outcome.at.duration_since(from) {
                windows
                    .entry(since.as_nanos() / width_ns)
                    .or_default()
                    .push(outcome.clone());
            }
        }
        windows
            .into_iter()
            .map(|(n, outcomes)| {
                let start = u32::try_from(n).map_or(from, |n| from + width * n);
                (start, Tally::count(&outcomes))
            })
            .collect()
    }

    /// The start of the first window of `width` from `from` on in which
    /// every request was answered 2xx by `version` (and there was at
    /// least one): when traffic was back on that version alone.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use rollgate_dataplane::tally::{Outcome, Record};
    /// let t0 = SystemTime::UNIX_EPOCH;
    /// let at = |s, v: &str| Outcome { at: t0 + Duration::from_secs(s), answer: Some((v.into(), 200)) };
    /// let record = Record::new(vec![at(0, "1"), at(0, "2"), at(1, "2"), at(2, "1"), at(3, "1")], Duration::ZERO);
    /// assert_eq!(record.first_window_all_on(t0, Duration::from_secs(1), "1"), Some(t0 + Duration::from_secs(2)));
    /// assert_eq!(record.first_window_all_on(t0, Duration::from_secs(1), "3"), None);
    /// ```
    pub fn first_window_all_on(
        &self,
        from: SystemTime,
        width: Duration,
        version: &str,
    ) -> Option<SystemTime> {
        self.windows(from, width)
            .into_iter()
            .find(|(_, tally)| {
                tally.answered() > 0
                    && tally.unsuccessful() == 0
                    && tally.by_version(version) == tally.answered()
            })
            .map(|(start, _)| start)
    }
}

/// What a load saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Answers by (version in the body, status code).
    pub answers: BTreeMap<(String, u16), usize>,
    /// Requests that got no answer (connection refused or reset, time up).
    pub failed: usize,
    /// How long the load ran.
    pub elapsed: Duration,
}

impl Tally {
    /// `outcomes` counted (with no elapsed time).
    pub fn count(outcomes: &[Outcome]) -> Self {
        let mut tally = Self::default();
        for outcome in outcomes {
            match &outcome.answer {
                Some(key) => *tally.answers.entry(key.clone()).or_default() += 1,
                None => tally.failed += 1,
            }
        }
        tally
    }

    /// Requests answered, with any status.
    pub fn answered(&self) -> usize {
        self.answers.values().sum()
    }

    /// Requests answered by `version`, with any status.
    pub fn by_version(&self, version: &str) -> usize {
        self.answers
            .iter()
            .filter(|((v, _), _)| v == version)
            .map(|(_, n)| n)
            .sum()
    }

    /// The percentage of answered requests that `version` served (0 when
    /// nothing was answered).
    ///
    /// ```
    /// use rollgate_dataplane::Tally;
    /// let mut tally = Tally::default();
    /// tally.answers.insert(("1".into(), 200), 750);
    /// tally.answers.insert(("2".into(), 200), 200);
    /// tally.answers.insert(("2".into(), 500), 50);
    /// assert_eq!(tally.share("2"), 25.0);
    /// ```
    pub fn share(&self, version: &str) -> f64 {
        let answered = self.answered();
        if answered == 0 {
            return 0.0;
        }
        // Counts stay far below 2^52: exact as floating point.
        #[allow(clippy::cast_precision_loss)]
        let share = 100.0 * self.by_version(version) as f64 / answered as f64;
        share
    }

    /// Requests that did not succeed: no answer, or an answer other than
    /// 2xx.
    pub fn unsuccessful(&self) -> usize {
        self.failed
            + self
                .answers
                .iter()
                .filter(|((_, code), _)| !(200..300).contains(code))
                .map(|(_, n)| n)
                .sum::<usize>()
    }
}

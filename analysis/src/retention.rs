//! Which metrics [`evaluate::decide`](crate::evaluate::decide) trimmed to
//! their `measurementRetention` limit: a provider that keeps an object per
//! measurement (the Job provider keeps its Jobs) collects its own objects
//! down to the same limit then, as Argo's `garbageCollectMeasurements`
//! asks each provider to (`GarbageCollect`) whenever a metric has more
//! measurements than its limit.

use crate::types::AnalysisRunStatus;

/// A metric whose measurements were trimmed, and to how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed<'a> {
    /// The metric's name.
    pub metric: &'a str,
    /// The measurements it keeps: the limit to collect the provider's
    /// objects down to.
    pub limit: usize,
}

/// The metrics that have fewer measurements in `after` (what `decide`
/// returned) than in `before` (what it was given).
///
/// ```
/// use rollgate_analysis::retention::{Trimmed, trimmed};
/// use rollgate_analysis::types::{AnalysisRunStatus, Measurement, MetricResult};
/// let status = |n| AnalysisRunStatus { metric_results: vec![MetricResult {
///     name: "smoke".into(), measurements: vec![Measurement::default(); n],
///     ..MetricResult::default() }], ..AnalysisRunStatus::default() };
/// assert_eq!(trimmed(Some(&status(11)), &status(10)), [Trimmed { metric: "smoke", limit: 10 }]);
/// assert!(trimmed(Some(&status(10)), &status(10)).is_empty());
/// ```
pub fn trimmed<'a>(
    before: Option<&AnalysisRunStatus>,
    after: &'a AnalysisRunStatus,
) -> Vec<Trimmed<'a>> {
    let Some(before) = before else {
        return Vec::new();
    };
    after
        .metric_results
        .iter()
        .filter(|now| {
            before
                .metric_results
                .iter()
                .find(|then| then.name == now.name)
                .is_some_and(|then| then.measurements.len() > now.measurements.len())
        })
        .map(|r| Trimmed {
            metric: &r.name,
            limit: r.measurements.len(),
        })
        .collect()
}

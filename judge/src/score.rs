//! The run's score and result.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::classify::{Classification, MetricResult};
use crate::config::JudgeConfig;

/// Kayenta's `NODATA_THRESHOLD`: this percentage of NoData metrics or more fails the run.
const NO_DATA_PERCENT: f64 = 50.0;

/// The run's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunResult {
    /// The score reaches the pass threshold.
    Pass,
    /// The score reaches the marginal threshold only.
    Marginal,
    /// The score is below the marginal threshold, or a critical metric failed.
    Fail,
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pass => "Pass",
            Self::Marginal => "Marginal",
            Self::Fail => "Fail",
        })
    }
}

/// One group's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupScore {
    /// The group's name.
    pub name: String,
    /// Its score, 0 to 100 (100 when none of its metrics had data).
    pub score: f64,
    /// The weight it carried, out of 100.
    pub weight: f64,
    /// None of its metrics was Pass, High, Low or required-but-missing.
    pub no_data: bool,
}

/// The judgement of a run: its score and result, as Kayenta's
/// `WeightedSumScorer`, `ThresholdScoreClassifier` and `ScoringHelper`
/// (kayenta-judge) compute them. It prints (`Display`) as a summary line and
/// one row per metric, for a measurement's message.
///
/// Muted metrics are left out. A critical metric that failed fails the run
/// with a score of 0; so does NoData on half of the metrics or more.
/// Otherwise each group scores the share of its Pass among its Pass, High,
/// Low and required-but-missing metrics (NoData and Error count in neither
/// part; a group with none of them scores 100), and the run scores the sum
/// of group scores times their weights out of 100, rounded to two decimals.
/// Groups without a weight share what is left of 100 equally.
///
/// Deliberate difference: a metric without groups is a group of its own
/// (Kayenta scores it in no group at all, so its failure would go unseen).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Pass, Marginal or Fail.
    pub result: RunResult,
    /// The score, 0 to 100.
    pub score: f64,
    /// Why the run failed outright, when it did.
    pub reason: Option<String>,
    /// The thresholds the score was held against.
    pub marginal: f64,
    /// The pass threshold.
    pub pass: f64,
    /// Every group's score, by name.
    pub groups: Vec<GroupScore>,
    /// Every metric's result, in the configuration's order.
    pub metrics: Vec<MetricResult>,
}

/// Scores classified metrics against the configuration's weights and thresholds.
pub(crate) fn score(config: &JudgeConfig, metrics: Vec<MetricResult>) -> Verdict {
    let scored: Vec<&MetricResult> = metrics.iter().filter(|m| !m.muted).collect();
    let mut tallies: BTreeMap<&str, (usize, usize)> = BTreeMap::new(); // (pass, counted)
    for m in &scored {
        for g in &m.groups {
            let t = tallies.entry(g.as_str()).or_default();
            let counted = matches!(
                m.classification,
                Classification::Pass | Classification::High | Classification::Low
            ) || m.missing_required_data;
            if counted {
                t.1 += 1;
                if m.classification == Classification::Pass {
                    t.0 += 1;
                }
            }
        }
    }
    let weighted: f64 = config.group_weights.values().sum();
    let unweighted = tallies
        .keys()
        .filter(|g| !config.group_weights.contains_key(**g))
        .count();
    let share = if unweighted > 0 {
        (100.0 - weighted) / unweighted as f64
    } else {
        0.0
    };
    let groups: Vec<GroupScore> = tallies
        .iter()
        .map(|(&name, &(pass, counted))| GroupScore {
            name: name.to_owned(),
            score: if counted == 0 {
                0.0
            } else {
                pass as f64 / counted as f64 * 100.0
            },
            weight: config.group_weights.get(name).copied().unwrap_or(share),
            no_data: counted == 0,
        })
        .collect();
    let critical = scored.iter().find(|m| m.critical);
    // Required data that is missing is Kayenta's NodataFailMetric, not Nodata.
    let no_data = scored
        .iter()
        .filter(|m| m.classification == Classification::NoData && !m.missing_required_data)
        .count();
    let (score, reason) = if let Some(m) = critical {
        (
            0.0,
            Some(format!(
                "critical metric {} is {}: {}",
                m.name, m.classification, m.reason
            )),
        )
    } else if no_data as f64 / scored.len() as f64 * 100.0 >= NO_DATA_PERCENT {
        (
            0.0,
            Some(format!(
                "{no_data} of {} metrics have no data ({NO_DATA_PERCENT}% or more fails)",
                scored.len()
            )),
        )
    } else {
        let sum: f64 = groups
            .iter()
            .map(|g| if g.no_data { 100.0 } else { g.score } * (g.weight / 100.0))
            .sum();
        ((sum * 100.0).round() / 100.0, None)
    };
    let t = config.score_thresholds;
    let result = if reason.is_some() {
        RunResult::Fail
    } else if score >= t.pass {
        RunResult::Pass
    } else if score >= t.marginal {
        RunResult::Marginal
    } else {
        RunResult::Fail
    };
    Verdict {
        result,
        score,
        reason,
        marginal: t.marginal,
        pass: t.pass,
        groups,
        metrics,
    }
}

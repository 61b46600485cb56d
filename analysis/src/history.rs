//! Which completed AnalysisRuns of a Rollout are deleted, as Argo's
//! `FilterAnalysisRunsToDelete` decides among the runs that are not
//! current: newest first, the first `successfulRunHistoryLimit` Successful
//! runs and the first `unsuccessfulRunHistoryLimit` Failed, Error or
//! Inconclusive runs are kept (5 each by default); so are runs still
//! pending or running. A run without the `rollouts-pod-template-hash` label,
//! or whose ReplicaSet is gone or being deleted, is deleted whatever its
//! phase.

use std::collections::BTreeMap;

use rollout_core::AnalysisPhase;
use rollout_core::spec::AnalysisRunStrategy;

use crate::types::parse_phase;

/// Argo's default for both history limits.
pub const DEFAULT_HISTORY_LIMIT: i32 = 5;

/// A run that is not current, as the history rule reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastRun<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its `rollouts-pod-template-hash` label.
    pub pod_hash: Option<&'a str>,
    /// `status.phase` as written.
    pub phase: &'a str,
    /// `metadata.creationTimestamp` (RFC 3339, as the API server writes it).
    pub created: &'a str,
}

/// The limits of `spec.analysis`, defaulted: (successful, unsuccessful).
///
/// ```
/// use rollgate_analysis::history::limits;
/// assert_eq!(limits(None), (5, 5));
/// ```
pub fn limits(strategy: Option<&AnalysisRunStrategy>) -> (i32, i32) {
    let limit = |l: Option<i32>| l.unwrap_or(DEFAULT_HISTORY_LIMIT);
    strategy.map_or((DEFAULT_HISTORY_LIMIT, DEFAULT_HISTORY_LIMIT), |s| {
        (
            limit(s.successful_run_history_limit),
            limit(s.unsuccessful_run_history_limit),
        )
    })
}

/// The names of the runs to delete. `replica_sets` maps each of the
/// Rollout's ReplicaSets' pod template hash to whether it is being deleted.
///
/// ```
/// use std::collections::BTreeMap;
/// use rollgate_analysis::history::{to_delete, PastRun};
/// let run = |name, created, phase| PastRun { name, pod_hash: Some("abc"), phase, created };
/// let runs = [run("r1", "2026-01-01T00:00:01Z", "Successful"),
///             run("r2", "2026-01-01T00:00:02Z", "Successful"),
///             run("r3", "2026-01-01T00:00:03Z", "Running")];
/// let replica_sets = BTreeMap::from([("abc".to_owned(), false)]);
/// assert_eq!(to_delete(&runs, &replica_sets, (1, 5)), ["r1"]);
/// ```
pub fn to_delete<'a>(
    runs: &[PastRun<'a>],
    replica_sets: &BTreeMap<String, bool>,
    (successful, unsuccessful): (i32, i32),
) -> Vec<&'a str> {
    let mut newest_first: Vec<&PastRun<'a>> = runs.iter().collect();
    newest_first.sort_by(|a, b| b.created.cmp(a.created).then(b.name.cmp(a.name)));
    let (mut kept_successful, mut kept_unsuccessful) = (0, 0);
    let mut delete = Vec::new();
    for run in newest_first {
        let replica_set = run.pod_hash.and_then(|h| replica_sets.get(h));
        if replica_set.is_none_or(|deleting| *deleting) {
            delete.push(run.name);
            continue;
        }
        let (kept, limit) = match parse_phase(run.phase) {
            Some(AnalysisPhase::Successful) => (&mut kept_successful, successful),
            Some(AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive) => {
                (&mut kept_unsuccessful, unsuccessful)
            }
            _ => continue,
        };
        if *kept < limit {
            *kept += 1;
        } else {
            delete.push(run.name);
        }
    }
    delete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<'a>(
        name: &'a str,
        hash: Option<&'a str>,
        phase: &'a str,
        second: &'a str,
    ) -> PastRun<'a> {
        PastRun {
            name,
            pod_hash: hash,
            phase,
            created: second,
        }
    }

    #[test]
    fn runs_without_a_live_replica_set_go_whatever_their_phase() {
        let replica_sets = BTreeMap::from([("live".to_owned(), false), ("going".to_owned(), true)]);
        let runs = [
            run("unlabelled", None, "Running", "2026-01-01T00:00:01Z"),
            run("orphan", Some("gone"), "Pending", "2026-01-01T00:00:02Z"),
            run(
                "deleting",
                Some("going"),
                "Successful",
                "2026-01-01T00:00:03Z",
            ),
            run("kept", Some("live"), "Running", "2026-01-01T00:00:04Z"),
        ];
        assert_eq!(
            to_delete(&runs, &replica_sets, (5, 5)),
            ["deleting", "orphan", "unlabelled"]
        );
    }

    #[test]
    fn each_outcome_keeps_its_newest_runs() {
        let replica_sets = BTreeMap::from([("h".to_owned(), false)]);
        let runs = [
            run("f1", Some("h"), "Failed", "2026-01-01T00:00:01Z"),
            run("e2", Some("h"), "Error", "2026-01-01T00:00:02Z"),
            run("i3", Some("h"), "Inconclusive", "2026-01-01T00:00:03Z"),
            run("s4", Some("h"), "Successful", "2026-01-01T00:00:04Z"),
            run("s5", Some("h"), "Successful", "2026-01-01T00:00:05Z"),
        ];
        assert_eq!(to_delete(&runs, &replica_sets, (1, 2)), ["s4", "f1"]);
        assert_eq!(to_delete(&runs, &replica_sets, (0, 0)).len(), 5);
    }
}

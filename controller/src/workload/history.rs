//! `spec.revisionHistoryLimit`: which old ReplicaSets to delete, as Argo's
//! `reconcileRevisionHistoryLimit` chooses them.
//!
//! Among the ReplicaSets that are neither the current nor the stable one
//! and not already being deleted, the oldest beyond the limit (default 10)
//! go, but only those with no pods left: `spec.replicas` and
//! `status.replicas` zero, and the ReplicaSet controller caught up with its
//! spec (`status.observedGeneration`). A ReplicaSet still scaling down is
//! kept until a later reconcile.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollout_core::Rollout;

/// Argo's default for `spec.revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// The ReplicaSets of `others` (the Rollout's ReplicaSets other than the
/// current and the stable one) to delete now, oldest first.
///
/// ```
/// use rollgate_controller::workload::history::to_delete;
/// let rollout = rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web"},
///     "spec": {"revisionHistoryLimit": 1, "strategy": {"canary": {}}}}), "web").unwrap();
/// let rs = |name: &str, created: &str| serde_json::from_value(serde_json::json!({
///     "metadata": {"name": name, "creationTimestamp": created},
///     "spec": {"replicas": 0, "selector": {}}, "status": {"replicas": 0}})).unwrap();
/// let (a, b) = (rs("web-a", "2026-01-01T00:00:00Z"), rs("web-b", "2026-01-02T00:00:00Z"));
/// let gone: Vec<_> = to_delete(&rollout, &[&b, &a]).iter().map(|rs| rs.metadata.name.clone()).collect();
/// assert_eq!(gone, [Some("web-a".to_owned())]);
/// ```
pub fn to_delete<'a>(rollout: &Rollout, others: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let limit = rollout
        .spec
        .revision_history_limit
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
        .max(0);
    let mut alive: Vec<&ReplicaSet> = others
        .iter()
        .copied()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    alive.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name)
            .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    alive
        .into_iter()
        .take(excess)
        .filter(|rs| without_pods(rs))
        .collect()
}

fn without_pods(rs: &ReplicaSet) -> bool {
    let spec = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = rs.status.as_ref();
    let pods = status.map_or(0, |s| s.replicas);
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    spec == 0 && pods == 0 && rs.metadata.generation.unwrap_or(0) <= observed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rollout(limit: Option<i32>) -> Rollout {
        let mut spec = json!({"strategy": {"canary": {}}});
        if let Some(l) = limit {
            spec["revisionHistoryLimit"] = json!(l);
        }
        Rollout::from_value(json!({"metadata": {"name": "web"}, "spec": spec}), "web").unwrap()
    }

    fn rs(
        name: &str,
        day: u32,
        spec: i32,
        pods: i32,
        generation: i64,
        observed: i64,
    ) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": format!("2026-01-{day:02}T00:00:00Z"),
                         "generation": generation},
            "spec": {"replicas": spec, "selector": {}},
            "status": {"replicas": pods, "observedGeneration": observed}}))
        .unwrap()
    }

    fn names(list: Vec<&ReplicaSet>) -> Vec<String> {
        list.iter()
            .filter_map(|rs| rs.metadata.name.clone())
            .collect()
    }

    #[test]
    fn the_oldest_beyond_the_limit_go_once_they_have_no_pods() {
        let old = rs("old", 1, 0, 0, 2, 2);
        let draining = rs("draining", 2, 0, 1, 2, 2);
        let unobserved = rs("unobserved", 3, 0, 0, 3, 2);
        let recent = rs("recent", 4, 0, 0, 1, 1);
        let all = [&recent, &unobserved, &draining, &old];
        // Three beyond a limit of 1: the three oldest, of which only one has no pods.
        assert_eq!(names(to_delete(&rollout(Some(1)), &all)), ["old"]);
        assert_eq!(names(to_delete(&rollout(Some(0)), &all)), ["old", "recent"]);
        // Within the default limit of 10: none.
        assert!(to_delete(&rollout(None), &all).is_empty());
    }
}

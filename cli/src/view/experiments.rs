//! The Experiments of a simulated rollout, as `get rollout` shows them under
//! their revision: the Experiment, then the ReplicaSet of each template.

use rollout_core::sim::Sim;

use super::{ExperimentInfo, replica_set_info};

/// Each Experiment of `sim` with the revision it belongs to (the one of the
/// ReplicaSet whose pod template hash its name carries, as Argo names it
/// `<rollout>-<hash>-<revision>-<step>`), newest first.
pub(super) fn of(sim: &Sim) -> Vec<(u64, ExperimentInfo)> {
    let prefix = format!("{}-", sim.rollout.metadata.name);
    let now = sim.now;
    sim.experiments
        .iter()
        .rev()
        .map(|e| {
            let hash = e
                .name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split('-').next())
                .unwrap_or_default();
            let revision = sim.replica_set(hash).map_or(0, |rs| rs.revision);
            let replica_sets = e
                .templates
                .iter()
                .map(|t| {
                    let name = format!("{}-{}", e.name, t.name);
                    let tags = Vec::new();
                    replica_set_info(sim, &t.replica_set, name, e.created, 1, tags)
                })
                .collect();
            let info = ExperimentInfo {
                name: e.name.clone(),
                phase: e.phase(now),
                age: now.saturating_since(e.created),
                replica_sets,
            };
            (revision, info)
        })
        .collect()
}

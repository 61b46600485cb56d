//! A view of a simulated rollout in the shape of `kubectl argo rollouts get
//! rollout`: the header lines (name, status, strategy, weights, images,
//! replica counts), then the tree of revisions, ReplicaSets, pods and
//! AnalysisRuns under NAME / KIND / STATUS / AGE / INFO columns.
//!
//! [`RolloutInfo::of`] gathers what the view shows from a [`Sim`] and a
//! [`Ledger`] (creation times and images, which the simulator does not
//! keep), following the rules of kubectl-argo-rollouts' `info` package
//! (`crate::live::info` gathers it from a live cluster);
//! [`RolloutInfo::render`] draws it. Column widths come from the content, so
//! a long name never runs into the next column.

mod experiments;
mod render;
mod table;

use std::collections::BTreeMap;
use std::time::Duration;

use rollout_core::sim::{Sim, SimReplicaSet};
use rollout_core::{AnalysisPhase, Phase, Rollout, Time, steps};
use serde_json::Value;

pub(crate) use table::{Table, Text, colour_wanted, human_duration};

// ----- what the simulator does not keep -----------------------------------------

/// What the view remembers about simulated objects that the simulator does
/// not keep: when each ReplicaSet and AnalysisRun was created, the images of
/// each ReplicaSet's pod template, and the revision each AnalysisRun belongs
/// to. Call [`Ledger::record`] after every reconcile: an object's first
/// sighting is then its creation. Pods need no record: a simulated pod is
/// created `pod_ready_after` before it becomes available.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    rollout_created: Time,
    replica_sets: BTreeMap<String, (Time, Vec<String>)>,
    analysis_runs: BTreeMap<String, (Time, u64)>,
}

impl Ledger {
    /// A ledger for a rollout created at `created`.
    pub(crate) fn new(created: Time) -> Self {
        Self {
            rollout_created: created,
            replica_sets: BTreeMap::new(),
            analysis_runs: BTreeMap::new(),
        }
    }

    /// Notes the objects that appeared since the last call.
    pub(crate) fn record(&mut self, sim: &Sim) {
        for rs in &sim.replica_sets {
            self.replica_sets.entry(rs.hash.clone()).or_insert_with(|| {
                let mut images = template_images(sim.rollout.spec.template.as_ref());
                if images.is_empty() {
                    images.push(rs.image.clone());
                }
                (sim.now, images)
            });
        }
        let prefix = format!("{}-", sim.rollout.metadata.name);
        for run in &sim.analysis_runs {
            // Argo names a run `<rollout>-<hash>-<revision>...`.
            let hash = run
                .name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split('-').next())
                .unwrap_or_default();
            let revision = sim.replica_set(hash).map_or(0, |rs| rs.revision);
            self.analysis_runs
                .entry(run.name.clone())
                .or_insert((sim.now, revision));
        }
    }
}

/// The images of a pod template's containers, in order.
fn template_images(template: Option<&Value>) -> Vec<String> {
    template
        .and_then(|t| t.pointer("/spec/containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

// ----- what the view shows ------------------------------------------------------

/// Everything `get rollout` shows, gathered from the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RolloutInfo {
    pub(crate) name: String,
    pub(crate) namespace: String,
    /// `Canary` or `BlueGreen`: a blue-green view has no step or weights.
    pub(crate) strategy: &'static str,
    /// The phase, `None` before the first reconcile.
    pub(crate) phase: Option<Phase>,
    pub(crate) message: Option<String>,
    /// `index/steps`, when the status has a step index and there are steps.
    pub(crate) step: Option<String>,
    pub(crate) set_weight: i32,
    pub(crate) actual_weight: i32,
    /// Images of the ReplicaSets that have pods, with their tags (`canary`, `stable`).
    pub(crate) images: Vec<(String, Vec<&'static str>)>,
    /// Desired, current, updated, ready and available replicas.
    pub(crate) replicas: [i32; 5],
    pub(crate) age: Duration,
    /// Newest first.
    pub(crate) revisions: Vec<RevisionInfo>,
}

/// One revision's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevisionInfo {
    pub(crate) revision: u64,
    pub(crate) replica_sets: Vec<ReplicaSetInfo>,
    pub(crate) experiments: Vec<ExperimentInfo>,
    pub(crate) analysis_runs: Vec<AnalysisRunInfo>,
}

/// An Experiment row and its ReplicaSets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExperimentInfo {
    pub(crate) name: String,
    pub(crate) phase: AnalysisPhase,
    pub(crate) age: Duration,
    pub(crate) replica_sets: Vec<ReplicaSetInfo>,
}

/// A ReplicaSet row and its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplicaSetInfo {
    pub(crate) name: String,
    /// `Healthy`, `Progressing` or `ScaledDown`.
    pub(crate) status: &'static str,
    pub(crate) age: Duration,
    /// `stable`, `canary` (`active`, `preview` for blue-green).
    pub(crate) tags: Vec<&'static str>,
    /// Time left before a delayed scale-down, or `passed`.
    pub(crate) delay: Option<String>,
    pub(crate) pods: Vec<PodInfo>,
}

/// A pod row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodInfo {
    pub(crate) name: String,
    /// As kubectl shows it: `Running`, `Pending`, `ContainerCreating`,
    /// `Terminating`, a waiting or terminated container's reason...
    pub(crate) status: String,
    /// Containers ready, of `containers`.
    pub(crate) ready: usize,
    pub(crate) containers: usize,
    pub(crate) restarts: u32,
    pub(crate) age: Duration,
}

/// An AnalysisRun row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnalysisRunInfo {
    pub(crate) name: String,
    pub(crate) phase: AnalysisPhase,
    pub(crate) age: Duration,
    /// Measurements summed over the metrics: successful, failed,
    /// inconclusive, error.
    pub(crate) counts: [u64; 4],
}

impl RolloutInfo {
    /// Gathers the view of `sim` at its current time.
    ///
    /// Weights follow kubectl-argo-rollouts: SetWeight is 0 once aborted,
    /// else the `setWeight` in effect (the maximum once all steps are done);
    /// ActualWeight is the maximum once all steps are done, else 0 with no
    /// available pods, else the router's canary weight from the status (with
    /// traffic routing) or the canary's share of available pods (without).
    /// Old scaled-down ReplicaSets beyond `revisionHistoryLimit` (10 by
    /// default) are left out, as the controller deletes them.
    pub(crate) fn of(sim: &Sim, ledger: &Ledger) -> Self {
        let r = &sim.rollout;
        let st = r.status.clone().unwrap_or_default();
        let now = sim.now;
        let stable = st.stable_rs.as_deref().unwrap_or_default();
        let current = st.current_pod_hash.as_deref().unwrap_or_default();
        let steps = r.canary().map_or(&[][..], |c| &c.steps);
        let max = r.canary().map_or(100, |c| c.max_weight());
        let index = st.step_index();
        let tags = |rs: &SimReplicaSet| replica_set_tags(r, &rs.hash);
        let available = st.available_replicas.unwrap_or(0);
        let actual_weight = if index >= steps.len() {
            max
        } else if available <= 0 {
            0
        } else if r.canary().is_some_and(|c| c.routes_traffic()) {
            st.canary.weights.as_ref().map_or_else(
                || steps::set_weight_at(steps, index, max),
                |w| w.canary.weight,
            )
        } else {
            sim.replica_sets
                .iter()
                .find(|rs| rs.hash == current && rs.hash != stable)
                .map_or(0, |rs| rs.available(now) * max / available)
        };

        let mut images: Vec<(String, Vec<&'static str>)> = Vec::new();
        for rs in sim.replica_sets.iter().filter(|rs| rs.size() > 0) {
            let list = ledger
                .replica_sets
                .get(&rs.hash)
                .map_or_else(|| vec![rs.image.clone()], |(_, i)| i.clone());
            for image in list {
                match images.iter_mut().find(|(i, _)| *i == image) {
                    Some((_, t)) => t.extend(tags(rs)),
                    None => images.push((image, tags(rs))),
                }
            }
        }
        images.sort();
        for (_, t) in &mut images {
            t.sort_unstable();
            t.dedup();
        }

        let limit = usize::try_from(r.spec.revision_history_limit.unwrap_or(10)).unwrap_or(0);
        let mut old_kept = 0;
        let mut by_revision: BTreeMap<u64, RevisionInfo> = BTreeMap::new();
        for rs in sim.replica_sets.iter().rev() {
            if rs.size() == 0 && rs.hash != stable && rs.hash != current {
                old_kept += 1;
                if old_kept > limit {
                    continue;
                }
            }
            let created = ledger.replica_sets.get(&rs.hash).map_or(now, |(t, _)| *t);
            let containers = ledger
                .replica_sets
                .get(&rs.hash)
                .map_or(1, |(_, i)| i.len());
            let name = rollout_core::conditions::replica_set_name(r, &rs.hash);
            let info = replica_set_info(sim, rs, name, created, containers, tags(rs));
            revision_entry(&mut by_revision, rs.revision)
                .replica_sets
                .push(info);
        }
        for (revision, experiment) in experiments::of(sim) {
            revision_entry(&mut by_revision, revision)
                .experiments
                .push(experiment);
        }
        for run in &sim.analysis_runs {
            let (created, revision) = ledger
                .analysis_runs
                .get(&run.name)
                .copied()
                .unwrap_or((now, 0));
            revision_entry(&mut by_revision, revision)
                .analysis_runs
                .push(AnalysisRunInfo {
                    name: run.name.clone(),
                    phase: run.phase(now),
                    age: now.saturating_since(created),
                    counts: [0; 4],
                });
        }
        let mut revisions: Vec<RevisionInfo> = by_revision.into_values().rev().collect();
        for rev in &mut revisions {
            rev.replica_sets.sort_by(|a, b| a.name.cmp(&b.name));
            // Oldest first; among runs of the same age, by name descending.
            rev.analysis_runs
                .sort_by(|a, b| b.age.cmp(&a.age).then_with(|| b.name.cmp(&a.name)));
        }

        Self {
            name: r.metadata.name.clone(),
            strategy: if r.blue_green().is_some() {
                "BlueGreen"
            } else {
                "Canary"
            },
            namespace: r
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            phase: st.phase,
            message: st.message.clone().filter(|m| !m.is_empty()),
            step: (st.current_step_index.is_some() && !steps.is_empty())
                .then(|| format!("{index}/{}", steps.len())),
            set_weight: if st.abort {
                0
            } else {
                steps::set_weight_at(steps, index, max)
            },
            actual_weight,
            images,
            replicas: [
                r.replicas(),
                st.replicas.unwrap_or(0),
                st.updated_replicas.unwrap_or(0),
                st.ready_replicas.unwrap_or(0),
                available,
            ],
            age: now.saturating_since(ledger.rollout_created),
            revisions,
        }
    }
}

pub(crate) fn revision_entry(
    map: &mut BTreeMap<u64, RevisionInfo>,
    revision: u64,
) -> &mut RevisionInfo {
    map.entry(revision).or_insert_with(|| RevisionInfo {
        revision,
        replica_sets: Vec::new(),
        experiments: Vec::new(),
        analysis_runs: Vec::new(),
    })
}

/// The tags of a ReplicaSet with pod template hash `hash`, in the order
/// kubectl-argo-rollouts prints them: `stable` or `canary` for a canary
/// Rollout; `stable`, then `active` or `preview`, for a blue-green one.
pub(crate) fn replica_set_tags(rollout: &Rollout, hash: &str) -> Vec<&'static str> {
    let st = rollout.status.clone().unwrap_or_default();
    let is = |h: &Option<String>| !hash.is_empty() && h.as_deref() == Some(hash);
    let mut tags = Vec::new();
    if rollout.canary().is_some() {
        if is(&st.stable_rs) {
            tags.push("stable");
        } else if is(&st.current_pod_hash) {
            tags.push("canary");
        }
    }
    if rollout.blue_green().is_some() {
        if is(&st.stable_rs) {
            tags.push("stable");
        }
        if is(&st.blue_green.active_selector) {
            tags.push("active");
        } else if is(&st.blue_green.preview_selector) {
            tags.push("preview");
        }
    }
    tags
}

/// The row of a simulated ReplicaSet named `name` and its pods: a pod was
/// created `pod_ready_after` before it becomes available.
fn replica_set_info(
    sim: &Sim,
    rs: &SimReplicaSet,
    name: String,
    created: Time,
    containers: usize,
    tags: Vec<&'static str>,
) -> ReplicaSetInfo {
    let now = sim.now;
    let mut pods: Vec<PodInfo> = rs
        .pods
        .iter()
        .enumerate()
        .map(|(i, ready_at)| {
            let running = *ready_at <= now;
            PodInfo {
                name: format!("{name}-{}", pod_suffix(&rs.hash, i)),
                status: if running { "Running" } else { "Pending" }.to_owned(),
                ready: if running { containers } else { 0 },
                containers,
                restarts: 0,
                age: (now + sim.pod_ready_after).saturating_since(*ready_at),
            }
        })
        .collect();
    pods.sort_by(|a, b| b.age.cmp(&a.age).then_with(|| a.name.cmp(&b.name)));
    let status = if rs.available(now) < rs.size() {
        "Progressing"
    } else if rs.size() == 0 {
        "ScaledDown"
    } else {
        "Healthy"
    };
    let delay = rs.scale_down_deadline.map(|d| {
        if d < now {
            "passed".to_owned()
        } else {
            human_duration(d.saturating_since(now))
        }
    });
    ReplicaSetInfo {
        name,
        status,
        age: now.saturating_since(created),
        tags,
        delay,
        pods,
    }
}

/// A stable five-letter pod suffix, as the ReplicaSet controller would generate.
fn pod_suffix(hash: &str, index: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = hash.bytes().fold(
        0x811c_9dc5_u32 ^ u32::try_from(index).unwrap_or(0),
        |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193),
    );
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % 27) as usize] as char;
            x /= 27;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(canary: serde_json::Value, history: i32) -> Rollout {
        let value = serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "replicas": 4,
                "revisionHistoryLimit": history,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [
                    {"name": "web", "image": "example/web:1.0.0"},
                    {"name": "proxy", "image": "example/proxy:2.1"},
                ]}},
                "strategy": {"canary": canary},
            }
        });
        Rollout::from_value(value, "web.yaml").unwrap()
    }

    /// Runs `sim` until it waits for a person, recording every reconcile.
    fn settle(sim: &mut Sim, ledger: &mut Ledger) {
        for _ in 0..1000 {
            let tick = sim.reconcile().unwrap();
            ledger.record(sim);
            if !sim.advance(&tick) {
                return;
            }
        }
        panic!("the simulation did not settle");
    }

    #[test]
    fn ages_come_from_the_virtual_clock_and_images_from_each_template() {
        let start = Time::from_unix_seconds(1_000);
        let steps = serde_json::json!({"steps": [{"setWeight": 25}, {"pause": {}}]});
        let mut sim = Sim::new(rollout(steps, 10), start);
        let mut ledger = Ledger::new(start);
        settle(&mut sim, &mut ledger);
        sim.set_image("example/web:1.0.1");
        settle(&mut sim, &mut ledger);
        let info = RolloutInfo::of(&sim, &ledger);

        assert_eq!(info.phase, Some(Phase::Paused));
        assert_eq!(info.age, sim.now.saturating_since(start));
        assert_eq!(
            info.images,
            [
                ("example/proxy:2.1".to_owned(), vec!["canary", "stable"]),
                ("example/web:1.0.0".to_owned(), vec!["stable"]),
                ("example/web:1.0.1".to_owned(), vec!["canary"]),
            ]
        );
        let [new, old] = &info.revisions[..] else {
            panic!("{info:?}")
        };
        assert_eq!((new.revision, old.revision), (2, 1));
        let canary = &new.replica_sets[0];
        assert_eq!(canary.tags, ["canary"]);
        assert_eq!(canary.pods.len(), 1);
        assert_eq!(canary.pods[0].status, "Running");
        assert_eq!(canary.pods[0].containers, 2);
        // The canary and its pod were created when the update began, the
        // stable ReplicaSet at the first deploy.
        assert_eq!(canary.age, canary.pods[0].age);
        assert_eq!(old.replica_sets[0].age, info.age);
        assert!(canary.age < info.age, "{info:?}");
    }

    #[test]
    fn actual_weight_without_traffic_routing_is_the_canary_share_of_available_pods() {
        let start = Time::from_unix_seconds(0);
        let steps = serde_json::json!({"steps": [{"setWeight": 25}, {"pause": {}}]});
        let mut sim = Sim::new(rollout(steps, 10), start);
        let mut ledger = Ledger::new(start);
        settle(&mut sim, &mut ledger);
        let info = RolloutInfo::of(&sim, &ledger);
        assert_eq!((info.set_weight, info.actual_weight), (100, 100));
        sim.set_image("example/web:1.0.1");
        settle(&mut sim, &mut ledger);
        let info = RolloutInfo::of(&sim, &ledger);
        assert_eq!(info.step.as_deref(), Some("1/2"));
        assert_eq!(info.replicas[4], 4, "{info:?}");
        assert_eq!((info.set_weight, info.actual_weight), (25, 25));
    }

    #[test]
    fn old_replica_sets_beyond_the_history_limit_are_left_out() {
        let start = Time::from_unix_seconds(0);
        let mut sim = Sim::new(rollout(serde_json::json!({}), 0), start);
        let mut ledger = Ledger::new(start);
        for image in [
            "example/web:1.0.0",
            "example/web:1.0.1",
            "example/web:1.0.2",
        ] {
            sim.set_image(image);
            settle(&mut sim, &mut ledger);
        }
        assert_eq!(sim.replica_sets.len(), 3);
        let info = RolloutInfo::of(&sim, &ledger);
        let revisions: Vec<u64> = info.revisions.iter().map(|r| r.revision).collect();
        assert_eq!(revisions, [3], "{info:?}");
    }
}

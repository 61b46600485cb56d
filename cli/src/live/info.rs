//! The tree view of a live Rollout: a [`Snapshot`] turned into the
//! [`RolloutInfo`] the `view` module draws, by the rules of
//! kubectl-argo-rollouts' `info` package (status words, weights, tags,
//! revisions, pod statuses as kubectl shows them).
//!
//! Left out: the Jobs of Job metrics under an AnalysisRun, Experiments
//! (Rollgate does not run experiment steps) and init-container images.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use rollout_core::conditions::rollout_phase;
use rollout_core::ops::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};
use rollout_core::{AnalysisPhase, Rollout, Time, steps};
use serde_json::Value;

use super::snapshot::{Snapshot, controlled_by, created_at};
use crate::view::{
    AnalysisRunInfo, PodInfo, ReplicaSetInfo, RevisionInfo, RolloutInfo, replica_set_tags,
    revision_entry,
};

/// The annotation with the time a ReplicaSet is scaled down at.
const SCALE_DOWN_DEADLINE: &str = "scale-down-deadline";

/// `Canary`, `BlueGreen`, or `unknown` for a Rollout with neither.
pub(crate) fn strategy(rollout: &Rollout) -> &'static str {
    if rollout.canary().is_some() {
        "Canary"
    } else if rollout.blue_green().is_some() {
        "BlueGreen"
    } else {
        "unknown"
    }
}

/// `index/steps` when the status has a step index and the canary has steps.
pub(crate) fn step(rollout: &Rollout) -> Option<String> {
    let steps = rollout.canary().map_or(0, |c| c.steps.len());
    let index = rollout.status.as_ref()?.current_step_index?;
    (steps > 0).then(|| format!("{index}/{steps}"))
}

/// Argo's `GetCurrentSetWeight`: 0 once aborted, else the `setWeight` in
/// effect at the current step (`maxTrafficWeight` once the steps are done).
pub(crate) fn set_weight(rollout: &Rollout) -> i32 {
    let st = rollout.status.clone().unwrap_or_default();
    if st.abort {
        return 0;
    }
    let Some(canary) = rollout.canary() else {
        return 0;
    };
    steps::set_weight_at(&canary.steps, st.step_index(), canary.max_weight())
}

fn pod_template_hash(rs: &ReplicaSet) -> &str {
    rs.labels()
        .get(POD_TEMPLATE_HASH_LABEL)
        .map_or("", String::as_str)
}

fn revision_of(annotations: &BTreeMap<String, String>) -> u64 {
    annotations
        .get(REVISION_ANNOTATION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Argo's ReplicaSet health: `ReplicaFailure` when that condition holds,
/// `Progressing` while not all wanted pods are available (or the spec is
/// not observed yet), `ScaledDown` at 0 replicas, else `Healthy`.
fn replica_set_status(rs: &ReplicaSet) -> &'static str {
    let wanted = rs.spec.as_ref().and_then(|s| s.replicas);
    let status = rs.status.clone().unwrap_or_default();
    if rs.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0) {
        return "Progressing";
    }
    let failed = status
        .conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "ReplicaFailure" && c.status == "True");
    if failed {
        return "ReplicaFailure";
    }
    if wanted.is_some_and(|w| status.available_replicas.unwrap_or(0) < w) {
        return "Progressing";
    }
    if wanted == Some(0) {
        return "ScaledDown";
    }
    "Healthy"
}

/// A pod's status as kubectl and kubectl-argo-rollouts show it, its ready
/// containers and its restarts.
pub(crate) fn pod_status(pod: &Pod) -> (String, usize, u32) {
    let spec = pod.spec.clone().unwrap_or_default();
    let st = pod.status.clone().unwrap_or_default();
    let mut reason = st
        .reason
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| st.phase.clone())
        .unwrap_or_default();
    let mut restarts: u32 = 0;
    let mut ready = 0;
    let init_specs = spec.init_containers.unwrap_or_default();
    let init_statuses = st.init_container_statuses.unwrap_or_default();
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += u32::try_from(c.restart_count).unwrap_or(0);
        let state = c.state.clone().unwrap_or_default();
        let sidecar = init_specs
            .iter()
            .any(|s| s.name == c.name && s.restart_policy.as_deref() == Some("Always"));
        if let Some(t) = &state.terminated {
            if t.exit_code == 0 {
                continue;
            }
            reason = match (t.reason.as_deref().filter(|r| !r.is_empty()), t.signal) {
                (Some(r), _) => format!("Init:{r}"),
                (None, Some(s)) if s != 0 => format!("Init:Signal:{s}"),
                (None, _) => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if sidecar && c.started == Some(true) && c.ready {
            continue;
        } else if let Some(w) = state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        let mut running = false;
        for c in st.container_statuses.unwrap_or_default().iter().rev() {
            restarts += u32::try_from(c.restart_count).unwrap_or(0);
            let state = c.state.clone().unwrap_or_default();
            let waiting = state.waiting.as_ref().and_then(|w| w.reason.clone());
            if let Some(w) = waiting.filter(|r| !r.is_empty()) {
                reason = w;
            } else if let Some(t) = &state.terminated {
                reason = match (t.reason.clone().filter(|r| !r.is_empty()), t.signal) {
                    (Some(r), _) => r,
                    (None, Some(s)) if s != 0 => format!("Signal:{s}"),
                    (None, _) => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.running.is_some() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = "Running".to_owned();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = if st.reason.as_deref() == Some("NodeLost") {
            "Unknown".to_owned()
        } else {
            "Terminating".to_owned()
        };
    }
    (reason, ready, restarts)
}

fn replica_set_info(s: &Snapshot, rs: &ReplicaSet) -> ReplicaSetInfo {
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let mut pods: Vec<(Time, PodInfo)> = s
        .pods
        .iter()
        .filter(|p| controlled_by(p.metadata.owner_references.as_deref(), &uid))
        .map(|p| {
            let created = created_at(&p.metadata, s.now);
            let (status, ready, restarts) = pod_status(p);
            let containers = p.spec.as_ref().map_or(0, |s| s.containers.len());
            let info = PodInfo {
                name: p.name_any(),
                status,
                ready,
                containers,
                restarts,
                age: s.now.saturating_since(created),
            };
            (created, info)
        })
        .collect();
    pods.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.name.cmp(&y.name)));
    let delay = rs
        .annotations()
        .get(SCALE_DOWN_DEADLINE)
        .and_then(|d| d.parse::<Time>().ok())
        .map(|d| {
            if d < s.now {
                "passed".to_owned()
            } else {
                crate::view::human_duration(d.saturating_since(s.now))
            }
        });
    ReplicaSetInfo {
        name: rs.name_any(),
        status: replica_set_status(rs),
        age: s.now.saturating_since(created_at(&rs.metadata, s.now)),
        tags: replica_set_tags(&s.rollout, pod_template_hash(rs)),
        delay,
        pods: pods.into_iter().map(|(_, p)| p).collect(),
    }
}

fn analysis_run_info(s: &Snapshot, run: &Value) -> (u64, Time, AnalysisRunInfo) {
    let text = |p: &str| run.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let created = text("/metadata/creationTimestamp").parse().unwrap_or(s.now);
    let revision = text("/metadata/annotations/rollout.argoproj.io~1revision")
        .parse()
        .unwrap_or(0);
    let phase = serde_json::from_value(Value::from(text("/status/phase")))
        .unwrap_or(AnalysisPhase::Pending);
    let mut counts = [0; 4];
    for result in run
        .pointer("/status/metricResults")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (n, key) in counts
            .iter_mut()
            .zip(["successful", "failed", "inconclusive", "error"])
        {
            *n += result.get(key).and_then(Value::as_u64).unwrap_or(0);
        }
    }
    let info = AnalysisRunInfo {
        name: text("/metadata/name").to_owned(),
        phase,
        age: s.now.saturating_since(created),
        counts,
    };
    (revision, created, info)
}

impl RolloutInfo {
    /// Gathers the view of a live Rollout.
    ///
    /// As kubectl-argo-rollouts: the status and message are Argo's
    /// `GetRolloutPhase`; SetWeight is 0 once aborted, else the `setWeight`
    /// in effect; ActualWeight is `maxTrafficWeight` once the steps are
    /// done, else 0 with no available pods, else the router's canary weight
    /// from the status (SetWeight when there is none yet) with traffic
    /// routing, or the canary's share of available pods without. Images are
    /// those of ReplicaSets with pods, tagged by role.
    pub(crate) fn of_live(s: &Snapshot) -> Self {
        let r = &s.rollout;
        let st = r.status.clone().unwrap_or_default();
        let (phase, message) = rollout_phase(r);
        let set_weight = set_weight(r);
        let available = st.available_replicas.unwrap_or(0);
        let stable = st.stable_rs.as_deref().unwrap_or_default();
        let current = st.current_pod_hash.as_deref().unwrap_or_default();
        let actual_weight = match r.canary() {
            None => 0,
            Some(c) if st.step_index() >= c.steps.len() => c.max_weight(),
            Some(_) if available <= 0 => 0,
            Some(c) if c.routes_traffic() => st
                .canary
                .weights
                .as_ref()
                .map_or(set_weight, |w| w.canary.weight),
            Some(c) => s
                .replica_sets
                .iter()
                .filter(|rs| pod_template_hash(rs) == current && current != stable)
                .map(|rs| {
                    let avail = rs.status.as_ref().and_then(|s| s.available_replicas);
                    avail.unwrap_or(0) * c.max_weight() / available
                })
                .next_back()
                .unwrap_or(0),
        };

        let mut images: Vec<(String, Vec<&'static str>)> = Vec::new();
        let mut by_revision: BTreeMap<u64, RevisionInfo> = BTreeMap::new();
        for rs in &s.replica_sets {
            let info = replica_set_info(s, rs);
            let has_pods = rs.status.as_ref().is_some_and(|st| st.replicas > 0);
            let containers = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .map(|p| p.containers.clone())
                .unwrap_or_default();
            for image in containers
                .iter()
                .filter_map(|c| c.image.clone())
                .filter(|_| has_pods)
            {
                match images.iter_mut().find(|(i, _)| *i == image) {
                    Some((_, t)) => t.extend(info.tags.iter().copied()),
                    None => images.push((image, info.tags.clone())),
                }
            }
            revision_entry(&mut by_revision, revision_of(rs.annotations()))
                .replica_sets
                .push(info);
        }
        images.sort();
        for (_, t) in &mut images {
            t.sort_unstable();
            t.dedup();
        }
        let mut runs: Vec<_> = s
            .analysis_runs
            .iter()
            .map(|run| analysis_run_info(s, run))
            .collect();
        runs.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.2.name.cmp(&b.2.name)));
        for (rev, _, info) in runs {
            revision_entry(&mut by_revision, rev)
                .analysis_runs
                .push(info);
        }
        let mut revisions: Vec<RevisionInfo> = by_revision.into_values().rev().collect();
        for rev in &mut revisions {
            rev.replica_sets.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Self {
            name: r.metadata.name.clone(),
            namespace: r.metadata.namespace.clone().unwrap_or_default(),
            strategy: strategy(r),
            phase: Some(phase),
            message: Some(message.into_owned()).filter(|m| !m.is_empty()),
            step: step(r),
            set_weight,
            actual_weight,
            images,
            replicas: [
                r.replicas(),
                st.replicas.unwrap_or(0),
                st.updated_replicas.unwrap_or(0),
                st.ready_replicas.unwrap_or(0),
                available,
            ],
            age: s.now.saturating_since(s.created),
            revisions,
        }
    }
}

#[cfg(test)]
mod tests;

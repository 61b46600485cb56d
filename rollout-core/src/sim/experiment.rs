//! Experiments in the simulated world, as an Experiment controller runs
//! them: the one a decision asks for is created with a ReplicaSet per
//! template (and a Service for each template that asks for one), is
//! `Pending` until every template's pods are available, `Running` from
//! then, and ends after its `duration` (or as [`Sim::experiment_outcome`]
//! scripts it); a cancelled one ends `Successful` at once, as Argo ends a
//! terminated Experiment. Once ended, its ReplicaSets are scaled down after
//! its `scaleDownDelaySeconds` (30 by default).

use std::time::Duration;

use super::{Sim, SimReplicaSet, fnv1a32};
use crate::decision::{AnalysisPhase, Event};
use crate::experiment_state::{ExperimentRequest, ExperimentState, ExperimentTemplateState};
use crate::intstr::IntOrString;
use crate::step_hash::safe_encode;
use crate::time::Time;

/// How long a simulated Experiment without a `duration` runs once
/// available, unless scripted: the time a simulated AnalysisRun takes.
pub const DEFAULT_EXPERIMENT_RUNS_FOR: Duration = Duration::from_secs(60);

/// Argo's default `scaleDownDelaySeconds` of an Experiment.
const DEFAULT_SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);

/// A simulated Experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimExperiment {
    /// Its name, as the decision gave it.
    pub name: String,
    /// The index of the `experiment` step that asked for it.
    pub step_index: usize,
    /// When it was created.
    pub created: Time,
    /// Its templates, in the step's order.
    pub templates: Vec<SimExperimentTemplate>,
    /// When every template's pods were first available.
    pub available_at: Option<Time>,
    /// When and how it ends, known once it is available (or cancelled).
    pub ends: Option<(Time, AnalysisPhase)>,
    /// Cancelled by the rollout (`spec.terminate: true`).
    pub terminated: bool,
    runs_for: Duration,
    scripted: Option<AnalysisPhase>,
    scale_down_delay: Duration,
}

/// One template of a simulated Experiment: its ReplicaSet, named
/// `<experiment>-<template>`, and its Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimExperimentTemplate {
    /// The template's name.
    pub name: String,
    /// The Service created for it, if the template asks for one.
    pub service: Option<String>,
    /// Its ReplicaSet (revision 0: Experiments' ReplicaSets have none).
    pub replica_set: SimReplicaSet,
}

impl SimExperiment {
    /// Its phase at `now`: Pending until available, Running until it ends,
    /// then how it ended.
    pub fn phase(&self, now: Time) -> AnalysisPhase {
        match self.ends {
            Some((at, phase)) if now >= at => phase,
            _ if self.available_at.is_some() => AnalysisPhase::Running,
            _ => AnalysisPhase::Pending,
        }
    }

    /// What a Rollout's controller observes of it at `now`.
    pub fn observe(&self, now: Time) -> ExperimentState {
        let phase = self.phase(now);
        ExperimentState {
            name: self.name.clone(),
            phase: Some(phase),
            message: matches!(phase, AnalysisPhase::Failed | AnalysisPhase::Error)
                .then(|| format!("Experiment {} {}", self.name, phase.as_str().to_lowercase())),
            terminate: self.terminated,
            templates: self
                .templates
                .iter()
                .map(|t| ExperimentTemplateState {
                    name: t.name.clone(),
                    service_name: t.service.clone(),
                    pod_template_hash: Some(t.replica_set.hash.clone()),
                })
                .collect(),
        }
    }

    /// Moves it on to `now`: notes when it became available and when it
    /// ends, and scales its ReplicaSets down once the delay after its end passed.
    fn run(&mut self, now: Time) {
        if self.available_at.is_none()
            && self
                .templates
                .iter()
                .all(|t| t.replica_set.available(now) == t.replica_set.size())
        {
            self.available_at = Some(now);
            let phase = self.scripted.unwrap_or(AnalysisPhase::Successful);
            self.ends.get_or_insert((now + self.runs_for, phase));
        }
        let Some((ended, _)) = self.ends.filter(|(at, _)| now >= *at) else {
            return;
        };
        let deadline = ended + self.scale_down_delay;
        for t in &mut self.templates {
            let rs = &mut t.replica_set;
            if rs.size() == 0 {
                continue;
            }
            if now >= deadline {
                rs.pods.clear();
                rs.scale_down_deadline = None;
            } else {
                rs.scale_down_deadline = Some(deadline);
            }
        }
    }

    /// The next time it changes by itself after `now`.
    fn next_change(&self, now: Time) -> Option<Time> {
        let pods = self
            .templates
            .iter()
            .flat_map(|t| t.replica_set.pods.iter().copied());
        let end = self.ends.map(|(at, _)| at).into_iter().chain(
            self.templates
                .iter()
                .filter_map(|t| t.replica_set.scale_down_deadline),
        );
        pods.chain(end).filter(|t| *t > now).min()
    }
}

impl Sim {
    /// Creates the Experiment `req` names unless it exists, with an
    /// `ExperimentCreated` event as Argo's controller records it.
    pub(super) fn create_experiment(&mut self, req: &ExperimentRequest) {
        if self.experiments.iter().any(|e| e.name == req.name) {
            return;
        }
        let now = self.now;
        let ready_at = now + self.pod_ready_after;
        let stable_image = self
            .rollout
            .status
            .as_ref()
            .and_then(|s| s.stable_rs.as_deref())
            .and_then(|h| self.replica_set(h))
            .map(|rs| rs.image.clone());
        let templates = req
            .step
            .templates
            .iter()
            .map(|t| {
                let rs_name = format!("{}-{}", req.name, t.name);
                let image = match t.spec_ref.as_str() {
                    "stable" => stable_image
                        .clone()
                        .unwrap_or_else(|| super::image_of(&self.rollout)),
                    _ => super::image_of(&self.rollout),
                };
                let mut hash = safe_encode(fnv1a32(rs_name.as_bytes()));
                hash.truncate(10);
                let replicas = usize::try_from(t.replicas.unwrap_or(1).max(0)).unwrap_or(0);
                SimExperimentTemplate {
                    name: t.name.clone(),
                    service: t.service.as_ref().map(|s| {
                        s.get("name")
                            .and_then(serde_json::Value::as_str)
                            .filter(|n| !n.is_empty())
                            .map_or_else(|| rs_name.clone(), str::to_owned)
                    }),
                    replica_set: SimReplicaSet {
                        hash,
                        revision: 0,
                        image,
                        pods: vec![ready_at; replicas],
                        scale_down_deadline: None,
                    },
                }
            })
            .collect();
        let duration = req
            .step
            .duration
            .as_ref()
            .and_then(|d| IntOrString::String(d.clone()).as_duration());
        let (runs_for, scripted) = match self.experiment_outcome {
            Some((phase, after)) => (after, Some(phase)),
            None => (duration.unwrap_or(DEFAULT_EXPERIMENT_RUNS_FOR), None),
        };
        let scale_down_delay = req
            .step
            .scale_down_delay_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(DEFAULT_SCALE_DOWN_DELAY, Duration::from_secs);
        self.experiments.push(SimExperiment {
            name: req.name.clone(),
            step_index: req.step_index,
            created: now,
            templates,
            available_at: None,
            ends: None,
            terminated: false,
            runs_for,
            scripted,
            scale_down_delay,
        });
        self.changed = true;
        self.events.push((
            now,
            Event {
                warning: false,
                reason: "ExperimentCreated",
                message: format!("Created Experiment '{}'", req.name),
            },
        ));
    }

    /// Sets `spec.terminate` on the Experiment of this name: one that has
    /// not ended ends `Successful` now.
    pub(super) fn cancel_experiment(&mut self, name: &str) {
        let now = self.now;
        if let Some(e) = self.experiments.iter_mut().find(|e| e.name == name) {
            if !e.phase(now).is_completed() {
                e.ends = Some((now, AnalysisPhase::Successful));
            }
            e.terminated = true;
            self.changed = true;
        }
    }

    /// Moves every Experiment on to the current time.
    pub(super) fn run_experiments(&mut self) {
        let now = self.now;
        for e in &mut self.experiments {
            e.run(now);
        }
    }

    /// The next time an Experiment changes by itself.
    pub(super) fn next_experiment_change(&self) -> Option<Time> {
        self.experiments
            .iter()
            .filter_map(|e| e.next_change(self.now))
            .min()
    }
}

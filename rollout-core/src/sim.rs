//! A simulated world around the engine, on a virtual clock.
//!
//! [`Sim`] plays the controller and the cluster: it feeds [`decide`] with
//! observations of simulated ReplicaSets whose pods become available a
//! fixed time after they are created, applies each decision (scales the
//! ReplicaSets, hands the traffic to a [`SimRouter`] that records what it
//! was told, points Services where a blue-green decision says, runs
//! scripted AnalysisRuns and the Experiments of `experiment` steps (see
//! [`SimExperiment`]), writes the status), and moves the
//! clock straight to the next moment anything can happen. Scenarios run in
//! microseconds and read like specs:
//!
//! ```
//! use rollout_core::sim::Sim;
//! use rollout_core::{Phase, Rollout, Time};
//! let rollout = Rollout::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"replicas": 2,
//!         "template": {"spec": {"containers": [{"name": "web", "image": "hello:1.23.1"}]}},
//!         "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
//!             "steps": [{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}],
//!             "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}}}}}
//! }), "web.yaml").unwrap();
//! let mut sim = Sim::new(rollout, Time::from_unix_seconds(0));
//! sim.settle();
//! assert_eq!(sim.phase(), Some(Phase::Healthy));
//! sim.set_image("hello:1.23.2");
//! sim.settle();
//! assert_eq!(sim.phase(), Some(Phase::Paused));
//! assert_eq!(sim.router.canary_weight(), Some(50));
//! sim.promote();
//! sim.settle();
//! assert_eq!(sim.phase(), Some(Phase::Healthy));
//! assert_eq!(sim.router.canary_weight(), Some(0)); // all traffic on the new stable
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::decision::{
    AnalysisPhase, AnalysisRunRequest, AnalysisRunState, Decision, DesiredTraffic, Event,
    Observations, PodRestart, PodState, ReplicaSetState, ServiceSelector, StepPluginState,
};
use crate::engine::decide;
use crate::ops;
use crate::restart;
use crate::spec::Rollout;
use crate::status::Phase;
use crate::step_hash::safe_encode;
use crate::time::Time;

mod experiment;

pub use experiment::{DEFAULT_EXPERIMENT_RUNS_FOR, SimExperiment, SimExperimentTemplate};

/// How long a simulated pod takes to become available, unless set otherwise.
pub const DEFAULT_POD_READY_AFTER: Duration = Duration::from_secs(10);

/// A simulated ReplicaSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimReplicaSet {
    /// Its `rollouts-pod-template-hash`.
    pub hash: String,
    /// Its revision.
    pub revision: u64,
    /// The first container image of its template, for display.
    pub image: String,
    /// When each pod becomes (or became) available.
    pub pods: Vec<Time>,
    /// Its `scale-down-deadline` annotation.
    pub scale_down_deadline: Option<Time>,
}

impl SimReplicaSet {
    /// Pods that are available at `now`.
    pub fn available(&self, now: Time) -> i32 {
        count(self.pods.iter().filter(|t| **t <= now).count())
    }

    /// All pods.
    pub fn size(&self) -> i32 {
        count(self.pods.len())
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A router that records what it is told and can be made to forget it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimRouter {
    /// What the data plane currently does; `None` before the first call or after a crash.
    pub applied: Option<DesiredTraffic>,
    /// Every change it was told to make, with the time.
    pub history: Vec<(Time, DesiredTraffic)>,
    /// Writes it made (an unchanged desired state costs none).
    pub writes: u32,
    /// What `verify_weight` answers.
    pub verify: Option<bool>,
}

impl SimRouter {
    /// The canary weight in place.
    pub fn canary_weight(&self) -> Option<i32> {
        self.applied.as_ref().map(|t| t.canary.weight)
    }

    /// The names of the header routes in place.
    pub fn header_routes(&self) -> Vec<String> {
        self.applied
            .iter()
            .flat_map(|t| t.header_routes.iter().map(|h| h.name.clone()))
            .collect()
    }

    /// The names of the mirror routes in place.
    pub fn mirror_routes(&self) -> Vec<String> {
        self.applied
            .iter()
            .flat_map(|t| t.mirror_routes.iter().map(|m| m.name.clone()))
            .collect()
    }

    /// Loses everything, as a restarted plugin or data plane would.
    pub fn crash(&mut self) {
        self.applied = None;
    }

    fn apply(&mut self, now: Time, desired: &DesiredTraffic) {
        if self.applied.as_ref() != Some(desired) {
            self.applied = Some(desired.clone());
            self.history.push((now, desired.clone()));
            self.writes += 1;
        }
    }
}

/// A scripted AnalysisRun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAnalysisRun {
    /// Its name.
    pub name: String,
    /// When it ends, and how.
    pub ends: (Time, AnalysisPhase),
    /// Terminated by the rollout before it ended.
    pub terminated: bool,
}

impl SimAnalysisRun {
    /// Its phase at `now`.
    pub fn phase(&self, now: Time) -> AnalysisPhase {
        match self.ends {
            (at, phase) if now >= at => phase,
            _ if self.terminated => AnalysisPhase::Successful,
            _ => AnalysisPhase::Running,
        }
    }
}

type AnalysisScript = Box<dyn FnMut(&AnalysisRunRequest) -> (AnalysisPhase, Duration)>;

/// One call of `decide` and what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// When it happened.
    pub at: Time,
    /// The decision.
    pub decision: Decision,
}

/// The engine in a simulated world; see the [module docs](self).
pub struct Sim {
    /// The virtual clock.
    pub now: Time,
    /// The Rollout as stored (spec edited by the scenario, status by the engine).
    pub rollout: Rollout,
    /// The Rollout's ReplicaSets, oldest first.
    pub replica_sets: Vec<SimReplicaSet>,
    /// The traffic router.
    pub router: SimRouter,
    /// AnalysisRuns created so far.
    pub analysis_runs: Vec<SimAnalysisRun>,
    /// Every event emitted, with its time.
    pub events: Vec<(Time, Event)>,
    /// The Services a decision pointed somewhere (blue-green's active and
    /// preview Services): name → the pod template hash their selector carries.
    pub services: BTreeMap<String, String>,
    /// How long a new pod takes to become available.
    pub pod_ready_after: Duration,
    /// Outcome of `plugin` steps: phase and how long they take.
    pub step_plugin: Option<(AnalysisPhase, Duration)>,
    /// Experiments created so far, oldest first.
    pub experiments: Vec<SimExperiment>,
    /// How the Experiments created from now on end: the phase, and how long
    /// after their templates are available. Unset: `Successful` after their
    /// `duration` (or [`DEFAULT_EXPERIMENT_RUNS_FOR`] without one).
    pub experiment_outcome: Option<(AnalysisPhase, Duration)>,
    plugin_started: Option<(usize, Time)>,
    /// The last decision changed a ReplicaSet: the controller will be told.
    changed: bool,
    analysis: AnalysisScript,
    template_hash: String,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("replica_sets", &self.replica_sets)
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A world holding `rollout` (with no ReplicaSets yet) at `now`.
    /// AnalysisRuns succeed after a minute unless scripted otherwise.
    pub fn new(rollout: Rollout, now: Time) -> Self {
        let template_hash = template_hash(&rollout);
        Self {
            now,
            rollout,
            replica_sets: Vec::new(),
            router: SimRouter::default(),
            analysis_runs: Vec::new(),
            events: Vec::new(),
            services: BTreeMap::new(),
            pod_ready_after: DEFAULT_POD_READY_AFTER,
            step_plugin: None,
            experiments: Vec::new(),
            experiment_outcome: None,
            plugin_started: None,
            changed: false,
            analysis: Box::new(|_| (AnalysisPhase::Successful, Duration::from_secs(60))),
            template_hash,
        }
    }

    /// Scripts the outcome of every AnalysisRun created from now on.
    pub fn script_analysis(
        &mut self,
        script: impl FnMut(&AnalysisRunRequest) -> (AnalysisPhase, Duration) + 'static,
    ) {
        self.analysis = Box::new(script);
    }

    /// The pod template hash of the current spec.
    pub fn current_hash(&self) -> &str {
        &self.template_hash
    }

    /// The phase recorded in the status.
    pub fn phase(&self) -> Option<Phase> {
        self.rollout.status.as_ref().and_then(|s| s.phase)
    }

    /// The step index recorded in the status.
    pub fn step_index(&self) -> Option<i32> {
        self.rollout
            .status
            .as_ref()
            .and_then(|s| s.current_step_index)
    }

    /// The ReplicaSet with this hash.
    pub fn replica_set(&self, hash: &str) -> Option<&SimReplicaSet> {
        self.replica_sets.iter().find(|rs| rs.hash == hash)
    }

    /// (canary pods, stable pods) as they exist now.
    pub fn pods(&self) -> (i32, i32) {
        let status = self.rollout.status.clone().unwrap_or_default();
        let size = |h: Option<&str>| {
            h.and_then(|h| self.replica_set(h))
                .map_or(0, SimReplicaSet::size)
        };
        let stable = size(status.stable_rs.as_deref());
        if status.stable_rs.as_deref() == Some(self.current_hash()) {
            (0, stable)
        } else {
            (size(Some(self.current_hash())), stable)
        }
    }

    /// Changes the first container's image (a new revision).
    pub fn set_image(&mut self, image: &str) {
        self.edit_template(|t| match t.pointer_mut("/spec/containers/0") {
            Some(c) if c.is_object() => c["image"] = Value::String(image.to_owned()),
            _ => {
                *t = serde_json::json!({"spec": {"containers": [{"name": "app", "image": image}]}});
            }
        });
    }

    /// Edits the pod template (a new revision when it changes).
    pub fn edit_template(&mut self, edit: impl FnOnce(&mut Value)) {
        let mut template = self.rollout.spec.template.clone().unwrap_or(Value::Null);
        edit(&mut template);
        self.rollout.spec.template = Some(template);
        self.spec_changed();
    }

    /// Edits the spec in place (steps, replicas, ...).
    pub fn edit_spec(&mut self, edit: impl FnOnce(&mut crate::spec::RolloutSpec)) {
        edit(&mut self.rollout.spec);
        self.spec_changed();
    }

    fn spec_changed(&mut self) {
        self.template_hash = template_hash(&self.rollout);
        let g = self.rollout.metadata.generation.unwrap_or(1);
        self.rollout.metadata.generation = Some(g + 1);
    }

    /// `kubectl argo rollouts promote`.
    pub fn promote(&mut self) {
        self.operate(ops::promote);
    }

    /// `kubectl argo rollouts promote --full`.
    pub fn promote_full(&mut self) {
        self.operate(ops::promote_full);
    }

    /// `kubectl argo rollouts abort`.
    pub fn abort(&mut self) {
        self.operate(ops::abort);
    }

    /// `kubectl argo rollouts retry rollout`.
    pub fn retry(&mut self) {
        self.operate(ops::retry);
    }

    /// `kubectl argo rollouts pause`.
    pub fn pause(&mut self) {
        self.operate(ops::pause);
    }

    /// `kubectl argo rollouts restart`: restart every pod created before now.
    pub fn restart(&mut self) {
        let patch = ops::restart(self.now);
        self.operate_with(&patch);
    }

    fn operate(&mut self, op: fn(&Rollout) -> ops::Patch) {
        let patch = op(&self.rollout);
        self.operate_with(&patch);
    }

    fn operate_with(&mut self, patch: &ops::Patch) {
        if patch.spec.is_some() {
            let g = self.rollout.metadata.generation.unwrap_or(1);
            self.rollout.metadata.generation = Some(g + 1);
        }
        // The patches come from this crate and always yield a Rollout.
        let _ = patch.apply_to(&mut self.rollout);
    }

    /// What a controller would observe now.
    pub fn observe(&self) -> Observations {
        let index = self
            .rollout
            .status
            .as_ref()
            .and_then(|s| s.current_step_index)
            .and_then(|i| usize::try_from(i).ok());
        Observations {
            current_pod_hash: self.template_hash.clone(),
            replica_sets: self
                .replica_sets
                .iter()
                .map(|rs| {
                    let available = rs.available(self.now);
                    ReplicaSetState {
                        pod_template_hash: rs.hash.clone(),
                        revision: rs.revision,
                        spec_replicas: rs.size(),
                        replicas: rs.size(),
                        ready_replicas: available,
                        available_replicas: available,
                        scale_down_deadline: rs.scale_down_deadline,
                        // The simulator's revisions follow creation order.
                        created: None,
                    }
                })
                .collect(),
            analysis_runs: self
                .analysis_runs
                .iter()
                .map(|r| AnalysisRunState {
                    name: r.name.clone(),
                    phase: r.phase(self.now),
                    message: None,
                })
                .collect(),
            experiments: self
                .experiments
                .iter()
                .map(|e| e.observe(self.now))
                .collect(),
            step_plugin: match (self.plugin_started, self.step_plugin) {
                (Some((i, started)), Some((phase, took))) if Some(i) == index => {
                    Some(StepPluginState {
                        step_index: i,
                        phase: if self.now >= started + took {
                            phase
                        } else {
                            AnalysisPhase::Running
                        },
                        message: None,
                    })
                }
                _ => None,
            },
            traffic_verified: self.router.verify,
            pods: self.observe_pods(),
            services: self
                .services
                .iter()
                .map(|(name, hash)| ServiceSelector {
                    service_name: name.clone(),
                    pod_template_hash: Some(hash.clone()),
                })
                .collect(),
        }
    }

    /// The pods, as a controller lists them while a restart is pending (see
    /// [`restart::pending`]): pod `n` of a ReplicaSet is named
    /// `<rollout>-<hash>-<n>` and was created `pod_ready_after` before it
    /// becomes available.
    fn observe_pods(&self) -> Option<Vec<PodState>> {
        if !restart::pending(&self.rollout, self.now) {
            return None;
        }
        let lead = self.pod_ready_after.as_secs();
        let pods = self.replica_sets.iter().flat_map(|rs| {
            rs.pods.iter().enumerate().map(move |(n, ready)| PodState {
                name: self.pod_name(rs, n),
                pod_template_hash: rs.hash.clone(),
                created: Time::from_unix_seconds(ready.unix_seconds().saturating_sub(lead)),
                ready_since: (*ready <= self.now).then_some(*ready),
                terminating: false,
            })
        });
        Some(pods.collect())
    }

    fn pod_name(&self, rs: &SimReplicaSet, n: usize) -> String {
        format!("{}-{}-{n}", self.rollout.metadata.name, rs.hash)
    }

    /// Evicts what a decision restarts (there are no disruption budgets
    /// here): each evicted pod is replaced at once by a new one. Returns how
    /// many were evicted.
    fn evict(&mut self, restart: &PodRestart) -> usize {
        let replacement_ready = self.now + self.pod_ready_after;
        let mut evicted = 0;
        for name in &restart.pods {
            if evicted == restart.max_evictions {
                break;
            }
            let found = self.replica_sets.iter().enumerate().find_map(|(r, rs)| {
                (0..rs.pods.len())
                    .find(|n| self.pod_name(rs, *n) == *name)
                    .map(|n| (r, n))
            });
            if let Some((r, n)) = found {
                self.replica_sets[r].pods[n] = replacement_ready;
                evicted += 1;
            }
        }
        evicted
    }

    /// Runs one reconcile: observe, decide, apply. Returns the decision, or
    /// the engine's error (the world is then left unchanged).
    pub fn reconcile(&mut self) -> Result<Tick, crate::Error> {
        self.run_experiments();
        let observed = self.observe();
        let decision = decide(&self.rollout, &observed, self.now)?;
        self.apply(&decision);
        Ok(Tick {
            at: self.now,
            decision,
        })
    }

    fn apply(&mut self, d: &Decision) {
        if let Some(restart) = &d.restart
            && self.evict(restart) > 0
        {
            // As the decision's contract asks: nothing else of it is applied.
            self.changed = true;
            return;
        }
        let now = self.now;
        for t in &d.replica_sets {
            let ready_at = now + self.pod_ready_after;
            if self.replica_set(&t.pod_template_hash).is_none() {
                let revision = self
                    .replica_sets
                    .iter()
                    .map(|r| r.revision)
                    .max()
                    .unwrap_or(0)
                    + 1;
                self.replica_sets.push(SimReplicaSet {
                    hash: t.pod_template_hash.clone(),
                    revision,
                    image: image_of(&self.rollout),
                    pods: Vec::new(),
                    scale_down_deadline: None,
                });
            }
            if let Some(rs) = self
                .replica_sets
                .iter_mut()
                .find(|r| r.hash == t.pod_template_hash)
            {
                let want = usize::try_from(t.replicas.max(0)).unwrap_or(0);
                // A controller is told of every change to the ReplicaSets it owns.
                self.changed |=
                    rs.pods.len() != want || rs.scale_down_deadline != t.scale_down_deadline;
                rs.pods.resize(want, ready_at);
                rs.scale_down_deadline = t.scale_down_deadline;
            }
        }
        if let Some(traffic) = &d.traffic {
            self.router.apply(now, traffic);
        }
        if let Some(run) = &d.experiments.run {
            self.create_experiment(run);
        }
        for name in &d.experiments.cancel {
            self.cancel_experiment(name);
        }
        for service in &d.services {
            if let Some(hash) = &service.pod_template_hash {
                self.services
                    .insert(service.service_name.clone(), hash.clone());
            }
        }
        for run in &mut self.analysis_runs {
            if !d.analysis_runs.iter().any(|r| r.name == run.name) && !run.phase(now).is_completed()
            {
                run.terminated = true;
                run.ends = (now, AnalysisPhase::Successful);
            }
        }
        for req in &d.analysis_runs {
            if !self.analysis_runs.iter().any(|r| r.name == req.name) {
                let (phase, took) = (self.analysis)(req);
                self.analysis_runs.push(SimAnalysisRun {
                    name: req.name.clone(),
                    ends: (now + took, phase),
                    terminated: false,
                });
            }
        }
        let index = d
            .status
            .current_step_index
            .and_then(|i| usize::try_from(i).ok());
        let at_plugin = index.and_then(|i| {
            self.rollout
                .canary()
                .and_then(|c| c.steps.get(i))
                .filter(|s| s.plugin().is_some())
                .map(|_| i)
        });
        match (at_plugin, self.plugin_started) {
            (Some(i), Some((j, _))) if i == j => {}
            (Some(i), _) => self.plugin_started = Some((i, now)),
            (None, _) => self.plugin_started = None,
        }
        self.events
            .extend(d.events.iter().map(|e| (now, e.clone())));
        self.rollout.status = Some(d.status.clone());
    }

    /// The next time something in the world changes by itself.
    fn next_world_event(&self) -> Option<Time> {
        let pods = self
            .replica_sets
            .iter()
            .flat_map(|rs| rs.pods.iter().copied());
        let runs = self
            .analysis_runs
            .iter()
            .filter(|r| !r.terminated)
            .map(|r| r.ends.0);
        let plugin = self
            .plugin_started
            .zip(self.step_plugin)
            .map(|((_, started), (_, took))| started + took);
        pods.chain(runs)
            .chain(plugin)
            .chain(self.next_experiment_change())
            .filter(|t| *t > self.now)
            .min()
    }

    /// Reconciles, then moves the clock to the next moment anything can
    /// happen (a requeue, a pod becoming available, an analysis ending).
    /// Returns the tick, and whether there is anything left to wait for.
    pub fn step(&mut self) -> Result<(Tick, bool), crate::Error> {
        let tick = self.reconcile()?;
        let more = self.advance(&tick);
        Ok((tick, more))
    }

    /// Moves the clock after `tick` to the next moment anything can happen;
    /// returns false when nothing will happen without outside action.
    pub fn advance(&mut self, tick: &Tick) -> bool {
        let requeue = tick.decision.requeue_after.map(|d| self.now + d);
        if requeue == Some(self.now) || std::mem::take(&mut self.changed) {
            return true;
        }
        match [requeue, self.next_world_event()]
            .into_iter()
            .flatten()
            .min()
        {
            Some(t) => {
                self.now = t;
                true
            }
            None => false,
        }
    }

    /// Steps until nothing is left to happen without outside action (a
    /// person promoting, say), or `max_ticks` pass. Returns the ticks.
    pub fn run(&mut self, max_ticks: usize) -> Result<Vec<Tick>, crate::Error> {
        let mut ticks = Vec::new();
        for _ in 0..max_ticks {
            let (tick, more) = self.step()?;
            ticks.push(tick);
            if !more {
                break;
            }
        }
        Ok(ticks)
    }

    /// [`Sim::run`] with a generous bound, for tests: panics on an engine
    /// error or if the world does not settle within 10,000 reconciles.
    pub fn settle(&mut self) -> Vec<Tick> {
        let ticks = self.run(10_000).expect("the engine accepts the rollout");
        assert!(ticks.len() < 10_000, "the simulation did not settle");
        ticks
    }

    /// Steps until `done` holds (checked after each reconcile) or nothing is
    /// left to happen; returns whether `done` held.
    pub fn run_until(&mut self, mut done: impl FnMut(&Self) -> bool) -> Result<bool, crate::Error> {
        for _ in 0..10_000 {
            let (_, more) = self.step()?;
            if done(self) {
                return Ok(true);
            }
            if !more {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// The events emitted so far, by reason.
    pub fn event_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for (_, e) in &self.events {
            *counts.entry(e.reason).or_default() += 1;
        }
        counts
    }
}

/// A pod template hash for the simulation: FNV-1a over the template's JSON
/// (or the workloadRef when there is no template), in the safe alphabet.
pub fn template_hash(rollout: &Rollout) -> String {
    let source = rollout
        .spec
        .template
        .as_ref()
        .map(|t| serde_json::to_vec(t).unwrap_or_default())
        .or_else(|| {
            rollout
                .spec
                .workload_ref
                .as_ref()
                .map(|w| serde_json::to_vec(w).unwrap_or_default())
        })
        .unwrap_or_default();
    let mut hash = safe_encode(fnv1a32(&source));
    hash.truncate(10);
    hash
}

/// FNV-1a, 32 bit, as Kubernetes hashes pod templates.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The first container image of the rollout's template (`?` if none).
pub fn image_of(rollout: &Rollout) -> String {
    rollout
        .spec
        .template
        .as_ref()
        .and_then(|t| t.pointer("/spec/containers/0/image"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

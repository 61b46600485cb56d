//! An invariant watcher: during a fault run it watches one canary Rollout,
//! the HTTPRoute its traffic router writes, and the namespace's
//! ReplicaSets, and records every violation of what must hold whatever
//! fails:
//!
//! - in every version of the route, the stable and canary weights of each
//!   rule that sends to both Services sum to the Rollout's
//!   `maxTrafficWeight` (100 unless set);
//! - the canary weight never exceeds the `setWeight` in effect at the
//!   furthest step the current revision has reached (all of it once the
//!   steps are done);
//! - what another writer set and registered with [`Invariants::keep`] is in
//!   every later version of the route;
//! - the Rollout reaches its expected end state within a stated time after
//!   the fault clears ([`Invariants::converge`], which records the time).
//!
//! It watches with its own client (the test's `KUBECONFIG`, never through a
//! fault proxy) and re-lists after a broken watch, so it follows the
//! objects through API server and etcd restarts. Watch streams of different
//! kinds are not ordered with each other: a route version that seems to
//! exceed its step is checked again against a fresh read of the Rollout
//! (whose step is written before the weight that follows it) before it
//! counts as a violation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

/// What the watcher has seen last of each object.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The Rollout (null before the first event).
    pub rollout: Value,
    /// The HTTPRoute (null before the first event).
    pub route: Value,
    /// Each ReplicaSet's pod template hash to its `spec.replicas`.
    pub replica_sets: BTreeMap<String, i64>,
}

/// What a run recorded.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every violation, in words, in the order seen.
    pub violations: Vec<String>,
    /// Versions of the route checked.
    pub route_versions: usize,
    /// The canary weights seen on the route, repeats folded.
    pub canary_weights: Vec<i64>,
    /// The convergence times measured with [`Invariants::converge`].
    pub converged: Vec<(String, Duration)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "violations {}, route versions checked {}, canary weights {:?}",
            self.violations.len(),
            self.route_versions,
            self.canary_weights
        )?;
        for (what, took) in &self.converged {
            write!(f, ", {what} in {:.1} s", took.as_secs_f64())?;
        }
        Ok(())
    }
}

/// A check registered with [`Invariants::keep`].
struct Kept {
    what: String,
    since: u64,
    check: Box<dyn Fn(&Value) -> bool + Send>,
    broken: bool,
}

#[derive(Default)]
struct State {
    snapshot: Snapshot,
    report: Report,
    last_route_version: u64,
    /// (pod template hash, furthest step index) of the current revision.
    furthest: (String, i64),
    kept: Vec<Kept>,
}

/// The watcher; stops when dropped.
pub struct Invariants {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Invariants {
    /// Watches Rollout `rollout` and HTTPRoute `route` in `namespace`, and
    /// the namespace's ReplicaSets, through `client`.
    pub fn start(client: kube::Client, namespace: &str, rollout: &str, route: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let dynamic = |group: &str, version: &str, kind: &str| {
            Api::<DynamicObject>::namespaced_with(
                client.clone(),
                namespace,
                &ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)),
            )
        };
        let rollouts = dynamic("argoproj.io", "v1alpha1", "Rollout");
        let routes = dynamic("gateway.networking.k8s.io", "v1", "HTTPRoute");
        let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
        let named =
            |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
        let rollout_events = watcher(rollouts.clone(), named(rollout))
            .default_backoff()
            .applied_objects()
            .map(|o| o.ok().map(|o| (Kind::Rollout, json(&o))));
        let route_events = watcher(routes, named(route))
            .default_backoff()
            .applied_objects()
            .map(|o| o.ok().map(|o| (Kind::Route, json(&o))));
        let set_events = watcher(sets, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .map(|o| o.ok().map(|o| (Kind::ReplicaSet, json(&o))));
        let into = Arc::clone(&state);
        let rollout_name = rollout.to_owned();
        let task = tokio::spawn(async move {
            let mut events = futures::stream::select_all([
                rollout_events.boxed(),
                route_events.boxed(),
                set_events.boxed(),
            ]);
            while let Some(event) = events.next().await {
                let Some((kind, object)) = event else {
                    continue;
                };
                match kind {
                    Kind::Rollout => lock(&into).saw_rollout(object),
                    Kind::ReplicaSet => lock(&into).saw_replica_set(&object),
                    Kind::Route => {
                        let suspect = lock(&into).saw_route(object.clone(), false);
                        if suspect {
                            // Watches of two kinds are not ordered: read
                            // the Rollout now, after this route version.
                            if let Ok(fresh) = rollouts.get(&rollout_name).await {
                                let mut state = lock(&into);
                                state.saw_rollout(json(&fresh));
                                state.saw_route(object, true);
                            }
                        }
                    }
                }
            }
        });
        Self { state, task }
    }

    /// From the route version `since` on (its `metadata.resourceVersion`,
    /// as the writer's answer gave it), every version of the route must
    /// pass `check`; a version that does not is a violation named `what`
    /// (recorded once).
    pub fn keep(
        &self,
        what: &str,
        since: Option<&str>,
        check: impl Fn(&Value) -> bool + Send + 'static,
    ) {
        let since = since.and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut state = lock(&self.state);
        let mut kept = Kept {
            what: what.to_owned(),
            since,
            check: Box::new(check),
            broken: false,
        };
        let route = state.snapshot.route.clone();
        if !route.is_null() && version(&route) >= since && !(kept.check)(&route) {
            kept.broken = true;
            state.report.violations.push(format!(
                "{what}: not so in route version {}",
                version(&route)
            ));
        }
        state.kept.push(kept);
    }

    /// What the watcher has seen last.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.state).snapshot.clone()
    }

    /// Waits until `check` holds for the [`Snapshot`] (polled every 50 ms,
    /// without requests) and records how long that took as `what`; after
    /// `within`, records a violation instead and returns `None`.
    pub async fn converge(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&Snapshot) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if check(&self.snapshot()) {
                let took = started.elapsed();
                lock(&self.state)
                    .report
                    .converged
                    .push((what.to_owned(), took));
                return Some(took);
            }
            if started.elapsed() > within {
                let snapshot = self.snapshot();
                lock(&self.state).report.violations.push(format!(
                    "{what}: not within {} s; last seen: rollout status {}, route rules {}",
                    within.as_secs(),
                    snapshot.rollout["status"],
                    snapshot.route["spec"]["rules"]
                ));
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What was recorded so far.
    pub fn report(&self) -> Report {
        lock(&self.state).report.clone()
    }
}

impl Drop for Invariants {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Rollout,
    Route,
    ReplicaSet,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn json<K: serde::Serialize>(object: &K) -> Value {
    serde_json::to_value(object).unwrap_or_default()
}

/// An object's `metadata.resourceVersion` as a number (etcd's revision;
/// 0 when absent).
fn version(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl State {
    fn saw_rollout(&mut self, rollout: Value) {
        if version(&rollout) < version(&self.snapshot.rollout) {
            return;
        }
        let status = &rollout["status"];
        let hash = status["currentPodHash"].as_str().unwrap_or_default();
        let index = status["currentStepIndex"].as_i64().unwrap_or(0);
        if self.furthest.0 != hash {
            self.furthest = (hash.to_owned(), index);
        } else {
            self.furthest.1 = self.furthest.1.max(index);
        }
        self.snapshot.rollout = rollout;
    }

    fn saw_replica_set(&mut self, set: &Value) {
        if let Some(hash) = set["metadata"]["labels"]["rollouts-pod-template-hash"].as_str() {
            let replicas = set["spec"]["replicas"].as_i64().unwrap_or(1);
            self.snapshot.replica_sets.insert(hash.to_owned(), replicas);
        }
    }

    /// Checks a route version; returns whether its canary weight exceeds
    /// the step known so far and `confirmed` is false (the caller reads the
    /// Rollout again and calls back with `confirmed`).
    fn saw_route(&mut self, route: Value, confirmed: bool) -> bool {
        let at = version(&route);
        if at <= self.last_route_version && !confirmed {
            return false;
        }
        let rollout = &self.snapshot.rollout;
        let canary = &rollout["spec"]["strategy"]["canary"];
        let max = canary["trafficRouting"]["maxTrafficWeight"]
            .as_i64()
            .unwrap_or(100);
        let (stable_service, canary_service) = (
            canary["stableService"].as_str().unwrap_or_default(),
            canary["canaryService"].as_str().unwrap_or_default(),
        );
        let mut exceeded = None;
        if !confirmed {
            self.last_route_version = at;
            self.report.route_versions += 1;
            for (index, rule) in route["spec"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let (Some(stable), Some(weight)) = (
                    backend_weight(rule, stable_service),
                    backend_weight(rule, canary_service),
                ) else {
                    continue;
                };
                if stable + weight != max {
                    self.report.violations.push(format!(
                        "route version {at}: rule {index}: stable {stable} + canary {weight} is not {max}"
                    ));
                }
                if self.report.canary_weights.last() != Some(&weight) {
                    self.report.canary_weights.push(weight);
                }
                exceeded = exceeded.max(Some(weight));
            }
            for kept in self.kept.iter_mut().filter(|k| !k.broken && at >= k.since) {
                if !(kept.check)(&route) {
                    kept.broken = true;
                    self.report
                        .violations
                        .push(format!("{}: not so in route version {at}", kept.what));
                }
            }
            self.snapshot.route = route.clone();
        } else {
            exceeded = canary_weights(&route, stable_service, canary_service)
                .into_iter()
                .max();
        }
        let allowed = allowed_weight(rollout, self.furthest.1, max, SystemTime::now());
        match exceeded {
            Some(weight) if weight > allowed && !confirmed => true,
            Some(weight) if weight > allowed => {
                self.report.violations.push(format!(
                    "route version {at}: canary weight {weight} above {allowed}, the most the rollout may set at step {} (the furthest reached)",
                    self.furthest.1
                ));
                false
            }
            _ => false,
        }
    }
}

/// The weight of the backend `service` in `rule` (1 when it has none, as
/// Gateway API reads it), if the rule sends to it.
fn backend_weight(rule: &Value, service: &str) -> Option<i64> {
    rule["backendRefs"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == service)
        .map(|b| b["weight"].as_i64().unwrap_or(1))
}

fn canary_weights(route: &Value, stable: &str, canary: &str) -> Vec<i64> {
    route["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| backend_weight(r, stable).is_some())
        .filter_map(|r| backend_weight(r, canary))
        .collect()
}

/// The canary weight allowed once the rollout has reached step `index`:
/// the last `setWeight` at or before it (0 before any), `max` once every
/// step is done. A controller writes the weight of the step it enters
/// before the status that records the step (Argo's writes it in the next
/// reconcile, Rollgate's in the same one), so the steps the rollout may
/// enter now count too: the `setWeight` steps that follow, across the
/// pause at `index` when it is over (promoted, or its duration elapsed by
/// `now`), up to the first step that waits.
fn allowed_weight(rollout: &Value, index: i64, max: i64, now: SystemTime) -> i64 {
    let steps = rollout["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Ok(mut reached) = usize::try_from(index) else {
        return 0;
    };
    let status = &rollout["status"];
    let at_index = status["currentStepIndex"].as_i64() == Some(index);
    while reached < steps.len() {
        let step = &steps[reached];
        let over = if step.get("setWeight").is_some() {
            true
        } else if step.get("pause").is_some() && reached == usize::try_from(index).unwrap_or(0) {
            at_index && pause_over(&step["pause"], status, now)
        } else {
            false
        };
        if !over {
            break;
        }
        reached += 1;
    }
    if reached >= steps.len() {
        return max;
    }
    steps[..=reached]
        .iter()
        .filter_map(|s| s["setWeight"].as_i64())
        .next_back()
        .unwrap_or(0)
}

/// Whether the pause step `pause` the status is at is over: promoted (the
/// controller paused, and no pause condition is left) or its duration
/// elapsed by `now`.
fn pause_over(pause: &Value, status: &Value, now: SystemTime) -> bool {
    let conditions = status["pauseConditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if status["controllerPause"] == true && conditions.is_empty() {
        return true;
    }
    let duration = match &pause["duration"] {
        Value::Number(n) => n.as_u64().map(Duration::from_secs),
        Value::String(text) => text
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .or_else(|| humantime::parse_duration(text).ok()),
        _ => None,
    };
    let started = conditions
        .iter()
        .find(|c| c["reason"] == "CanaryPauseStep")
        .and_then(|c| humantime::parse_rfc3339(c["startTime"].as_str()?).ok());
    matches!((duration, started), (Some(d), Some(t)) if t + d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rollout(index: i64) -> Value {
        json!({"metadata": {"resourceVersion": "10"},
            "spec": {"strategy": {"canary": {
                "stableService": "s", "canaryService": "c",
                "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "1s"}}]}}},
            "status": {"currentPodHash": "h2", "currentStepIndex": index}})
    }

    fn route(version: u64, canary: i64, stable: i64) -> Value {
        json!({"metadata": {"resourceVersion": version.to_string()},
            "spec": {"rules": [
                {"name": "users", "backendRefs": [{"name": "s", "weight": 1}]},
                {"backendRefs": [{"name": "s", "weight": stable}, {"name": "c", "weight": canary}]}]}})
    }

    #[test]
    fn the_allowed_weight_is_the_last_set_weight_reached_or_about_to_be() {
        let now = humantime::parse_rfc3339("2026-12-02T06:50:04Z").unwrap();
        let r = rollout(0);
        // At a setWeight step, the pause after it holds.
        assert_eq!(allowed_weight(&r, 0, 100, now), 20);
        // At a pause that has not been promoted: its weight.
        let mut paused = rollout(1);
        paused["status"]["controllerPause"] = json!(true);
        paused["status"]["pauseConditions"] =
            json!([{"reason": "CanaryPauseStep", "startTime": "2026-12-02T06:50:04Z"}]);
        assert_eq!(allowed_weight(&paused, 1, 100, now), 20);
        // Promoted: the next setWeight may be written before the step is recorded.
        paused["status"]["pauseConditions"] = json!(null);
        assert_eq!(allowed_weight(&paused, 1, 100, now), 50);
        // A pause the controller has not started yet holds.
        assert_eq!(allowed_weight(&rollout(1), 1, 100, now), 20);
        // A timed pause: held until its duration has passed.
        let mut timed = rollout(3);
        timed["status"]["controllerPause"] = json!(true);
        timed["status"]["pauseConditions"] =
            json!([{"reason": "CanaryPauseStep", "startTime": "2026-12-02T06:50:04Z"}]);
        assert_eq!(allowed_weight(&timed, 3, 100, now), 50);
        // The last step over: the whole traffic.
        assert_eq!(
            allowed_weight(&timed, 3, 100, now + Duration::from_secs(1)),
            100
        );
        assert_eq!(allowed_weight(&r, 4, 100, now), 100);
        let none =
            json!({"spec": {"strategy": {"canary": {"steps": [{"pause": {}}, {"setWeight": 5}]}}}});
        assert_eq!(allowed_weight(&none, 0, 100, now), 0);
    }

    #[test]
    fn weights_that_do_not_sum_to_the_maximum_are_violations() {
        let mut state = State::default();
        state.saw_rollout(rollout(0));
        assert!(!state.saw_route(route(11, 20, 80), false));
        assert!(state.report.violations.is_empty());
        state.saw_route(route(12, 20, 70), false);
        assert_eq!(
            state.report.violations.len(),
            1,
            "{:?}",
            state.report.violations
        );
        assert!(state.report.violations[0].contains("stable 70 + canary 20 is not 100"));
        // An older version delivered again by a re-list is not checked twice.
        state.saw_route(route(12, 20, 70), false);
        assert_eq!(state.report.violations.len(), 1);
        assert_eq!(state.report.route_versions, 2);
    }

    #[test]
    fn a_weight_above_the_step_is_confirmed_before_it_counts() {
        let mut state = State::default();
        state.saw_rollout(rollout(0));
        // At step 0 (20), 50 is suspect: the caller reads the rollout again.
        assert!(state.saw_route(route(11, 50, 50), false));
        assert!(state.report.violations.is_empty());
        // The fresh read says step 2: the weight is allowed.
        state.saw_rollout(rollout(2));
        assert!(!state.saw_route(route(11, 50, 50), true));
        assert!(state.report.violations.is_empty());
        // The furthest step is kept when a stale rollout version comes late.
        let mut stale = rollout(0);
        stale["metadata"]["resourceVersion"] = json!("9");
        state.saw_rollout(stale);
        assert_eq!(state.furthest.1, 2);
        // A new revision starts again from its own first step.
        let mut next = rollout(0);
        next["metadata"]["resourceVersion"] = json!("20");
        next["status"]["currentPodHash"] = json!("h3");
        state.saw_rollout(next);
        assert!(state.saw_route(route(21, 50, 50), false));
        assert!(!state.saw_route(route(21, 50, 50), true));
        assert_eq!(state.report.violations.len(), 1);
        assert!(
            state.report.violations[0].contains("canary weight 50 above 20"),
            "{:?}",
            state.report.violations
        );
        assert_eq!(state.report.canary_weights, vec![50]);
    }

    #[test]
    fn a_kept_field_lost_later_is_a_violation_once() {
        let mut state = State::default();
        state.saw_rollout(rollout(0));
        state.kept.push(Kept {
            what: "the users rule".into(),
            since: 12,
            check: Box::new(|r| r["spec"]["rules"][0]["name"] == "users"),
            broken: false,
        });
        let mut lost = route(11, 0, 100);
        lost["spec"]["rules"][0]["name"] = json!("other");
        // Before the write that set it: not checked.
        state.saw_route(lost.clone(), false);
        assert!(state.report.violations.is_empty());
        state.saw_route(route(12, 0, 100), false);
        assert!(state.report.violations.is_empty());
        lost["metadata"]["resourceVersion"] = json!("13");
        state.saw_route(lost.clone(), false);
        lost["metadata"]["resourceVersion"] = json!("14");
        state.saw_route(lost, false);
        assert_eq!(
            state.report.violations,
            vec!["the users rule: not so in route version 13".to_owned()]
        );
    }
}

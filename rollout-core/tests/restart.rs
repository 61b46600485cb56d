//! `spec.restartAt` (`kubectl argo rollouts restart`): pods older than the
//! restart time are evicted within the availability budget, then
//! `status.restartedAt` is recorded. The cases follow Argo's pod restarter.

use std::time::Duration;

use rollout_core::conditions::phase;
use rollout_core::sim::Sim;
use rollout_core::{
    Decision, Observations, Phase, PodRestart, PodState, ReplicaSetState, Rollout, Time, decide,
    ops, restart, steps,
};
use serde_json::{Value, json};

const RESTART_AT: u64 = 1_000;
const NOW: u64 = 2_000;

fn t(s: u64) -> Time {
    Time::from_unix_seconds(s)
}

/// A promoted rollout of `replicas` pods with `restartAt` set.
fn rollout(replicas: i32, max_unavailable: Value) -> Rollout {
    let mut canary = json!({"steps": [{"setWeight": 50}]});
    if !max_unavailable.is_null() {
        canary["maxUnavailable"] = max_unavailable;
    }
    let mut rollout = Rollout::from_value(
        json!({"metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": replicas, "restartAt": "1970-01-01T00:16:40Z",
                "strategy": {"canary": canary}},
            "status": {"stableRS": "abc", "currentPodHash": "abc", "currentStepIndex": 1,
                "observedGeneration": "2"}}),
        "web.yaml",
    )
    .unwrap();
    // Steps already recorded: not a new update.
    let hash = steps::step_hash(&rollout.canary().unwrap().steps);
    rollout.status.as_mut().unwrap().current_step_hash = Some(hash);
    rollout
}

fn rs(hash: &str, replicas: i32) -> ReplicaSetState {
    ReplicaSetState {
        pod_template_hash: hash.into(),
        revision: 1,
        spec_replicas: replicas,
        replicas,
        ready_replicas: replicas,
        available_replicas: replicas,
        ..Default::default()
    }
}

fn pod(name: &str, hash: &str, created: u64) -> PodState {
    PodState {
        name: name.into(),
        pod_template_hash: hash.into(),
        created: t(created),
        ready_since: Some(t(created)),
        terminating: false,
    }
}

fn older(name: &str) -> PodState {
    pod(name, "abc", RESTART_AT - 10)
}

fn newer(name: &str) -> PodState {
    pod(name, "abc", RESTART_AT + 10)
}

fn observed(replica_sets: Vec<ReplicaSetState>, pods: Vec<PodState>) -> Observations {
    Observations {
        current_pod_hash: "abc".into(),
        replica_sets,
        pods: Some(pods),
        ..Default::default()
    }
}

/// The second of two passes on the same observations: its status is the
/// first one's, so the decision asks to be called again only for its own sake.
fn second_pass_at(r: &Rollout, seen: &Observations, now: Time) -> Decision {
    let first = decide(r, seen, now).unwrap();
    let mut r = r.clone();
    r.status = Some(first.status);
    decide(&r, seen, now).unwrap()
}

fn second_pass(r: &Rollout, seen: &Observations) -> Decision {
    second_pass_at(r, seen, t(NOW))
}

fn evictions(pods: &[&str], max_evictions: usize) -> Option<PodRestart> {
    Some(PodRestart {
        pods: pods.iter().map(|p| (*p).to_owned()).collect(),
        max_evictions,
    })
}

#[test]
fn a_restart_in_the_future_waits_for_its_time() {
    let r = rollout(3, Value::Null);
    let seen = observed(vec![rs("abc", 3)], vec![older("a")]);
    let d = second_pass_at(&r, &seen, t(RESTART_AT - 60));
    assert_eq!(d.restart, None);
    assert_eq!(d.status.restarted_at, None);
    // Due strictly after restartAt, as Argo compares.
    assert_eq!(d.requeue_after, Some(Duration::from_secs(61)));
    let d = decide(&r, &seen, t(RESTART_AT)).unwrap();
    assert_eq!(d.restart, None, "not yet due at restartAt itself");
}

#[test]
fn pods_at_least_as_new_as_restart_at_complete_the_restart() {
    let r = rollout(3, Value::Null);
    let pods = vec![newer("a"), pod("b", "abc", RESTART_AT), newer("c")];
    let d = decide(&r, &observed(vec![rs("abc", 3)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, None);
    assert_eq!(d.status.restarted_at, Some(t(RESTART_AT)));
    assert_eq!(d.status.phase, Some(Phase::Healthy));
}

#[test]
fn up_to_max_unavailable_pods_restart_at_once() {
    let r = rollout(3, json!(2));
    let pods = vec![older("older2"), newer("newer"), older("older1")];
    let d = decide(&r, &observed(vec![rs("abc", 1)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, evictions(&["older1", "older2"], 2));
    assert_eq!(d.status.restarted_at, None);
    assert_eq!(d.status.phase, Some(Phase::Progressing));
    assert_eq!(d.status.message.as_deref(), Some("rollout is restarting"));
}

#[test]
fn an_unavailable_pod_uses_up_the_budget() {
    let r = rollout(3, json!(2));
    let mut starting = newer("newer");
    starting.ready_since = None;
    let pods = vec![older("older1"), older("older2"), starting];
    let d = second_pass(&r, &observed(vec![rs("abc", 1)], pods));
    assert_eq!(d.restart, evictions(&["older1", "older2"], 1));
    assert_eq!(d.requeue_after, Some(Duration::from_secs(30)));
}

#[test]
fn a_pod_within_min_ready_seconds_is_not_yet_available() {
    let mut r = rollout(3, json!(2));
    r.spec.min_ready_seconds = Some(30);
    let mut fresh = newer("newer");
    fresh.ready_since = Some(t(NOW - 30));
    let pods = vec![older("older1"), older("older2"), fresh.clone()];
    let d = decide(&r, &observed(vec![rs("abc", 1)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, evictions(&["older1", "older2"], 1));
    fresh.ready_since = Some(t(NOW - 31));
    let pods = vec![older("older1"), older("older2"), fresh];
    let d = decide(&r, &observed(vec![rs("abc", 1)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, evictions(&["older1", "older2"], 2));
}

#[test]
fn max_unavailable_zero_still_restarts_one_pod_at_a_time() {
    let r = rollout(3, json!(0));
    let pods = vec![older("older1"), older("older2"), newer("newer")];
    let d = decide(&r, &observed(vec![rs("abc", 1)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, evictions(&["older1", "older2"], 1));
}

#[test]
fn max_unavailable_all_restarts_every_old_pod() {
    let r = rollout(3, json!("100%"));
    let pods = vec![older("older1"), older("older2"), newer("newer")];
    let d = decide(&r, &observed(vec![rs("abc", 1)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, evictions(&["older1", "older2"], 3));
}

#[test]
fn an_uneven_canary_split_counts_the_replica_sets_replicas() {
    // One replica at a 50% canary: two ReplicaSets of one pod each.
    let mut r = rollout(1, Value::Null);
    let st = r.status.as_mut().unwrap();
    st.stable_rs = Some("def".into());
    st.current_step_index = Some(0);
    let canary = pod("canary", "abc", RESTART_AT - 10);
    let stable = pod("stable", "def", RESTART_AT - 10);
    let mut stable_rs = rs("def", 1);
    stable_rs.revision = 0;
    let seen = observed(
        vec![rs("abc", 1), stable_rs.clone()],
        vec![canary.clone(), stable.clone()],
    );
    let d = decide(&r, &seen, t(NOW)).unwrap();
    assert_eq!(d.restart, evictions(&["canary", "stable"], 1));

    // Already at the minimum: nothing restarts until a pod is back.
    let mut down = stable;
    down.ready_since = None;
    let seen = observed(vec![rs("abc", 1), stable_rs], vec![canary, down]);
    let d = decide(&r, &seen, t(NOW)).unwrap();
    assert_eq!(d.restart, None);
    assert_eq!(d.status.restarted_at, None);
}

#[test]
fn terminating_pods_are_not_evicted_again_but_keep_the_restart_open() {
    let r = rollout(3, json!(2));
    let mut going = older("older1");
    going.terminating = true;
    let pods = vec![going.clone(), newer("newer1"), newer("newer2")];
    let d = second_pass(&r, &observed(vec![rs("abc", 3)], pods));
    assert_eq!(d.restart, None, "the only old pod is already going");
    assert_eq!(d.status.restarted_at, None);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(30)));
}

#[test]
fn pods_of_other_replica_sets_are_left_alone() {
    let r = rollout(3, json!(2));
    let pods = vec![newer("mine"), pod("someone-else", "zzz", RESTART_AT - 10)];
    let d = decide(&r, &observed(vec![rs("abc", 1)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, None);
    assert_eq!(d.status.restarted_at, Some(t(RESTART_AT)));
}

#[test]
fn no_replicas_means_nothing_to_restart() {
    let r = rollout(0, Value::Null);
    let d = decide(&r, &observed(vec![rs("abc", 0)], vec![]), t(NOW)).unwrap();
    assert_eq!(d.status.restarted_at, Some(t(RESTART_AT)));
}

#[test]
fn unlisted_pods_decide_nothing() {
    let r = rollout(3, json!(2));
    let mut seen = observed(vec![rs("abc", 3)], vec![]);
    seen.pods = None;
    let d = decide(&r, &seen, t(NOW)).unwrap();
    assert_eq!(d.restart, None);
    assert_eq!(d.status.restarted_at, None);
}

#[test]
fn a_completed_restart_is_not_repeated() {
    let mut r = rollout(3, json!(2));
    r.status.as_mut().unwrap().restarted_at = Some(t(RESTART_AT));
    let pods = vec![older("older1")];
    let d = decide(&r, &observed(vec![rs("abc", 1)], pods), t(NOW)).unwrap();
    assert_eq!(d.restart, None);
    assert_eq!(d.status.restarted_at, Some(t(RESTART_AT)));
}

#[test]
fn a_pass_that_sees_a_new_template_restarts_nothing() {
    let r = rollout(3, json!(2));
    let mut seen = observed(vec![rs("abc", 3)], vec![older("older1"), older("older2")]);
    seen.current_pod_hash = "new".into();
    let d = decide(&r, &seen, t(NOW)).unwrap();
    assert_eq!(d.restart, None);
    assert_eq!(d.status.restarted_at, None);
}

#[test]
fn the_phase_shows_a_restart_until_it_is_recorded() {
    let r = rollout(3, Value::Null);
    let mut st = r.status.clone().unwrap();
    st.replicas = Some(3);
    st.updated_replicas = Some(3);
    st.available_replicas = Some(3);
    assert_eq!(
        phase(&r, &st),
        (Phase::Progressing, "rollout is restarting".into())
    );
    st.restarted_at = restart::restart_at(&r);
    assert_eq!(phase(&r, &st), (Phase::Healthy, "".into()));
}

#[test]
fn a_restart_time_that_is_not_a_time_is_refused_with_its_field() {
    let r = Rollout::from_value(
        json!({"metadata": {"name": "web"},
            "spec": {"restartAt": "tomorrow", "strategy": {"canary": {}}}}),
        "web.yaml",
    )
    .unwrap();
    let seen = observed(vec![rs("abc", 1)], vec![]);
    let err = decide(&r, &seen, t(NOW)).unwrap_err().to_string();
    assert!(err.contains("web"), "{err}");
    assert!(err.contains("spec.restartAt"), "{err}");
    assert!(err.contains("RFC 3339"), "{err}");
    assert_eq!(restart::restart_at(&r), None);
}

#[test]
fn the_restart_patch_is_kubectl_argo_rollouts() {
    let mut r = rollout(3, Value::Null);
    r.spec.restart_at = None;
    let at: Time = "2026-11-19T14:13:20Z".parse().unwrap();
    let patch = ops::restart(at);
    assert_eq!(
        patch.spec_body(),
        Some(json!({"spec": {"restartAt": "2026-11-19T14:13:20Z"}}))
    );
    assert_eq!(patch.status, None);
    patch.apply_to(&mut r).unwrap();
    assert_eq!(restart::restart_at(&r), Some(at));
}

#[test]
fn a_simulated_restart_replaces_every_pod_within_the_budget() {
    let r = Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 4,
                "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"canary": {"maxUnavailable": 1, "steps": [{"setWeight": 50}]}}}}),
        "web.yaml",
    )
    .unwrap();
    let mut sim = Sim::new(r, t(1_790_000_000));
    sim.settle();
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    sim.now = sim.now + Duration::from_secs(600);
    let restart_at = sim.now;
    sim.restart();
    let mut fewest_available = i32::MAX;
    let mut evicted_at_once = 0;
    for _ in 0..1_000 {
        let (tick, more) = sim.step().unwrap();
        if let Some(r) = &tick.decision.restart {
            evicted_at_once = evicted_at_once.max(r.max_evictions.min(r.pods.len()));
        }
        let available: i32 = sim
            .replica_sets
            .iter()
            .map(|rs| rs.available(sim.now))
            .sum();
        fewest_available = fewest_available.min(available);
        if !more {
            break;
        }
    }
    let status = sim.rollout.status.clone().unwrap();
    assert_eq!(status.restarted_at, Some(restart_at));
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    let rs = &sim.replica_sets[0];
    assert_eq!(rs.size(), 4);
    assert!(
        rs.pods.iter().all(|ready| *ready > restart_at),
        "every pod was replaced: {:?}",
        rs.pods
    );
    assert_eq!(evicted_at_once, 1, "maxUnavailable 1: one pod at a time");
    assert!(
        fewest_available >= 3,
        "never below replicas - maxUnavailable"
    );
}

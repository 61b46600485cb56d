//! Helpers of the blue-green tests: a Rollout with `web` and `web-preview`
//! Services, ReplicaSets and Services as observed, and readers of a decision.

use rollout_core::{
    AnalysisPhase, AnalysisRunState, Decision, Observations, ReplicaSetState, Rollout,
    ServiceSelector, Time,
};
use serde_json::{Value, json};

/// A blue-green Rollout of 2 replicas with `web` active and `web-preview`
/// preview Services, `extra` merged into its strategy, and `status`.
pub(crate) fn rollout(extra: Value, status: Value) -> Rollout {
    let mut strategy = json!({"activeService": "web", "previewService": "web-preview"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        strategy[k] = v.clone();
    }
    Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"replicas": 2, "strategy": {"blueGreen": strategy}},
            "status": status}),
        "web.yaml",
    )
    .unwrap()
}

/// The status of an update from `old` to `new` in progress: the active
/// Service still on `old`, the preview on `new`; `extra` merged in.
pub(crate) fn updating(extra: Value) -> Value {
    let mut st = json!({"currentPodHash": "new", "stableRS": "old", "observedGeneration": "1",
        "blueGreen": {"activeSelector": "old", "previewSelector": "new"}});
    for (k, v) in extra.as_object().into_iter().flatten() {
        st[k] = v.clone();
    }
    st
}

pub(crate) fn rs(hash: &str, revision: u64, spec: i32, available: i32) -> ReplicaSetState {
    ReplicaSetState {
        pod_template_hash: hash.into(),
        revision,
        spec_replicas: spec,
        replicas: spec,
        ready_replicas: available,
        available_replicas: available,
        ..Default::default()
    }
}

pub(crate) fn at(seconds: u64) -> Time {
    Time::from_unix_seconds(seconds)
}

/// Observations of the current template `new` with these ReplicaSets, the
/// Services on `active` and `preview`, and these AnalysisRuns.
pub(crate) fn seen(
    replica_sets: Vec<ReplicaSetState>,
    active: &str,
    preview: &str,
    runs: &[(&str, AnalysisPhase)],
) -> Observations {
    let service = |name: &str, hash: &str| ServiceSelector {
        service_name: name.into(),
        pod_template_hash: (!hash.is_empty()).then(|| hash.into()),
    };
    Observations {
        current_pod_hash: "new".into(),
        replica_sets,
        services: vec![service("web", active), service("web-preview", preview)],
        analysis_runs: runs
            .iter()
            .map(|(name, phase)| AnalysisRunState {
                name: (*name).into(),
                phase: *phase,
                message: Some(format!("run {}", phase.as_str())),
            })
            .collect(),
        ..Default::default()
    }
}

/// Both ReplicaSets fully up and available.
pub(crate) fn both_ready() -> Vec<ReplicaSetState> {
    vec![rs("old", 1, 2, 2), rs("new", 2, 2, 2)]
}

pub(crate) fn size(d: &Decision, hash: &str) -> Option<(i32, Option<Time>)> {
    d.replica_sets
        .iter()
        .find(|t| t.pod_template_hash == hash)
        .map(|t| (t.replicas, t.scale_down_deadline))
}

pub(crate) fn service(d: &Decision, name: &str) -> Option<String> {
    d.services
        .iter()
        .find(|s| s.service_name == name)
        .and_then(|s| s.pod_template_hash.clone())
}

pub(crate) fn pauses(d: &Decision) -> Vec<&str> {
    d.status
        .pause_conditions
        .iter()
        .map(|c| c.reason.as_str())
        .collect()
}

pub(crate) fn reasons(d: &Decision) -> Vec<&str> {
    d.events.iter().map(|e| e.reason).collect()
}

//! The `kubectl argo rollouts` commands beyond get / set image / promote /
//! abort, run with the real plugin against `rollgate-controller` on a real
//! kube-apiserver with pods made Ready by kwok (`ROLLGATE_E2E=1`; see
//! `scripts/cluster`), the controller running as a service account with
//! exactly its documented ClusterRole. Each asserts what Argo's controller
//! does for the same command:
//!
//! * `retry` after an `abort`: the update starts again from the first step;
//! * `pause` (`spec.paused`): phase `Paused`, "manually paused", nothing
//!   scaled, a new template waits; `promote` un-pauses (and, with no pause
//!   condition, moves one step on, as the plugin's patch says);
//! * `undo` and `undo --to-revision`: the old ReplicaSet is reused (no new
//!   one; its revision raised, the previous one kept in `revision-history`)
//!   and, outside `rollbackWindow`, the steps run again;
//! * `undo` inside `rollbackWindow` skips the steps (no pause, promoted as
//!   "Rollback within window"); past the window the steps run;
//! * `restart` (`spec.restartAt`): every pod replaced by eviction, at most
//!   `maxUnavailable` missing at once, a PodDisruptionBudget's refusal waited
//!   out, `status.restartedAt` recorded.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use rollgate_testkit::Cluster;
use serde_json::{Value, json};

use support::{
    Controller, basic_canary, cluster, healthy, kubectl_argo_rollouts, pod_names,
    replica_set_annotation, replica_set_sizes, replica_sets, rollout, rollout_events, wait_for,
    wait_for_within,
};

const REVISION: &str = "rollout.argoproj.io/revision";
const REVISION_HISTORY: &str = "rollout.argoproj.io/revision-history";

fn paused_at(o: &Value, index: i64) -> bool {
    o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == index
}

fn hash(o: &Value, field: &str) -> String {
    o["status"][field].as_str().unwrap_or_default().to_owned()
}

/// (name, replicas) of `web-<a>` and `web-<b>`, sorted as listed.
fn sizes(a: (&str, i32), b: (&str, i32)) -> Vec<(String, i32)> {
    let mut expected = vec![(format!("web-{}", a.0), a.1), (format!("web-{}", b.0), b.1)];
    expected.sort();
    expected
}

/// A Healthy Rollout `web` (5 pods) at revision 1; returns its hash.
async fn healthy_rollout(cluster: &Cluster, canary: Value) -> String {
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let first = wait_for(cluster, "web", "Healthy", healthy).await;
    hash(&first, "stableRS")
}

/// `set image`, then waits for the pause at step 1; returns the new hash.
async fn update_to_pause(cluster: &Cluster, image: &str) -> String {
    kubectl_argo_rollouts(cluster, &["set", "image", "web", &format!("app={image}")]);
    let paused = wait_for(cluster, "web", "paused at step 1", |o| paused_at(o, 1)).await;
    hash(&paused, "currentPodHash")
}

#[tokio::test]
async fn retry_after_an_abort_runs_the_update_again_from_the_first_step() {
    let Some(cluster) = cluster("ctl-retry").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    let stable = healthy_rollout(&cluster, basic_canary()).await;
    let canary = update_to_pause(&cluster, "nginx:1.28").await;

    kubectl_argo_rollouts(&cluster, &["abort", "web"]);
    let aborted = wait_for(
        &cluster,
        "web",
        "aborted with its canary scaled down",
        |o| o["status"]["abort"] == true && o["status"]["phase"] == "Degraded",
    )
    .await;
    // As Argo: back to step 0, the abort time recorded, no pause condition.
    let st = &aborted["status"];
    assert_eq!(st["currentStepIndex"], 0);
    assert!(st["abortedAt"].is_string(), "{st:#}");
    assert!(st["pauseConditions"].is_null(), "{st:#}");
    wait_for(&cluster, "web", "all pods back on stable", |o| {
        o["status"]["availableReplicas"] == 5
    })
    .await;
    assert_eq!(
        replica_set_sizes(&cluster).await,
        sizes((&canary, 0), (&stable, 5))
    );

    // `retry` clears status.abort; the steps run again from the first.
    kubectl_argo_rollouts(&cluster, &["retry", "rollout", "web"]);
    let retried = wait_for(&cluster, "web", "paused at step 1 again", |o| {
        o["status"]["abort"] != true && paused_at(o, 1)
    })
    .await;
    let st = &retried["status"];
    assert!(st["abortedAt"].is_null(), "{st:#}");
    assert_eq!(st["message"], "CanaryPauseStep");
    assert_eq!(st["pauseConditions"][0]["reason"], "CanaryPauseStep");
    assert_eq!(st["stableRS"], stable.as_str());
    assert_eq!(st["currentPodHash"], canary.as_str());
    assert_eq!(
        replica_set_sizes(&cluster).await,
        sizes((&canary, 1), (&stable, 4)),
        "the canary is at step 0's weight again"
    );
    kubectl_argo_rollouts(&cluster, &["promote", "web", "--full"]);
    wait_for(&cluster, "web", "Healthy on the retried revision", |o| {
        healthy(o) && o["status"]["stableRS"] == canary.as_str()
    })
    .await;
}

#[tokio::test]
async fn pause_holds_the_rollout_until_promote_unpauses_it() {
    let Some(cluster) = cluster("ctl-pause").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    let stable = healthy_rollout(&cluster, basic_canary()).await;

    kubectl_argo_rollouts(&cluster, &["pause", "web"]);
    let paused = wait_for(&cluster, "web", "manually paused", |o| {
        o["status"]["phase"] == "Paused"
    })
    .await;
    assert_eq!(paused["spec"]["paused"], true);
    assert_eq!(paused["status"]["message"], "manually paused");

    // A new template while paused: its ReplicaSet is created but nothing is
    // scaled, and the update waits at step 0 (Argo halts progress).
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let waiting = wait_for(&cluster, "web", "on the new template, paused", |o| {
        o["status"]["currentPodHash"] != stable.as_str() && o["status"]["phase"] == "Paused"
    })
    .await;
    let canary = hash(&waiting, "currentPodHash");
    assert_eq!(waiting["status"]["message"], "manually paused");
    assert_eq!(waiting["status"]["currentStepIndex"], 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let now = replica_set_sizes(&cluster).await;
        assert!(
            now == sizes((&canary, 0), (&stable, 5)) || now == vec![(format!("web-{stable}"), 5)],
            "scaled while paused: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // `promote` un-pauses; with no pause condition the plugin also moves
    // the step index on by one (step 0 is skipped), as against Argo.
    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    let stepped = wait_for(&cluster, "web", "paused at step 1", |o| {
        paused_at(o, 1) && o["status"]["message"] == "CanaryPauseStep"
    })
    .await;
    assert_ne!(stepped["spec"]["paused"], true);
    assert_eq!(
        stepped["status"]["pauseConditions"][0]["reason"],
        "CanaryPauseStep"
    );
    wait_for(&cluster, "web", "at step 1's weight", |o| {
        o["status"]["updatedReplicas"] == 1 && o["status"]["availableReplicas"] == 5
    })
    .await;
    assert_eq!(
        replica_set_sizes(&cluster).await,
        sizes((&canary, 1), (&stable, 4))
    );
    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    wait_for(&cluster, "web", "Healthy on the new revision", |o| {
        healthy(o) && o["status"]["stableRS"] == canary.as_str()
    })
    .await;
}

#[tokio::test]
async fn undo_reuses_the_old_replica_set_and_runs_the_steps_again() {
    let Some(cluster) = cluster("ctl-undo").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    let first = healthy_rollout(&cluster, basic_canary()).await;
    let second = update_to_pause(&cluster, "nginx:1.28").await;
    kubectl_argo_rollouts(&cluster, &["promote", "web", "--full"]);
    wait_for(&cluster, "web", "Healthy at revision 2", |o| {
        healthy(o) && o["status"]["stableRS"] == second.as_str()
    })
    .await;
    let before = replica_sets(&cluster).await;

    // `undo`: the template of the previous revision, so its ReplicaSet is
    // the current one again, raised to revision 3.
    kubectl_argo_rollouts(&cluster, &["undo", "web"]);
    let undone = wait_for(
        &cluster,
        "web",
        "back on revision 1, paused at step 1",
        |o| o["status"]["currentPodHash"] == first.as_str() && paused_at(o, 1),
    )
    .await;
    assert_eq!(undone["metadata"]["annotations"][REVISION], "3");
    assert_eq!(undone["status"]["stableRS"], second.as_str());
    let after = replica_sets(&cluster).await;
    let uids = |list: &[(String, String, i32, String)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(n, u, _, _)| (n.clone(), u.clone()))
            .collect()
    };
    assert_eq!(uids(&after), uids(&before), "no new ReplicaSet");
    let old = format!("web-{first}");
    assert_eq!(
        replica_set_annotation(&cluster, &old, REVISION)
            .await
            .as_deref(),
        Some("3")
    );
    assert_eq!(
        replica_set_annotation(&cluster, &old, REVISION_HISTORY)
            .await
            .as_deref(),
        Some("1")
    );
    wait_for(&cluster, "web", "at step 1's weight", |o| {
        o["status"]["updatedReplicas"] == 1 && o["status"]["availableReplicas"] == 5
    })
    .await;
    assert_eq!(
        replica_set_sizes(&cluster).await,
        sizes((&first, 1), (&second, 4)),
        "outside rollbackWindow the steps run again"
    );
    kubectl_argo_rollouts(&cluster, &["promote", "web", "--full"]);
    wait_for(&cluster, "web", "Healthy on revision 3", |o| {
        healthy(o) && o["status"]["stableRS"] == first.as_str()
    })
    .await;

    // `undo --to-revision=2`: the second ReplicaSet, raised to revision 4.
    kubectl_argo_rollouts(&cluster, &["undo", "web", "--to-revision=2"]);
    let undone = wait_for(&cluster, "web", "on revision 2's template, paused", |o| {
        o["status"]["currentPodHash"] == second.as_str() && paused_at(o, 1)
    })
    .await;
    assert_eq!(undone["metadata"]["annotations"][REVISION], "4");
    let again = format!("web-{second}");
    assert_eq!(
        replica_set_annotation(&cluster, &again, REVISION)
            .await
            .as_deref(),
        Some("4")
    );
    assert_eq!(
        replica_set_annotation(&cluster, &again, REVISION_HISTORY)
            .await
            .as_deref(),
        Some("2")
    );
    assert_eq!(uids(&replica_sets(&cluster).await), uids(&before));
}

#[tokio::test]
async fn undo_inside_the_rollback_window_skips_the_steps() {
    let Some(cluster) = cluster("ctl-window").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    let mut object = rollout("web", "nginx:1.27", basic_canary());
    object["spec"]["rollbackWindow"] = json!({"revisions": 1});
    cluster.create(object).await;
    let first = hash(
        &wait_for(&cluster, "web", "Healthy", healthy).await,
        "stableRS",
    );
    // The window orders ReplicaSets by creation time, to the second and
    // strictly, as Argo: the next one must be made in a later second than
    // the first, or it is not newer (rollout-core's rollback_window tests).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let second = update_to_pause(&cluster, "nginx:1.28").await;
    kubectl_argo_rollouts(&cluster, &["promote", "web", "--full"]);
    wait_for(&cluster, "web", "Healthy at revision 2", |o| {
        healthy(o) && o["status"]["stableRS"] == second.as_str()
    })
    .await;

    // The two updates used up the Rollout's event budget (25 at once, then
    // one per 5 minutes, as client-go's spam filter gives Argo's recorder):
    // a controller started afresh has a full one, so the event that names
    // the rollback is recorded.
    drop(controller);
    let _controller = Controller::start_with_role(&cluster).await;

    // No ReplicaSet was created between the first and the stable one: inside
    // a window of 1, so no step runs and nothing pauses.
    kubectl_argo_rollouts(&cluster, &["undo", "web"]);
    let start = Instant::now();
    loop {
        let o = support::rollout_object(&cluster, "web").await;
        assert_ne!(o["status"]["phase"], "Paused", "{:#}", o["status"]);
        if healthy(&o) && o["status"]["stableRS"] == first.as_str() {
            assert_eq!(o["status"]["currentStepIndex"], 4);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:#}",
            o["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let completed =
        format!("Rollout completed update to revision 3 ({first}): Rollback within window");
    // The event follows the status write that completes the rollout.
    let start = Instant::now();
    loop {
        let events = rollout_events(&cluster).await;
        if events
            .iter()
            .any(|(r, m)| r == "RolloutCompleted" && *m == completed)
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{events:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A third template, then back to the first: the second ReplicaSet lies
    // between it and the stable one, so the window is passed and the steps run.
    let third = update_to_pause(&cluster, "nginx:1.29").await;
    kubectl_argo_rollouts(&cluster, &["promote", "web", "--full"]);
    wait_for(&cluster, "web", "Healthy at revision 4", |o| {
        healthy(o) && o["status"]["stableRS"] == third.as_str()
    })
    .await;
    kubectl_argo_rollouts(&cluster, &["undo", "web", "--to-revision=3"]);
    wait_for(
        &cluster,
        "web",
        "back on the first template, paused at step 1",
        |o| o["status"]["currentPodHash"] == first.as_str() && paused_at(o, 1),
    )
    .await;
}

/// Watches the namespace's pods and records the fewest Ready pods not
/// being deleted, seen after any change.
struct ReadyFloor {
    fewest: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyFloor {
    fn start(cluster: &Cluster) -> Self {
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let fewest = Arc::new(Mutex::new(usize::MAX));
        let floor = fewest.clone();
        let task = tokio::spawn(async move {
            let mut ready: BTreeMap<String, bool> = BTreeMap::new();
            let mut listed = false;
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(Ok(event)) = events.next().await {
                match event {
                    watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => {
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        ready.insert(name, is_ready(&pod));
                    }
                    watcher::Event::Delete(pod) => {
                        ready.remove(&pod.metadata.name.unwrap_or_default());
                    }
                    watcher::Event::Init => {
                        ready.clear();
                        listed = false;
                    }
                    watcher::Event::InitDone => listed = true,
                }
                if !listed {
                    continue;
                }
                let now = ready.values().filter(|r| **r).count();
                let mut f = floor.lock().unwrap();
                *f = (*f).min(now);
            }
        });
        Self { fewest, task }
    }

    fn fewest(&self) -> usize {
        *self.fewest.lock().unwrap()
    }
}

impl Drop for ReadyFloor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn restart_evicts_every_pod_within_max_unavailable() {
    let Some(cluster) = cluster("ctl-restart").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    let mut canary = basic_canary();
    canary["maxUnavailable"] = json!(1);
    let mut object = rollout("web", "nginx:1.27", canary);
    object["spec"]["replicas"] = json!(3);
    cluster.create(object).await;
    wait_for(&cluster, "web", "Healthy with 3 pods", |o| {
        o["status"]["phase"] == "Healthy" && o["status"]["availableReplicas"] == 3
    })
    .await;
    let before = pod_names(&cluster).await;
    assert_eq!(before.len(), 3, "{before:?}");
    // A budget that allows no disruption: every eviction is refused (429).
    cluster
        .create(
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}}}),
        )
        .await;
    let pdb = cluster.api("policy", "v1", "PodDisruptionBudget");
    let start = Instant::now();
    while pdb.get("web").await.unwrap().data["status"]["observedGeneration"] != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "budget not observed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // restartAt has a precision of one second: pods of this second would not need it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let floor = ReadyFloor::start(&cluster);

    kubectl_argo_rollouts(&cluster, &["restart", "web"]);
    let restarting = wait_for(&cluster, "web", "restarting", |o| {
        o["status"]["message"] == "rollout is restarting"
    })
    .await;
    let restart_at = restarting["spec"]["restartAt"].as_str().unwrap().to_owned();
    assert_eq!(restarting["status"]["phase"], "Progressing");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        pod_names(&cluster).await,
        before,
        "evicted despite the budget"
    );
    assert!(support::rollout_object(&cluster, "web").await["status"]["restartedAt"].is_null());

    // The budget allows one: the refused eviction is tried again (as the
    // API server's Retry-After asks, else on the next look within 30 s),
    // one pod at a time.
    pdb.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 2}})),
    )
    .await
    .unwrap();
    let done = wait_for_within(
        &cluster,
        "web",
        "restarted and Healthy",
        Duration::from_secs(120),
        |o| {
            // Recorded once no old pod is left, which may be before the
            // last replacement is Ready (as in Argo).
            o["status"]["restartedAt"] == restart_at.as_str()
                && o["status"]["phase"] == "Healthy"
                && o["status"]["availableReplicas"] == 3
        },
    )
    .await;
    assert_eq!(done["status"]["replicas"], 3, "{:#}", done["status"]);
    let after = pod_names(&cluster).await;
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "every pod replaced: {before:?} -> {after:?}"
    );
    assert!(
        floor.fewest() >= 2,
        "more than maxUnavailable (1) pods missing at once: {} Ready",
        floor.fewest()
    );
}

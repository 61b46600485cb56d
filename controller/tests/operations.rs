//! `rollgate-controller` as a service on a real kube-apiserver
//! (`ROLLGATE_E2E=1`; see `scripts/cluster`): two replicas elect a leader
//! on a Lease, the leader is killed with SIGKILL in the middle of a
//! rollout and the standby takes over within the lease duration (15 s
//! after the last renewal, so 13 to 15 s after the kill) and finishes it; `/metrics` names the Rollout with Argo's metric names and
//! labels, and `/healthz` and `/readyz` answer on both replicas.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde_json::json;

use rollgate_testkit::scrape::http_get;
use support::progress::{eventually, set_image, update_to_pause};
use support::{
    Controller, basic_canary, cluster, healthy, kubectl_argo_rollouts, rollout, wait_for,
};

/// The value of the sample `line` starts (`name{labels}`), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Whether the controller on `port` says it leads.
async fn leads(port: u16) -> bool {
    match http_get(port, "/metrics").await {
        Some((200, text)) => {
            sample(
                &text,
                r#"leader_election_master_status{name="rollgate-controller-lock"}"#,
            ) == Some(1.0)
        }
        _ => false,
    }
}

/// Waits until the controller on `port` leads; how long that took.
async fn until_leading(port: u16, limit: Duration) -> Duration {
    eventually(limit, "leading", || async {
        leads(port).await.then_some(())
    })
    .await
    .1
}

/// A controller with exactly its ClusterRole, once it leads.
async fn leading_controller(
    cluster: &rollgate_testkit::Cluster,
) -> rollgate_testkit::RollgateController {
    let controller = Controller::start_with_role(cluster).await;
    until_leading(controller.metrics_port, Duration::from_secs(20)).await;
    controller
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_is_killed_mid_rollout() {
    let Some(cluster) = cluster("ctl-failover").await else {
        return;
    };
    let mut first = leading_controller(&cluster).await;
    let second = Controller::start_with_role(&cluster).await;
    // The standby serves, is ready, and does not lead.
    eventually(Duration::from_secs(10), "serving on the standby", || {
        http_get(second.healthz_port, "/healthz")
    })
    .await;
    assert_eq!(
        http_get(second.healthz_port, "/readyz").await.map(|a| a.0),
        Some(200)
    );
    let lease: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let holder = |l: Lease| l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
    let leader = holder(lease.get("rollgate-controller-lock").await.unwrap());

    cluster
        .create(rollout("web", "nginx:1.27", basic_canary()))
        .await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    assert!(!leads(second.metrics_port).await, "two leaders");
    update_to_pause(&cluster, "web", "nginx:1.28", 1).await;

    first.kill();
    let killed = Instant::now();
    let took = until_leading(second.metrics_port, Duration::from_secs(30)).await;
    eprintln!(
        "failover: the standby leads {:.1} s after the leader was killed",
        took.as_secs_f64()
    );
    // 15 s after the last renewal, which came 0 to 2 s before the kill;
    // 1 s of margin for the watch, the takeover's two requests and this
    // poll on a busy machine.
    assert!(
        killed.elapsed() < Duration::from_secs(16),
        "failover took {:?}, more than the 15 s lease",
        killed.elapsed()
    );
    let lease_now = lease.get("rollgate-controller-lock").await.unwrap();
    assert_eq!(
        lease_now.spec.as_ref().and_then(|s| s.lease_transitions),
        Some(1)
    );
    assert_ne!(holder(lease_now), leader);

    // The new leader resumes at the same step and finishes the rollout.
    let paused = support::rollout_object(&cluster, "web").await;
    assert_eq!(paused["status"]["currentStepIndex"], 1);
    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    let done = wait_for(&cluster, "web", "Healthy on the new revision", |o| {
        healthy(o)
            && o["status"]["stableRS"] == o["status"]["currentPodHash"]
            && o["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "2"
    })
    .await;
    assert_eq!(done["status"]["currentStepIndex"], 4);
}

#[tokio::test]
async fn metrics_name_the_rollout_with_argos_names_and_labels() {
    let Some(cluster) = cluster("ctl-metrics").await else {
        return;
    };
    let controller = leading_controller(&cluster).await;
    cluster
        .create(rollout(
            "web",
            "nginx:1.27",
            json!({"steps": [{"setWeight": 50}, {"pause": {}}]}),
        ))
        .await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    let ns = &cluster.namespace;
    // The gauges come from the watch cache: give it a moment to see the last status.
    let info = format!(
        r#"rollout_info{{namespace="{ns}",name="web",strategy="canary",traffic_router="",phase="Completed"}}"#
    );
    let (text, _) = eventually(
        Duration::from_secs(10),
        &format!("{info} on /metrics"),
        || async {
            let (status, text) = http_get(controller.metrics_port, "/metrics")
                .await
                .expect("/metrics answers");
            assert_eq!(status, 200);
            (sample(&text, &info) == Some(1.0)).then_some(text)
        },
    )
    .await;
    let rollout = format!(r#"namespace="{ns}",name="web""#);
    for (series, value) in [
        (format!("rollout_info_replicas_available{{{rollout}}}"), 5.0),
        (
            format!("rollout_info_replicas_unavailable{{{rollout}}}"),
            0.0,
        ),
        (format!("rollout_info_replicas_desired{{{rollout}}}"), 5.0),
        (format!("rollout_info_replicas_updated{{{rollout}}}"), 5.0),
        (
            format!(r#"rollout_phase{{{rollout},strategy="canary",phase="Completed"}}"#),
            1.0,
        ),
        (
            format!(r#"rollout_phase{{{rollout},strategy="canary",phase="Paused"}}"#),
            0.0,
        ),
    ] {
        assert_eq!(sample(&text, &series), Some(value), "{series} in:\n{text}");
    }
    let reconciles = sample(&text, &format!("rollout_reconcile_count{{{rollout}}}")).unwrap_or(0.0);
    assert!(reconciles >= 1.0, "rollout_reconcile_count in:\n{text}");
    assert!(text.contains(&format!(
        r#"rollout_reconcile_bucket{{{rollout},le="0.01"}}"#
    )));
    assert!(text.contains("# TYPE rollout_reconcile_error untyped"));
    // The status writes and the ReplicaSet creation, counted as Argo counts them.
    let status_patches = format!(
        r#"controller_clientset_k8s_request_total{{kind="rollouts",namespace="{ns}",name="web",verb="Patch",status_code="200"}}"#
    );
    assert!(
        sample(&text, &status_patches).unwrap_or(0.0) >= 1.0,
        "{status_patches} in:\n{text}"
    );
    let created = format!(
        r#"controller_clientset_k8s_request_total{{kind="replicasets",namespace="{ns}",name="N/A",verb="Create",status_code="201"}}"#
    );
    assert!(
        sample(&text, &created).unwrap_or(0.0) >= 1.0,
        "{created} in:\n{text}"
    );
    assert_eq!(
        http_get(controller.healthz_port, "/healthz").await,
        Some((200, "ok".into()))
    );
    assert_eq!(
        http_get(controller.healthz_port, "/readyz").await,
        Some((200, "ok".into()))
    );

    // Stopped with SIGTERM, the leader releases the Lease: a successor
    // leads at once instead of after the 15 s lease.
    drop(controller);
    let successor = Controller::start_with_role(&cluster).await;
    let took = until_leading(successor.metrics_port, Duration::from_secs(5)).await;
    eprintln!(
        "handover: the successor leads {:.1} s after it started",
        took.as_secs_f64()
    );
}

#[tokio::test]
async fn a_leader_that_loses_the_lease_stops_reconciling_and_stands_by() {
    let Some(cluster) = cluster("ctl-lost-lease").await else {
        return;
    };
    let controller = leading_controller(&cluster).await;
    cluster
        .create(rollout("web", "nginx:1.27", basic_canary()))
        .await;
    let first = wait_for(&cluster, "web", "Healthy", healthy).await;

    // Another holder writes itself into the Lease for an hour.
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let take = |holder: Option<&str>, seconds: i32| {
        let leases = leases.clone();
        let holder = holder.map(str::to_owned);
        async move {
            let mut lease = leases.get("rollgate-controller-lock").await.unwrap();
            let spec = lease.spec.get_or_insert_default();
            spec.holder_identity = holder;
            spec.lease_duration_seconds = Some(seconds);
            spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                k8s_openapi::jiff::Timestamp::now(),
            ));
            leases
                .replace("rollgate-controller-lock", &Default::default(), &lease)
                .await
                .unwrap();
        }
    };
    take(Some("another-controller"), 3600).await;
    eventually(
        Duration::from_secs(5),
        "standing by after losing the lease",
        || async { (!leads(controller.metrics_port).await).then_some(()) },
    )
    .await;
    let (_, text) = http_get(controller.metrics_port, "/metrics").await.unwrap();
    assert!(
        !text.contains("rollout_info{"),
        "a standby reports no Rollouts:\n{text}"
    );

    // Not leading, it does not reconcile: an update is left alone.
    set_image(&cluster, "web", "nginx:1.28");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let untouched = support::rollout_object(&cluster, "web").await;
    assert_eq!(
        untouched["status"], first["status"],
        "reconciled without the lease"
    );

    // The Lease given up, it leads again at once and runs the update.
    take(None, 1).await;
    until_leading(controller.metrics_port, Duration::from_secs(5)).await;
    wait_for(&cluster, "web", "paused at step 1", |o| {
        support::progress::paused_at(o, 1)
    })
    .await;
}

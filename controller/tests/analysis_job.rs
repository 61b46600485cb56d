//! `rollgate-controller` measuring Job metrics on a real kube-apiserver
//! (`ROLLGATE_E2E=1`; see `scripts/cluster`), as a service account holding
//! exactly its ClusterRole: a Job the Job controller completes (kwok
//! completes its pod) makes the run `Successful`, the measurement naming
//! its Job; a Job whose pod can never be scheduled and whose
//! `activeDeadlineSeconds` runs out fails the run with the Job's reason.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DynamicObject};
use rollgate_testkit::Cluster;
use serde_json::{Value, json};

use support::{Controller, cluster};

/// The run `name` once its phase is `phase`, within two minutes.
async fn run_in_phase(cluster: &Cluster, name: &str, phase: &str) -> Value {
    let runs: Api<DynamicObject> = cluster.api("argoproj.io", "v1alpha1", "AnalysisRun");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = serde_json::to_value(runs.get(name).await.unwrap()).unwrap();
        if run["status"]["phase"] == phase {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "AnalysisRun {name}: not {phase} within 120 s: {:#}",
            run["status"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn job_run(name: &str, job_spec: Value, pod_spec: Value) -> Value {
    let mut template = json!({"spec": {"restartPolicy": "Never",
        "containers": [{"name": "check", "image": "busybox", "command": ["true"]}]}});
    if let (Some(spec), Some(extra)) = (template["spec"].as_object_mut(), pod_spec.as_object()) {
        spec.extend(extra.clone());
    }
    let mut spec = json!({"backoffLimit": 0, "template": template});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), job_spec.as_object()) {
        spec.extend(extra.clone());
    }
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name},
        "spec": {"metrics": [{"name": "smoke", "provider": {"job": {"spec": spec}}}]}})
}

#[tokio::test]
async fn job_metrics_are_measured_by_their_jobs() {
    let Some(cluster) = cluster("ctl-measure-job").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);

    cluster
        .create(job_run("passes", json!({}), json!({})))
        .await;
    let passed = run_in_phase(&cluster, "passes", "Successful").await;
    let uid = passed["metadata"]["uid"].as_str().unwrap().to_owned();
    let measurement = &passed["status"]["metricResults"][0]["measurements"][0];
    assert_eq!(measurement["phase"], "Successful", "{measurement:#}");
    let job_name = measurement["metadata"]["job-name"].as_str().unwrap();
    assert_eq!(job_name, format!("{uid}.smoke.1"));
    assert_eq!(measurement["metadata"]["job-namespace"], cluster.namespace);
    let job = jobs.get(job_name).await.unwrap();
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("AnalysisRun", uid.as_str())
    );
    assert_eq!(
        job.metadata.labels.as_ref().unwrap()["analysisrun.argoproj.io/uid"],
        uid
    );

    cluster
        .create(job_run(
            "times-out",
            json!({"activeDeadlineSeconds": 2}),
            json!({"nodeSelector": {"rollgate.dev/no-such-node": "true"}}),
        ))
        .await;
    let failed = run_in_phase(&cluster, "times-out", "Failed").await;
    let measurement = &failed["status"]["metricResults"][0]["measurements"][0];
    assert_eq!(measurement["phase"], "Failed", "{measurement:#}");
    assert!(
        measurement["message"]
            .as_str()
            .is_some_and(|m| m.contains("DeadlineExceeded")),
        "{measurement:#}"
    );
    drop(controller);
}

//! The Job provider on the real-cluster tier (`scripts/cluster up`): real
//! AnalysisRuns, their Jobs created on the real API server, run by the
//! real Job controller, and each run driven by the analysis crate's
//! `decide` and `record_progress` as a controller drives it.
//!
//! The cluster's pods run on kwok's fake nodes, whose stages complete a
//! running pod owned by a Job (exit code 0): a Job there completes
//! through the Job controller, with no status written by the test. A
//! failing Job is one whose pod cannot be scheduled (a node selector no
//! node has) and whose `activeDeadlineSeconds` runs out, so that the Job
//! controller fails it (`DeadlineExceeded`). Job specs the API server
//! refuses (a misspelt field under strict field validation, a restart
//! policy a Job cannot have) create nothing.
//!
//! Skips without `ROLLGATE_E2E=1`.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::runtime::wait::{Condition, await_condition, conditions};
use rollgate_analysis::evaluate::{Action, decide};
use rollgate_analysis::in_flight::{Progress, record_progress};
use rollgate_analysis::types::{AnalysisRunSpec, AnalysisRunStatus};
use rollgate_providers::job::{JobProvider, RunRef};
use rollgate_testkit::Cluster;
use rollout_core::Time;
use serde_json::{Value, json};

/// How long a Job may take to end on a loaded machine.
const JOB_WITHIN: Duration = Duration::from_secs(180);

fn now() -> Time {
    Time::from_system_time(SystemTime::now())
}

/// A Job metric whose pod runs `pod` (extra fields of the pod spec) and
/// whose Job has `job` (extra fields of the Job spec).
fn job_metric(name: &str, job: Value, pod: Value) -> Value {
    let mut pod_spec = json!({"restartPolicy": "Never",
        "containers": [{"name": "check", "image": "busybox", "command": ["true"]}]});
    let mut job_spec = json!({"backoffLimit": 0, "template": {"spec": {}}});
    for (k, v) in pod.as_object().unwrap() {
        pod_spec[k] = v.clone();
    }
    for (k, v) in job.as_object().unwrap() {
        job_spec[k] = v.clone();
    }
    job_spec["template"]["spec"] = pod_spec;
    json!({"name": name, "provider": {"job": {
        "metadata": {"labels": {"team": "web"}}, "spec": job_spec}}})
}

/// Creates an AnalysisRun with `metrics` (the Jobs' owner) and returns
/// its reference and spec.
async fn analysis_run(cluster: &Cluster, name: &str, metrics: Value) -> (RunRef, AnalysisRunSpec) {
    let spec = json!({"metrics": metrics});
    let created = cluster
        .create(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": name}, "spec": spec}),
        )
        .await;
    let run = RunRef {
        name: name.to_owned(),
        namespace: cluster.namespace.clone(),
        uid: created.metadata.uid.expect("the API server gives a uid"),
    };
    (run, serde_json::from_value(spec).unwrap())
}

/// Waits until the Job satisfies `condition`.
async fn wait_for(jobs: &Api<Job>, name: &str, what: &str, condition: impl Condition<Job>) {
    tokio::time::timeout(JOB_WITHIN, await_condition(jobs.clone(), name, condition))
        .await
        .unwrap_or_else(|_| panic!("Job {name} {what} within {JOB_WITHIN:?}"))
        .unwrap_or_else(|e| panic!("watching Job {name}: {e}"));
}

fn ended(job: Option<&Job>) -> bool {
    job.and_then(|j| j.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// One reconcile: decides, carries out every task with the provider and
/// records the answers. Returns the status and the Jobs started.
async fn reconcile(
    provider: &JobProvider,
    run: &RunRef,
    spec: &AnalysisRunSpec,
    status: Option<&AnalysisRunStatus>,
) -> (AnalysisRunStatus, Vec<(Action, String)>) {
    let now = now();
    let decision = decide(spec, status, now);
    let mut status = decision.status;
    let mut done = Vec::new();
    for task in decision.measure {
        let metric = spec.metrics.iter().find(|m| m.name == task.metric).unwrap();
        let last = status
            .metric_results
            .iter()
            .find(|r| r.name == task.metric)
            .and_then(|r| r.measurements.last())
            .cloned()
            .unwrap_or_default();
        let answer = match task.action {
            Action::Measure => provider.run(run, metric, &status, now).await,
            Action::Resume => provider.resume(run, metric, &last, now).await,
            Action::Terminate => provider.terminate(run, metric, &last).await,
        };
        let progress = answer.unwrap_or_else(|e| Progress::error(e.to_string()));
        record_progress(spec, &mut status, &task.metric, task.action, progress, now)
            .expect("the answer fits the measurement");
        done.push((task.action, task.metric));
    }
    (status, done)
}

fn job_name(status: &AnalysisRunStatus, metric: &str) -> String {
    status
        .metric_results
        .iter()
        .find(|r| r.name == metric)
        .and_then(|r| r.measurements.last())
        .map(|m| m.metadata["job-name"].clone())
        .expect("a measurement with its Job")
}

#[tokio::test]
async fn jobs_run_to_their_end_on_the_real_api_server() {
    let Some(cluster) = Cluster::new("job-provider").await else {
        return;
    };
    let provider = JobProvider::new(cluster.client.clone());
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);

    // A Job that completes: the run is Successful.
    let (run, spec) = analysis_run(
        &cluster,
        "web-good",
        json!([job_metric("smoke", json!({}), json!({}))]),
    )
    .await;
    let (status, done) = reconcile(&provider, &run, &spec, None).await;
    assert_eq!(done, [(Action::Measure, "smoke".to_owned())]);
    let name = job_name(&status, "smoke");
    assert_eq!(name, format!("{}.smoke.1", run.uid));
    let job = jobs.get(&name).await.expect("the Job was created");
    assert_eq!(job.metadata.labels.as_ref().unwrap()["team"], "web");
    assert_eq!(
        job.metadata.labels.as_ref().unwrap()["analysisrun.argoproj.io/uid"],
        run.uid
    );
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("AnalysisRun", run.uid.as_str(), Some(true))
    );
    wait_for(&jobs, &name, "completes", conditions::is_job_completed()).await;
    let (status, done) = reconcile(&provider, &run, &spec, Some(&status)).await;
    assert_eq!(done, [(Action::Resume, "smoke".to_owned())]);
    let (status, _) = reconcile(&provider, &run, &spec, Some(&status)).await;
    assert_eq!(status.phase, "Successful", "{status:?}");
    let result = &status.metric_results[0];
    assert_eq!((result.count, result.successful), (1, 1));
    assert!(result.measurements[0].finished_at.is_some());

    // Collected to a limit of 0, the Job goes.
    let uid = job.metadata.uid.clone().unwrap();
    let collected = provider.garbage_collect(&run, "smoke", 0).await.unwrap();
    assert_eq!(collected, std::slice::from_ref(&name));
    wait_for(&jobs, &name, "is deleted", conditions::is_deleted(&uid)).await;

    // A Job that fails: the run fails with the Job's reason.
    let (run, spec) = analysis_run(
        &cluster,
        "web-bad",
        json!([job_metric(
            "doomed",
            json!({"activeDeadlineSeconds": 2}),
            json!({"nodeSelector": {"rollgate.dev/no-such-node": "true"}})
        )]),
    )
    .await;
    let (status, _) = reconcile(&provider, &run, &spec, None).await;
    let name = job_name(&status, "doomed");
    wait_for(&jobs, &name, "ends", ended).await;
    let (status, done) = reconcile(&provider, &run, &spec, Some(&status)).await;
    assert_eq!(done, [(Action::Resume, "doomed".to_owned())]);
    let (status, _) = reconcile(&provider, &run, &spec, Some(&status)).await;
    assert_eq!(status.phase, "Failed", "{status:?}");
    assert!(
        status
            .message
            .starts_with("Metric \"doomed\" assessed Failed due to failed (1) > failureLimit (0): \"Error Message: DeadlineExceeded: "),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn a_terminated_run_deletes_its_job() {
    let Some(cluster) = Cluster::new("job-terminate").await else {
        return;
    };
    let provider = JobProvider::new(cluster.client.clone());
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    // A Job whose pod is never scheduled: it runs until stopped.
    let (run, spec) = analysis_run(
        &cluster,
        "web-stopped",
        json!([job_metric(
            "waits",
            json!({}),
            json!({"nodeSelector": {"rollgate.dev/no-such-node": "true"}})
        )]),
    )
    .await;
    let (status, _) = reconcile(&provider, &run, &spec, None).await;
    let name = job_name(&status, "waits");
    let uid = jobs.get(&name).await.unwrap().metadata.uid.unwrap();
    // Resumed at once: still running, looked at again later.
    let (status, done) = reconcile(&provider, &run, &spec, Some(&status)).await;
    assert_eq!(done, [(Action::Resume, "waits".to_owned())]);
    let last = status.metric_results[0].measurements.last().unwrap();
    assert_eq!(last.phase, "Running");
    assert!(last.resume_at.is_some());

    let mut stop = spec.clone();
    stop.terminate = true;
    let (status, done) = reconcile(&provider, &run, &stop, Some(&status)).await;
    assert_eq!(done, [(Action::Terminate, "waits".to_owned())]);
    let last = status.metric_results[0].measurements.last().unwrap();
    assert_eq!(
        (last.phase.as_str(), last.message.as_str()),
        ("Inconclusive", "Metric Terminated")
    );
    wait_for(&jobs, &name, "is deleted", conditions::is_deleted(&uid)).await;
    let (status, done) = reconcile(&provider, &run, &stop, Some(&status)).await;
    assert!(done.is_empty());
    assert_eq!(status.phase, "Inconclusive", "{status:?}");
}

#[tokio::test]
async fn job_specs_the_api_server_refuses_create_nothing() {
    let Some(cluster) = Cluster::new("job-refused").await else {
        return;
    };
    let provider = JobProvider::new(cluster.client.clone());
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut misspelt = job_metric("misspelt", json!({}), json!({}));
    misspelt["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] =
        json!("Always");
    let (run, spec) = analysis_run(
        &cluster,
        "web-refused",
        json!([
            misspelt,
            job_metric("restarts", json!({}), json!({"restartPolicy": "Always"}))
        ]),
    )
    .await;
    let status = AnalysisRunStatus::default();
    let err = provider
        .run(&run, &spec.metrics[0], &status, now())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "metric \"misspelt\" (Job {}/{}.misspelt.1): creating the Job: ",
            cluster.namespace, run.uid
        )) && err.contains("unknown field \"spec.template.spec.containers[0].imagePullPolicyy\""),
        "{err}"
    );
    let err = provider
        .run(&run, &spec.metrics[1], &status, now())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""),
        "{err}"
    );
    let listed = jobs.list(&Default::default()).await.unwrap();
    assert!(listed.items.is_empty(), "{:?}", listed.items);
}

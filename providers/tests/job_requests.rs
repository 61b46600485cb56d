//! The Job provider's requests, asserted exactly against a scripted API
//! server: the Job it creates (name, labels, annotations, owner, pod
//! template label), how it follows and stops it, and what it collects.

use std::collections::BTreeMap;

use rollgate_analysis::in_flight::{Progress, Verdict};
use rollgate_analysis::types::{AnalysisRunStatus, Measurement, Metric, MetricResult};
use rollgate_providers::job::{JobProvider, RunRef};
use rollgate_testkit::mock_api::{self, MockApi, reply, status};
use rollout_core::Time;
use serde_json::{Value, json};

const UID: &str = "4e8ea5b6-2e46-4b5b-9a4e-0b7b4f0a4c21";
const JOBS: &str = "/apis/batch/v1/namespaces/shop/jobs";

fn at(text: &str) -> Time {
    text.parse().unwrap()
}

fn run() -> RunRef {
    RunRef {
        name: "web-6d4b-2".to_owned(),
        namespace: "shop".to_owned(),
        uid: UID.to_owned(),
    }
}

fn metric() -> Metric {
    serde_json::from_value(json!({"name": "smoke", "provider": {"job": {
        "metadata": {"labels": {"team": "web"}, "annotations": {"note": "from the template"}},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"labels": {"app": "smoke"}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "t", "image": "busybox", "command": ["true"]}]}}}}}}))
    .unwrap()
}

/// The run's status after `count` measurements and `error` errors.
fn measured(count: i32, error: i32) -> AnalysisRunStatus {
    AnalysisRunStatus {
        metric_results: vec![MetricResult {
            name: "smoke".to_owned(),
            count,
            error,
            ..MetricResult::default()
        }],
        ..AnalysisRunStatus::default()
    }
}

fn in_flight(job: &str, namespace: Option<&str>) -> Measurement {
    let mut metadata = BTreeMap::from([("job-name".to_owned(), job.to_owned())]);
    if let Some(ns) = namespace {
        metadata.insert("job-namespace".to_owned(), ns.to_owned());
    }
    Measurement {
        phase: "Running".to_owned(),
        started_at: Some("2026-12-01T10:00:00Z".to_owned()),
        metadata,
        ..Measurement::default()
    }
}

/// The Job as the API server stores it: `body` with a uid, a creation
/// time and a generated selector.
fn stored(mut body: Value, created: &str, conditions: Value) -> Value {
    body["metadata"]["uid"] = json!("job-uid");
    body["metadata"]["creationTimestamp"] = json!(created);
    body["spec"]["selector"] =
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}});
    body["status"] = json!({"conditions": conditions});
    body
}

fn running(resume_at: &str, job: &str) -> Progress {
    Progress::Running {
        resume_at: at(resume_at),
        metadata: BTreeMap::from([
            ("job-name".to_owned(), job.to_owned()),
            ("job-namespace".to_owned(), "shop".to_owned()),
        ]),
    }
}

#[tokio::test]
async fn run_creates_the_job_as_argo_does() {
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let call = mock_api::spawn(async move {
        provider
            .run(
                &run(),
                &metric(),
                &measured(2, 1),
                at("2026-12-01T10:00:00Z"),
            )
            .await
    });
    let name = format!("{UID}.smoke.4");
    let seen = api.next_with(|seen| reply(201, &seen.body)).await;
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, JOBS);
    assert_eq!(seen.query, "fieldValidation=Strict");
    assert_eq!(seen.content_type, "application/json");
    assert_eq!(
        seen.body,
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": name, "namespace": "shop",
                "labels": {"team": "web", "analysisrun.argoproj.io/uid": UID},
                "annotations": {
                    "note": "from the template",
                    "analysisrun.argoproj.io/name": "web-6d4b-2",
                    "analysisrun.argoproj.io/namespace": "shop",
                    "analysisrun.argoproj.io/metric-name": "smoke"},
                "ownerReferences": [{
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
                    "name": "web-6d4b-2", "uid": UID,
                    "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"app": "smoke", "analysisrun.argoproj.io/uid": UID}},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "t", "image": "busybox", "command": ["true"]}]}}}
        })
    );
    assert_eq!(
        call.result().await.unwrap(),
        running("2026-12-01T10:00:00Z", &name)
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_job_namespace_of_its_own_has_no_owner_reference() {
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client).with_namespace("analysis");
    let call = mock_api::spawn(async move {
        provider
            .run(
                &run(),
                &metric(),
                &measured(0, 0),
                at("2026-12-01T10:00:00Z"),
            )
            .await
    });
    let seen = api.next_with(|seen| reply(201, &seen.body)).await;
    assert_eq!(seen.path, "/apis/batch/v1/namespaces/analysis/jobs");
    assert_eq!(seen.body["metadata"]["namespace"], "analysis");
    assert_eq!(seen.body["metadata"]["name"], format!("{UID}.smoke.1"));
    assert!(seen.body["metadata"].get("ownerReferences").is_none());
    // The run's namespace is still in the annotations.
    assert_eq!(
        seen.body["metadata"]["annotations"]["analysisrun.argoproj.io/namespace"],
        "shop"
    );
    let Progress::Running { metadata, .. } = call.result().await.unwrap() else {
        panic!("expected Running");
    };
    assert_eq!(metadata["job-namespace"], "analysis");
    api.no_more_requests().await;

    // Another cluster: no owner reference even in the run's namespace.
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client).in_other_cluster();
    let call = mock_api::spawn(async move {
        provider
            .run(
                &run(),
                &metric(),
                &measured(0, 0),
                at("2026-12-01T10:00:00Z"),
            )
            .await
    });
    let seen = api.next_with(|seen| reply(201, &seen.body)).await;
    assert_eq!(seen.path, JOBS);
    assert!(seen.body["metadata"].get("ownerReferences").is_none());
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_job_already_created_for_the_run_is_taken_and_another_runs_is_refused() {
    for (owner, ours) in [(UID, true), ("someone-else", false)] {
        let (client, mut api) = MockApi::client();
        let provider = JobProvider::new(client);
        let call = mock_api::spawn(async move {
            provider
                .run(
                    &run(),
                    &metric(),
                    &measured(0, 0),
                    at("2026-12-01T10:00:00Z"),
                )
                .await
        });
        let name = format!("{UID}.smoke.1");
        let created = api
            .next(reply(
                409,
                &status(
                    409,
                    "AlreadyExists",
                    &format!("jobs.batch \"{name}\" already exists"),
                ),
            ))
            .await;
        let mut existing = stored(created.body, "2026-12-01T09:59:59Z", json!([]));
        existing["metadata"]["ownerReferences"][0]["uid"] = json!(owner);
        let seen = api.next(reply(200, &existing)).await;
        assert_eq!(
            (seen.method.as_str(), seen.path),
            ("GET", format!("{JOBS}/{name}"))
        );
        let result = call.result().await;
        if ours {
            assert_eq!(result.unwrap(), running("2026-12-01T10:00:00Z", &name));
        } else {
            assert_eq!(
                result.unwrap_err().to_string(),
                format!(
                    "metric \"smoke\" (Job shop/{name}): a Job of this name already exists and is not this AnalysisRun's (its owner's uid is \"someone-else\")"
                )
            );
        }
        api.no_more_requests().await;
    }
}

#[tokio::test]
async fn a_bad_job_spec_is_refused_before_any_request() {
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let mut bad = metric();
    bad.provider.job.as_mut().unwrap().spec["template"]["spec"]["containers"][0]["command"] =
        json!("true");
    let call = mock_api::spawn(async move {
        provider
            .run(&run(), &bad, &measured(0, 0), at("2026-12-01T10:00:00Z"))
            .await
    });
    assert_eq!(
        call.result().await.unwrap_err().to_string(),
        format!(
            "metric \"smoke\" (Job shop/{UID}.smoke.1): provider.job.spec.template.spec.containers[0].command: expected a list, found the string \"true\""
        )
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_job_the_api_server_refuses_is_an_error_in_its_words() {
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let call = mock_api::spawn(async move {
        provider
            .run(
                &run(),
                &metric(),
                &measured(0, 0),
                at("2026-12-01T10:00:00Z"),
            )
            .await
    });
    let message = "Job.batch \"x\" is invalid: spec.template.spec.restartPolicy: Required value";
    api.next(reply(422, &status(422, "Invalid", message))).await;
    assert_eq!(
        call.result().await.unwrap_err().to_string(),
        format!("metric \"smoke\" (Job shop/{UID}.smoke.1): creating the Job: {message}")
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn resume_reads_the_job_then_its_pods() {
    let name = format!("{UID}.smoke.1");
    let job = stored(
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": "shop"},
               "spec": {"template": {"spec": {"containers": [{"name": "t"}]}}}}),
        "2026-12-01T10:00:00Z",
        json!([]),
    );
    // Still running: the Job, then its pods by the Job's selector, then a
    // later look (sqrt(2 * 50 s) = 10 s).
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let call = mock_api::spawn(async move {
        provider
            .resume(
                &run(),
                &metric(),
                &in_flight(&format!("{UID}.smoke.1"), Some("shop")),
                at("2026-12-01T10:00:50Z"),
            )
            .await
    });
    let seen = api.next(reply(200, &job)).await;
    assert_eq!(
        (seen.method.as_str(), seen.path),
        ("GET", format!("{JOBS}/{name}"))
    );
    let seen = api
        .next(reply(
            200,
            &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
            {"metadata": {"name": "p1"}, "status": {"phase": "Pending"}}]}),
        ))
        .await;
    assert_eq!(seen.path, "/api/v1/namespaces/shop/pods");
    assert!(
        seen.has_query("labelSelector=batch.kubernetes.io%2Fcontroller-uid%3Djob-uid"),
        "{}",
        seen.query
    );
    assert_eq!(
        call.result().await.unwrap(),
        Progress::Running {
            resume_at: at("2026-12-01T10:01:00Z"),
            metadata: BTreeMap::new()
        }
    );
    api.no_more_requests().await;

    // Failed: the condition decides, no pods are read.
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let call = mock_api::spawn(async move {
        // No job-namespace: the run's namespace, as Argo reads it.
        provider
            .resume(
                &run(),
                &metric(),
                &in_flight(&format!("{UID}.smoke.1"), None),
                at("2026-12-01T10:00:50Z"),
            )
            .await
    });
    let mut failed = job.clone();
    failed["status"]["conditions"] = json!([{"type": "Failed", "status": "True",
        "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]);
    let seen = api.next(reply(200, &failed)).await;
    assert_eq!(seen.path, format!("{JOBS}/{name}"));
    assert_eq!(
        call.result().await.unwrap(),
        Progress::Finished {
            verdict: Verdict::Failed,
            message: "BackoffLimitExceeded: Job has reached the specified backoff limit".to_owned()
        }
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn resume_and_terminate_need_the_jobs_name() {
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let mut lost = in_flight("", None);
    lost.metadata.clear();
    let p = provider.clone();
    let l = lost.clone();
    let resumed = mock_api::spawn(async move {
        p.resume(&run(), &metric(), &l, at("2026-12-01T10:00:50Z"))
            .await
    });
    assert_eq!(
        resumed.result().await.unwrap_err().to_string(),
        "metric \"smoke\" (Job shop): job metadata reference missing"
    );
    let stopped =
        mock_api::spawn(async move { provider.terminate(&run(), &metric(), &lost).await });
    assert_eq!(
        stopped.result().await.unwrap_err().to_string(),
        "metric \"smoke\" (Job shop): job metadata reference missing"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_job_gone_before_it_is_resumed_is_an_error() {
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let call = mock_api::spawn(async move {
        provider
            .resume(
                &run(),
                &metric(),
                &in_flight("gone", Some("shop")),
                at("2026-12-01T10:00:50Z"),
            )
            .await
    });
    api.next(reply(
        404,
        &status(404, "NotFound", "jobs.batch \"gone\" not found"),
    ))
    .await;
    assert_eq!(
        call.result().await.unwrap_err().to_string(),
        "metric \"smoke\" (Job shop/gone): reading the Job: jobs.batch \"gone\" not found"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn terminate_deletes_the_job_in_the_foreground() {
    for (answer, code) in [
        (
            json!({"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "j"}}),
            200,
        ),
        (status(404, "NotFound", "jobs.batch \"j\" not found"), 404),
    ] {
        let (client, mut api) = MockApi::client();
        let provider = JobProvider::new(client);
        let call = mock_api::spawn(async move {
            provider
                .terminate(&run(), &metric(), &in_flight("j", Some("analysis")))
                .await
        });
        let seen = api.next(reply(code, &answer)).await;
        assert_eq!(seen.method, "DELETE");
        assert_eq!(seen.path, "/apis/batch/v1/namespaces/analysis/jobs/j");
        assert_eq!(seen.body["propagationPolicy"], "Foreground");
        assert_eq!(
            call.result().await.unwrap(),
            Progress::Finished {
                verdict: Verdict::Inconclusive,
                message: String::new()
            }
        );
        api.no_more_requests().await;
    }
    // A refusal is an error naming the Job.
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let call = mock_api::spawn(async move {
        provider
            .terminate(&run(), &metric(), &in_flight("j", Some("shop")))
            .await
    });
    api.next(reply(
        403,
        &status(403, "Forbidden", "jobs.batch \"j\" is forbidden"),
    ))
    .await;
    assert_eq!(
        call.result().await.unwrap_err().to_string(),
        "metric \"smoke\" (Job shop/j): deleting the Job: jobs.batch \"j\" is forbidden"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn garbage_collection_keeps_the_newest_jobs_of_the_metric() {
    let job = |name: &str, metric: &str, created: &str| {
        json!({"metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
            "labels": {"analysisrun.argoproj.io/uid": UID},
            "annotations": {"analysisrun.argoproj.io/metric-name": metric}}})
    };
    let list = json!({"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": [
        job("s3", "smoke", "2026-12-01T10:03:00Z"),
        job("s1", "smoke", "2026-12-01T10:01:00Z"),
        job("o1", "other", "2026-12-01T10:00:00Z"),
        job("s2", "smoke", "2026-12-01T10:02:00Z"),
        job("s4", "smoke", "2026-12-01T10:04:00Z"),
    ]});
    let (client, mut api) = MockApi::client();
    let provider = JobProvider::new(client);
    let call = mock_api::spawn(async move { provider.garbage_collect(&run(), "smoke", 2).await });
    let seen = api.next(reply(200, &list)).await;
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", JOBS));
    assert!(
        seen.has_query(&format!(
            "labelSelector=analysisrun.argoproj.io%2Fuid%3D{UID}"
        )),
        "{}",
        seen.query
    );
    // Oldest first; the other metric's older Job is not counted (unlike
    // Argo, which counts every Job of the run).
    for name in ["s1", "s2"] {
        let seen = api
            .next(reply(
                200,
                &json!({"kind": "Job", "metadata": {"name": name}}),
            ))
            .await;
        assert_eq!(seen.method, "DELETE");
        assert_eq!(seen.path, format!("{JOBS}/{name}"));
        assert_eq!(seen.body["propagationPolicy"], "Foreground");
    }
    assert_eq!(call.result().await.unwrap(), ["s1", "s2"]);
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_api_server_that_does_not_answer_is_said_in_words() {
    // Nothing listens on the discard port of the loopback address.
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let provider = JobProvider::new(kube::Client::try_from(config).unwrap());
    let err = provider
        .terminate(&run(), &metric(), &in_flight("j", Some("shop")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "metric \"smoke\" (Job shop/j): deleting the Job: no answer from the API server: "
        ),
        "{err}"
    );
}

//! Blue-green, in Argo's end-to-end scenarios (`bluegreen_test.go`, the
//! blue-green tests of `functional_test.go` and `analysis_test.go`): the
//! new version comes up behind the preview Service while the active one
//! keeps the old, and the active Service switches at promotion — by
//! `kubectl argo rollouts promote`, after `autoPromotionSeconds`, or never
//! when pre-promotion analysis fails; an abort, or a failing post-promotion
//! analysis, puts the active Service back on the previous ReplicaSet and
//! scales the new one down after `abortScaleDownDelaySeconds`.
//!
//! The analyses are web metrics against an endpoint of the test's on
//! 127.0.0.1 whose answer the test sets (`{"rate": N}`, good at 0.95 and
//! above).

use kube::api::ListParams;
use rollgate_e2e::{Scene, Under, View, condition, phase, replicas, scenario, status};
use rollgate_testkit::web::Endpoint;
use serde_json::{Value, json};

const ROLLOUT: &str = "web";

/// The Rollout's replicas.
const REPLICAS: i64 = 2;

/// The annotation Argo puts on a Service a Rollout manages.
const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// The endpoint's answers.
const GOOD: &str = r#"{"rate": 0.99}"#;
const BAD: &str = r#"{"rate": 0.42}"#;

fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
           "spec": {"selector": {"app": ROLLOUT}, "ports": [{"port": 80, "targetPort": 8080}]}})
}

/// A blue-green Rollout on `web-active` and `web-preview`, with `extra`
/// added to its `blueGreen` block.
fn rollout(extra: Value) -> Value {
    let mut strategy = json!({"activeService": "web-active", "previewService": "web-preview"});
    for (k, v) in extra.as_object().expect("an object") {
        strategy[k] = v.clone();
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": ROLLOUT},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": ROLLOUT}},
            "template": {"metadata": {"labels": {"app": ROLLOUT}},
                         "spec": {"containers": [{"name": "web", "image": "example.com/web:1"}]}},
            "strategy": {"blueGreen": strategy}
        }
    })
}

/// A template whose one metric, `rate`, reads `{"rate": N}` from the
/// endpoint every 2 s, 10 times, and fails at the first value under 0.95.
/// (A metric without `count` runs indefinitely, which Argo refuses in a
/// pre- or post-promotion analysis, and so does rollgate-controller.)
fn template(endpoint: &Endpoint) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "rate"},
        "spec": {"metrics": [{
            "name": "rate", "interval": "2s", "count": 10, "failureLimit": 0,
            "successCondition": "result >= 0.95",
            "provider": {"web": {"url": format!("{}/rate", endpoint.address),
                                 "jsonPath": "{$.rate}"}}
        }]}
    })
}

/// The hash the Service under `key` selects.
fn selected<'a>(v: &'a View, key: &str) -> Option<&'a str> {
    v[key]["spec"]["selector"]["rollouts-pod-template-hash"].as_str()
}

fn current(v: &View) -> &Value {
    &status(v)["currentPodHash"]
}

/// A scene with both Services, `objects` and `rollout`, under its
/// controller, Healthy on the first revision; returns the first revision's
/// hash.
async fn healthy_first(
    name: &str,
    under: Under,
    objects: Vec<Value>,
    rollout: Value,
) -> Option<(Scene, Value)> {
    let mut s = Scene::new(name, under, ROLLOUT).await?;
    s.cluster.create(service("web-active")).await;
    s.cluster.create(service("web-preview")).await;
    for object in objects {
        s.cluster.create(object).await;
    }
    s.cluster.create(rollout).await;
    s.watch("active", "v1", "Service", "web-active");
    s.watch("preview", "v1", "Service", "web-preview");
    s.start_basic().await;
    let first = s
        .until("Healthy on the first revision, both Services on it", |v| {
            phase(v) == "Healthy"
                && status(v)["stableRS"].is_string()
                && selected(v, "active") == status(v)["stableRS"].as_str()
                && selected(v, "preview") == status(v)["stableRS"].as_str()
        })
        .await;
    for key in ["active", "preview"] {
        assert_eq!(
            first[key]["metadata"]["annotations"][MANAGED_BY], ROLLOUT,
            "{key}: {:#}",
            first[key]
        );
    }
    let blue = status(&first)["stableRS"].clone();
    assert_eq!(status(&first)["blueGreen"]["activeSelector"], blue);
    Some((s, blue))
}

/// `kubectl argo rollouts set image` to revision `image`; waits for the new
/// ReplicaSet's hash in the status and returns it.
async fn update(s: &Scene, image: &str, old: &Value) -> Value {
    s.kubectl(&[
        "set",
        "image",
        ROLLOUT,
        &format!("web=example.com/web:{image}"),
    ]);
    let v = s
        .until("the new revision's hash in the status", |v| {
            current(v).is_string() && current(v) != old
        })
        .await;
    current(&v).clone()
}

/// The `role` label of each pod of the ReplicaSet with pod template hash
/// `hash`, by pod name.
async fn pod_roles(s: &Scene, hash: &Value) -> Vec<String> {
    let selector = format!(
        "rollouts-pod-template-hash={}",
        hash.as_str().expect("a hash")
    );
    let mut pods = s
        .cluster
        .api("", "v1", "Pod")
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("list the pods")
        .items;
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods.into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            p.metadata
                .labels
                .and_then(|l| l.get("role").cloned())
                .unwrap_or_default()
        })
        .collect()
}

/// Waits (a minute at most) until every one of the `REPLICAS` pods of the
/// ReplicaSet with pod template hash `hash` is labelled `role`.
async fn until_pod_roles(s: &Scene, hash: &Value, role: &str) {
    let started = std::time::Instant::now();
    loop {
        let roles = pod_roles(s, hash).await;
        if roles.len() == REPLICAS as usize && roles.iter().all(|r| r == role) {
            eprintln!(
                "{:?}: pods labelled role={role}: after {:?}",
                s.under,
                started.elapsed()
            );
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{:?}: the pods of {hash} labelled role={role}: {roles:?}",
            s.under
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The run under `key` has phase `wanted`.
fn run_phase(v: &View, key: &str, wanted: &str) -> bool {
    v[key]["status"]["phase"] == wanted
}

scenario!(blue_green_promote);

/// The `role` label of the pod template of the ReplicaSet under `key`
/// (`previewMetadata` / `activeMetadata`).
fn role<'a>(v: &'a View, key: &str) -> Option<&'a str> {
    v[key]["spec"]["template"]["metadata"]["labels"]["role"].as_str()
}

/// Promote: the new version behind the preview Service, paused
/// (`autoPromotionEnabled: false`) with the active Service on the old and
/// `previewMetadata` on the new pods; `promote` switches the active
/// Service, the new pods get `activeMetadata`, and the old ReplicaSet keeps
/// its pods for `scaleDownDelaySeconds` (its `scale-down-deadline`
/// annotation), then goes to 0.
async fn blue_green_promote(under: Under) {
    let strategy = json!({"autoPromotionEnabled": false, "scaleDownDelaySeconds": 8,
        "activeMetadata": {"labels": {"role": "active"}},
        "previewMetadata": {"labels": {"role": "preview"}}});
    let Some((mut s, blue)) = healthy_first("bg-promote", under, vec![], rollout(strategy)).await
    else {
        return;
    };
    let rs = |hash: &Value| format!("{ROLLOUT}-{}", hash.as_str().expect("a hash"));
    s.watch("blue_rs", "apps/v1", "ReplicaSet", &rs(&blue));
    let green = update(&s, "2", &blue).await;
    s.watch("green_rs", "apps/v1", "ReplicaSet", &rs(&green));
    let paused = s
        .until("paused with green behind the preview Service", |v| {
            phase(v) == "Paused"
                && selected(v, "preview") == green.as_str()
                && replicas(v, &green) == REPLICAS
        })
        .await;
    assert_eq!(
        (role(&paused, "green_rs"), role(&paused, "blue_rs")),
        (Some("preview"), Some("active"))
    );
    until_pod_roles(&s, &green, "preview").await;
    assert_eq!(selected(&paused, "active"), blue.as_str(), "{paused:#}");
    assert_eq!(
        status(&paused)["pauseConditions"][0]["reason"],
        "BlueGreenPause"
    );
    assert_eq!(status(&paused)["blueGreen"]["previewSelector"], green);
    assert_eq!(s.shown_status(), "Paused");

    s.kubectl(&["promote", ROLLOUT]);
    let promoted = s
        .until("promoted: the active Service on green", |v| {
            phase(v) == "Healthy"
                && selected(v, "active") == green.as_str()
                && status(v)["stableRS"] == green
        })
        .await;
    assert_eq!(status(&promoted)["blueGreen"]["activeSelector"], green);
    // The pass after the switch (Argo's order: the old ReplicaSets are
    // reconciled before the active Service) gives blue its deadline.
    s.until("blue keeps its pods until its scale-down deadline", |v| {
        assert_eq!(
            replicas(v, &blue),
            REPLICAS,
            "blue keeps its pods during scaleDownDelaySeconds: {v:#}"
        );
        v["blue_rs"]["metadata"]["annotations"]["scale-down-deadline"].is_string()
    })
    .await;
    s.until("green's pods carry activeMetadata", |v| {
        role(v, "green_rs") == Some("active")
    })
    .await;
    until_pod_roles(&s, &green, "active").await;
    s.until("blue scaled down after its delay", |v| {
        replicas(v, &blue) == 0
    })
    .await;
    assert_eq!(s.shown_status(), "Healthy");
    // Each Service was written twice (adopted onto blue, switched to
    // green) over all the reconciles since: an unchanged selector costs no
    // request.
    s.cluster.audit_barrier().await;
    for service in ["web-active", "web-preview"] {
        let patches: Vec<_> = s
            .cluster
            .audited_requests("services", service)
            .into_iter()
            .filter(|r| matches!(r.verb.as_str(), "patch" | "update"))
            .collect();
        assert_eq!(patches.len(), 2, "{under:?}: {service}: {patches:?}");
    }
}

scenario!(blue_green_abort);

/// Abort: with the new version previewed on `previewReplicaCount` pods,
/// `abort` keeps the active Service on the stable ReplicaSet, the Rollout
/// Degraded in Argo's words, and the preview's pods go after
/// `abortScaleDownDelaySeconds`; `retry` runs the update again and
/// `promote --full` finishes it.
async fn blue_green_abort(under: Under) {
    let strategy = json!({"autoPromotionEnabled": false, "previewReplicaCount": 1,
                          "abortScaleDownDelaySeconds": 2});
    let Some((s, blue)) = healthy_first("bg-abort", under, vec![], rollout(strategy)).await else {
        return;
    };
    let green = update(&s, "2", &blue).await;
    s.until(
        "paused with one green pod behind the preview Service",
        |v| {
            phase(v) == "Paused"
                && selected(v, "preview") == green.as_str()
                && replicas(v, &green) == 1
                && selected(v, "active") == blue.as_str()
        },
    )
    .await;

    s.kubectl(&["abort", ROLLOUT]);
    let aborted = s
        .until("aborted: Degraded, the active Service on blue", |v| {
            phase(v) == "Degraded" && status(v)["abort"] == true
        })
        .await;
    assert_eq!(selected(&aborted, "active"), blue.as_str());
    assert_eq!(status(&aborted)["stableRS"], blue);
    assert_eq!(replicas(&aborted, &blue), REPLICAS);
    let (cond_status, reason, message) =
        condition(&aborted, "Progressing").expect("a Progressing condition");
    assert_eq!(
        (cond_status.as_str(), reason.as_str(), message.as_str()),
        (
            "False",
            "RolloutAborted",
            "Rollout aborted update to revision 2"
        )
    );
    assert_eq!(
        status(&aborted)["message"],
        "RolloutAborted: Rollout aborted update to revision 2"
    );
    s.until("green scaled down after abortScaleDownDelaySeconds", |v| {
        replicas(v, &green) == 0 && selected(v, "active") == blue.as_str()
    })
    .await;
    assert_eq!(s.shown_status(), "Degraded");

    s.kubectl(&["retry", "rollout", ROLLOUT]);
    s.until("retried: paused again with green previewed", |v| {
        phase(v) == "Paused"
            && status(v)["abort"] != true
            && replicas(v, &green) == 1
            && selected(v, "preview") == green.as_str()
    })
    .await;
    s.kubectl(&["promote", ROLLOUT, "--full"]);
    s.until("fully promoted: green active and stable", |v| {
        phase(v) == "Healthy"
            && selected(v, "active") == green.as_str()
            && status(v)["stableRS"] == green
            && replicas(v, &green) == REPLICAS
    })
    .await;
}

scenario!(blue_green_auto_promotion);

/// `autoPromotionSeconds`: the update pauses with the new version
/// previewed, then the active Service switches with nobody typing a
/// command.
async fn blue_green_auto_promotion(under: Under) {
    let strategy = json!({"autoPromotionSeconds": 6, "scaleDownDelaySeconds": 1});
    let Some((s, blue)) = healthy_first("bg-auto", under, vec![], rollout(strategy)).await else {
        return;
    };
    let green = update(&s, "2", &blue).await;
    let paused = s
        .until("paused with green previewed", |v| {
            phase(v) == "Paused" && selected(v, "preview") == green.as_str()
        })
        .await;
    assert_eq!(selected(&paused, "active"), blue.as_str());
    assert_eq!(
        status(&paused)["pauseConditions"][0]["reason"],
        "BlueGreenPause"
    );
    let promoted = s
        .until("promoted on its own: green active and stable", |v| {
            phase(v) == "Healthy"
                && selected(v, "active") == green.as_str()
                && status(v)["stableRS"] == green
        })
        .await;
    assert!(
        status(&promoted)["pauseConditions"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{:#}",
        status(&promoted)
    );
    s.until("blue scaled down", |v| replicas(v, &blue) == 0)
        .await;
}

scenario!(blue_green_pre_promotion_fails);

/// Pre-promotion analysis failing: the run (`<rollout>-<hash>-2-pre`,
/// labelled `PrePromotion`) fails, the update is aborted and the active
/// Service never leaves the stable ReplicaSet.
async fn blue_green_pre_promotion_fails(under: Under) {
    let endpoint = Endpoint::start(BAD).await;
    let strategy = json!({"abortScaleDownDelaySeconds": 1,
        "prePromotionAnalysis": {"templates": [{"templateName": "rate"}]}});
    let objects = vec![template(&endpoint)];
    let Some((mut s, blue)) = healthy_first("bg-pre", under, objects, rollout(strategy)).await
    else {
        return;
    };
    let green = update(&s, "2", &blue).await;
    let run = format!("{ROLLOUT}-{}-2-pre", green.as_str().expect("a hash"));
    s.watch("run", "argoproj.io/v1alpha1", "AnalysisRun", &run);
    let aborted = s
        .until("aborted by its failed pre-promotion run", |v| {
            assert_ne!(
                selected(v, "active"),
                green.as_str(),
                "the active Service never switches: {v:#}"
            );
            phase(v) == "Degraded" && run_phase(v, "run", "Failed")
        })
        .await;
    assert_eq!(
        aborted["run"]["metadata"]["labels"]["rollout-type"],
        "PrePromotion"
    );
    assert_eq!(
        aborted["run"]["metadata"]["labels"]["rollouts-pod-template-hash"],
        green
    );
    assert_eq!(status(&aborted)["stableRS"], blue);
    assert_eq!(status(&aborted)["blueGreen"]["activeSelector"], blue);
    assert_eq!(
        status(&aborted)["blueGreen"]["prePromotionAnalysisRunStatus"]["name"],
        run.as_str()
    );
    let (_, reason, message) = condition(&aborted, "Progressing").expect("Progressing");
    assert_eq!(reason, "RolloutAborted");
    assert!(
        message.starts_with("Rollout aborted update to revision 2")
            && message.contains("Metric \"rate\" assessed Failed"),
        "{message}"
    );
    s.until("green scaled down, blue still active", |v| {
        replicas(v, &green) == 0 && selected(v, "active") == blue.as_str()
    })
    .await;
}

scenario!(blue_green_post_promotion_fails);

/// Post-promotion analysis failing: after `promote` the active Service is
/// on the new version while its post-promotion run measures; when the run
/// fails the update is aborted, the active Service goes back to the
/// previous ReplicaSet, which stays the stable one, and the new one is
/// scaled down.
async fn blue_green_post_promotion_fails(under: Under) {
    let endpoint = Endpoint::start(GOOD).await;
    let strategy = json!({"autoPromotionEnabled": false, "abortScaleDownDelaySeconds": 1,
        "scaleDownDelaySeconds": 60,
        "postPromotionAnalysis": {"templates": [{"templateName": "rate"}]}});
    let objects = vec![template(&endpoint)];
    let Some((mut s, blue)) = healthy_first("bg-post", under, objects, rollout(strategy)).await
    else {
        return;
    };
    let green = update(&s, "2", &blue).await;
    let run = format!("{ROLLOUT}-{}-2-post", green.as_str().expect("a hash"));
    s.watch("run", "argoproj.io/v1alpha1", "AnalysisRun", &run);
    s.until("paused with green previewed", |v| {
        phase(v) == "Paused" && selected(v, "preview") == green.as_str()
    })
    .await;
    s.kubectl(&["promote", ROLLOUT]);
    let measuring = s
        .until("green active, its post-promotion run measuring", |v| {
            selected(v, "active") == green.as_str() && run_phase(v, "run", "Running")
        })
        .await;
    assert_eq!(
        measuring["run"]["metadata"]["labels"]["rollout-type"],
        "PostPromotion"
    );
    assert_eq!(
        status(&measuring)["stableRS"],
        blue,
        "green is not stable before its post-promotion run succeeds"
    );

    endpoint.answer(BAD);
    let rolled_back = s
        .until(
            "rolled back: the active Service on blue again, Degraded",
            |v| {
                phase(v) == "Degraded"
                    && run_phase(v, "run", "Failed")
                    && selected(v, "active") == blue.as_str()
            },
        )
        .await;
    assert_eq!(status(&rolled_back)["stableRS"], blue);
    assert_eq!(status(&rolled_back)["abort"], true);
    assert_eq!(replicas(&rolled_back, &blue), REPLICAS);
    s.until("green scaled down", |v| replicas(v, &green) == 0)
        .await;
}

//! The Helm chart `charts/rollgate`, with the real Helm (`ROLLGATE_HELM`,
//! exported by `ROLLGATE_CHARTS=1 scripts/cluster env`):
//!
//! * `helm lint` passes, and values of the wrong shape are refused naming
//!   the value;
//! * `helm template` gives objects that each read as their kind with no
//!   field left over, a ClusterRole whose rules are exactly those of
//!   `examples/rbac/rollgate-controller.yaml`, and a Deployment whose
//!   arguments carry the values;
//! * on the real-cluster tier, every rendered object passes the API
//!   server's strict validation (a dry run), and the chart installs with no
//!   replicas (there is no image to run); this package's controller binary,
//!   run with the token of the chart's service account, takes a canary
//!   update to the end: the chart's RBAC is enough.

mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, Patch, PatchParams, PostParams};
use rollgate_testkit::RollgateController;
use serde_json::{Value, json};

use support::helm::{
    Release, chart, chart_with_crds, dry_run, find, helm, helm_ok, kinds, objects, reads_as,
    run_helm, template,
};
use support::{CONTROLLER, healthy, rollout, wait_for_within};

/// The rules of the ClusterRole in an RBAC file of `examples/rbac/`.
fn example_rules() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rbac/rollgate-controller.yaml");
    let text = std::fs::read_to_string(&path).expect("the example RBAC");
    objects(&text)
        .into_iter()
        .find(|o| o["kind"] == "ClusterRole")
        .expect("a ClusterRole in examples/rbac/rollgate-controller.yaml")["rules"]
        .clone()
}

fn container(objects: &[Value]) -> &Value {
    &find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .expect("the container's args")
        .iter()
        .map(|a| a.as_str().expect("args are strings").to_owned())
        .collect()
}

#[test]
fn the_chart_passes_helm_lint() {
    let Some(helm) = helm() else { return };
    let chart = chart();
    let out = helm_ok(&helm, &["lint", "--strict", chart.to_str().unwrap()]);
    assert!(
        out.contains("1 chart(s) linted, 0 chart(s) failed"),
        "{out}"
    );
    let out = helm_ok(
        &helm,
        &[
            "lint",
            "--strict",
            chart.to_str().unwrap(),
            "--set",
            "metrics.podMonitor.enabled=true,replicas=1,leaderElection.enabled=false",
        ],
    );
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn every_rendered_object_reads_as_its_kind() {
    use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, rbac::v1 as rbac};
    let Some(helm) = helm() else { return };
    let objects = template(&helm, "rollgate", &["metrics.podMonitor.enabled=true"]);
    assert_eq!(
        kinds(&objects),
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Service",
            "Deployment",
            "PodMonitor"
        ]
    );
    for object in &objects {
        match object["kind"].as_str().unwrap() {
            "ServiceAccount" => reads_as::<core::ServiceAccount>(object),
            "ClusterRole" => reads_as::<rbac::ClusterRole>(object),
            "ClusterRoleBinding" => reads_as::<rbac::ClusterRoleBinding>(object),
            "Service" => reads_as::<core::Service>(object),
            "Deployment" => reads_as::<apps::Deployment>(object),
            "PodMonitor" => {}
            other => panic!("unexpected kind {other}"),
        }
        if object["kind"] != "ClusterRole" && object["kind"] != "ClusterRoleBinding" {
            assert_eq!(object["metadata"]["namespace"], "rollgate", "{object}");
        }
    }
    // The PodMonitor (no Rust type): it selects the Deployment's pods and
    // scrapes the container's port named metrics, as the Service does.
    let monitor = find(&objects, "PodMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let pods = &find(&objects, "Deployment")["spec"]["template"]["metadata"]["labels"];
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&pods[key], value, "PodMonitor selector {key}");
    }
    assert_eq!(
        monitor["spec"]["podMetricsEndpoints"],
        json!([{"port": "metrics", "path": "/metrics", "interval": "30s"}])
    );
    let ports = &container(&objects)["ports"];
    assert_eq!(
        ports[0],
        json!({"name": "metrics", "containerPort": 8090, "protocol": "TCP"})
    );
    let service = find(&objects, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        &service["spec"]["selector"],
        &find(&objects, "Deployment")["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn the_cluster_role_is_the_one_in_examples_rbac() {
    let Some(helm) = helm() else { return };
    let objects = template(&helm, "rollgate", &[]);
    assert_eq!(find(&objects, "ClusterRole")["rules"], example_rules());
    let binding = find(&objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], "rollgate");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "rollgate", "namespace": "rollgate"}])
    );
    assert_eq!(
        find(&objects, "ServiceAccount")["metadata"]["name"],
        "rollgate"
    );
    let pod = &find(&objects, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "rollgate");
}

#[test]
fn values_become_the_controllers_flags() {
    let Some(helm) = helm() else { return };
    let defaults = template(&helm, "rollgate", &[]);
    assert_eq!(find(&defaults, "Deployment")["spec"]["replicas"], 2);
    assert_eq!(
        args(&defaults),
        [
            "--leader-elect=true",
            "--leader-election-lease-duration=15s",
            "--leader-election-renew-deadline=10s",
            "--leader-election-retry-period=2s",
            "--log-format=json",
            "--metrics-port=8090",
            "--healthz-port=8080",
            "--rollout-threads=10",
            "--analysis-threads=30",
            "--plugin-dir=/plugin-bin",
        ]
    );
    assert_eq!(container(&defaults)["image"], "rollgate-controller:0.1.0");
    let set = template(
        &helm,
        "ops",
        &[
            "controller.namespace=shop",
            "controller.instanceId=blue",
            "controller.logFormat=text",
            "metrics.port=9100",
            "image.repository=registry.example/rollgate-controller",
            "image.tag=0.1.1",
            "replicas=1",
            "leaderElection.enabled=false",
            "resources.limits.memory=1Gi",
            "controller.qps=40",
            "controller.burst=80",
        ],
    );
    let args = args(&set);
    for flag in [
        "--leader-elect=false",
        "--namespace=shop",
        "--instance-id=blue",
        "--log-format=text",
        "--metrics-port=9100",
        "--qps=40",
        "--burst=80",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} not in {args:?}");
    }
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--leader-election-lease")),
        "{args:?}"
    );
    let container = container(&set);
    assert_eq!(
        container["image"],
        "registry.example/rollgate-controller:0.1.1"
    );
    assert_eq!(container["ports"][0]["containerPort"], 9100);
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(find(&set, "Service")["spec"]["ports"][0]["port"], 9100);
}

#[test]
fn values_of_the_wrong_shape_are_refused_by_name() {
    let Some(helm) = helm() else { return };
    let chart = chart();
    for (set, expected) in [
        (
            "controller.logFormat=xml",
            "at '/controller/logFormat': value must be one of 'json', 'text'",
        ),
        ("replicas=-1", "at '/replicas': minimum: got -1, want 0"),
        (
            "leaderElection.leaseDuration=soon",
            r#"leaderElection.leaseDuration: expected a duration such as 15s or 1m, found "soon""#,
        ),
        (
            "metrics.podMonitor.enabled=true,metrics.podMonitor.interval=1.5m",
            r#"metrics.podMonitor.interval: expected a duration such as 15s or 1m, found "1.5m""#,
        ),
        ("metrics.port=70000", "at '/metrics/port': maximum"),
        (
            "controller.instanceID=blue",
            "at '/controller': additional properties 'instanceID' not allowed",
        ),
        (
            "replicas=2,leaderElection.enabled=false",
            "replicas: more than one replica needs leaderElection.enabled: true",
        ),
    ] {
        let output = run_helm(
            &helm,
            &[
                "template",
                "rollgate",
                chart.to_str().unwrap(),
                "--set",
                set,
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--set {set} was accepted");
        assert!(
            stderr.contains(expected),
            "--set {set}: the error does not name {expected}: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_installed_charts_service_account_runs_a_canary_to_the_end() {
    let Some(helm) = helm() else { return };
    let Some(cluster) = support::cluster("chart").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_with_crds(dir.path());
    let chart = chart.to_str().unwrap();
    // With --include-crds the CRDs come first; the cluster has them already.
    let rendered = objects(&helm_ok(
        &helm,
        &[
            "template",
            "rollgate",
            chart,
            "--namespace",
            &cluster.namespace,
            "--include-crds",
        ],
    ));
    let crds: Vec<&Value> = rendered
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .collect();
    let names: Vec<&str> = crds
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    for crd in [
        "rollouts.argoproj.io",
        "analysisruns.argoproj.io",
        "analysistemplates.argoproj.io",
        "clusteranalysistemplates.argoproj.io",
        "experiments.argoproj.io",
    ] {
        assert!(
            names.contains(&crd),
            "{crd} not in the chart's CRDs {names:?}"
        );
    }
    let chart_objects: Vec<Value> = rendered
        .into_iter()
        .filter(|o| o["kind"] != "CustomResourceDefinition")
        .collect();
    dry_run(&cluster, &chart_objects).await;

    // Installed with no replicas: there is no image to run here.
    let release = Release {
        helm: helm.clone(),
        name: format!("rg-{}", cluster.namespace),
        namespace: cluster.namespace.clone(),
    };
    helm_ok(
        &helm,
        &[
            "install",
            &release.name,
            chart,
            "--namespace",
            &cluster.namespace,
            "--set",
            &format!("replicas=0,controller.namespace={}", cluster.namespace),
            "--wait",
            "--timeout",
            "120s",
        ],
    );
    let status = helm_ok(
        &helm,
        &["status", &release.name, "--namespace", &cluster.namespace],
    );
    assert!(status.contains("STATUS: deployed"), "{status}");

    // The binary the image would hold, as the chart's service account.
    let installed = objects(&helm_ok(
        &helm,
        &[
            "get",
            "manifest",
            &release.name,
            "--namespace",
            &cluster.namespace,
        ],
    ));
    assert_eq!(find(&installed, "Deployment")["spec"]["replicas"], 0);
    let account = find(&installed, "ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let request: k8s_openapi::api::authentication::v1::TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let token = Api::<ServiceAccount>::namespaced(cluster.client.clone(), &cluster.namespace)
        .create_token_request(&account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token for the chart's service account {account}: {e}"))
        .status
        .expect("the token")
        .token;
    let _controller =
        RollgateController::start_with_token(Path::new(CONTROLLER), &cluster, &token, &[], &[]);

    let canary = json!({"steps": [{"setWeight": 40}, {"pause": {"duration": "1s"}}]});
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let limit = Duration::from_secs(60);
    let first = wait_for_within(&cluster, "web", "Healthy", limit, healthy).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.28", "resources": {"requests": {"cpu": "100m"}}}
            ]}}}})),
        )
        .await
        .unwrap();
    let done = wait_for_within(&cluster, "web", "promoted to the new pods", limit, |o| {
        healthy(o) && o["status"]["stableRS"] != stable.as_str()
    })
    .await;
    assert_eq!(done["status"]["currentStepIndex"], 2);
    assert_eq!(
        done["metadata"]["annotations"]["rollout.argoproj.io/revision"],
        "2"
    );
    drop(release);
}

#[test]
fn the_dashboard_configmap_holds_the_dashboard() {
    let Some(helm) = helm() else { return };
    let objects = template(&helm, "monitoring", &["metrics.dashboard.enabled=true"]);
    let configmap = find(&objects, "ConfigMap");
    assert_eq!(configmap["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(chart().join("dashboards/rollgate.json")).unwrap(),
    )
    .unwrap();
    let held: Value = serde_json::from_str(
        configmap["data"]["rollgate.json"]
            .as_str()
            .expect("the dashboard as text"),
    )
    .expect("the ConfigMap holds the dashboard's JSON");
    assert_eq!(held, shipped);
}

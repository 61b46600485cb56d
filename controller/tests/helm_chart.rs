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

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::{ApiResource, Scope};
use rollgate_testkit::{Cluster, RollgateController};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use support::{CONTROLLER, healthy, rollout, wait_for_within};

/// The chart in the repository.
fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/rollgate")
}

/// Helm's binary; `None` (the test skips) without `ROLLGATE_HELM`, except
/// under CI, which must run these tests.
fn helm() -> Option<PathBuf> {
    match std::env::var_os("ROLLGATE_HELM") {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the chart tests: ROLLGATE_CHARTS=1 scripts/cluster up, then scripts/cluster env"
            );
            eprintln!("skipped: needs ROLLGATE_HELM (ROLLGATE_CHARTS=1 scripts/cluster env)");
            None
        }
    }
}

/// Runs Helm with `args`, in a Helm home of its own (no repositories, no
/// plugins, nothing of the user's).
fn run_helm(helm: &Path, args: &[&str]) -> Output {
    let home = std::env::temp_dir().join("rollgate-helm-home");
    Command::new(helm)
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm")
}

/// Helm's standard output; panics with its error output when it fails.
fn helm_ok(helm: &Path, args: &[&str]) -> String {
    let output = run_helm(helm, args);
    assert!(
        output.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("helm prints UTF-8")
}

/// `helm template` of the chart with `--set` values, as objects.
fn template(helm: &Path, namespace: &str, sets: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec![
        "template",
        "rollgate",
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    objects(&helm_ok(helm, &args))
}

/// The objects of a multi-document YAML text (empty documents left out).
fn objects(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).expect("helm prints YAML"))
        .filter(|object| !object.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} among {:?}", kinds(objects)))
}

fn kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// `object` read as the Kubernetes type `T` and written back is `object`
/// again: every field has the type its kind gives it, and none is unknown
/// to the kind (it would be dropped on the way).
fn reads_as<T: DeserializeOwned + serde::Serialize>(object: &Value) {
    let what = format!("{} {}", object["kind"], object["metadata"]["name"]);
    let typed: T = serde_path_to_error::deserialize(object)
        .unwrap_or_else(|e| panic!("{what}: {}: {e}", e.path()));
    let back = serde_json::to_value(&typed).unwrap();
    if let Some(path) = first_difference(object, &back, String::new()) {
        panic!("{what}: {path} is not a field of its kind (or has another shape)");
    }
}

/// Where `left` has something `right` lacks or holds differently.
fn first_difference(left: &Value, right: &Value, path: String) -> Option<String> {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => l.iter().find_map(|(key, value)| {
            let path = format!("{path}.{key}");
            match r.get(key) {
                Some(other) => first_difference(value, other, path),
                None => Some(path),
            }
        }),
        (Value::Array(l), Value::Array(r)) if l.len() == r.len() => l
            .iter()
            .zip(r)
            .enumerate()
            .find_map(|(i, (a, b))| first_difference(a, b, format!("{path}[{i}]"))),
        (l, r) if l == r => None,
        _ => Some(path),
    }
}

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
            "--qps=40",
            "--burst=80",
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
        ],
    );
    let args = args(&set);
    for flag in [
        "--leader-elect=false",
        "--namespace=shop",
        "--instance-id=blue",
        "--log-format=text",
        "--metrics-port=9100",
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

/// A Helm release in the test's namespace, uninstalled when dropped (its
/// ClusterRole and ClusterRoleBinding are not the namespace's).
struct Release {
    helm: PathBuf,
    name: String,
    namespace: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = run_helm(
            &self.helm,
            &[
                "uninstall",
                &self.name,
                "--namespace",
                &self.namespace,
                "--wait",
                "--timeout",
                "60s",
            ],
        );
    }
}

/// The chart copied with Argo's CRDs in its crds/ (charts/rollgate/crds.sh).
fn chart_with_crds(dir: &Path) -> PathBuf {
    let copy = dir.join("rollgate");
    let status = Command::new("cp")
        .args(["-r", chart().to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .expect("cp");
    assert!(status.success());
    let output = Command::new(copy.join("crds.sh"))
        .args(["--into", copy.join("crds").to_str().unwrap()])
        .output()
        .expect("run crds.sh");
    assert!(
        output.status.success(),
        "crds.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    copy
}

/// Every rendered object, created as a dry run with the API server's strict
/// field validation: valid for its kind as the API server sees it.
async fn dry_run(cluster: &Cluster, objects: &[Value]) {
    let discovery = kube::Discovery::new(cluster.client.clone())
        .run()
        .await
        .expect("discovery");
    for object in objects {
        let (group, version) = object["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .unwrap_or(("", object["apiVersion"].as_str().unwrap()));
        let gvk =
            kube::api::GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap());
        let (resource, capabilities): (ApiResource, _) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("the API server serves no {gvk:?}"));
        let api: Api<DynamicObject> = if capabilities.scope == Scope::Namespaced {
            Api::namespaced_with(cluster.client.clone(), &cluster.namespace, &resource)
        } else {
            Api::all_with(cluster.client.clone(), &resource)
        };
        let name = object["metadata"]["name"].as_str().unwrap();
        let params = PatchParams::apply("rollgate-chart-test")
            .dry_run()
            .validation_strict();
        api.patch(name, &params, &Patch::Apply(object))
            .await
            .unwrap_or_else(|e| panic!("{} {name}: {e}", object["kind"]));
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

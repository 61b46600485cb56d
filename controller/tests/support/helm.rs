//! Helm for the chart tests: the binary (`ROLLGATE_HELM`), its runs in a
//! home of their own, its YAML output as objects, releases uninstalled when
//! dropped, and checks of rendered objects against their Kubernetes types
//! and the API server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiResource, Scope};
use rollgate_testkit::Cluster;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The chart in the repository.
pub(crate) fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/rollgate")
}

/// Helm's binary; `None` (the test skips) without `ROLLGATE_HELM`, except
/// under CI, which must run these tests.
pub(crate) fn helm() -> Option<PathBuf> {
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
pub(crate) fn run_helm(helm: &Path, args: &[&str]) -> Output {
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
pub(crate) fn helm_ok(helm: &Path, args: &[&str]) -> String {
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
pub(crate) fn template(helm: &Path, namespace: &str, sets: &[&str]) -> Vec<Value> {
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
pub(crate) fn objects(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).expect("helm prints YAML"))
        .filter(|object| !object.is_null())
        .collect()
}

pub(crate) fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} among {:?}", kinds(objects)))
}

pub(crate) fn kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// `object` read as the Kubernetes type `T` and written back is `object`
/// again: every field has the type its kind gives it, and none is unknown
/// to the kind (it would be dropped on the way).
pub(crate) fn reads_as<T: DeserializeOwned + serde::Serialize>(object: &Value) {
    let what = format!("{} {}", object["kind"], object["metadata"]["name"]);
    let typed: T = serde_path_to_error::deserialize(object)
        .unwrap_or_else(|e| panic!("{what}: {}: {e}", e.path()));
    let back = serde_json::to_value(&typed).unwrap();
    if let Some(path) = first_difference(object, &back, String::new()) {
        panic!("{what}: {path} is not a field of its kind (or has another shape)");
    }
}

/// Where `left` has something `right` lacks or holds differently.
pub(crate) fn first_difference(left: &Value, right: &Value, path: String) -> Option<String> {
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

/// A Helm release in the test's namespace, uninstalled when dropped (its
/// ClusterRole and ClusterRoleBinding are not the namespace's).
pub(crate) struct Release {
    pub(crate) helm: PathBuf,
    pub(crate) name: String,
    pub(crate) namespace: String,
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
pub(crate) fn chart_with_crds(dir: &Path) -> PathBuf {
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
pub(crate) async fn dry_run(cluster: &Cluster, objects: &[Value]) {
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

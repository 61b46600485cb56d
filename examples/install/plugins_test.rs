//! `examples/install/plugins.sh`: from three plugin binaries (stand-ins
//! here; the script builds the real ones without `--binaries`), the
//! checksums, the two `argo-rollouts-config` ConfigMaps, the values for
//! Argo's Helm chart and the RBAC, each read back and checked; bad
//! arguments refused by name. With `ROLLGATE_HELM` and
//! `ROLLGATE_ARGO_ROLLOUTS_CHART` (Argo Rollouts' chart, `argo-rollouts`,
//! which `ROLLGATE_CHARTS=1 scripts/cluster up` fetches and `scripts/cluster
//! env` exports), the values are rendered with that chart and the
//! controller's ConfigMap, init container and RBAC checked in its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize as _;
use serde_json::{Value, json};

const PLUGINS: [(&str, &str); 3] = [
    ("rollgate-gatewayapi", "argoproj-labs/gatewayAPI"),
    ("rollgate-nginx", "rollgate/nginx"),
    ("rollgate-istio", "rollgate/istio"),
];

const IMAGE: &str = "registry.example/rollgate-plugins:0.1.0";
const RELEASES: &str = "https://downloads.example/rollgate/v0.1.0";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install/plugins.sh")
}

fn run(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run plugins.sh")
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no release name for {other}"),
    }
}

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn objects(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).expect("YAML"))
        .filter(|object| !object.is_null())
        .collect()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Stand-in binaries (distinct contents) and the script's output for them.
struct Installed {
    _dir: tempfile::TempDir,
    out: PathBuf,
    checksums: Vec<String>,
}

fn install() -> Installed {
    install_with(&[])
}

/// [`install`] with more arguments for the script.
fn install_with(more: &[&str]) -> Installed {
    let dir = tempfile::tempdir().unwrap();
    let binaries = dir.path().join("binaries");
    std::fs::create_dir(&binaries).unwrap();
    let mut checksums = Vec::new();
    for (binary, _) in PLUGINS {
        let contents = format!("#!/bin/sh\necho {binary}\n");
        std::fs::write(binaries.join(binary), &contents).unwrap();
        checksums.push(sha256(contents.as_bytes()));
    }
    let out = dir.path().join("out");
    let output = run(&[
        "--binaries",
        binaries.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--image",
        IMAGE,
        "--release-url",
        &format!("{RELEASES}/"),
    ]
    .iter()
    .copied()
    .chain(more.iter().copied())
    .collect::<Vec<_>>());
    assert!(
        output.status.success(),
        "plugins.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Installed {
        _dir: dir,
        out,
        checksums,
    }
}

/// The registrations Argo reads from a ConfigMap's `trafficRouterPlugins`.
fn registrations(configmap: &Value) -> Value {
    assert_eq!(configmap["kind"], "ConfigMap");
    assert_eq!(configmap["metadata"]["name"], "argo-rollouts-config");
    let text = configmap["data"]["trafficRouterPlugins"]
        .as_str()
        .expect("trafficRouterPlugins is a string, as Argo reads it");
    serde_yaml_ng::from_str(text).expect("trafficRouterPlugins holds YAML")
}

fn expected(installed: &Installed, location: impl Fn(&str) -> String) -> Value {
    PLUGINS
        .iter()
        .zip(&installed.checksums)
        .map(|((binary, name), sum)| {
            json!({"name": name, "location": location(binary), "sha256": sum})
        })
        .collect()
}

fn file_location(binary: &str) -> String {
    format!("file:///plugins/{binary}")
}

#[test]
fn binaries_are_published_with_their_checksums() {
    let installed = install();
    let sums = read(&installed.out, "SHA256SUMS");
    let lines: Vec<String> = PLUGINS
        .iter()
        .zip(&installed.checksums)
        .map(|((binary, _), sum)| format!("{sum}  {binary}-linux-{}", arch()))
        .collect();
    assert_eq!(sums.lines().collect::<Vec<_>>(), lines);
    for (binary, _) in PLUGINS {
        let published = installed.out.join(format!("bin/{binary}-linux-{}", arch()));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&published).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o755, "{binary}");
    }
}

#[test]
fn the_configmaps_register_the_three_plugins_with_their_checksums() {
    let installed = install();
    let file = objects(&read(&installed.out, "argo-rollouts-config.file.yaml"));
    assert_eq!(file.len(), 1);
    assert_eq!(file[0]["metadata"]["namespace"], "argo-rollouts");
    assert_eq!(registrations(&file[0]), expected(&installed, file_location));
    let https = objects(&read(&installed.out, "argo-rollouts-config.https.yaml"));
    assert_eq!(
        registrations(&https[0]),
        expected(&installed, |binary| format!(
            "{RELEASES}/{binary}-linux-{}",
            arch()
        ))
    );
}

#[test]
fn the_values_install_the_plugins_with_an_init_container() {
    let installed = install();
    let values = objects(&read(&installed.out, "argo-rollouts-values.yaml"));
    let controller = &values[0]["controller"];
    // The keys Argo's chart documents under `controller`: lists of
    // initContainers, volumes, volumeMounts and trafficRouterPlugins.
    let keys: Vec<&String> = controller.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "initContainers",
            "trafficRouterPlugins",
            "volumeMounts",
            "volumes"
        ]
    );
    let init = &controller["initContainers"][0];
    assert_eq!(init["image"], IMAGE);
    assert_eq!(
        init["command"],
        json!(["cp", "-a", "/rollgate/plugins/.", "/plugins/"])
    );
    assert_eq!(
        init["volumeMounts"],
        json!([{"name": "rollgate-plugins", "mountPath": "/plugins"}])
    );
    assert_eq!(
        controller["volumes"],
        json!([{"name": "rollgate-plugins", "emptyDir": {}}])
    );
    assert_eq!(
        controller["volumeMounts"],
        json!([{"name": "rollgate-plugins", "mountPath": "/plugins", "readOnly": true}])
    );
    assert_eq!(
        controller["trafficRouterPlugins"],
        expected(&installed, file_location)
    );
    // The patch for an installation from Argo's manifests: the same init
    // container, volume and mount, on Argo's container (`argo-rollouts`).
    let patch = objects(&read(&installed.out, "argo-rollouts-patch.yaml"));
    let pod = &patch[0]["spec"]["template"]["spec"];
    assert_eq!(pod["initContainers"], controller["initContainers"]);
    assert_eq!(pod["volumes"], controller["volumes"]);
    assert_eq!(
        pod["containers"],
        json!([{"name": "argo-rollouts", "volumeMounts": controller["volumeMounts"]}])
    );
}

/// `--metrics-port`: each plugin's registration, in both ConfigMaps and
/// the chart values, passes `--metrics-addr` on a port of its own.
#[test]
fn metrics_ports_are_registered_as_plugin_args() {
    let installed = install_with(&["--metrics-port", "9102"]);
    let with_args = |mut registrations: Value| {
        for (i, registration) in registrations.as_array_mut().unwrap().iter_mut().enumerate() {
            registration["args"] = json!(["--metrics-addr", format!("0.0.0.0:{}", 9102 + i)]);
        }
        registrations
    };
    let file = objects(&read(&installed.out, "argo-rollouts-config.file.yaml"));
    assert_eq!(
        registrations(&file[0]),
        with_args(expected(&installed, file_location))
    );
    let https = objects(&read(&installed.out, "argo-rollouts-config.https.yaml"));
    assert_eq!(registrations(&https[0])[2]["args"][1], "0.0.0.0:9104");
    let values = objects(&read(&installed.out, "argo-rollouts-values.yaml"));
    assert_eq!(
        values[0]["controller"]["trafficRouterPlugins"],
        with_args(expected(&installed, file_location))
    );
    // Without the flag, no args: the plugins serve no metrics.
    let plain = install();
    let file = objects(&read(&plain.out, "argo-rollouts-config.file.yaml"));
    assert!(registrations(&file[0])[0].get("args").is_none());
}

#[test]
fn the_rbac_is_the_plugins_own() {
    let installed = install();
    let rbac = objects(&read(&installed.out, "rbac.yaml"));
    for (binary, _) in PLUGINS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("rbac/{binary}.yaml"));
        for object in objects(&std::fs::read_to_string(path).unwrap()) {
            assert!(rbac.contains(&object), "{binary}: {object} missing");
        }
    }
    assert_eq!(rbac.len(), 6, "a ClusterRole and its binding per plugin");
}

#[test]
fn bad_arguments_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().to_str().unwrap();
    for (args, message) in [
        (
            vec!["--plugin-dir", "plugins"],
            "--plugin-dir must be an absolute path, found 'plugins'",
        ),
        (vec!["--out"], "--out needs a value"),
        (
            vec!["--metrics-port", "9o"],
            "--metrics-port must be a port number from 1 to 65533, found '9o'",
        ),
        (
            vec!["--metrics-port", "65534"],
            "--metrics-port must be a port number from 1 to 65533, found '65534'",
        ),
        (vec!["--bogus"], "unknown argument '--bogus' (see --help)"),
        (
            vec!["--binaries", empty, "--out", empty],
            "no rollgate-gatewayapi in",
        ),
    ] {
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--release-url URL"));
}

/// Argo's chart rendered with the values: its ConfigMap registers the
/// plugins, its controller's pod copies them in and mounts them, and the
/// plugins' RBAC binds the ServiceAccount its ClusterRoleBinding binds.
#[test]
fn argos_chart_renders_the_values() {
    let (Some(helm), Some(chart)) = (
        std::env::var_os("ROLLGATE_HELM"),
        std::env::var_os("ROLLGATE_ARGO_ROLLOUTS_CHART"),
    ) else {
        eprintln!(
            "skipped: needs ROLLGATE_HELM and ROLLGATE_ARGO_ROLLOUTS_CHART (ROLLGATE_CHARTS=1 scripts/cluster up)"
        );
        return;
    };
    let installed = install();
    let values = installed.out.join("argo-rollouts-values.yaml");
    let output = Command::new(helm)
        .args(["template", "argo-rollouts"])
        .arg(chart)
        .args(["--namespace", "argo-rollouts", "--values"])
        .arg(&values)
        .output()
        .expect("run helm");
    assert!(
        output.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = objects(&String::from_utf8(output.stdout).unwrap());
    let configmap = rendered
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "argo-rollouts-config")
        .expect("the chart's argo-rollouts-config");
    assert_eq!(
        registrations(configmap),
        expected(&installed, file_location)
    );
    let deployment = rendered
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "argo-rollouts")
        .expect("the controller's Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let values = objects(&read(&installed.out, "argo-rollouts-values.yaml"));
    assert_eq!(
        pod["initContainers"],
        values[0]["controller"]["initContainers"]
    );
    assert_eq!(pod["initContainers"][0]["name"], "rollgate-plugins");
    assert_eq!(pod["initContainers"][0]["image"], IMAGE);
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "rollgate-plugins", "emptyDir": {}})),
        "{}",
        pod["volumes"]
    );
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    assert!(
        mounts.contains(
            &json!({"name": "rollgate-plugins", "mountPath": "/plugins", "readOnly": true})
        ),
        "{mounts:?}"
    );
    // The plugins' RBAC binds the account the chart runs its controller as.
    let account =
        json!({"kind": "ServiceAccount", "name": "argo-rollouts", "namespace": "argo-rollouts"});
    assert_eq!(pod["serviceAccountName"], account["name"]);
    let binding = rendered
        .iter()
        .find(|o| o["kind"] == "ClusterRoleBinding" && o["metadata"]["name"] == "argo-rollouts")
        .expect("the controller's ClusterRoleBinding");
    assert_eq!(binding["subjects"], json!([account]));
    for object in objects(&read(&installed.out, "rbac.yaml")) {
        if object["kind"] == "ClusterRoleBinding" {
            assert_eq!(object["subjects"], json!([account]), "{object}");
        }
    }
}

//! Seed 001 under Argo's controller with the Gateway API plugin installed
//! as `examples/install` describes: `plugins.sh` run on the plugin binaries
//! (with `--metrics-port`), the binaries copied into the plugin directory as
//! its init container copies them, and `argo-rollouts-config` exactly as
//! the script wrote it (`file://` locations, `sha256`, `args`), in the
//! test's namespace. The plugin's `/metrics` then counts the calls Argo made
//! and the route patches the API server's audit log recorded.
//!
//! Then the same through Argo's own Helm chart: `helm install` of Argo
//! Rollouts' chart with the script's values, and Argo's controller run as
//! that installation's Deployment (README, "The real-cluster tier").

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use rollgate_e2e::{GATEWAY_API, Scene, Under};
use rollgate_testkit::scrape::{Samples, free_port, http_get};
use rollgate_testkit::{kubeconfig_with_token, workspace_binary};
use serde_json::{Value, json};

use crate::gateway_api::{gateway_for, seed_001, seed_001_steps, set_up};

const PLUGINS: [&str; 3] = ["rollgate-gatewayapi", "rollgate-nginx", "rollgate-istio"];

/// `examples/install/plugins.sh` with `args`; its output directory's files.
fn plugins_sh(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/install/plugins.sh");
    let output = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run plugins.sh");
    assert!(
        output.status.success(),
        "plugins.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port of 127.0.0.1 free with the two after it: `--metrics-port` gives
/// the three plugins one each.
fn three_free_ports() -> u16 {
    loop {
        let port = free_port();
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if port < 65533 && free(port + 1) && free(port + 2) {
            return port;
        }
    }
}

/// `plugins.sh` on the three plugins (`--binaries`, with `more`
/// arguments) into `work/install`, and what its init container does: the
/// published binaries copied into the plugin directory, `work/plugins`,
/// under their plain names. Returns the two directories.
fn install_plugins(work: &Path, more: &[&str]) -> (PathBuf, PathBuf) {
    let built: Vec<_> = PLUGINS.iter().map(|b| workspace_binary(b, b)).collect();
    let binaries = built[0].parent().expect("the binaries' directory");
    let out = work.join("install");
    let plugin_dir = work.join("plugins");
    let mut args = vec![
        "--binaries",
        binaries.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plugin-dir",
        plugin_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    plugins_sh(&args);
    std::fs::create_dir(&plugin_dir).unwrap();
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    for binary in PLUGINS {
        let published = out.join(format!("bin/{binary}-linux-{arch}"));
        std::fs::copy(published, plugin_dir.join(binary)).expect("copy a published binary");
    }
    (out, plugin_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_under_argo_with_the_plugins_installed_by_plugins_sh() {
    let Some(mut s) = set_up(
        "seed-001-installed",
        Under::Argo,
        seed_001_steps(),
        &[],
        true,
    )
    .await
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let port = three_free_ports();
    let (out, plugin_dir) = install_plugins(work.path(), &["--metrics-port", &port.to_string()]);
    let configmap = std::fs::read_to_string(out.join("argo-rollouts-config.file.yaml")).unwrap();
    let configmap: Value = serde_yaml_ng::from_str(&configmap).expect("the ConfigMap is YAML");
    let registrations = configmap["data"]["trafficRouterPlugins"]
        .as_str()
        .expect("trafficRouterPlugins");
    assert!(registrations.contains("sha256: "), "{registrations}");
    assert!(
        registrations.contains(&format!(
            "file://{}/rollgate-gatewayapi",
            plugin_dir.display()
        )),
        "{registrations}"
    );
    s.start_argo_registered(registrations).await;
    let gateway = gateway_for(&s);

    seed_001(&s, &gateway).await;

    // The plugin Argo started with the registration's `args` serves its
    // metrics; its patches of the route are the audit log's.
    let (status, body) = http_get(port, "/metrics")
        .await
        .expect("the plugin serves /metrics on the registered port");
    assert_eq!(status, 200, "{body}");
    let scraped = Samples::parse(&body);
    let calls = "rollgate_plugin_call_duration_seconds_count";
    assert!(
        scraped.sum(calls, &[("method", "SetWeight"), ("result", "ok")]) >= 3.0,
        "{body}"
    );
    assert!(scraped.sum(calls, &[("method", "Init")]) >= 1.0, "{body}");
    s.cluster.audit_barrier().await;
    let ns = s.cluster.namespace.clone();
    let patches = scraped.sum(
        "rollgate_plugin_k8s_request_total",
        &[
            ("kind", "httproutes"),
            ("namespace", &ns),
            ("name", "web"),
            ("verb", "Patch"),
        ],
    );
    let audited = s
        .cluster
        .audited_requests("httproutes", "web")
        .into_iter()
        .filter(|r| r.verb == "patch" && r.user_agent == Under::Argo.route_writer(GATEWAY_API))
        .count();
    assert!(patches >= 3.0, "{body}");
    assert_eq!(
        patches, audited as f64,
        "the plugin's count is the audit log's"
    );
}

/// Seed 001 under Argo's controller installed by Argo Rollouts' own Helm
/// chart (`$ROLLGATE_ARGO_ROLLOUTS_CHART`) with the values `plugins.sh`
/// wrote: `helm install` into the test's namespace, the objects Helm
/// created checked against the values, and Argo's controller run as that
/// installation's Deployment runs it (kwok runs no containers): the
/// container's args, a token of the chart's ServiceAccount (Argo under the
/// chart's Role, the plugin it starts under the plugins' RBAC bound to
/// that account), the ConfigMap Helm wrote, the binaries where its
/// `file://` locations say, as the init container puts them.
///
/// Two values are this installation's own: `installCRDs: false` (the tier
/// has Argo's CRDs) and `clusterInstall: false`, the chart's namespaced
/// mode (a Role and `--namespaced`), so that this controller takes no
/// other test's Rollouts; the cluster mode's ClusterRole and binding are
/// checked by rendering (`examples/install/plugins_test.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_under_argo_installed_by_argos_helm_chart() {
    let Some(mut s) = set_up("seed-001-chart", Under::Argo, seed_001_steps(), &[], true).await
    else {
        return;
    };
    let (Some(helm), Some(chart)) = (
        std::env::var_os("ROLLGATE_HELM"),
        std::env::var_os("ROLLGATE_ARGO_ROLLOUTS_CHART"),
    ) else {
        eprintln!(
            "skipped: needs ROLLGATE_CHARTS=1 scripts/cluster up (Helm and Argo's chart; \
             the tier leaves the chart out, with a warning, when the Go module proxy does not serve it)"
        );
        return;
    };
    let ns = s.cluster.namespace.clone();
    let work = tempfile::tempdir().unwrap();
    let (out, plugin_dir) = install_plugins(work.path(), &[]);
    let values_file = out.join("argo-rollouts-values.yaml");
    let values: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&values_file).unwrap()).unwrap();
    let own = work.path().join("installation.yaml");
    let own_values = json!({
        "installCRDs": false,
        "clusterInstall": false,
        "controller": {"containerPorts": {"healthz": free_port(), "metrics": free_port()}}
    });
    std::fs::write(&own, own_values.to_string()).unwrap();
    let output = Command::new(helm)
        .args(["install", "argo-rollouts"])
        .arg(chart)
        .args(["--namespace", &ns, "--values"])
        .arg(&values_file)
        .arg("--values")
        .arg(&own)
        .output()
        .expect("run helm");
    assert!(
        output.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // What Helm created: the controller's Deployment with the values' init
    // container, volume and mount, its ServiceAccount, Role and binding, and
    // argo-rollouts-config with the values' registrations.
    let deployment = installed(&s, "apps/v1", "Deployment", "argo-rollouts").await;
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "argo-rollouts");
    let init = &values["controller"]["initContainers"][0];
    for (field, value) in init.as_object().unwrap() {
        assert_eq!(
            &pod["initContainers"][0][field], value,
            "initContainers[0].{field}"
        );
    }
    let volume = &values["controller"]["volumes"][0];
    assert!(
        pod["volumes"].as_array().unwrap().contains(volume),
        "{}",
        pod["volumes"]
    );
    let container = &pod["containers"][0];
    assert_eq!(container["name"], "argo-rollouts");
    let mount = &values["controller"]["volumeMounts"][0];
    assert!(
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .contains(mount),
        "{}",
        container["volumeMounts"]
    );
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    assert!(args.contains(&"--namespaced".to_owned()), "{args:?}");
    installed(&s, "v1", "ServiceAccount", "argo-rollouts").await;
    installed(&s, "rbac.authorization.k8s.io/v1", "Role", "argo-rollouts").await;
    let binding = installed(
        &s,
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "argo-rollouts",
    )
    .await;
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "argo-rollouts", "namespace": ns}])
    );
    let configmap = installed(&s, "v1", "ConfigMap", "argo-rollouts-config").await;
    let registrations: Value = serde_yaml_ng::from_str(
        configmap["data"]["trafficRouterPlugins"]
            .as_str()
            .expect("trafficRouterPlugins"),
    )
    .expect("trafficRouterPlugins holds YAML");
    assert_eq!(registrations, values["controller"]["trafficRouterPlugins"]);
    assert_eq!(
        registrations[0]["location"],
        format!("file://{}/rollgate-gatewayapi", plugin_dir.display())
    );

    // The plugins' RBAC (`rbac.yaml`) bound to the chart's ServiceAccount,
    // in this namespace as the installation is.
    let rbac = std::fs::read_to_string(out.join("rbac.yaml")).unwrap();
    let role = rbac
        .split("\n---")
        .map(|document| serde_yaml_ng::from_str::<Value>(document).expect("YAML"))
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "rollgate-gatewayapi")
        .expect("the Gateway API plugin's ClusterRole");
    s.cluster
        .create(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "rollgate-gatewayapi"}, "rules": role["rules"]
        }))
        .await;
    s.cluster
        .create(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "rollgate-gatewayapi"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "rollgate-gatewayapi"},
            "subjects": [{"kind": "ServiceAccount", "name": "argo-rollouts", "namespace": ns}]
        }))
        .await;

    // The pod's credentials: the ServiceAccount's token, its namespace.
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"expirationSeconds": 3600}})).unwrap();
    let token = Api::<ServiceAccount>::namespaced(s.cluster.client.clone(), &ns)
        .create_token_request("argo-rollouts", &PostParams::default(), &request)
        .await
        .expect("a token for the chart's ServiceAccount")
        .status
        .expect("the token request's status")
        .token;
    let kubeconfig = kubeconfig_with_token(&token, None, &work.path().join("kubeconfig"));
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    for context in config["contexts"].as_array_mut().unwrap() {
        context["context"]["namespace"] = json!(ns);
    }
    std::fs::write(&kubeconfig, config.to_string()).unwrap();
    s.start_argo_installed(&args, &kubeconfig);
    let gateway = gateway_for(&s);

    seed_001(&s, &gateway).await;
}

/// Object `name` as installed in the test's namespace, made by Helm's
/// release `argo-rollouts`.
async fn installed(s: &Scene, api_version: &str, kind: &str, name: &str) -> Value {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let object = s
        .cluster
        .api(group, version, kind)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("the chart's {kind} {name}: {e}"));
    let object = serde_json::to_value(object).unwrap();
    assert_eq!(
        object["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm",
        "{kind} {name}"
    );
    assert_eq!(
        object["metadata"]["annotations"]["meta.helm.sh/release-name"], "argo-rollouts",
        "{kind} {name}"
    );
    object
}

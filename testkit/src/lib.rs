//! Test support for the workspace's tests.
//!
//! - [`fixtures`]: table tests from YAML files, one runner for every router
//!   (each supplies a small [`fixtures::Adapter`]).
//! - `mock_api` (feature `mock-api`): a scripted API server to assert a
//!   router's requests exactly.
//! - `bench` (feature `bench`): what the side-by-side benchmarks share:
//!   benchmark namespaces of routes and rollouts, waits, audit-log request
//!   counts, resident set and CPU time from `/proc`.
//! - `heap` (feature `heap`): heap footprints counted by dhat's allocator,
//!   for the memory benchmarks.
//! - `prometheus` and `exporter` (feature `prometheus`): a real Prometheus
//!   on 127.0.0.1 scraping, every second, an exporter of request counters
//!   per pod-template-hash whose error ratios the test sets at run time.
//! - `faults` (feature `faults`): a fault-injecting proxy in front of
//!   kube-apiserver, an invariant watcher for rollouts under faults, other
//!   writers of a route (Argo CD's apply, `kubectl edit`), and restarts of
//!   the cluster's components.
//! - [`scrape`]: one `GET` of a loopback endpoint, and the samples of a
//!   Prometheus text exposition.
//! - The crate root: the real-cluster tier (`scripts/cluster up`, then
//!   `eval "$(scripts/cluster env)"`): a namespace per test on the real API
//!   server, write counts from its audit log, and the real Argo Rollouts
//!   controller with plugins registered as users register them. Those tests
//!   run when `ROLLGATE_E2E=1`; [`Cluster::new`] returns `None` (and says
//!   why) otherwise; [`RollgateController`] runs `rollgate-controller`
//!   for a test's namespace, [`kubectl_argo_rollouts`] the real kubectl
//!   plugin, and [`workspace_binary`] builds another package's binary.
#![warn(missing_docs)]

#[cfg(feature = "bench")]
pub mod bench;
mod binaries;
#[cfg(feature = "prometheus")]
pub mod exporter;
#[cfg(feature = "faults")]
pub mod faults;
pub mod fixtures;
#[cfg(feature = "heap")]
pub mod heap;
#[cfg(feature = "mock-api")]
pub mod mock_api;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod rollgate;
pub mod scrape;
pub mod web;

pub use binaries::workspace_binary;
pub use rollgate::{RollgateController, kubeconfig_with_token, kubectl_argo_rollouts};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// A namespace of its own on the real cluster, deleted when dropped.
pub struct Cluster {
    /// A client from `KUBECONFIG`.
    pub client: Client,
    /// The test's namespace.
    pub namespace: String,
}

impl Cluster {
    /// A fresh namespace `<prefix>-<random>` when `ROLLGATE_E2E=1`; `None`
    /// (after saying so on stderr) otherwise.
    ///
    /// # Panics
    ///
    /// With `ROLLGATE_E2E=1` but no working cluster: a misconfigured run
    /// must fail, not pass vacuously.
    pub async fn new(prefix: &str) -> Option<Self> {
        if std::env::var("ROLLGATE_E2E").as_deref() != Ok("1") {
            eprintln!("skipped: needs ROLLGATE_E2E=1 and a KUBECONFIG (scripts/cluster up)");
            return None;
        }
        let client = Client::try_default()
            .await
            .expect("ROLLGATE_E2E=1 needs a working KUBECONFIG");
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let namespace = format!("{prefix}-{suffix:x}");
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap(),
            )
            .await
            .expect("create the test namespace");
        Some(Self { client, namespace })
    }

    /// The API for `kind` in the test's namespace, as untyped objects.
    pub fn api(&self, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    /// Creates `object` (JSON with apiVersion and kind) in the test's namespace.
    ///
    /// # Panics
    ///
    /// When the API server refuses it.
    pub async fn create(&self, object: Value) -> DynamicObject {
        let api_version = object["apiVersion"].as_str().expect("apiVersion");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = object["kind"].as_str().expect("kind");
        self.api(group, version, kind)
            .create(
                &PostParams::default(),
                &serde_json::from_value(object.clone()).unwrap(),
            )
            .await
            .unwrap_or_else(|e| panic!("create {kind}: {e}"))
    }

    /// The verbs of the requests on object `name` of `resource` (plural, e.g.
    /// `httproutes`) in the test's namespace, from the API server's audit
    /// log (which records Gateway API, Ingress, Istio and Argo objects).
    pub fn audited(&self, resource: &str, name: &str) -> Vec<String> {
        self.audited_requests(resource, name)
            .into_iter()
            .map(|r| r.verb)
            .collect()
    }

    /// The requests on object `name` of `resource` in the test's namespace,
    /// from the API server's audit log: verb, user agent and whether it was
    /// a dry run, in order.
    pub fn audited_requests(&self, resource: &str, name: &str) -> Vec<Audited> {
        let path = PathBuf::from(
            std::env::var("ROLLGATE_CLUSTER").expect("ROLLGATE_CLUSTER (scripts/cluster env)"),
        )
        .join("audit.log");
        std::fs::read_to_string(path)
            .expect("the API server's audit log")
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|e| {
                e["stage"] == "ResponseComplete"
                    && e["objectRef"]["resource"] == resource
                    && e["objectRef"]["namespace"] == self.namespace.as_str()
                    && e["objectRef"]["name"] == name
            })
            .map(|e| Audited {
                dry_run: e["requestURI"]
                    .as_str()
                    .is_some_and(|uri| uri.contains("dryRun=")),
                verb: e["verb"].as_str().unwrap_or_default().to_owned(),
                user_agent: e["userAgent"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// Returns once the audit log has recorded every request sent before
    /// the call: it writes an Ingress `audit-barrier` and waits for that
    /// write to be logged.
    ///
    /// # Panics
    ///
    /// When the write is not logged within 5 s.
    pub async fn audit_barrier(&self) {
        let before = self.audited("ingresses", "audit-barrier").len();
        let object = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "audit-barrier", "labels": {"n": before.to_string()}},
            "spec": {"defaultBackend": {"service": {"name": "none", "port": {"number": 80}}}}});
        self.api("networking.k8s.io", "v1", "Ingress")
            .patch(
                "audit-barrier",
                &PatchParams::apply("rollgate-testkit").force(),
                &Patch::Apply(&object),
            )
            .await
            .expect("write the audit barrier");
        for _ in 0..200 {
            if self.audited("ingresses", "audit-barrier").len() > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the audit log did not record the barrier write");
    }

    /// Installs the CustomResourceDefinitions in `files` (YAML, one CRD
    /// each) with a server-side apply, and waits until each is established
    /// (served). CRDs are cluster-wide: tests installing the same ones at
    /// once all succeed.
    ///
    /// # Panics
    ///
    /// When a file cannot be read or applied, or a CRD is not established
    /// within 30 s.
    pub async fn install_crds(&self, files: &[std::path::PathBuf]) {
        let crds = Api::<DynamicObject>::all_with(
            self.client.clone(),
            &ApiResource::from_gvk(&GroupVersionKind::gvk(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
            )),
        );
        for file in files {
            let name = file.display();
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{name}: {e}"));
            let crd: Value =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let crd_name = crd["metadata"]["name"].as_str().expect("metadata.name");
            crds.patch(
                crd_name,
                &PatchParams::apply("rollgate-testkit").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut waited = 0;
            loop {
                let stored = crds.get(crd_name).await.expect("the CRD just applied");
                let conditions = stored.data["status"]["conditions"].as_array().cloned();
                if conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
                {
                    break;
                }
                assert!(waited < 300, "{crd_name} not established after 30 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
                waited += 1;
            }
        }
    }

    /// A client that authenticates as a fresh ServiceAccount of the test's
    /// namespace holding only the ClusterRole in `rbac_file` (a YAML file
    /// with a ClusterRole, as in `examples/rbac/`), bound in this namespace.
    /// Tests run a router with it to show that the documented permissions
    /// are all it needs.
    ///
    /// # Panics
    ///
    /// When the file has no ClusterRole or the objects cannot be written.
    pub async fn client_with_role(&self, rbac_file: &std::path::Path) -> Client {
        Client::try_from(self.config_with_role(rbac_file).await)
            .expect("a client for the service account")
    }

    /// The configuration behind [`Self::client_with_role`], for code that
    /// builds its own client from it (as the routers do, with their user
    /// agent).
    ///
    /// # Panics
    ///
    /// As [`Self::client_with_role`].
    pub async fn config_with_role(&self, rbac_file: &std::path::Path) -> kube::Config {
        let text = std::fs::read_to_string(rbac_file).expect("the RBAC file");
        let mut role: Value = text
            .split("\n---")
            .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc).ok())
            .find(|doc| doc["kind"] == "ClusterRole")
            .expect("a ClusterRole in the RBAC file");
        // One role per test namespace, so that tests do not share it.
        let role_name = format!(
            "{}-{}",
            role["metadata"]["name"].as_str().unwrap(),
            self.namespace
        );
        role["metadata"]["name"] = json!(role_name);
        let roles = Api::<DynamicObject>::all_with(
            self.client.clone(),
            &ApiResource::from_gvk(&GroupVersionKind::gvk(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRole",
            )),
        );
        let account = "router";
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "router"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": self.namespace}]
        });
        // Called again in the same test, it reuses what it made.
        for (api, object) in [
            (roles, role),
            (
                self.api("", "v1", "ServiceAccount"),
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}),
            ),
            (
                self.api("rbac.authorization.k8s.io", "v1", "RoleBinding"),
                binding,
            ),
        ] {
            match api
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(object).unwrap(),
                )
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => panic!("RBAC set-up: {e}"),
            }
        }
        let request: k8s_openapi::api::authentication::v1::TokenRequest =
            serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
                .unwrap();
        let token = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
            self.client.clone(),
            &self.namespace,
        )
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .expect("a token for the service account")
        .status
        .expect("the token request's status")
        .token;
        let mut config = kube::Config::infer().await.expect("KUBECONFIG");
        config.auth_info = kube::config::AuthInfo {
            token: Some(secrecy::SecretString::from(token)),
            ..Default::default()
        };
        config
    }

    /// Starts the Argo Rollouts controller (`$ROLLGATE_ARGO_ROLLOUTS_CONTROLLER`)
    /// for this namespace only (`--namespaced`), with an
    /// `argo-rollouts-config` listing `plugins` as traffic routers, exactly
    /// as users register them (`file://` locations, `args`).
    ///
    /// # Panics
    ///
    /// When the ConfigMap cannot be written or the controller not started.
    pub async fn start_argo(&self, plugins: &[Plugin<'_>]) -> Argo {
        self.start_argo_with(plugins, None).await
    }

    /// [`Cluster::start_argo`] with the controller (and the plugin
    /// processes it starts) reading `kubeconfig` instead of the test's
    /// `KUBECONFIG`: one whose server is a fault proxy, for instance.
    ///
    /// # Panics
    ///
    /// As [`Cluster::start_argo`].
    pub async fn start_argo_with(
        &self,
        plugins: &[Plugin<'_>],
        kubeconfig: Option<&std::path::Path>,
    ) -> Argo {
        let mut entries = String::new();
        for p in plugins {
            entries.push_str(&format!(
                "- name: {}\n  location: file://{}\n",
                p.name, p.path
            ));
            if !p.args.is_empty() {
                entries.push_str("  args:\n");
                for a in p.args {
                    entries.push_str(&format!("    - {}\n", json!(a)));
                }
            }
        }
        self.start_argo_registered(&entries, kubeconfig).await
    }

    /// [`Cluster::start_argo_with`] with `argo-rollouts-config`'s
    /// `trafficRouterPlugins` as given: the registrations a user's
    /// ConfigMap holds (`sha256`, `args` and all), written as they are.
    ///
    /// # Panics
    ///
    /// As [`Cluster::start_argo`].
    pub async fn start_argo_registered(
        &self,
        entries: &str,
        kubeconfig: Option<&std::path::Path>,
    ) -> Argo {
        let bin = std::env::var("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER")
            .expect("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER (scripts/cluster env)");
        Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace)
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": "argo-rollouts-config"},
                    "data": {"trafficRouterPlugins": entries}
                }))
                .unwrap(),
            )
            .await
            .expect("write argo-rollouts-config");
        let args = [
            "--namespaced",
            "--leader-elect=false",
            "--loglevel",
            "debug",
            "--metricsPort",
            "0",
            "--healthzPort",
            "0",
            "--namespace",
            &self.namespace,
        ];
        self.spawn_argo(&bin, &args, kubeconfig)
    }

    /// Starts the Argo Rollouts controller as an installation's Deployment
    /// runs it: with that container's `args` as they are, reading
    /// `kubeconfig` (a service account's token, this namespace as its
    /// context's: what a pod's mounted token and namespace give), and the
    /// `argo-rollouts-config` the installation wrote in this namespace
    /// (`POD_NAMESPACE`), none written here.
    ///
    /// # Panics
    ///
    /// When the controller cannot be started.
    pub fn start_argo_installed(&self, args: &[String], kubeconfig: &std::path::Path) -> Argo {
        let bin = std::env::var("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER")
            .expect("ROLLGATE_ARGO_ROLLOUTS_CONTROLLER (scripts/cluster env)");
        self.spawn_argo(&bin, args, Some(kubeconfig))
    }

    /// Runs `bin` with `args` for this namespace, its log and plugin
    /// copies in a working directory of its own.
    fn spawn_argo(
        &self,
        bin: &str,
        args: &[impl AsRef<std::ffi::OsStr>],
        kubeconfig: Option<&std::path::Path>,
    ) -> Argo {
        let work = std::env::temp_dir().join(format!("rollgate-{}", self.namespace));
        std::fs::create_dir_all(&work).unwrap();
        let log = std::fs::File::create(work.join("controller.log")).unwrap();
        let mut command = Command::new(bin);
        if let Some(kubeconfig) = kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let child = command
            .args(args)
            .env("POD_NAMESPACE", &self.namespace)
            .current_dir(&work)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the Argo Rollouts controller");
        Argo { child, work }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let namespace = self.namespace.clone();
        // On a runtime and client of its own: the test's runtime may be
        // blocked in this drop. Best effort: the cluster is thrown away.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(client) = Client::try_default().await {
                    let api: Api<Namespace> = Api::all(client);
                    let _ = api.delete(&namespace, &Default::default()).await;
                }
            });
        })
        .join()
        .ok();
    }
}

/// One request from the API server's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    /// `get`, `patch`, `update`, ...
    pub verb: String,
    /// The `User-Agent` the request carried.
    pub user_agent: String,
    /// Whether it was a dry run (`dryRun=All`: validated, never stored).
    pub dry_run: bool,
}

/// A traffic-router plugin entry of `argo-rollouts-config`.
#[derive(Debug, Clone, Copy)]
pub struct Plugin<'a> {
    /// The name rollouts use under `trafficRouting.plugins`.
    pub name: &'a str,
    /// The plugin binary.
    pub path: &'a str,
    /// Its command-line arguments.
    pub args: &'a [&'a str],
}

/// A running Argo Rollouts controller; stopped when dropped, its log's tail
/// printed if the test is failing.
pub struct Argo {
    child: Child,
    work: PathBuf,
}

impl Argo {
    /// Its working directory (`plugin-bin/` holds the installed plugins).
    pub fn work_dir(&self) -> &std::path::Path {
        &self.work
    }

    /// Its process id (the parent of the plugin processes).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Argo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.work.join("controller.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- Argo Rollouts controller log (last 60 lines) ---");
            for line in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("{line}");
            }
        }
        // The controller copies every plugin binary into plugin-bin/ (debug
        // builds are ~170 MB each): never leave a copy behind.
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

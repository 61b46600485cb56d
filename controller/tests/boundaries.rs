//! Namespace and RBAC boundaries on the real cluster (`ROLLGATE_E2E=1`),
//! each binary running as a service account bound (in the test's
//! namespace) to exactly its documented ClusterRole in `examples/rbac/`:
//!
//! * `rollgate-controller`: a Rollout whose Gateway API config names a
//!   route in another namespace is refused with the Rollout, the field and
//!   the namespace named while `--route-namespaces` does not allow it;
//!   allowed by the operator but not by RBAC, the API server's 403 is the
//!   `TrafficRouting` condition; in both cases the route there is never
//!   written. Once the role is bound there too, the canary goes through
//!   that route, the user's rule left alone.
//! * `rollgate-gatewayapi` and `rollgate-istio`, as plugin processes
//!   (reading a kubeconfig with the token): weights through their own
//!   namespace's route work; a route in another namespace is refused by
//!   `--route-namespaces`, or else forbidden by RBAC; nothing changes there.
//! * The roles themselves: no router's role reads Secrets, and the
//!   controller's reads them only one by one (analysis arguments); none
//!   writes them.
//!
//! A canary through each router in its own namespace with these roles is
//! `traffic_routers.rs` (the controller), each router crate's
//! `real_apiserver.rs`, and `helm_chart.rs` (the chart's service account).

mod support;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use plugin_proto::{HostOptions, PluginRouter};
use rollgate_testkit::{Cluster, kubeconfig_with_token, workspace_binary};
use router_core::{ErrorKind, RolloutContext, TrafficRouter};
use serde_json::{Value, json};

use support::{
    Controller, condition, create_route_with_user_rule, healthy, rollout, services, user_rule_in,
    wait_for, weights,
};

fn rbac(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/rbac")
        .join(file)
}

/// The HTTPRoute `web` of `cluster`, whole.
async fn route_object(cluster: &Cluster) -> Value {
    let object = cluster
        .api("gateway.networking.k8s.io", "v1", "HTTPRoute")
        .get("web")
        .await
        .unwrap();
    serde_json::to_value(object).unwrap()
}

/// Creates the HTTPRoute `web` in `other`'s namespace: the user's rule
/// and a rule all on the Services of the Rollout in `rollouts`' namespace
/// (a backendRef names their namespace, as across namespaces it must).
async fn create_route_elsewhere(other: &Cluster, rollouts: &Cluster) {
    let ns = &rollouts.namespace;
    other
        .create(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                support::user_rule(),
                {"backendRefs": [{"name": "web-canary", "namespace": ns, "port": 80, "weight": 0},
                                 {"name": "web-stable", "namespace": ns, "port": 80, "weight": 100}]}]}}))
        .await;
}

/// Binds the ClusterRole that `Cluster::config_with_role` made for `of`
/// from `file` in `other`'s namespace too, for the same service account.
async fn bind_there_too(of: &Cluster, file: &str, other: &Cluster) {
    let text = std::fs::read_to_string(rbac(file)).unwrap();
    let role = text
        .split("\n---")
        .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc).ok())
        .find(|doc| doc["kind"] == "ClusterRole")
        .unwrap();
    let name = format!(
        "{}-{}",
        role["metadata"]["name"].as_str().unwrap(),
        of.namespace
    );
    other
        .create(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "router-from-elsewhere"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "router", "namespace": of.namespace}]
        }))
        .await;
}

/// No request of `agent` wrote object `name` of `resource` in `cluster`'s
/// namespace.
fn never_written(cluster: &Cluster, resource: &str, name: &str, agent: &str) {
    let writes: Vec<String> = cluster
        .audited_requests(resource, name)
        .into_iter()
        .filter(|r| {
            r.user_agent.starts_with(agent) && !matches!(r.verb.as_str(), "get" | "list" | "watch")
        })
        .map(|r| r.verb)
        .collect();
    assert!(
        writes.is_empty(),
        "{agent} wrote {resource} {}/{name}: {writes:?}",
        cluster.namespace
    );
}

/// Waits until the Rollout's `TrafficRouting` condition says `what`.
async fn traffic_condition(cluster: &Cluster, what: &str, says: impl Fn(&str) -> bool) -> String {
    let object = wait_for(cluster, "web", what, |o| {
        condition(o, "TrafficRouting")
            .and_then(|c| c["message"].as_str().map(&says))
            .unwrap_or(false)
    })
    .await;
    condition(&object, "TrafficRouting").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_route_in_another_namespace_needs_the_operators_leave_and_the_rbac() {
    let Some(cluster) = support::cluster("bound").await else {
        return;
    };
    let Some(other) = support::cluster("bound-gw").await else {
        return;
    };
    services(&cluster).await;
    create_route_elsewhere(&other, &cluster).await;
    let before = route_object(&other).await;
    let mut canary = json!({"steps": [{"setWeight": 40}, {"pause": {}}]});
    canary["canaryService"] = json!("web-canary");
    canary["stableService"] = json!("web-stable");
    canary["trafficRouting"] = json!({"plugins": {"argoproj-labs/gatewayAPI":
        {"httpRoute": "web", "namespace": other.namespace, "verifyWeight": false}}});

    // The operator allows the Rollout's own namespace only.
    let controller = Controller::start_with_role_and(&cluster, &["--route-namespaces="], &[]).await;
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let message = traffic_condition(&cluster, "refused by --route-namespaces", |m| {
        m.contains("is not allowed")
    })
    .await;
    let expected = format!(
        "rollout {}/web: spec.strategy.canary.trafficRouting.plugins[\"argoproj-labs/gatewayAPI\"].namespace: \
         namespace \"{}\" is not allowed: this router may touch only the rollout's own namespace \"{}\"",
        cluster.namespace, other.namespace, cluster.namespace
    );
    assert!(message.contains(&expected), "{message}");
    drop(controller);
    assert!(
        other
            .audited_requests("httproutes", "web")
            .iter()
            .all(|r| !r.user_agent.starts_with("rollgate")),
        "refused before any request"
    );

    // Allowed by the operator, not by RBAC (bound in the Rollout's namespace only).
    let allowed = format!("--route-namespaces={}", other.namespace);
    let controller = Controller::start_with_role_and(&cluster, &[allowed.as_str()], &[]).await;
    let route_name = format!("HTTPRoute {}/web", other.namespace);
    let message = traffic_condition(&cluster, "forbidden by RBAC", |m| {
        m.contains(&route_name) && m.contains("forbidden")
    })
    .await;
    assert!(message.contains("403"), "{message}");
    drop(controller);
    never_written(&other, "httproutes", "web", "rollgate");
    assert_eq!(
        route_object(&other).await["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"],
        "the route in {} is unchanged",
        other.namespace
    );

    // Bound there too: the canary goes through the route in the other namespace.
    bind_there_too(&cluster, "rollgate-controller.yaml", &other).await;
    let controller = Controller::start_with_role_and(&cluster, &[allowed.as_str()], &[]).await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.28", "resources": {"requests": {"cpu": "100m"}}}]}}}})),
        )
        .await
        .unwrap();
    wait_for(&cluster, "web", "paused at 40", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let spec = route_object(&other).await["spec"].clone();
    assert_eq!(weights(&spec), (40, 60), "{spec:#}");
    assert_eq!(user_rule_in(&spec), user_rule_in(&before["spec"]));
    drop(controller);
}

/// A plugin binary as a process of its own, reading a kubeconfig with the
/// token of a service account bound to exactly `role` in `cluster`'s
/// namespace, with `args`.
async fn plugin_as(cluster: &Cluster, binary: &str, role: &str, args: &[&str]) -> PluginRouter {
    let config = cluster.config_with_role(&rbac(role)).await;
    let token = config.auth_info.token.expect("a token");
    let file = std::env::temp_dir().join(format!("{binary}-{}.kubeconfig", cluster.namespace));
    let kubeconfig =
        kubeconfig_with_token(secrecy::ExposeSecret::expose_secret(&token), None, &file);
    PluginRouter::new(
        workspace_binary(binary, binary),
        HostOptions {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: vec![("KUBECONFIG".into(), kubeconfig.display().to_string())],
            ..HostOptions::default()
        },
    )
}

fn gateway_context(cluster: &Cluster, config: Value) -> RolloutContext {
    RolloutContext {
        name: "web".into(),
        namespace: cluster.namespace.clone(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        config,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_gateway_api_plugin_stays_inside_its_role_and_namespaces() {
    let Some(cluster) = support::cluster("bound-gwplug").await else {
        return;
    };
    let Some(other) = support::cluster("bound-gwplug-other").await else {
        return;
    };
    create_route_with_user_rule(&cluster).await;
    create_route_elsewhere(&other, &cluster).await;
    let before = route_object(&other).await;
    let own = json!({"httpRoute": "web"});
    let elsewhere = json!({"httpRoute": "web", "namespace": other.namespace});

    let plugin = plugin_as(
        &cluster,
        "rollgate-gatewayapi",
        "rollgate-gatewayapi.yaml",
        &["--route-namespaces="],
    )
    .await;
    plugin
        .set_weight(&gateway_context(&cluster, own.clone()), 30, &[])
        .await
        .unwrap();
    assert_eq!(weights(&route_object(&cluster).await["spec"]), (30, 70));
    let err = plugin
        .set_weight(&gateway_context(&cluster, elsewhere.clone()), 30, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.message().contains(&format!(
            "rollout {}/web: spec.strategy.canary.trafficRouting.plugins[\"argoproj-labs/gatewayAPI\"].namespace: namespace \"{}\" is not allowed",
            cluster.namespace, other.namespace
        )),
        "{err}"
    );
    plugin.shutdown().await;

    // Any namespace, as Argo's plugin: RBAC (bound here only) still says no.
    let plugin = plugin_as(
        &cluster,
        "rollgate-gatewayapi",
        "rollgate-gatewayapi.yaml",
        &[],
    )
    .await;
    let err = plugin
        .set_weight(&gateway_context(&cluster, elsewhere), 30, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(
        err.message()
            .contains(&format!("HTTPRoute {}/web: 403 Forbidden", other.namespace)),
        "{err}"
    );
    plugin
        .set_weight(&gateway_context(&cluster, own), 0, &[])
        .await
        .unwrap();
    assert_eq!(weights(&route_object(&cluster).await["spec"]), (0, 100));
    plugin.shutdown().await;
    never_written(&other, "httproutes", "web", "rollgate");
    assert_eq!(
        route_object(&other).await,
        before,
        "the route elsewhere is unchanged"
    );
}

#[tokio::test]
async fn the_istio_plugin_stays_inside_its_role_and_namespaces() {
    let Some(cluster) = support::cluster("bound-istio").await else {
        return;
    };
    let Some(other) = support::cluster("bound-istio-other").await else {
        return;
    };
    let vs = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {"hosts": ["web.example.com"], "http": [{"name": "primary", "route": [
            {"destination": {"host": "web-stable"}, "weight": 100},
            {"destination": {"host": "web-canary"}, "weight": 0}]}]}
    });
    cluster.create(vs.clone()).await;
    other.create(vs).await;
    let vs_api = |c: &Cluster| c.api("networking.istio.io", "v1", "VirtualService");
    let before = serde_json::to_value(vs_api(&other).get("web").await.unwrap()).unwrap();
    let ctx = |name: String| RolloutContext {
        name: "web".into(),
        namespace: cluster.namespace.clone(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "rollgate/istio".into(),
        config: json!({"virtualService": {"name": name, "routes": ["primary"]}}),
        ..Default::default()
    };
    let elsewhere = format!("web.{}", other.namespace);

    let plugin = plugin_as(
        &cluster,
        "rollgate-istio",
        "rollgate-istio.yaml",
        &["--route-namespaces="],
    )
    .await;
    plugin
        .set_weight(&ctx("web".into()), 25, &[])
        .await
        .unwrap();
    let spec = vs_api(&cluster).get("web").await.unwrap().data["spec"].clone();
    assert_eq!(spec["http"][0]["route"][1]["weight"], 25, "{spec:#}");
    let err = plugin
        .set_weight(&ctx(elsewhere.clone()), 25, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.message().contains(&format!(
            "virtualService.name: namespace \"{}\" is not allowed",
            other.namespace
        )),
        "{err}"
    );
    plugin.shutdown().await;

    let plugin = plugin_as(&cluster, "rollgate-istio", "rollgate-istio.yaml", &[]).await;
    let err = plugin
        .set_weight(&ctx(elsewhere), 25, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(err.message().contains("403 Forbidden"), "{err}");
    plugin.shutdown().await;
    never_written(&other, "virtualservices", "web", "rollgate");
    let after = serde_json::to_value(vs_api(&other).get("web").await.unwrap()).unwrap();
    assert_eq!(after, before, "the VirtualService elsewhere is unchanged");
}

#[tokio::test]
async fn no_documented_role_lets_a_binary_list_or_write_secrets() {
    for (file, reads_one) in [
        ("rollgate-controller.yaml", true),
        ("rollgate-gatewayapi.yaml", false),
        ("rollgate-istio.yaml", false),
        ("rollgate-nginx.yaml", false),
    ] {
        // A namespace per role: each binds a service account of the same name.
        let Some(ns) = support::cluster("bound-secrets").await else {
            return;
        };
        ns.create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"}, "stringData": {"password": "hunter2"}}))
            .await;
        let client = ns.client_with_role(&rbac(file)).await;
        let secrets: Api<Secret> = Api::namespaced(client, &ns.namespace);
        let forbidden = |result: Result<(), kube::Error>, what: &str| match result {
            Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{file}: {what}: {e}"),
            other => panic!("{file}: {what}: expected 403 Forbidden, got {other:?}"),
        };
        match secrets.get("db").await {
            Ok(_) => assert!(reads_one, "{file} reads a Secret"),
            Err(e) => {
                assert!(!reads_one, "{file}: get Secret: {e}");
                forbidden(Err(e), "get");
            }
        }
        forbidden(
            secrets.list(&ListParams::default()).await.map(|_| ()),
            "list",
        );
        let secret: Secret = serde_json::from_value(
            json!({"metadata": {"name": "stolen"}, "stringData": {"k": "v"}}),
        )
        .unwrap();
        forbidden(
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .map(|_| ()),
            "create",
        );
        forbidden(
            secrets
                .patch(
                    "db",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"stringData": {"password": "x"}})),
                )
                .await
                .map(|_| ()),
            "patch",
        );
        forbidden(
            secrets.delete("db", &Default::default()).await.map(|_| ()),
            "delete",
        );
        // Nothing changed.
        let admin: Api<Secret> = Api::namespaced(ns.client.clone(), &ns.namespace);
        assert!(admin.get_opt("stolen").await.unwrap().is_none(), "{file}");
        let db = admin.get("db").await.unwrap();
        assert_eq!(
            db.data.unwrap()["password"].0,
            b"hunter2",
            "{file}: the Secret is unchanged"
        );
    }
}

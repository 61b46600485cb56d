//! The applier against a real kube-apiserver (`scripts/cluster up`, then
//! `eval "$(scripts/cluster env)"`). Runs when `ROLLGATE_E2E=1`; each test
//! works on Ingresses (which the tier's audit log records; the weight is an
//! annotation) in a namespace of its own. Requests are counted from the
//! API server's audit log.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::api::{ApiResource, Patch, PatchParams};
use kube::core::{Expression, Selector};
use rollgate_testkit::Cluster;
use router_core::ErrorKind;
use router_kube::client::{LazyClient, UserAgent};
use router_kube::{Applier, ApplierOptions, ObjectRef, Outcome, Write};
use serde_json::{Value, json};

fn ingresses() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::networking::v1::Ingress>(&())
}

fn api(cluster: &Cluster) -> kube::Api<kube::api::DynamicObject> {
    cluster.api("networking.k8s.io", "v1", "Ingress")
}

/// The Ingress `name` with `weight` (an annotation) and `labels`.
fn ingress(name: &str, weight: &str, labels: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "labels": labels, "annotations": {"weight": weight}},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}})
}

/// The Ingress `name` as the server has it.
async fn read_back(cluster: &Cluster, name: &str) -> Value {
    serde_json::to_value(api(cluster).get(name).await.unwrap()).unwrap()
}

/// The weight annotation of `object`.
fn weight(object: &Value) -> &Value {
    &object["metadata"]["annotations"]["weight"]
}

fn agent() -> UserAgent {
    UserAgent::new("rollgate-applier-test", "0.1.0").unwrap()
}

async fn applier(options: ApplierOptions) -> Applier {
    let config = kube::Config::infer().await.expect("KUBECONFIG");
    Applier::with_options(LazyClient::from_config(config, agent()), options).unwrap()
}

async fn create(cluster: &Cluster, name: &str, weight: &str, labels: Value) {
    cluster.create(ingress(name, weight, labels)).await;
}

/// Someone else sets `name`'s weight.
async fn other_writer(cluster: &Cluster, name: &str, weight: &str) {
    api(cluster)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"weight": weight}}})),
        )
        .await
        .unwrap();
}

/// A guarded patch to `weight`, or nothing when it is already set.
fn want_weight(
    weight: &'static str,
) -> impl FnMut(Option<&Value>) -> Result<Option<Write>, router_core::Error> + Send {
    move |current| {
        let current = current.expect("the object exists");
        if self::weight(current) == weight {
            return Ok(None);
        }
        let patch = serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/annotations/weight", "value": self::weight(current)},
            {"op": "replace", "path": "/metadata/annotations/weight", "value": weight}
        ]))
        .unwrap();
        Ok(Some(Write::guarded_patch(patch)))
    }
}

/// The requests on the Ingress `name` since the last call, by verb, after
/// an audit barrier.
async fn verbs(cluster: &Cluster, name: &str, seen: &mut usize) -> Vec<String> {
    cluster.audit_barrier().await;
    let all = cluster.audited_requests("ingresses", name);
    let new: Vec<String> = all[*seen..]
        .iter()
        .filter(|r| r.user_agent == "rollgate-applier-test/0.1.0")
        .map(|r| r.verb.clone())
        .collect();
    *seen = all.len();
    new
}

/// Reads `object` until `check` holds (within 5 s).
async fn eventually(applier: &Applier, object: &ObjectRef, check: impl Fn(&Value) -> bool) {
    for _ in 0..500 {
        if let Some(value) = applier.get(object).await.unwrap()
            && check(&value)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never became as expected", object.label());
}

#[tokio::test]
async fn the_watch_cache_syncs_follows_the_watch_and_is_refreshed_by_writes() {
    let Some(cluster) = Cluster::new("applier-cache").await else {
        return;
    };
    create(&cluster, "web", "30", json!({"app": "web"})).await;
    create(&cluster, "api", "10", json!({"app": "api"})).await;
    let web = ObjectRef::new(&ingresses(), &cluster.namespace, "web");
    let applier = applier(ApplierOptions::default()).await;
    let mut seen = 0;

    // The first read goes to the server; once synced, reads cost nothing.
    assert_eq!(
        applier.get(&web).await.unwrap().unwrap()["metadata"]["annotations"]["weight"],
        "30"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    verbs(&cluster, "web", &mut seen).await;
    for _ in 0..5 {
        let outcome = applier.converge(&web, want_weight("30")).await.unwrap();
        assert_eq!(outcome, Outcome::Unchanged);
    }
    let cached = applier.get(&web).await.unwrap().unwrap();
    assert!(cached["metadata"].get("managedFields").is_none());
    assert_eq!(cached["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(cached["kind"], "Ingress");
    assert_eq!(
        verbs(&cluster, "web", &mut seen).await,
        Vec::<String>::new()
    );

    // Another writer's change arrives through the watch.
    other_writer(&cluster, "web", "40").await;
    eventually(&applier, &web, |v| {
        v["metadata"]["annotations"]["weight"] == "40"
    })
    .await;
    verbs(&cluster, "web", &mut seen).await;

    // A write is one request; its answer refreshes the cache at once.
    assert_eq!(
        applier.converge(&web, want_weight("50")).await.unwrap(),
        Outcome::Written
    );
    assert_eq!(
        applier.converge(&web, want_weight("50")).await.unwrap(),
        Outcome::Unchanged
    );
    assert_eq!(verbs(&cluster, "web", &mut seen).await, ["patch"]);

    // Lists with a selector come from the cache and match the server's.
    let app_web: Selector = Expression::Equal("app".into(), "web".into()).into();
    let found = applier
        .list(&ingresses(), &cluster.namespace, &app_web)
        .await
        .unwrap();
    let names: Vec<&str> = found
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web"]);
    let direct = applier_direct_list(&cluster, &app_web).await;
    assert_eq!(direct, ["web"]);
    let not_web: Selector = Expression::NotIn("app".into(), ["web".into()].into()).into();
    let found = applier
        .list(&ingresses(), &cluster.namespace, &not_web)
        .await
        .unwrap();
    let mut names: Vec<&str> = found
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    names.retain(|n| *n != "audit-barrier");
    assert_eq!(names, ["api"]);
}

/// The names a LIST without the cache finds.
async fn applier_direct_list(cluster: &Cluster, selector: &Selector) -> Vec<String> {
    applier(ApplierOptions::uncached())
        .await
        .list(&ingresses(), &cluster.namespace, selector)
        .await
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `change` (another writer) the first time the plan runs, so that
/// the write the plan makes finds the object changed.
fn once(change: impl FnOnce() + Send) -> impl FnMut() + Send {
    let mut change = Some(change);
    move || {
        if let Some(change) = change.take() {
            change();
        }
    }
}

/// Blocks on `future` from inside a plan (plans are synchronous).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_guard_is_read_again_and_planned_again() {
    let Some(cluster) = Cluster::new("applier-guard").await else {
        return;
    };
    create(&cluster, "web", "30", json!({})).await;
    let web = ObjectRef::new(&ingresses(), &cluster.namespace, "web");
    let applier = applier(ApplierOptions::uncached()).await;
    let mut seen = 0;
    verbs(&cluster, "web", &mut seen).await;
    let mut interfere = once(|| block_on(other_writer(&cluster, "web", "40")));
    let mut plan = want_weight("50");
    let mut guards = Vec::new();
    let outcome = applier
        .converge(&web, |current| {
            guards.push(current.unwrap()["metadata"]["annotations"]["weight"].clone());
            let write = plan(current);
            interfere();
            write
        })
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Written);
    assert_eq!(
        guards,
        ["30", "40"],
        "planned again from the server's object"
    );
    assert_eq!(
        verbs(&cluster, "web", &mut seen).await,
        ["get", "patch", "get", "patch"]
    );
    let stored = read_back(&cluster, "web").await;
    assert_eq!(stored["metadata"]["annotations"]["weight"], "50");

    // Another 422 is returned at once, with the server's message.
    let err = applier
        .converge(&web, |_| {
            let patch = serde_json::from_value(json!([
                {"op": "add", "path": "/metadata/labels", "value": {"tier": "-not a label value-"}}
            ]))
            .unwrap();
            Ok(Some(Write::guarded_patch(patch)))
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("Ingress {}/web: 422 Invalid: ", cluster.namespace)),
        "{message}"
    );
    assert!(message.contains("metadata.labels"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_that_conflicts_is_read_again_and_keeps_the_other_change() {
    let Some(cluster) = Cluster::new("applier-replace").await else {
        return;
    };
    create(&cluster, "web", "30", json!({})).await;
    let web = ObjectRef::new(&ingresses(), &cluster.namespace, "web");
    let applier = applier(ApplierOptions::default()).await;
    let mut seen = 0;
    verbs(&cluster, "web", &mut seen).await;
    let mut interfere = once(|| {
        block_on(async {
            api(&cluster)
                .patch(
                    "web",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"annotations": {"owner": "someone"}}})),
                )
                .await
                .unwrap();
        });
    });
    let outcome = applier
        .converge(&web, |current| {
            let mut object = current.expect("it exists").clone();
            interfere();
            if object["metadata"]["annotations"]["mode"] == "replaced" {
                return Ok(None);
            }
            object["metadata"]["annotations"]["mode"] = json!("replaced");
            Ok(Some(Write::replace(object)))
        })
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Written);
    let verbs = verbs(&cluster, "web", &mut seen).await;
    assert_eq!(
        verbs.iter().filter(|v| *v == "update").count(),
        2,
        "one replace lost, one made: {verbs:?}"
    );
    assert_eq!(verbs.last().map(String::as_str), Some("update"));
    let stored = read_back(&cluster, "web").await;
    let annotations = &stored["metadata"]["annotations"];
    assert_eq!(annotations["mode"], "replaced");
    assert_eq!(
        annotations["owner"], "someone",
        "the other writer's change is kept"
    );
}

#[tokio::test]
async fn server_side_apply_creates_and_then_owns_its_fields() {
    let Some(cluster) = Cluster::new("applier-ssa").await else {
        return;
    };
    let canary = ObjectRef::new(&ingresses(), &cluster.namespace, "canary");
    let applier = applier(ApplierOptions::default()).await;
    let mut desired = ingress("canary", "20", json!({}));
    desired["metadata"]["namespace"] = json!(cluster.namespace);
    let plan = |current: Option<&Value>| {
        if current.is_some_and(|c| c["metadata"]["annotations"]["weight"] == "20") {
            return Ok(None);
        }
        Ok(Some(Write::apply(desired.clone(), "rollgate-applier-test")))
    };
    assert_eq!(
        applier.converge(&canary, plan).await.unwrap(),
        Outcome::Written
    );
    // Another manager takes the field; the forced apply takes it back.
    other_writer(&cluster, "canary", "99").await;
    eventually(&applier, &canary, |v| {
        v["metadata"]["annotations"]["weight"] == "99"
    })
    .await;
    assert_eq!(
        applier.converge(&canary, plan).await.unwrap(),
        Outcome::Written
    );
    assert_eq!(
        applier.converge(&canary, plan).await.unwrap(),
        Outcome::Unchanged
    );
    let stored = read_back(&cluster, "canary").await;
    assert_eq!(stored["metadata"]["annotations"]["weight"], "20");
    let managers: Vec<String> = stored["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| Some(m["manager"].as_str()?.to_owned()))
        .collect();
    assert!(
        managers.iter().any(|m| m == "rollgate-applier-test"),
        "{managers:?}"
    );

    // A dry-run preflight sees what would be stored; refusing writes nothing.
    let refused = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&refused);
    let err = applier
        .converge(&canary, move |_| {
            let mut object = desired.clone();
            object["metadata"]["annotations"]["weight"] = json!("70");
            let flag = Arc::clone(&flag);
            Ok(Some(
                Write::apply(object, "rollgate-applier-test").with_preflight(move |preview| {
                    assert_eq!(preview["metadata"]["annotations"]["weight"], "70");
                    assert!(preview["metadata"].get("managedFields").is_none());
                    flag.store(true, Ordering::SeqCst);
                    Err(router_core::Error::unsupported("refused by the preflight"))
                }),
            ))
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "refused by the preflight");
    assert!(refused.load(Ordering::SeqCst));
    let stored = read_back(&cluster, "canary").await;
    assert_eq!(
        stored["metadata"]["annotations"]["weight"], "20",
        "nothing was written"
    );
}

#[tokio::test]
async fn without_list_and_watch_permission_reads_go_to_the_server() {
    let Some(cluster) = Cluster::new("applier-rbac").await else {
        return;
    };
    create(&cluster, "web", "30", json!({})).await;
    let rbac = std::env::temp_dir().join(format!("{}-role.yaml", cluster.namespace));
    std::fs::write(
        &rbac,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: \
         applier-get-patch\nrules:\n- apiGroups: [networking.k8s.io]\n  resources: [ingresses]\n  \
         verbs: [get, patch]\n",
    )
    .unwrap();
    let config = cluster.config_with_role(&rbac).await;
    std::fs::remove_file(&rbac).unwrap();
    let applier = Applier::new(LazyClient::from_config(config, agent()));
    let web = ObjectRef::new(&ingresses(), &cluster.namespace, "web");
    let mut seen = 0;
    for _ in 0..3 {
        applier.converge(&web, want_weight("30")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    verbs(&cluster, "web", &mut seen).await;
    for _ in 0..3 {
        applier.converge(&web, want_weight("30")).await.unwrap();
    }
    assert_eq!(
        applier.converge(&web, want_weight("60")).await.unwrap(),
        Outcome::Written
    );
    assert_eq!(
        verbs(&cluster, "web", &mut seen).await,
        ["get", "get", "get", "get", "patch"]
    );
}

//! What the controller's watch caches cost in memory per Rollout: 1,000
//! settled Rollouts (the side-by-side harness's shape: 1 replica, seed
//! 002's eight steps, Healthy, with the status this controller writes) and
//! their ReplicaSets, as the API server returns them, held in kube-runtime
//! reflector stores as parsed objects (`DynamicObject`, `ReplicaSet`; what
//! the caches held before) and packed (`router_kube::Packed`: what they hold
//! now). Both without managed fields, as the caches keep them.
//!
//! Heap bytes and blocks are counted by dhat's allocator
//! (`rollgate_testkit::heap`). Run with
//!
//! ```text
//! cargo bench -p rollgate-controller --bench cache_footprint
//! ```

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::Resource;
use kube::api::DynamicObject;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use rollgate_testkit::heap::{footprint, header, row};
use router_kube::{LAST_APPLIED_ANNOTATION, Packed};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const ROLLOUTS: usize = 1_000;

fn managed_fields(manager: &str, fields: Value) -> Value {
    json!({"manager": manager, "operation": "Update", "apiVersion": "argoproj.io/v1alpha1",
           "time": "2026-12-02T03:55:10Z", "fieldsType": "FieldsV1", "fieldsV1": fields})
}

/// Rollout `i` settled: Healthy at its last step, as the API server returns
/// it.
fn rollout(i: usize) -> Value {
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
               "lastTransitionTime": "2026-12-02T03:56:00Z", "lastUpdateTime": "2026-12-02T03:56:00Z"})
    };
    let mut rollout = rollgate_testkit::bench::canary_rollout(i, None);
    rollout["metadata"] = json!({
        "name": format!("demo-{i}"), "namespace": "bench-rollgate-settled-1000-5a1c9e",
        "uid": format!("fe5f5899-8345-4281-a8d7-{i:012}"), "resourceVersion": (36_000 + i).to_string(),
        "generation": 1, "creationTimestamp": "2026-12-02T03:55:10Z",
        "annotations": {"rollout.argoproj.io/revision": "1"},
        "managedFields": [
            managed_fields("unknown", json!({"f:spec": {".": {}, "f:replicas": {}, "f:revisionHistoryLimit": {},
                "f:selector": {}, "f:strategy": {".": {}, "f:canary": {".": {}, "f:steps": {}}},
                "f:template": {".": {}, "f:metadata": {".": {}, "f:labels": {".": {}, "f:app": {}}},
                "f:spec": {".": {}, "f:containers": {".": {}, "k:{\"name\":\"demo\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})),
            managed_fields("rollgate-controller", json!({"f:metadata": {"f:annotations": {".": {},
                "f:rollout.argoproj.io/revision": {}}}})),
        ]
    });
    rollout["status"] = json!({
        "HPAReplicas": 1, "availableReplicas": 1, "readyReplicas": 1, "replicas": 1, "updatedReplicas": 1,
        "blueGreen": {}, "canary": {},
        "conditions": [
            condition("Progressing", "NewReplicaSetAvailable", "Rollout has completed rolling update"),
            condition("Paused", "RolloutResumed", "Rollout is resumed"),
            condition("Available", "AvailableReason", "Rollout has minimum availability"),
            condition("Healthy", "RolloutHealthy", "Rollout is healthy"),
            condition("Completed", "RolloutCompleted", "Rollout completed update to revision 1 (5d9c8b7f4): Initial deploy")
        ],
        "currentPodHash": "5d9c8b7f4", "stableRS": "5d9c8b7f4", "currentStepHash": "6b8f9d7c5",
        "currentStepIndex": 8, "observedGeneration": "1", "phase": "Healthy",
        "selector": format!("app=demo-{i}")
    });
    rollout
}

/// Rollout `i`'s ReplicaSet, as the API server returns it.
fn replica_set(i: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("demo-{i}-5d9c8b7f4"), "namespace": "bench-rollgate-settled-1000-5a1c9e",
            "uid": format!("0a7b3c2d-1e4f-4a5b-8c9d-{i:012}"), "resourceVersion": (37_000 + i).to_string(),
            "generation": 1, "creationTimestamp": "2026-12-02T03:55:12Z",
            "labels": {"app": format!("demo-{i}"), "rollouts-pod-template-hash": "5d9c8b7f4"},
            "annotations": {"rollout.argoproj.io/desired-replicas": "1", "rollout.argoproj.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": format!("demo-{i}"),
                "uid": format!("fe5f5899-8345-4281-a8d7-{i:012}"), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "rollgate-controller", "operation": "Update", "apiVersion": "apps/v1",
                 "time": "2026-12-02T03:55:12Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:rollout.argoproj.io/desired-replicas": {},
                     "f:rollout.argoproj.io/revision": {}}, "f:labels": {".": {}, "f:app": {},
                     "f:rollouts-pod-template-hash": {}}, "f:ownerReferences": {".": {}, "k:{\"uid\":\"x\"}": {}}},
                     "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {}},
                     "f:spec": {"f:containers": {}}}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                 "time": "2026-12-02T03:55:20Z", "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:availableReplicas": {}, "f:fullyLabeledReplicas": {},
                     "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}}}}
            ]
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": format!("demo-{i}"), "rollouts-pod-template-hash": "5d9c8b7f4"}},
            "template": {
                "metadata": {"labels": {"app": format!("demo-{i}"), "rollouts-pod-template-hash": "5d9c8b7f4"}},
                "spec": {"containers": [{"name": "demo", "image": "example.com/demo:1", "resources": {},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent"}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler"}
            }
        },
        "status": {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                   "observedGeneration": 1}
    })
}

/// What the parsed caches kept before packing (the "before" rows): all but
/// the managed fields and the last applied configuration, which
/// [`Packed`] drops itself.
fn lean<K: Resource>(object: &mut K) {
    let metadata = object.meta_mut();
    metadata.managed_fields = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

/// A reflector store of `objects` (read as `K`, lean), as a watch fills it.
fn store<K>(objects: &[Value], dyntype: K::DynamicType) -> Writer<K>
where
    K: Resource + Clone + DeserializeOwned + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let mut writer = Writer::new(dyntype);
    for object in objects {
        let mut object: K = serde_json::from_value(object.clone()).expect("an object");
        lean(&mut object);
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }
    writer
}

/// Where a packed store's bytes go: the packed objects alone (parsed
/// lookup fields and compressed rest, without the store), and of those the
/// compressed parts; the store's keys, map and `Arc`s are the rest of the
/// store's row.
fn parts<K>(kind: &str, objects: &[Value])
where
    K: Resource + serde::Serialize + DeserializeOwned,
{
    let (kept, bytes, blocks) = footprint(|| {
        objects
            .iter()
            .map(|o| serde_json::from_value::<Packed<K>>(o.clone()).expect("an object"))
            .collect::<Vec<_>>()
    });
    row(
        &format!("  {kind}: the packed objects alone"),
        objects.len(),
        bytes,
        blocks,
    );
    let compressed: usize = kept.iter().map(Packed::packed_len).sum();
    row(
        &format!("  {kind}: their compressed parts"),
        objects.len(),
        compressed,
        objects.len(),
    );
}

fn text(objects: &[Value]) -> f64 {
    let bytes: usize = objects
        .iter()
        .map(|o| serde_json::to_vec(o).expect("JSON").len())
        .sum();
    bytes as f64 / objects.len() as f64
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rollouts: Vec<Value> = (0..ROLLOUTS).map(rollout).collect();
    let replica_sets: Vec<Value> = (0..ROLLOUTS).map(replica_set).collect();
    println!(
        "{ROLLOUTS} settled Rollouts and their ReplicaSets: {:.0} and {:.0} bytes of JSON each as served\n",
        text(&rollouts),
        text(&replica_sets)
    );
    header(ROLLOUTS);
    let resource = rollgate_controller::reconcile::rollout_resource();
    let mut total = [(0, 0); 2];
    let (kept, bytes, blocks) = footprint(|| store::<DynamicObject>(&rollouts, resource.clone()));
    row("Rollouts: store of DynamicObject", ROLLOUTS, bytes, blocks);
    total[0] = (bytes, blocks);
    drop(kept);
    let (kept, bytes, blocks) =
        footprint(|| store::<Packed<DynamicObject>>(&rollouts, resource.clone()));
    row(
        "Rollouts: store of Packed<DynamicObject>",
        ROLLOUTS,
        bytes,
        blocks,
    );
    total[1] = (bytes, blocks);
    drop(kept);
    parts::<DynamicObject>("Rollouts", &rollouts);
    let (kept, bytes, blocks) = footprint(|| store::<ReplicaSet>(&replica_sets, ()));
    row("ReplicaSets: store of ReplicaSet", ROLLOUTS, bytes, blocks);
    total[0] = (total[0].0 + bytes, total[0].1 + blocks);
    drop(kept);
    let (kept, bytes, blocks) = footprint(|| store::<Packed<ReplicaSet>>(&replica_sets, ()));
    row(
        "ReplicaSets: store of Packed<ReplicaSet>",
        ROLLOUTS,
        bytes,
        blocks,
    );
    total[1] = (total[1].0 + bytes, total[1].1 + blocks);
    drop(kept);
    parts::<ReplicaSet>("ReplicaSets", &replica_sets);
    row("both, parsed (before)", ROLLOUTS, total[0].0, total[0].1);
    row("both, packed (now)", ROLLOUTS, total[1].0, total[1].1);
}

//! The objects an Experiment's templates get, built as Argo's
//! `newReplicaSetFromTemplate` (`experiments/replicaset.go`) and
//! `CreateService` (`experiments/service.go`) build them.

use serde_json::{Map, Value, json};

use super::spec::{EXPERIMENT_NAME_ANNOTATION, TEMPLATE_NAME_ANNOTATION, TemplateSpec};
use crate::workload::{POD_TEMPLATE_HASH_LABEL, pod_template_hash};

/// The Experiment an object is built for.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its uid.
    pub uid: &'a str,
}

impl Owner<'_> {
    /// The controller reference Argo's `NewControllerRef` writes.
    pub fn reference(&self) -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Experiment",
            "name": self.name,
            "uid": self.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        })
    }

    fn annotations(&self, template: &str) -> Value {
        json!({
            EXPERIMENT_NAME_ANNOTATION: self.name,
            TEMPLATE_NAME_ANNOTATION: template,
        })
    }
}

/// The name of a template's ReplicaSet: `<experiment>-<template>`.
pub fn replica_set_name(experiment: &str, template: &str) -> String {
    format!("{experiment}-{template}")
}

/// The ReplicaSet of `template`, with 0 replicas (Argo creates it empty and
/// scales it up at the next look): the pod template with its
/// `rollouts-pod-template-hash` label (computed with the template's
/// `collisionCount`), the selector with that label added, the pod
/// template's labels on the ReplicaSet, the Experiment's and the
/// template's names as annotations, controlled by the Experiment.
///
/// ```
/// use rollgate_controller::experiment::objects::{Owner, replica_set};
/// use rollgate_controller::experiment::spec::TemplateSpec;
/// let template: TemplateSpec = serde_json::from_value(serde_json::json!({
///     "name": "baseline", "selector": {"matchLabels": {"app": "web"}},
///     "template": {"metadata": {"labels": {"app": "web"}},
///                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}})).unwrap();
/// let owner = Owner { name: "exp", namespace: "shop", uid: "u-1" };
/// let rs = replica_set(&owner, &template, None);
/// let hash = rs["metadata"]["labels"]["rollouts-pod-template-hash"].as_str().unwrap();
/// assert_eq!(rs["metadata"]["name"], "exp-baseline");
/// assert_eq!(rs["spec"]["selector"]["matchLabels"]["rollouts-pod-template-hash"], hash);
/// assert_eq!(rs["metadata"]["annotations"]["experiment.argoproj.io/template-name"], "baseline");
/// assert_eq!(rs["spec"]["replicas"], 0);
/// ```
pub fn replica_set(
    owner: &Owner<'_>,
    template: &TemplateSpec,
    collision_count: Option<i32>,
) -> Value {
    let mut pod_template = template.template.clone();
    if let Some(labels) = pod_template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let hash = pod_template_hash(&pod_template, collision_count);
    let labels = with_label(
        pod_template.pointer("/metadata/labels"),
        POD_TEMPLATE_HASH_LABEL,
        &hash,
    );
    if !pod_template.is_object() {
        pod_template = json!({});
    }
    let metadata = pod_template
        .as_object_mut()
        .map(|t| t.entry("metadata").or_insert_with(|| json!({})));
    if let Some(Value::Object(metadata)) = metadata {
        metadata.insert("labels".into(), labels.clone());
    }
    let mut selector = template.selector.clone().unwrap_or_else(|| json!({}));
    if let Some(selector) = selector.as_object_mut() {
        let match_labels = with_label(selector.get("matchLabels"), POD_TEMPLATE_HASH_LABEL, &hash);
        selector.insert("matchLabels".into(), match_labels);
    }
    let mut spec = json!({
        "replicas": 0,
        "selector": selector,
        "template": pod_template,
    });
    if template.min_ready_seconds != 0 {
        spec["minReadySeconds"] = template.min_ready_seconds.into();
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": replica_set_name(owner.name, &template.name),
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": owner.annotations(&template.name),
            "ownerReferences": [owner.reference()],
        },
        "spec": spec,
    })
}

fn with_label(labels: Option<&Value>, key: &str, value: &str) -> Value {
    let mut map: Map<String, Value> = labels
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    map.insert(key.into(), value.into());
    Value::Object(map)
}

/// The ports of a template's Service: one per container port of the
/// ReplicaSet's pod template, `port` and `targetPort` its `containerPort`,
/// with its `protocol` and `name` when set.
pub fn service_ports(pod_template: &Value) -> Vec<Value> {
    let containers = pod_template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    containers
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|port| {
            let number = port.get("containerPort")?.as_i64()?;
            let mut out = json!({"port": number, "targetPort": number});
            for key in ["protocol", "name"] {
                if let Some(v) = port
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                {
                    out[key] = v.into();
                }
            }
            Some(out)
        })
        .collect()
}

/// The Service of a template: `name`, selecting the ReplicaSet's labels
/// (its pod template hash included), with `ports`, annotated and
/// controlled as the ReplicaSet is.
pub fn service(
    owner: &Owner<'_>,
    template: &str,
    name: &str,
    selector: &Value,
    ports: Vec<Value>,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "annotations": owner.annotations(template),
            "ownerReferences": [owner.reference()],
        },
        "spec": {"selector": selector, "ports": ports},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ports_follow_the_containers() {
        let template = json!({"spec": {"containers": [
            {"name": "a", "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]},
            {"name": "b", "ports": [{"containerPort": 9090}]},
            {"name": "c"}]}});
        assert_eq!(
            service_ports(&template),
            [
                json!({"port": 8080, "targetPort": 8080, "name": "http", "protocol": "TCP"}),
                json!({"port": 9090, "targetPort": 9090}),
            ]
        );
        assert!(service_ports(&json!({"spec": {"containers": [{"name": "a"}]}})).is_empty());
    }

    #[test]
    fn the_replica_set_drops_a_hash_label_written_in_the_template() {
        let template: TemplateSpec = serde_json::from_value(json!({
            "name": "canary", "replicas": 2, "minReadySeconds": 5,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": "old"}}}
        }))
        .unwrap();
        let owner = Owner {
            name: "exp",
            namespace: "shop",
            uid: "u-1",
        };
        let rs = replica_set(&owner, &template, None);
        let hash = rs["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL].clone();
        assert_ne!(hash, "old");
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL],
            hash
        );
        assert_eq!(rs["metadata"]["labels"]["app"], "web");
        assert_eq!(rs["spec"]["minReadySeconds"], 5);
        assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Experiment");
        assert_ne!(
            replica_set(&owner, &template, Some(1))["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL],
            hash
        );
    }
}

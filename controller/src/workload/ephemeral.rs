//! Ephemeral pod metadata: `canaryMetadata` and `stableMetadata`.
//!
//! Argo injects these labels and annotations into a ReplicaSet's pod
//! template and remembers what it injected in the ReplicaSet's
//! `rollout.argoproj.io/ephemeral-metadata` annotation, so that it can take
//! exactly that out again later without touching what others added
//! (`SyncEphemeralPodMetadata`). The same rules apply here.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::{Map, Value, json};

/// Labels and annotations for pods (`PodTemplateMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodMetadata {
    /// Labels to add.
    pub labels: BTreeMap<String, String>,
    /// Annotations to add.
    pub annotations: BTreeMap<String, String>,
}

impl PodMetadata {
    /// Reads `{"labels": {...}, "annotations": {...}}`; `field` names it in
    /// the error (such as `spec.strategy.canary.canaryMetadata`).
    pub fn from_value(value: &Value, field: &str) -> Result<Self, super::WorkloadError> {
        let map = |key: &str| -> Result<BTreeMap<String, String>, super::WorkloadError> {
            match value.get(key) {
                None | Some(Value::Null) => Ok(BTreeMap::new()),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k.clone(), s.clone())),
                        _ => Err(super::WorkloadError::Shape {
                            field: format!("{field}.{key}.{k}"),
                            expected: "a string",
                        }),
                    })
                    .collect(),
                Some(_) => Err(super::WorkloadError::Shape {
                    field: format!("{field}.{key}"),
                    expected: "a map of strings",
                }),
            }
        };
        if !value.is_object() {
            return Err(super::WorkloadError::Shape {
                field: field.into(),
                expected: "an object with labels and annotations",
            });
        }
        Ok(Self {
            labels: map("labels")?,
            annotations: map("annotations")?,
        })
    }

    /// The JSON recorded in the ephemeral-metadata annotation, `labels`
    /// before `annotations` as Argo writes it (empty maps left out).
    pub fn to_annotation(&self) -> String {
        let mut parts = Vec::new();
        if !self.labels.is_empty() {
            parts.push(format!("\"labels\":{}", json!(self.labels)));
        }
        if !self.annotations.is_empty() {
            parts.push(format!("\"annotations\":{}", json!(self.annotations)));
        }
        format!("{{{}}}", parts.join(","))
    }

    /// What a ReplicaSet's ephemeral-metadata annotation says was injected
    /// (`None` when absent or unreadable, as Argo treats it).
    pub fn recorded(annotations: Option<&BTreeMap<String, String>>) -> Option<Self> {
        let text = annotations?.get(super::EPHEMERAL_METADATA_ANNOTATION)?;
        let value: Value = serde_json::from_str(text).ok()?;
        Self::from_value(&value, "").ok()
    }
}

/// Injects `desired` into a pod template's `metadata` and removes what
/// `existing` recorded and `desired` no longer has. Returns whether anything
/// changed. `template` must be an object.
pub fn sync(
    template: &mut Value,
    existing: Option<&PodMetadata>,
    desired: Option<&PodMetadata>,
) -> bool {
    let Some(obj) = template.as_object_mut() else {
        return false;
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let mut modified = false;
    for (key, want, had) in [
        (
            "labels",
            desired.map(|d| &d.labels),
            existing.map(|e| &e.labels),
        ),
        (
            "annotations",
            desired.map(|d| &d.annotations),
            existing.map(|e| &e.annotations),
        ),
    ] {
        let section = meta
            .as_object_mut()
            .map(|m| m.entry(key).or_insert_with(|| Value::Object(Map::new())));
        let Some(section) = section else {
            continue;
        };
        if section.is_null() {
            *section = Value::Object(Map::new());
        }
        let Value::Object(section) = section else {
            continue;
        };
        for (k, v) in want.into_iter().flatten() {
            if section.get(k).and_then(Value::as_str) != Some(v) {
                section.insert(k.clone(), Value::String(v.clone()));
                modified = true;
            }
        }
        for k in had.into_iter().flat_map(|h| h.keys()) {
            if !want.is_some_and(|w| w.contains_key(k)) && section.remove(k).is_some() {
                modified = true;
            }
        }
    }
    // Leave no empty maps behind that were not there before.
    if let Some(m) = meta.as_object_mut() {
        m.retain(|_, v| !matches!(v, Value::Object(o) if o.is_empty()));
    }
    modified
}

/// The merge patch of an object's `metadata` (its labels and annotations as
/// given) that injects `desired` and removes what `existing` recorded and
/// `desired` no longer has; `None` when nothing changes. A Rollout's pods
/// are relabelled with it.
pub fn metadata_patch(
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
    existing: Option<&PodMetadata>,
    desired: Option<&PodMetadata>,
) -> Option<Value> {
    let mut template = json!({"metadata": {"labels": labels, "annotations": annotations}});
    if !sync(&mut template, existing, desired) {
        return None;
    }
    let mut patch = Map::new();
    for (key, before) in [("labels", labels), ("annotations", annotations)] {
        let empty = Map::new();
        let after = template["metadata"][key].as_object().unwrap_or(&empty);
        let mut changes = Map::new();
        for (k, v) in after {
            if before.and_then(|b| b.get(k)).map(String::as_str) != v.as_str() {
                changes.insert(k.clone(), v.clone());
            }
        }
        for k in before.into_iter().flat_map(|b| b.keys()) {
            if !after.contains_key(k) {
                changes.insert(k.clone(), Value::Null);
            }
        }
        if !changes.is_empty() {
            patch.insert(key.into(), Value::Object(changes));
        }
    }
    Some(Value::Object(patch))
}

/// The merge patch that gives a ReplicaSet's pod template the ephemeral
/// metadata `desired` (none: take out what was injected), recording it in
/// the ReplicaSet's ephemeral-metadata annotation as Argo's
/// `SyncReplicaSetEphemeralPodMetadata` does; `None` when it already has it.
pub fn replica_set_patch(rs: &ReplicaSet, desired: Option<&PodMetadata>) -> Option<Value> {
    let recorded = PodMetadata::recorded(rs.metadata.annotations.as_ref());
    let template = rs.spec.as_ref()?.template.as_ref()?.metadata.as_ref();
    let template_patch = metadata_patch(
        template.and_then(|m| m.labels.as_ref()),
        template.and_then(|m| m.annotations.as_ref()),
        recorded.as_ref(),
        desired,
    )?;
    let record = desired.map_or(Value::Null, |d| Value::String(d.to_annotation()));
    Some(json!({
        "metadata": {"annotations": {super::EPHEMERAL_METADATA_ANNOTATION: record}},
        "spec": {"template": {"metadata": template_patch}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)]) -> PodMetadata {
        PodMetadata {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn injects_and_removes_only_what_was_recorded() {
        let mut t = json!({"metadata": {"labels": {"app": "web", "sidecar": "yes"}}});
        assert!(sync(&mut t, None, Some(&meta(&[("role", "canary")]))));
        assert_eq!(t["metadata"]["labels"]["role"], "canary");
        // Switching to the stable metadata removes the canary label only.
        assert!(sync(
            &mut t,
            Some(&meta(&[("role", "canary")])),
            Some(&meta(&[("tier", "stable")]))
        ));
        assert_eq!(
            t["metadata"]["labels"],
            json!({"app": "web", "sidecar": "yes", "tier": "stable"})
        );
        // Nothing to do: nothing changes.
        assert!(!sync(
            &mut t,
            Some(&meta(&[("tier", "stable")])),
            Some(&meta(&[("tier", "stable")]))
        ));
        assert!(sync(&mut t, Some(&meta(&[("tier", "stable")])), None));
        assert_eq!(
            t["metadata"]["labels"],
            json!({"app": "web", "sidecar": "yes"})
        );
    }

    #[test]
    fn a_bad_shape_names_the_field() {
        let err = PodMetadata::from_value(
            &json!({"labels": {"a": 1}}),
            "spec.strategy.canary.canaryMetadata",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.strategy.canary.canaryMetadata.labels.a: expected a string"
        );
    }

    #[test]
    fn a_replica_set_switches_from_canary_to_stable_metadata() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-h1", "annotations": {
                "rollout.argoproj.io/ephemeral-metadata": r#"{"labels":{"role":"canary"}}"#}},
            "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": "web", "role": "canary"}}}}
        }))
        .unwrap();
        let stable = meta(&[("role", "stable")]);
        assert_eq!(
            replica_set_patch(&rs, Some(&stable)),
            Some(json!({
                "metadata": {"annotations": {"rollout.argoproj.io/ephemeral-metadata": r#"{"labels":{"role":"stable"}}"#}},
                "spec": {"template": {"metadata": {"labels": {"role": "stable"}}}}
            }))
        );
        assert_eq!(
            replica_set_patch(&rs, None),
            Some(json!({
                "metadata": {"annotations": {"rollout.argoproj.io/ephemeral-metadata": null}},
                "spec": {"template": {"metadata": {"labels": {"role": null}}}}
            }))
        );
        assert_eq!(
            replica_set_patch(&rs, Some(&meta(&[("role", "canary")]))),
            None
        );
    }
}

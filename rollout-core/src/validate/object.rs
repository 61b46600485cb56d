//! The object around the strategy: `metadata.name`, the numbers of `spec`,
//! the selector, the pod template and `workloadRef`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::names;
use super::path::{Path, SPEC};
use super::{Validator, messages as m};
use crate::spec::{DEFAULT_PROGRESS_DEADLINE_SECONDS, Rollout};

/// Argo's default `revisionHistoryLimit`.
pub(super) const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// `metadata.name` (or `generateName`) as the API server requires it.
pub(super) fn metadata(v: &mut Validator, r: &Rollout) {
    let meta = &r.metadata;
    if meta.name.is_empty() {
        if meta.generate_name.as_deref().is_none_or(str::is_empty) {
            v.err(
                Path::root("metadata.name"),
                "name or generateName is required",
            );
        }
    } else if let Some(e) = names::dns1123_subdomain(&meta.name) {
        v.err(Path::root("metadata.name"), e);
    }
}

/// The numbers of `spec`: non-negative, and a progress deadline longer than
/// `minReadySeconds` (defaults applied as Argo applies them); `restartAt` a
/// time (the CRD's `date-time` format).
pub(super) fn numbers(v: &mut Validator, r: &Rollout) {
    let spec = &r.spec;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let deadline = spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    for (field, value) in [
        ("replicas", r.replicas()),
        ("minReadySeconds", min_ready),
        (
            "revisionHistoryLimit",
            spec.revision_history_limit
                .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT),
        ),
        ("progressDeadlineSeconds", deadline),
    ] {
        if value < 0 {
            v.err(SPEC.field(field), format!("{value}: {}", m::NON_NEGATIVE));
        }
    }
    if let Some(at) = &spec.restart_at
        && let Err(e) = at.parse::<crate::Time>()
    {
        v.err(SPEC.field("restartAt"), e.to_string());
    }
    if deadline <= min_ready {
        v.err(
            SPEC.field("progressDeadlineSeconds"),
            format!("{deadline}: {}", m::DEADLINE_AFTER_MIN_READY),
        );
    }
}

/// `spec.selector`, as read for validation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LabelSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<Requirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Requirement {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

impl LabelSelector {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                    "Exists" => value.is_some(),
                    _ => value.is_none(),
                }
            })
    }
}

/// The selector, `workloadRef` against `template`, and the pod template
/// (Argo's `ValidateRolloutSpec` with the ReplicaSet template rules).
pub(super) fn selector_and_template(v: &mut Validator, r: &Rollout) {
    let spec = &r.spec;
    let selector_path = SPEC.field("selector");
    let selector = match &spec.selector {
        None => {
            if spec.workload_ref.is_none() {
                v.err(selector_path, m::MISSING_SELECTOR);
            }
            None
        }
        Some(value) => match serde_path_to_error::deserialize::<_, LabelSelector>(value) {
            Err(e) => {
                let inner = e.path().to_string();
                let at = if inner == "." {
                    selector_path.to_string()
                } else {
                    format!("{selector_path}.{inner}")
                };
                v.err(at, crate::parse::plain_words(&e.inner().to_string()));
                None
            }
            Ok(sel) => {
                let before = v.errors.len();
                label_selector(v, selector_path, &sel);
                let valid = v.errors.len() == before;
                if spec.workload_ref.is_none()
                    && sel.match_labels.is_empty()
                    && sel.match_expressions.is_empty()
                {
                    v.err(selector_path, m::EMPTY_SELECTOR);
                }
                valid.then_some(sel)
            }
        },
    };
    let template = spec.template.as_ref();
    let meta = template.and_then(|t| t.get("metadata"));
    let non_empty = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
    };
    if spec.workload_ref.is_some() {
        if non_empty("labels") || non_empty("annotations") {
            v.err(SPEC.field("template"), m::TEMPLATE_WITH_WORKLOAD_REF);
        }
        return;
    }
    pod_template(v, template, selector.as_ref());
}

fn label_selector(v: &mut Validator, path: Path<'_>, sel: &LabelSelector) {
    let labels = path.field("matchLabels");
    for (k, val) in &sel.match_labels {
        if let Some(e) = names::qualified_name(k) {
            v.err(labels, format!("{k:?}: {e}"));
        }
        if let Some(e) = names::label_value(val) {
            v.err(labels, format!("{val:?}: {e}"));
        }
    }
    let exprs = path.field("matchExpressions");
    for (i, e) in sel.match_expressions.iter().enumerate() {
        let at = exprs.index(i);
        match e.operator.as_str() {
            "In" | "NotIn" if e.values.is_empty() => v.err(
                at.field("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            "Exists" | "DoesNotExist" if !e.values.is_empty() => v.err(
                at.field("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => v.err(
                at.field("operator"),
                format!("{other:?} is not a valid selector operator (expected In, NotIn, Exists or DoesNotExist)"),
            ),
        }
        if let Some(err) = names::qualified_name(&e.key) {
            v.err(at.field("key"), format!("{:?}: {err}", e.key));
        }
        let values = at.field("values");
        for (j, val) in e.values.iter().enumerate() {
            if let Some(err) = names::label_value(val) {
                v.err(values.index(j), format!("{val:?}: {err}"));
            }
        }
    }
}

/// The pod template rules a ReplicaSet's template must meet that need no
/// cluster: valid labels matched by the selector, valid annotation names, at least one container,
/// container names and images, `restartPolicy: Always`, no
/// `activeDeadlineSeconds`, no ephemeral containers.
fn pod_template(v: &mut Validator, template: Option<&Value>, selector: Option<&LabelSelector>) {
    let path = SPEC.field("template");
    let meta_path = path.field("metadata");
    let labels_path = meta_path.field("labels");
    let mut labels = BTreeMap::new();
    if let Some(l) = template.and_then(|t| t.pointer("/metadata/labels")) {
        match l.as_object() {
            None if l.is_null() => {}
            None => v.err(labels_path, "must be a map of label names to values"),
            Some(map) => {
                for (k, val) in map {
                    if let Some(e) = names::qualified_name(k) {
                        v.err(labels_path, format!("{k:?}: {e}"));
                    }
                    match val.as_str() {
                        Some(s) => {
                            if let Some(e) = names::label_value(s) {
                                v.err(labels_path, format!("{s:?}: {e}"));
                            }
                            labels.insert(k.clone(), s.to_owned());
                        }
                        None => v.err(labels_path.field(k), "must be a string"),
                    }
                }
            }
        }
    }
    if let Some(annotations) = template
        .and_then(|t| t.pointer("/metadata/annotations"))
        .and_then(Value::as_object)
    {
        let at = meta_path.field("annotations");
        for k in annotations.keys() {
            // Kubernetes reads annotation names case-insensitively.
            if let Some(e) = names::qualified_name(&k.to_lowercase()) {
                v.err(at, format!("{k:?}: {e}"));
            }
        }
    }
    if let Some(sel) = selector
        && !(sel.match_labels.is_empty() && sel.match_expressions.is_empty())
        && !sel.matches(&labels)
    {
        v.err(labels_path, m::SELECTOR_MISMATCH);
    }
    let spec_path = path.field("spec");
    let pod = template.and_then(|t| t.get("spec"));
    let list = |key: &str| {
        pod.and_then(|p| p.get(key))
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
    };
    let containers = list("containers");
    if containers.is_empty() {
        v.err(
            spec_path.field("containers"),
            "must list at least one container",
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for (key, list) in [
        ("initContainers", list("initContainers")),
        ("containers", containers),
    ] {
        let list_path = spec_path.field(key);
        for (i, c) in list.iter().enumerate() {
            let at = list_path.index(i);
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                v.err(at.field("name"), "is required");
            } else if let Some(e) = names::dns1123_label(name) {
                v.err(at.field("name"), e);
            } else if seen.contains(&name) {
                v.err(
                    at.field("name"),
                    format!("{name:?} is used by another container"),
                );
            } else {
                seen.push(name);
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                v.err(at.field("image"), "is required");
            }
        }
    }
    if let Some(policy) = pod
        .and_then(|p| p.get("restartPolicy"))
        .and_then(Value::as_str)
        && policy != "Always"
    {
        v.err(
            spec_path.field("restartPolicy"),
            format!("{policy:?} is not supported (a ReplicaSet's pods restart Always)"),
        );
    }
    if pod
        .and_then(|p| p.get("activeDeadlineSeconds"))
        .is_some_and(|d| !d.is_null())
    {
        v.err(
            spec_path.field("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        );
    }
    if !list("ephemeralContainers").is_empty() {
        v.err(
            spec_path.field("ephemeralContainers"),
            "ephemeral containers are not allowed in a pod template",
        );
    }
}

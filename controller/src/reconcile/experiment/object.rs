//! The Experiment object of an `experiment` step, as Argo's
//! `GetExperimentFromTemplate` builds it (pure: no I/O).
//!
//! - `metadata`: the request's name, the Rollout's namespace and labels
//!   plus `rollouts-pod-template-hash` (the current template's hash; with
//!   the Rollout's labels comes its controller-instance label), the
//!   annotation `rollout.argoproj.io/revision` (the Rollout's), and the
//!   Rollout as controller;
//! - `spec`: the step's `duration`, `dryRun`, `analysisRunMetadata` and
//!   `scaleDownDelaySeconds`, the Rollout's `progressDeadlineSeconds`;
//!   per template its `name` and `replicas`, the pod template and
//!   `minReadySeconds` of the ReplicaSet its `specRef` names (`canary`: the
//!   current one, `stable`: the stable one), the step's `selector` or else
//!   that ReplicaSet's, the step's `metadata` labels added to the pod
//!   template and the selector's `matchLabels` and its annotations to the
//!   pod template, and `service: {}` (with the step's `service.name`) when
//!   the template has a `weight` or a `service`; per analysis its `name`,
//!   `templateName`, `clusterScope`, `requiredForCompletion` and its
//!   arguments resolved against the Rollout as for its AnalysisRuns.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollgate_analysis::args::{ArgSource, rollout_arguments};
use rollout_core::spec::ExperimentTemplate;
use rollout_core::{ExperimentRequest, Rollout};
use serde_json::{Map, Value, json};

use crate::workload::replica_set::owner_reference;
use crate::workload::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};

/// What an Experiment is built from.
pub struct Source<'a> {
    /// The Rollout.
    pub rollout: &'a Rollout,
    /// The Rollout as JSON, for `fieldRef` arguments.
    pub rollout_json: &'a Value,
    /// The current (canary) ReplicaSet.
    pub current: &'a ReplicaSet,
    /// The stable ReplicaSet.
    pub stable: &'a ReplicaSet,
    /// The stable ReplicaSet's pod template hash.
    pub stable_hash: &'a str,
}

/// The Experiment for `request`.
///
/// # Errors
///
/// A message naming the field of the step that cannot be built: an
/// argument that does not resolve, or a `specRef` other than `canary` or
/// `stable` (validation refuses those before).
pub fn experiment(request: &ExperimentRequest, source: &Source<'_>) -> Result<Value, String> {
    let rollout = source.rollout;
    let step = &request.step;
    let at = format!(
        "spec.strategy.canary.steps[{}].experiment",
        request.step_index
    );
    let mut labels: Map<String, Value> = rollout
        .metadata
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    labels.insert(
        POD_TEMPLATE_HASH_LABEL.into(),
        request.pod_template_hash.clone().into(),
    );
    let revision = rollout
        .metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| request.revision.to_string());
    let mut spec = Map::new();
    let templates = step
        .templates
        .iter()
        .enumerate()
        .map(|(i, t)| template(t, source).map_err(|m| format!("{at}.templates[{i}]: {m}")))
        .collect::<Result<Vec<_>, _>>()?;
    spec.insert("templates".into(), templates.into());
    if let Some(d) = &step.duration {
        spec.insert("duration".into(), d.clone().into());
    }
    if let Some(p) = rollout.spec.progress_deadline_seconds {
        spec.insert("progressDeadlineSeconds".into(), p.into());
    }
    if !step.analyses.is_empty() {
        let args = ArgSource {
            rollout: source.rollout_json,
            stable_hash: Some(source.stable_hash),
            latest_hash: &request.pod_template_hash,
        };
        let analyses = step
            .analyses
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let resolved = rollout_arguments(&a.args, &format!("{at}.analyses[{i}]"), &args)
                    .map_err(|e| e.to_string())?;
                let mut analysis = Map::new();
                analysis.insert("name".into(), a.name.clone().into());
                analysis.insert("templateName".into(), a.template_name.clone().into());
                if a.cluster_scope == Some(true) {
                    analysis.insert("clusterScope".into(), true.into());
                }
                if !resolved.is_empty() {
                    let args = serde_json::to_value(&resolved).map_err(|e| e.to_string())?;
                    analysis.insert("args".into(), args);
                }
                if a.required_for_completion == Some(true) {
                    analysis.insert("requiredForCompletion".into(), true.into());
                }
                Ok(Value::Object(analysis))
            })
            .collect::<Result<Vec<_>, String>>()?;
        spec.insert("analyses".into(), analyses.into());
    }
    if let Some(s) = step.scale_down_delay_seconds {
        spec.insert("scaleDownDelaySeconds".into(), s.into());
    }
    if let Some(dry_run) = step.dry_run.as_ref().filter(|d| !is_empty(d)) {
        spec.insert("dryRun".into(), dry_run.clone());
    }
    // Argo's field is a struct, written even when empty.
    spec.insert(
        "analysisRunMetadata".into(),
        step.analysis_run_metadata
            .clone()
            .unwrap_or_else(|| json!({})),
    );
    Ok(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {
            "name": request.name,
            "namespace": rollout.metadata.namespace,
            "labels": labels,
            "annotations": {REVISION_ANNOTATION: revision},
            "ownerReferences": [owner_reference(rollout)],
        },
        "spec": spec,
    }))
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty)
}

/// One `templates[]` entry of the Experiment.
fn template(t: &ExperimentTemplate, source: &Source<'_>) -> Result<Value, String> {
    let rs = match t.spec_ref.as_str() {
        "canary" => source.current,
        "stable" => source.stable,
        other => {
            return Err(format!(
                "specRef: {other:?}: Invalid template step SpecRef: must be canary or stable"
            ));
        }
    };
    let rs_spec = rs.spec.as_ref();
    let mut pod = rs_spec
        .map(|s| serde_json::to_value(&s.template).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    if !pod.is_object() {
        pod = json!({});
    }
    let mut selector = match &t.selector {
        Some(s) => s.clone(),
        None => rs_spec
            .map(|s| serde_json::to_value(&s.selector).unwrap_or(Value::Null))
            .unwrap_or(Value::Null),
    };
    let metadata = t.metadata.as_ref();
    let entries = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_object)
            .cloned()
    };
    if let Some(labels) = entries("labels") {
        for (k, v) in labels {
            ensure_object(&mut pod, &["metadata", "labels"]).insert(k.clone(), v.clone());
            ensure_object(&mut selector, &["matchLabels"]).insert(k, v);
        }
    }
    if let Some(annotations) = entries("annotations") {
        for (k, v) in annotations {
            ensure_object(&mut pod, &["metadata", "annotations"]).insert(k, v);
        }
    }
    let mut out = Map::new();
    out.insert("name".into(), t.name.clone().into());
    if let Some(r) = t.replicas {
        out.insert("replicas".into(), r.into());
    }
    if let Some(m) = rs_spec
        .and_then(|s| s.min_ready_seconds)
        .filter(|m| *m != 0)
    {
        out.insert("minReadySeconds".into(), m.into());
    }
    out.insert("selector".into(), selector);
    out.insert("template".into(), pod);
    if t.weight.is_some() || t.service.is_some() {
        let name = t
            .service
            .as_ref()
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let service = match name {
            Some(n) => json!({"name": n}),
            None => json!({}),
        };
        out.insert("service".into(), service);
    }
    Ok(Value::Object(out))
}

/// The object at `path` under `value`, made (replacing anything that is
/// not an object) where missing.
fn ensure_object<'v>(value: &'v mut Value, path: &[&str]) -> &'v mut Map<String, Value> {
    let mut at = value;
    for key in path {
        if !at.is_object() {
            *at = json!({});
        }
        let map = at.as_object_mut().expect("made an object above");
        at = map.entry((*key).to_owned()).or_insert_with(|| json!({}));
    }
    if !at.is_object() {
        *at = json!({});
    }
    at.as_object_mut().expect("made an object above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::spec::ExperimentStep;

    fn replica_set(hash: &str, image: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{hash}"), "labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: hash}},
            "spec": {"replicas": 1, "minReadySeconds": 5,
                "selector": {"matchLabels": {"app": "web", POD_TEMPLATE_HASH_LABEL: hash}},
                "template": {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: hash}},
                    "spec": {"containers": [{"name": "web", "image": image}]}}}
        }))
        .unwrap()
    }

    fn rollout() -> Rollout {
        Rollout::from_value(
            json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                    "labels": {"team": "shop"},
                    "annotations": {REVISION_ANNOTATION: "2"}},
                "spec": {"progressDeadlineSeconds": 120, "strategy": {"canary": {}}}}),
            "web",
        )
        .unwrap()
    }

    fn request(step: Value) -> ExperimentRequest {
        ExperimentRequest {
            name: "web-new-2-1".into(),
            step_index: 1,
            revision: 2,
            pod_template_hash: "new".into(),
            step: ExperimentStep::from_value(&step).unwrap(),
        }
    }

    fn built(step: Value) -> Result<Value, String> {
        let rollout = rollout();
        let json = serde_json::to_value(&rollout).unwrap();
        let (current, stable) = (replica_set("new", "web:2"), replica_set("old", "web:1"));
        let source = Source {
            rollout: &rollout,
            rollout_json: &json,
            current: &current,
            stable: &stable,
            stable_hash: "old",
        };
        experiment(&request(step), &source)
    }

    #[test]
    fn the_object_is_named_labelled_and_owned_as_argo_makes_it() {
        // Argo's TestGetExperimentFromTemplate and TestRolloutCreateExperimentWithService.
        let ex = built(json!({"duration": "1m", "templates": [
            {"name": "preview", "specRef": "canary", "replicas": 1, "weight": 5},
            {"name": "baseline", "specRef": "stable", "service": {"name": "base"}},
            {"name": "plain", "specRef": "stable"}]}))
        .unwrap();
        assert_eq!(
            ex["metadata"],
            json!({"name": "web-new-2-1", "namespace": "shop",
                "labels": {"team": "shop", POD_TEMPLATE_HASH_LABEL: "new"},
                "annotations": {REVISION_ANNOTATION: "2"},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "name": "web", "uid": "u-1", "controller": true, "blockOwnerDeletion": true}]})
        );
        let spec = &ex["spec"];
        assert_eq!(spec["duration"], "1m");
        assert_eq!(spec["progressDeadlineSeconds"], 120);
        assert_eq!(spec["analysisRunMetadata"], json!({}));
        let t = &spec["templates"];
        assert_eq!(t[0]["template"]["spec"]["containers"][0]["image"], "web:2");
        assert_eq!(t[0]["replicas"], 1);
        assert_eq!(t[0]["minReadySeconds"], 5);
        assert_eq!(t[0]["service"], json!({}));
        assert_eq!(
            t[0]["selector"]["matchLabels"][POD_TEMPLATE_HASH_LABEL],
            "new"
        );
        assert_eq!(t[1]["template"]["spec"]["containers"][0]["image"], "web:1");
        assert_eq!(t[1]["service"], json!({"name": "base"}));
        assert!(t[1].get("replicas").is_none());
        assert!(t[2].get("service").is_none());
    }

    #[test]
    fn step_metadata_goes_to_the_pod_template_and_selector_and_args_resolve() {
        // TestRolloutCreateExperimentWithDryRunAndMetadata and the args of
        // TestRolloutCreateExperiment.
        let ex = built(json!({
            "templates": [{"name": "c", "specRef": "canary",
                "metadata": {"labels": {"role": "exp"}, "annotations": {"note": "x"}}}],
            "analyses": [{"name": "rate", "templateName": "success-rate", "requiredForCompletion": true,
                "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                         {"name": "svc", "value": "web"}]}],
            "dryRun": [{"metricName": "rate"}],
            "analysisRunMetadata": {"labels": {"k": "v"}}}))
        .unwrap();
        let t = &ex["spec"]["templates"][0];
        assert_eq!(t["template"]["metadata"]["labels"]["role"], "exp");
        assert_eq!(t["template"]["metadata"]["annotations"]["note"], "x");
        assert_eq!(t["selector"]["matchLabels"]["role"], "exp");
        assert_eq!(
            ex["spec"]["analyses"],
            json!([{"name": "rate", "templateName": "success-rate", "requiredForCompletion": true,
                "args": [{"name": "hash", "value": "old"}, {"name": "svc", "value": "web"}]}])
        );
        assert_eq!(ex["spec"]["dryRun"], json!([{"metricName": "rate"}]));
        assert_eq!(
            ex["spec"]["analysisRunMetadata"],
            json!({"labels": {"k": "v"}})
        );
    }

    #[test]
    fn an_argument_that_does_not_resolve_names_its_field() {
        let err = built(json!({"templates": [{"name": "c", "specRef": "canary"}],
            "analyses": [{"name": "a", "templateName": "t",
                "args": [{"name": "x", "valueFrom": {"fieldRef": {"fieldPath": "spec.strategy"}}}]}]}))
        .unwrap_err();
        assert!(
            err.contains("spec.strategy.canary.steps[1].experiment.analyses[0].args[0]"),
            "{err}"
        );
    }
}

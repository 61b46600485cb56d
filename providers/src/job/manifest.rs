//! The Job of one measurement, built from the metric's `provider.job` as
//! Argo's `newMetricJob` builds it: its name, labels, annotations and
//! owner, with the metric's Job spec checked first so that a spec that
//! cannot be a Job is refused, naming the field, before any request.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobSpec;
use rollgate_analysis::types::JobMetric;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{
    ANALYSIS_RUN_METRIC_ANNOTATION, ANALYSIS_RUN_NAME_ANNOTATION,
    ANALYSIS_RUN_NAMESPACE_ANNOTATION, ANALYSIS_RUN_UID_LABEL, RunRef,
};
use crate::config::substituted;
use crate::error::Failure;

/// The longest Job name Argo makes (a DNS label: the Job controller puts
/// the name in its pods' labels).
pub const MAX_JOB_NAME: usize = 63;

/// `provider.job.metadata`: only labels and annotations, as Argo's CRD
/// allows.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobMetadata {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Argo's `newJobName`: `<run uid>.<metric>.<id>`, where `id` counts the
/// metric's measurements so far (`count + error + 1`). A name longer than
/// [`MAX_JOB_NAME`] has the metric's part shortened to fit.
///
/// ```
/// use rollgate_providers::job::job_name;
/// let uid = "4e8ea5b6-2e46-4b5b-9a4e-0b7b4f0a4c21";
/// assert_eq!(job_name(uid, "smoke", 3).unwrap(), format!("{uid}.smoke.3"));
/// let long = job_name(uid, "a-metric-with-a-rather-long-name", 1).unwrap();
/// assert_eq!(long, format!("{uid}.a-metric-with-a-rather-l.1"));
/// assert_eq!(long.len(), 63);
/// ```
pub fn job_name(uid: &str, metric: &str, id: u64) -> Result<String, Failure> {
    let name = format!("{uid}.{metric}.{id}");
    if name.len() <= MAX_JOB_NAME {
        return Ok(name);
    }
    let over = name.len() - MAX_JOB_NAME;
    let keep = metric.len().saturating_sub(over);
    let keep = (0..=keep)
        .rev()
        .find(|&i| metric.is_char_boundary(i))
        .unwrap_or(0);
    if keep == 0 {
        return Err(Failure::Config {
            field: "metadata.uid".to_owned(),
            problem: format!(
                "{uid:?} leaves no room for the metric's name in a Job name of at most {MAX_JOB_NAME} characters"
            ),
        });
    }
    Ok(format!("{uid}.{}.{id}", &metric[..keep]))
}

/// The Job to create, as JSON (the metric's spec is sent as written, so
/// fields this build's Kubernetes types do not know survive): in
/// `namespace`, named by [`job_name`], with the metric's labels and
/// annotations plus the run's uid label and its name, namespace and
/// metric annotations (these win over the metric's own), the uid label on
/// the pod template too, and, when `owned`, the run as its controlling
/// owner.
pub(crate) fn job(
    run: &RunRef,
    metric: &str,
    provider: &JobMetric,
    name: &str,
    namespace: &str,
    owned: bool,
) -> Result<Value, Failure> {
    let metadata: JobMetadata = match &provider.metadata {
        None | Some(Value::Null) => JobMetadata::default(),
        Some(value) => typed(value, "provider.job.metadata")?,
    };
    let _: JobSpec = typed(&provider.spec, "provider.job.spec")?;
    required(&provider.spec)?;
    if let Some(value) = &provider.metadata {
        all_substituted(value, "provider.job.metadata")?;
    }
    all_substituted(&provider.spec, "provider.job.spec")?;

    let mut labels = metadata.labels;
    labels.insert(ANALYSIS_RUN_UID_LABEL.to_owned(), run.uid.clone());
    let mut annotations = metadata.annotations;
    annotations.insert(ANALYSIS_RUN_NAME_ANNOTATION.to_owned(), run.name.clone());
    annotations.insert(
        ANALYSIS_RUN_NAMESPACE_ANNOTATION.to_owned(),
        run.namespace.clone(),
    );
    annotations.insert(ANALYSIS_RUN_METRIC_ANNOTATION.to_owned(), metric.to_owned());

    let mut spec = provider.spec.clone();
    let template = object(&mut spec["template"]);
    let pod_metadata = object(template.entry("metadata").or_insert(Value::Null));
    let pod_labels = object(pod_metadata.entry("labels").or_insert(Value::Null));
    pod_labels.insert(ANALYSIS_RUN_UID_LABEL.to_owned(), json!(run.uid));

    let mut meta = json!({
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
    });
    if owned {
        meta["ownerReferences"] = json!([{
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisRun",
            "name": run.name,
            "uid": run.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
    }
    Ok(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}))
}

/// Reads `value` as `T`, or says which field under `at` is wrong and how.
fn typed<T: DeserializeOwned>(value: &Value, at: &str) -> Result<T, Failure> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Failure::Config {
            field: match path.as_str() {
                "." => at.to_owned(),
                p if p.starts_with('[') => format!("{at}{p}"),
                p => format!("{at}.{p}"),
            },
            problem: kubernetes_words(&rollout_core::plain_words(&e.inner().to_string())),
        }
    })
}

/// Kubernetes' types name themselves where serde says what it expected
/// (`expected JobSpec, found a list`): said in words instead.
fn kubernetes_words(message: &str) -> String {
    let Some(rest) = message.strip_prefix("expected ") else {
        return message.to_owned();
    };
    let (expected, found) = rest.split_once(", found ").unwrap_or((rest, ""));
    let words = match expected {
        "Quantity" => "a quantity such as 500m or 1Gi",
        "IntOrString" => "a number or a string",
        "Time" | "MicroTime" => "a time such as 2026-01-01T00:00:00Z",
        "a 32-bit integer" => "an integer from -2147483648 to 2147483647",
        e if e.chars().next().is_some_and(char::is_uppercase)
            && e.chars().all(char::is_alphanumeric) =>
        {
            "a mapping (field: value)"
        }
        _ => return message.to_owned(),
    };
    if found.is_empty() {
        format!("expected {words}")
    } else {
        format!("expected {words}, found {found}")
    }
}

/// The fields Argo's schema requires of a Job spec (`template`, the pod's
/// `containers`, at least one, each with a `name`), which the typed
/// reading defaults rather than refuses.
fn required(spec: &Value) -> Result<(), Failure> {
    let missing = |at: &str, field: &str| Failure::Config {
        field: at.to_owned(),
        problem: format!("the field \"{field}\" is required"),
    };
    let template = spec
        .get("template")
        .filter(|t| !t.is_null())
        .ok_or_else(|| missing("provider.job.spec", "template"))?;
    let containers = template
        .get("spec")
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .ok_or_else(|| missing("provider.job.spec.template.spec", "containers"))?;
    if containers.is_empty() {
        return Err(Failure::Config {
            field: "provider.job.spec.template.spec.containers".to_owned(),
            problem: "expected at least one container".to_owned(),
        });
    }
    for (i, container) in containers.iter().enumerate() {
        if container.get("name").is_none_or(Value::is_null) {
            return Err(missing(
                &format!("provider.job.spec.template.spec.containers[{i}]"),
                "name",
            ));
        }
    }
    Ok(())
}

/// Every string under `value` has its arguments put in.
fn all_substituted(value: &Value, at: &str) -> Result<(), Failure> {
    match value {
        Value::String(text) => substituted(text, at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| all_substituted(v, &format!("{at}[{i}]"))),
        Value::Object(fields) => fields
            .iter()
            .try_for_each(|(k, v)| all_substituted(v, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

/// `value` as an object, made one when it is null (the caller checked
/// the shape with the typed spec first).
fn object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunRef {
        RunRef {
            name: "web-6d4b-2".to_owned(),
            namespace: "shop".to_owned(),
            uid: "4e8ea5b6-2e46-4b5b-9a4e-0b7b4f0a4c21".to_owned(),
        }
    }

    fn provider(value: Value) -> JobMetric {
        serde_json::from_value(value).unwrap()
    }

    fn problem(value: Value) -> String {
        job(&run(), "smoke", &provider(value), "n", "shop", true)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_spec_that_is_not_a_job_names_the_field() {
        assert_eq!(
            problem(json!({"spec": {"template": {"spec": {}}}})),
            "provider.job.spec.template.spec: the field \"containers\" is required"
        );
        assert_eq!(
            problem(
                json!({"spec": {"backoffLimit": "two", "template": {"spec": {"containers": []}}}})
            ),
            "provider.job.spec.backoffLimit: expected an integer from -2147483648 to 2147483647, found the string \"two\""
        );
        assert_eq!(
            problem(json!({"spec": [1]})),
            "provider.job.spec: expected a mapping (field: value), found a list"
        );
        assert_eq!(
            problem(
                json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": []}}}})
            ),
            "provider.job.metadata.name: unknown field \"name\" (known fields: labels or annotations)"
        );
        assert_eq!(
            problem(
                json!({"metadata": {"labels": {"team": 7}}, "spec": {"template": {"spec": {"containers": []}}}})
            ),
            "provider.job.metadata.labels.team: expected a string, found 7"
        );
        assert_eq!(
            problem(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "t", "resources": {"limits": {"cpu": [1]}}}]}}}})),
            "provider.job.spec.template.spec.containers[0].resources.limits.cpu: expected a quantity such as 500m or 1Gi, found a list"
        );
        assert_eq!(
            problem(json!({"spec": {"template": {"spec": {"containers": ["t"]}}}})),
            "provider.job.spec.template.spec.containers[0]: expected a mapping (field: value), found the string \"t\""
        );
        assert_eq!(
            problem(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "t", "image": "busybox", "args": ["{{args.host}}"]}]}}}})),
            "provider.job.spec.template.spec.containers[0].args[0]: {{args.host}} was not substituted: the caller resolves arguments before measuring"
        );
    }

    #[test]
    fn a_name_that_cannot_fit_is_refused() {
        let uid = "u".repeat(70);
        assert!(
            job_name(&uid, "smoke", 1)
                .unwrap_err()
                .to_string()
                .starts_with("metadata.uid: ")
        );
        // Shortened on a character boundary.
        let uid = "4e8ea5b6-2e46-4b5b-9a4e-0b7b4f0a4c21";
        let name = job_name(uid, &"é".repeat(20), 1).unwrap();
        assert!(name.len() <= MAX_JOB_NAME, "{name}");
    }
}

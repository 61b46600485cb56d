//! The AnalysisRun a Rollout's controller creates for one of the engine's
//! [`AnalysisRunRequest`]s, as Argo's `newAnalysisRunFromRollout` and
//! `NewAnalysisRunFromTemplates` build it:
//!
//! - named as the engine named it (`<rollout>-<hash>-<revision>[-<step>|-pre|-post]`,
//!   with `.N` after a collision), in the Rollout's namespace, controlled by
//!   the Rollout (an owner reference with `controller` and
//!   `blockOwnerDeletion`);
//! - labels `rollouts-pod-template-hash` (the current ReplicaSet's),
//!   `rollout-type` (`Step`, `Background`, `PrePromotion` or
//!   `PostPromotion`), `step-index` for a step's
//!   run, Argo's controller-instance-id label when the Rollout carries it,
//!   then `analysisRunMetadata.labels`, then the Rollout's
//!   `selector.matchLabels` (later ones win, as in Argo);
//! - annotations `rollout.argoproj.io/revision` then
//!   `analysisRunMetadata.annotations`;
//! - the spec of the merged templates ([`crate::merge`]) with the Rollout's
//!   arguments resolved ([`crate::args`]) and its `dryRun` and
//!   `measurementRetention` rules first.
//!
//! The metrics are copied as written: `{{args.NAME}}` is resolved by
//! whoever measures, as in Argo.

use std::collections::BTreeMap;

use rollout_core::spec::AnalysisStep;
use rollout_core::{AnalysisKind, AnalysisRunRequest, Rollout};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;
use crate::args::{ArgSource, POD_TEMPLATE_HASH_LABEL, rollout_arguments};
use crate::merge::{check_rules, flatten, merge_args};
use crate::types::{
    API_VERSION, AnalysisRun, AnalysisRunSpec, AnalysisTemplate, Argument, DryRun,
    MeasurementRetention, ObjectMeta, OwnerReference,
};

/// How the run came about: `Step`, `Background`, `PrePromotion` or `PostPromotion`.
pub const ROLLOUT_TYPE_LABEL: &str = "rollout-type";
/// The step index of a step's run.
pub const STEP_INDEX_LABEL: &str = "step-index";
/// Argo's controller-instance label, copied from the Rollout to its runs.
pub use rollout_core::spec::INSTANCE_ID_LABEL;
/// The Rollout's revision, on the run.
pub use rollout_core::spec::REVISION_ANNOTATION;

/// Where an analysis of this kind is written in a Rollout.
///
/// ```
/// use rollout_core::AnalysisKind;
/// assert_eq!(rollgate_analysis::run::analysis_field(AnalysisKind::Step(2)),
///            "spec.strategy.canary.steps[2].analysis");
/// assert_eq!(rollgate_analysis::run::analysis_field(AnalysisKind::Background),
///            "spec.strategy.canary.analysis");
/// assert_eq!(rollgate_analysis::run::analysis_field(AnalysisKind::PrePromotion),
///            "spec.strategy.blueGreen.prePromotionAnalysis");
/// ```
pub fn analysis_field(kind: AnalysisKind) -> String {
    match kind {
        AnalysisKind::Step(i) => format!("spec.strategy.canary.steps[{i}].analysis"),
        AnalysisKind::Background => "spec.strategy.canary.analysis".to_owned(),
        AnalysisKind::PrePromotion => "spec.strategy.blueGreen.prePromotionAnalysis".to_owned(),
        AnalysisKind::PostPromotion => "spec.strategy.blueGreen.postPromotionAnalysis".to_owned(),
    }
}

/// What a run is built from besides the request and its templates.
#[derive(Debug, Clone, Copy)]
pub struct RunSource<'a> {
    /// The Rollout.
    pub rollout: &'a Rollout,
    /// The Rollout as JSON, for `fieldRef` arguments.
    pub rollout_json: &'a Value,
    /// The stable ReplicaSet's pod template hash, if there is one.
    pub stable_hash: Option<&'a str>,
    /// The current ReplicaSet's pod template hash.
    pub latest_hash: &'a str,
}

/// `analysisRunMetadata` of a Rollout's analysis.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunMetadata {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The spec of the run for `analysis` (at `field` in the Rollout) over
/// `templates`, in the order [`crate::merge::resolve_templates`] gives.
pub fn run_spec(
    analysis: &AnalysisStep,
    field: &str,
    templates: &[AnalysisTemplate],
    source: &RunSource<'_>,
) -> Result<AnalysisRunSpec, Error> {
    let args = ArgSource {
        rollout: source.rollout_json,
        stable_hash: source.stable_hash,
        latest_hash: source.latest_hash,
    };
    let passed = rollout_arguments(&analysis.args, field, &args)?;
    let dry_run: Vec<DryRun> = field_of(analysis.dry_run.as_ref(), field, "dryRun")?;
    let retention: Vec<MeasurementRetention> = field_of(
        analysis.measurement_retention.as_ref(),
        field,
        "measurementRetention",
    )?;
    spec_from_templates(&passed, templates, dry_run, retention)
}

/// Argo's `NewAnalysisRunFromTemplates`, the spec: the `templates` (in the
/// order [`crate::merge::resolve_templates`] gives) flattened, the `passed`
/// arguments merged into the ones they declare, and the caller's `dry_run`
/// and `retention` rules before theirs. What a Rollout's runs and an
/// Experiment's are both made of.
///
/// ```
/// use rollgate_analysis::{AnalysisTemplate, run::spec_from_templates, types::Argument};
/// let template = AnalysisTemplate::from_value(serde_json::json!({"kind": "AnalysisTemplate",
///     "metadata": {"name": "rate"}, "spec": {"args": [{"name": "hash"}],
///     "metrics": [{"name": "ok", "provider": {"web": {"url": "http://127.0.0.1/{{args.hash}}"}}}]}})).unwrap();
/// let passed = [Argument { name: "hash".into(), value: Some("6f7d".into()), value_from: None }];
/// let spec = spec_from_templates(&passed, &[template], vec![], vec![]).unwrap();
/// assert_eq!(spec.args[0].value.as_deref(), Some("6f7d"));
/// assert_eq!(spec.metrics[0].name, "ok");
/// ```
pub fn spec_from_templates(
    passed: &[Argument],
    templates: &[AnalysisTemplate],
    mut dry_run: Vec<DryRun>,
    mut retention: Vec<MeasurementRetention>,
) -> Result<AnalysisRunSpec, Error> {
    let flat = flatten(templates)?;
    let args = merge_args(passed, &flat.args)?;
    dry_run.extend(flat.dry_run);
    retention.extend(flat.measurement_retention);
    check_rules(&dry_run, &retention)?;
    Ok(AnalysisRunSpec {
        metrics: flat.metrics,
        args,
        terminate: false,
        dry_run,
        measurement_retention: retention,
        ttl_strategy: None,
    })
}

/// Reads `<at>.<name>`, one of the fields `rollout-core` keeps as written.
fn field_of<T: DeserializeOwned + Default>(
    value: Option<&Value>,
    at: &str,
    name: &str,
) -> Result<T, Error> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    crate::parse::rollout_field(value, &format!("{at}.{name}"))
}

/// The AnalysisRun to create for `request` over its resolved `templates`.
///
/// ```
/// use rollgate_analysis::{AnalysisTemplate, run::{new_run, RunSource}};
/// use rollout_core::{AnalysisKind, AnalysisRunRequest, Rollout};
/// let json = serde_json::json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
///         "annotations": {"rollout.argoproj.io/revision": "2"}},
///     "spec": {"selector": {"matchLabels": {"app": "web"}},
///         "strategy": {"canary": {"steps": [{"analysis": {"templates": [{"templateName": "rate"}],
///             "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}}]}}}});
/// let rollout = Rollout::from_value(json.clone(), "web").unwrap();
/// let template = AnalysisTemplate::from_value(serde_json::json!({"kind": "AnalysisTemplate",
///     "metadata": {"name": "rate"}, "spec": {"args": [{"name": "hash"}],
///     "metrics": [{"name": "ok", "provider": {"web": {"url": "http://127.0.0.1/{{args.hash}}"}}}]}})).unwrap();
/// let request = AnalysisRunRequest {
///     name: "web-6f7d-2-0".into(), kind: AnalysisKind::Step(0),
///     spec: rollout.canary().unwrap().steps[0].analysis().unwrap().clone() };
/// let source = RunSource { rollout: &rollout, rollout_json: &json, stable_hash: Some("5c4b"), latest_hash: "6f7d" };
/// let run = new_run(&request, &[template], &source).unwrap();
/// assert_eq!(run.metadata.labels["step-index"], "0");
/// assert_eq!(run.metadata.labels["app"], "web");
/// assert_eq!(run.spec.args[0].value.as_deref(), Some("6f7d"));
/// assert_eq!(run.metadata.owner_references[0].uid, "u-1");
/// ```
pub fn new_run(
    request: &AnalysisRunRequest,
    templates: &[AnalysisTemplate],
    source: &RunSource<'_>,
) -> Result<AnalysisRun, Error> {
    let at = analysis_field(request.kind);
    let spec = run_spec(&request.spec, &at, templates, source)?;
    let rollout = source.rollout;
    let metadata: RunMetadata = field_of(
        request.spec.analysis_run_metadata.as_ref(),
        &at,
        "analysisRunMetadata",
    )?;
    let mut labels = BTreeMap::from([(
        POD_TEMPLATE_HASH_LABEL.to_owned(),
        source.latest_hash.to_owned(),
    )]);
    match request.kind {
        AnalysisKind::Step(i) => {
            labels.insert(ROLLOUT_TYPE_LABEL.into(), "Step".into());
            labels.insert(STEP_INDEX_LABEL.into(), i.to_string());
        }
        AnalysisKind::Background => {
            labels.insert(ROLLOUT_TYPE_LABEL.into(), "Background".into());
        }
        AnalysisKind::PrePromotion => {
            labels.insert(ROLLOUT_TYPE_LABEL.into(), "PrePromotion".into());
        }
        AnalysisKind::PostPromotion => {
            labels.insert(ROLLOUT_TYPE_LABEL.into(), "PostPromotion".into());
        }
    }
    if let Some(id) = rollout
        .metadata
        .labels
        .get(INSTANCE_ID_LABEL)
        .filter(|id| !id.is_empty())
    {
        labels.insert(INSTANCE_ID_LABEL.into(), id.clone());
    }
    labels.extend(metadata.labels);
    labels.extend(selector_labels(rollout.spec.selector.as_ref()));
    let revision = rollout
        .metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    let mut annotations = BTreeMap::from([(REVISION_ANNOTATION.to_owned(), revision)]);
    annotations.extend(metadata.annotations);
    Ok(AnalysisRun {
        api_version: API_VERSION.into(),
        kind: "AnalysisRun".into(),
        metadata: ObjectMeta {
            name: request.name.clone(),
            namespace: rollout.metadata.namespace.clone(),
            uid: None,
            labels,
            annotations,
            owner_references: vec![OwnerReference {
                api_version: API_VERSION.into(),
                kind: "Rollout".into(),
                name: rollout.metadata.name.clone(),
                uid: rollout.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
        },
        spec,
        status: None,
    })
}

fn selector_labels(selector: Option<&Value>) -> BTreeMap<String, String> {
    selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

//! Several templates made into one run spec, as Argo's
//! `getAnalysisTemplatesFromRefs`, `FlattenTemplates`, `MergeArgs` and
//! `NewAnalysisRunFromTemplates` make it.
//!
//! - References are followed into each template's own `spec.templates`,
//!   depth first; a template named twice (of one kind) counts once.
//!   Templates that include each other are an error (Argo would recurse
//!   without end).
//! - Metrics are concatenated, the AnalysisTemplates' first and then the
//!   ClusterAnalysisTemplates', each in the order met; two metrics of one
//!   name are an error naming both templates.
//! - Arguments are merged by name: two templates giving one argument
//!   different values is an error; a value wins over none.
//! - The Rollout's arguments then override the templates' by name (one the
//!   templates do not declare is dropped); every argument must end with a
//!   `value` or a `valueFrom`.
//! - `dryRun` and `measurementRetention` are the Rollout's rules followed by
//!   the templates'; two rules for one metric name are an error.

use rollout_core::spec::AnalysisTemplateRef;

use crate::Error;
use crate::types::{
    AnalysisTemplate, Argument, DryRun, MeasurementRetention, Metric, TemplateKind,
};

/// The templates a list of references stands for, nested ones included,
/// each once: the AnalysisTemplates first, then the ClusterAnalysisTemplates.
///
/// `field` is where the references are (in the Rollout), for errors;
/// `lookup` finds a template by kind and name (`Ok(None)`: it does not
/// exist).
///
/// ```
/// use rollgate_analysis::{AnalysisTemplate, TemplateKind, merge::resolve_templates};
/// let template = |name: &str, nested: serde_json::Value| AnalysisTemplate::from_value(serde_json::json!({
///     "kind": "AnalysisTemplate", "metadata": {"name": name},
///     "spec": {"templates": nested}})).unwrap();
/// let refs: Vec<rollout_core::spec::AnalysisTemplateRef> =
///     serde_json::from_value(serde_json::json!([{"templateName": "outer"}])).unwrap();
/// let found = resolve_templates(&refs, "spec.strategy.canary.analysis.templates", &mut |_, name: &str| {
///     Ok(match name {
///         "outer" => Some(template("outer", serde_json::json!([{"templateName": "inner"}]))),
///         "inner" => Some(template("inner", serde_json::json!([]))),
///         _ => None,
///     })
/// }).unwrap();
/// let names: Vec<_> = found.iter().map(|t| t.metadata.name.as_str()).collect();
/// assert_eq!(names, ["outer", "inner"]);
/// ```
pub fn resolve_templates<F>(
    refs: &[AnalysisTemplateRef],
    field: &str,
    lookup: &mut F,
) -> Result<Vec<AnalysisTemplate>, Error>
where
    F: FnMut(TemplateKind, &str) -> Result<Option<AnalysisTemplate>, Error>,
{
    let mut path = Vec::new();
    let (namespaced, cluster) = follow(refs, field, lookup, &mut path)?;
    let mut unique: Vec<AnalysisTemplate> = Vec::new();
    for template in namespaced.into_iter().chain(cluster) {
        let seen = unique.iter().any(|t| {
            t.template_kind() == template.template_kind()
                && t.metadata.name == template.metadata.name
        });
        if !seen {
            unique.push(template);
        }
    }
    Ok(unique)
}

type Found = (Vec<AnalysisTemplate>, Vec<AnalysisTemplate>);

fn follow<F>(
    refs: &[AnalysisTemplateRef],
    field: &str,
    lookup: &mut F,
    path: &mut Vec<(TemplateKind, String)>,
) -> Result<Found, Error>
where
    F: FnMut(TemplateKind, &str) -> Result<Option<AnalysisTemplate>, Error>,
{
    let (mut namespaced, mut cluster) = (Vec::new(), Vec::new());
    for reference in refs {
        let kind = TemplateKind::of(reference);
        let name = reference.template_name.as_str();
        if path.iter().any(|(k, n)| *k == kind && n == name) {
            return Err(Error::TemplateCycle {
                field: field.to_owned(),
                template: format!("{} {name}", kind.as_str()),
            });
        }
        let Some(mut template) = lookup(kind, name)? else {
            return Err(Error::TemplateNotFound {
                field: field.to_owned(),
                kind: kind.as_str(),
                name: name.to_owned(),
            });
        };
        kind.as_str().clone_into(&mut template.kind);
        let nested = std::mem::take(&mut template.spec.templates);
        let inner_field = format!("{}: spec.templates", template.describe());
        match kind {
            TemplateKind::Namespaced => namespaced.push(template),
            TemplateKind::Cluster => cluster.push(template),
        }
        if !nested.is_empty() {
            path.push((kind, name.to_owned()));
            let (inner_namespaced, inner_cluster) = follow(&nested, &inner_field, lookup, path)?;
            path.pop();
            cluster.extend(inner_cluster);
            namespaced.extend(inner_namespaced);
        }
    }
    Ok((namespaced, cluster))
}

/// Several templates as one: what an AnalysisRun's spec is made of.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Flattened {
    /// Every template's metrics.
    pub metrics: Vec<Metric>,
    /// The arguments, merged by name, each with the template that declared it.
    pub args: Vec<(Argument, String)>,
    /// The templates' dry-run rules.
    pub dry_run: Vec<DryRun>,
    /// The templates' measurement-retention rules.
    pub measurement_retention: Vec<MeasurementRetention>,
}

/// Argo's `FlattenTemplates` over templates in the order
/// [`resolve_templates`] gives them.
///
/// ```
/// use rollgate_analysis::{AnalysisTemplate, merge::flatten};
/// let t = |kind: &str, name: &str| AnalysisTemplate::from_value(serde_json::json!({
///     "kind": kind, "metadata": {"name": name},
///     "spec": {"metrics": [{"name": "error-rate", "provider": {"web": {"url": "http://127.0.0.1/"}}}]}})).unwrap();
/// let err = flatten(&[t("AnalysisTemplate", "a"), t("ClusterAnalysisTemplate", "b")]).unwrap_err();
/// assert_eq!(err.to_string(),
///     "two metrics have the same name 'error-rate': AnalysisTemplate a and ClusterAnalysisTemplate b");
/// ```
pub fn flatten(templates: &[AnalysisTemplate]) -> Result<Flattened, Error> {
    let ordered: Vec<&AnalysisTemplate> = templates
        .iter()
        .filter(|t| t.template_kind() == TemplateKind::Namespaced)
        .chain(
            templates
                .iter()
                .filter(|t| t.template_kind() == TemplateKind::Cluster),
        )
        .collect();
    let mut flat = Flattened::default();
    let mut origins: Vec<String> = Vec::new();
    for template in &ordered {
        let origin = template.describe();
        for metric in &template.spec.metrics {
            if let Some(i) = flat.metrics.iter().position(|m| m.name == metric.name) {
                return Err(Error::DuplicateMetric {
                    metric: metric.name.clone(),
                    first: origins[i].clone(),
                    second: origin,
                });
            }
            flat.metrics.push(metric.clone());
            origins.push(origin.clone());
        }
        for arg in &template.spec.args {
            add_template_arg(&mut flat.args, arg, &origin)?;
        }
        flat.dry_run.extend(template.spec.dry_run.iter().cloned());
        flat.measurement_retention
            .extend(template.spec.measurement_retention.iter().cloned());
    }
    check_rules(&flat.dry_run, &flat.measurement_retention)?;
    Ok(flat)
}

/// Argo's `appendOrUpdate` in `flattenArgs`.
fn add_template_arg(
    args: &mut Vec<(Argument, String)>,
    arg: &Argument,
    origin: &str,
) -> Result<(), Error> {
    let Some((previous, previous_origin)) = args.iter_mut().find(|(a, _)| a.name == arg.name)
    else {
        args.push((arg.clone(), origin.to_owned()));
        return Ok(());
    };
    if let (Some(first), Some(second)) = (&previous.value, &arg.value)
        && first != second
    {
        return Err(Error::ConflictingArgument {
            name: arg.name.clone(),
            first: first.clone(),
            first_template: previous_origin.clone(),
            second: second.clone(),
            second_template: origin.to_owned(),
        });
    }
    if previous.value.is_none() {
        *previous = arg.clone();
        origin.clone_into(previous_origin);
    }
    Ok(())
}

/// Two dry-run or two retention rules naming one metric are an error.
pub(crate) fn check_rules(
    dry_run: &[DryRun],
    retention: &[MeasurementRetention],
) -> Result<(), Error> {
    let duplicate = |names: Vec<&String>| {
        names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
            .map(|(_, n)| (*n).clone())
    };
    if let Some(metric) = duplicate(dry_run.iter().map(|d| &d.metric_name).collect()) {
        return Err(Error::DuplicateRule {
            rule: "Dry-Run",
            metric,
        });
    }
    if let Some(metric) = duplicate(retention.iter().map(|d| &d.metric_name).collect()) {
        return Err(Error::DuplicateRule {
            rule: "Measurement Retention",
            metric,
        });
    }
    Ok(())
}

/// Argo's `MergeArgs`: the templates' arguments with the Rollout's values
/// put in by name; every argument must end with a value or a `valueFrom`.
///
/// ```
/// use rollgate_analysis::{types::Argument, merge::merge_args};
/// let declared = |name: &str, value: Option<&str>| (Argument {
///     name: name.into(), value: value.map(Into::into), value_from: None }, "AnalysisTemplate rate".to_owned());
/// let passed = [Argument { name: "service".into(), value: Some("web-canary".into()), value_from: None }];
/// let merged = merge_args(&passed, &[declared("service", None), declared("threshold", Some("0.95"))]).unwrap();
/// assert_eq!(merged[0].value.as_deref(), Some("web-canary"));
/// assert_eq!(merged[1].value.as_deref(), Some("0.95"));
/// let err = merge_args(&[], &[declared("service", None)]).unwrap_err();
/// assert!(err.to_string().starts_with("args.service was not resolved: AnalysisTemplate rate declares it"));
/// ```
pub fn merge_args(
    incoming: &[Argument],
    declared: &[(Argument, String)],
) -> Result<Vec<Argument>, Error> {
    let mut merged: Vec<Argument> = declared.iter().map(|(a, _)| a.clone()).collect();
    for arg in incoming {
        if let Some(target) = merged.iter_mut().find(|a| a.name == arg.name) {
            if arg.value.is_some() {
                target.value.clone_from(&arg.value);
            } else if arg.value_from.is_some() {
                target.value_from.clone_from(&arg.value_from);
            }
        }
    }
    if let Some((arg, origin)) = merged
        .iter()
        .zip(declared)
        .map(|(a, (_, origin))| (a, origin))
        .find(|(a, _)| a.value.is_none() && a.value_from.is_none())
    {
        return Err(Error::UnresolvedArgument {
            name: arg.name.clone(),
            template: origin.clone(),
        });
    }
    Ok(merged)
}

//! Argo's checks of the templates a Rollout references
//! (`ValidateAnalysisTemplatesWithType`): the templates must merge into a
//! run ([`crate::run::run_spec`]), and a step's analysis must end on its
//! own: each metric of a step's templates measures a bounded number of
//! times (`count`, or once without an `interval`). Background analysis may
//! run until the rollout is promoted.
//!
//! The metric rules the measuring side applies when a run starts (Argo's
//! `ValidateMetrics`: limits, providers) are not checked here.
//!
//! Where Argo differs: it ignores an argument whose value cannot be taken
//! from the Rollout here (and fails later, creating the run); here that is
//! a problem of the spec at once.

use rollout_core::intstr::IntOrString;
use rollout_core::spec::AnalysisStep;
use rollout_core::{AnalysisKind, FieldError, Rollout};
use serde_json::Value;

use crate::Error;
use crate::merge::resolve_templates;
use crate::run::{RunSource, analysis_field, run_spec};
use crate::types::{AnalysisTemplate, Argument, Metric, TemplateKind};

/// Every analysis of a Rollout with where it is: the steps' in order, then
/// background analysis (Argo's order).
pub fn analyses(rollout: &Rollout) -> Vec<(AnalysisKind, &AnalysisStep)> {
    let Some(canary) = rollout.canary() else {
        return Vec::new();
    };
    let steps = canary
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((AnalysisKind::Step(i), s.analysis()?)));
    let background = canary
        .analysis
        .as_ref()
        .map(|b| (AnalysisKind::Background, &b.run));
    steps.chain(background).collect()
}

/// The first problem with the templates a Rollout's analyses reference,
/// as Argo reports it in the `InvalidSpec` condition: a template that does
/// not exist, templates that do not merge, a step's metric that never
/// ends. `rollout_json` is the Rollout as JSON (for `fieldRef` arguments);
/// `lookup` finds a template by kind and name.
///
/// ```
/// use rollgate_analysis::validate::check_rollout;
/// let json = serde_json::json!({"metadata": {"name": "web"}, "spec": {"strategy": {"canary": {
///     "steps": [{"analysis": {"templates": [{"templateName": "rate"}]}}]}}}});
/// let rollout = rollout_core::Rollout::from_value(json.clone(), "web").unwrap();
/// let problem = check_rollout(&rollout, &json, &mut |_, _: &str| Ok(None)).unwrap();
/// assert_eq!(problem.to_string(), "spec.strategy.canary.steps[0].analysis.templates: \
///     Invalid value: \"rate\": AnalysisTemplate 'rate' not found");
/// ```
pub fn check_rollout<F>(
    rollout: &Rollout,
    rollout_json: &Value,
    lookup: &mut F,
) -> Option<FieldError>
where
    F: FnMut(TemplateKind, &str) -> Result<Option<AnalysisTemplate>, Error>,
{
    let source = RunSource {
        rollout,
        rollout_json,
        stable_hash: Some("dummy-stable-hash"),
        latest_hash: "dummy-new-hash",
    };
    analyses(rollout).into_iter().find_map(|(kind, analysis)| {
        let field = format!("{}.templates", analysis_field(kind));
        let templates = match resolve_templates(&analysis.templates, &field, lookup) {
            Ok(templates) => templates,
            Err(e @ Error::TemplateNotFound { .. }) => {
                return Some(FieldError::new("", e.to_string()));
            }
            Err(e) => return Some(FieldError::new(field, e.to_string())),
        };
        let names: Vec<&str> = templates.iter().map(|t| t.metadata.name.as_str()).collect();
        let invalid = |message: String| {
            Some(FieldError::new(
                field.clone(),
                format!(
                    "Invalid value: \"templateNames: [{}]\": {message}",
                    names.join(" ")
                ),
            ))
        };
        if let Err(e) = run_spec(analysis, &analysis_field(kind), &templates, &source) {
            return invalid(e.to_string());
        }
        if kind == AnalysisKind::Background {
            return None;
        }
        templates.iter().find_map(|t| {
            bounded(t).err().map(|e| {
                FieldError::new(
                    field.clone(),
                    format!("Invalid value: \"{}\": {e}", t.metadata.name),
                )
            })
        })
    })
}

/// Kubernetes' `IntOrString.IntValue`: a string that is not an integer counts as 0.
fn int_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => s.parse().unwrap_or(0),
    }
}

/// `count` with the template's argument values put in for `{{args.NAME}}`
/// (an argument without a value reads as a placeholder, as in Argo).
fn count_with_args(metric: &Metric, args: &[Argument]) -> Option<IntOrString> {
    let count = metric.count.clone()?;
    Some(match count {
        IntOrString::String(mut text) => {
            for arg in args {
                let value = arg.value.as_deref().unwrap_or("dummy-value");
                text = text.replace(&format!("{{{{args.{}}}}}", arg.name), value);
            }
            IntOrString::String(text)
        }
        int => int,
    })
}

/// Argo's check that a step's templates end: every metric has a count
/// above 0, or no interval (it is measured once).
///
/// ```
/// use rollgate_analysis::{AnalysisTemplate, validate::bounded};
/// let t = AnalysisTemplate::from_value(serde_json::json!({"kind": "AnalysisTemplate",
///     "metadata": {"name": "rate"},
///     "spec": {"metrics": [{"name": "ok", "interval": "1m",
///              "provider": {"web": {"url": "http://127.0.0.1/"}}}]}})).unwrap();
/// assert_eq!(bounded(&t).unwrap_err().to_string(),
///     "AnalysisTemplate rate has metric ok which runs indefinitely. Invalid value for count: <nil>");
/// ```
pub fn bounded(template: &AnalysisTemplate) -> Result<(), Error> {
    for (index, metric) in template.spec.metrics.iter().enumerate() {
        let count = count_with_args(metric, &template.spec.args);
        let counted = count.as_ref().is_some_and(|c| int_value(c) != 0);
        if !counted && metric.interval.as_deref().is_some_and(|i| !i.is_empty()) {
            return Err(Error::Unbounded {
                template: template.describe(),
                index,
                metric: metric.name.clone(),
                count: count.map_or_else(|| "<nil>".to_owned(), |c| c.to_string()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(metrics: serde_json::Value, args: serde_json::Value) -> AnalysisTemplate {
        AnalysisTemplate::from_value(json!({"kind": "ClusterAnalysisTemplate",
            "metadata": {"name": "t"}, "spec": {"metrics": metrics, "args": args}}))
        .unwrap()
    }

    #[test]
    fn counts_and_single_measurements_end() {
        let web = json!({"web": {"url": "http://127.0.0.1/"}});
        let t = template(
            json!([{"name": "a", "interval": "10s", "count": 3, "provider": web},
                   {"name": "b", "provider": web},
                   {"name": "c", "interval": "10s", "count": "{{args.n}}", "provider": web}]),
            json!([{"name": "n", "value": "5"}]),
        );
        assert_eq!(bounded(&t), Ok(()));
    }

    #[test]
    fn a_count_that_is_not_a_number_runs_forever() {
        let web = json!({"web": {"url": "http://127.0.0.1/"}});
        let t = template(
            json!([{"name": "a", "interval": "10s", "count": "{{args.n}}", "provider": web}]),
            json!([{"name": "n"}]),
        );
        assert_eq!(
            bounded(&t).unwrap_err().to_string(),
            "ClusterAnalysisTemplate t has metric a which runs indefinitely. Invalid value for count: dummy-value"
        );
    }
}

//! Argo's checks of the templates a Rollout references
//! (`ValidateAnalysisTemplatesWithType`): the templates must merge into a
//! run ([`crate::run::run_spec`]), and a step's analysis must end on its
//! own: each metric of a step's templates measures a bounded number of
//! times (`count`, or once without an `interval`). Background analysis may
//! run until the rollout is promoted.
//!
//! The metric rules the measuring side applies when a run starts (Argo's
//! `ValidateMetrics`: names, limits, durations, providers) are
//! [`metrics`]; Argo's rollout controller does not apply them, and neither
//! does [`check_rollout`].
//!
//! Where Argo differs: it ignores an argument whose value cannot be taken
//! from the Rollout here (and fails later, creating the run); here that is
//! a problem of the spec at once.

use rollout_core::intstr::IntOrString;
use rollout_core::spec::AnalysisStep;
use rollout_core::{AnalysisKind, FieldError, Rollout};
use serde_json::Value;

use crate::Error;
use crate::assess::int_value;
use crate::condition::within_limits;
use crate::merge::resolve_templates;
use crate::run::{RunSource, analysis_field, run_spec};
use crate::types::{AnalysisTemplate, Argument, Metric, TemplateKind};

/// Every analysis of a Rollout with where it is: the steps' in order, then
/// background analysis (Argo's order); for blue-green, pre- then
/// post-promotion analysis.
pub fn analyses(rollout: &Rollout) -> Vec<(AnalysisKind, &AnalysisStep)> {
    if let Some(bg) = rollout.blue_green() {
        let pre = bg
            .pre_promotion_analysis
            .as_ref()
            .map(|a| (AnalysisKind::PrePromotion, a));
        let post = bg
            .post_promotion_analysis
            .as_ref()
            .map(|a| (AnalysisKind::PostPromotion, a));
        return pre.into_iter().chain(post).collect();
    }
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

/// Argo's `ValidateMetrics`, on a run's metrics with their arguments put
/// in: at least one metric, unique names, and for each metric the limits,
/// durations and exactly one provider. The message is Argo's, prefixed
/// with `metrics[i]: `, except that a duration that does not read says
/// what was expected in words.
///
/// ```
/// use rollgate_analysis::{types::Metric, validate::metrics};
/// let defined: Vec<Metric> = serde_json::from_value(serde_json::json!([
///     {"name": "a", "count": 3, "interval": "1m", "failureLimit": 2, "consecutiveSuccessLimit": 2,
///      "provider": {"web": {"url": "http://127.0.0.1/"}}}])).unwrap();
/// assert_eq!(metrics(&defined).unwrap_err().to_string(), "metrics[0]: count (3) must be >= \
///     failureLimit + consecutiveSuccessLimit (2 + 2) if both >= 0");
/// ```
pub fn metrics(metrics: &[Metric]) -> Result<(), Error> {
    let invalid = |index, message| Error::InvalidMetric { index, message };
    if metrics.is_empty() {
        return Err(invalid(None, "no metrics specified".into()));
    }
    for (i, metric) in metrics.iter().enumerate() {
        if metrics[..i].iter().any(|m| m.name == metric.name) {
            return Err(invalid(
                Some(i),
                format!("duplicate name '{}'", metric.name),
            ));
        }
        metric_rules(metric).map_err(|e| invalid(Some(i), e))?;
    }
    Ok(())
}

/// Argo's `ValidateMetric`.
fn metric_rules(metric: &Metric) -> Result<(), String> {
    let value = |v: &Option<IntOrString>| v.as_ref().map_or(0, int_value);
    let count = value(&metric.count);
    let failure = value(&metric.failure_limit);
    let success = value(&metric.consecutive_success_limit);
    let inconclusive = value(&metric.inconclusive_limit);
    if success < 0 {
        return Err("consecutiveSuccessLimit must be >= 0".into());
    }
    if failure < -1 {
        return Err("failureLimit must be >= 0, or -1 to be disabled".into());
    }
    if success == 0 && failure == -1 {
        return Err("failureLimit and consecutiveSuccessLimit cannot both be disabled".into());
    }
    if inconclusive < 0 {
        return Err("inconclusiveLimit must be >= 0".into());
    }
    if metric
        .consecutive_error_limit
        .as_ref()
        .is_some_and(|l| int_value(l) < 0)
    {
        return Err("consecutiveErrorLimit must be >= 0".into());
    }
    if count > 0 {
        if failure >= 0 && count < failure + success {
            return Err(format!(
                "count ({count}) must be >= failureLimit + consecutiveSuccessLimit ({failure} + {success}) if both >= 0"
            ));
        }
        if failure < 0 && count < success {
            return Err("count must be >= consecutiveSuccessLimit".into());
        }
        if count < inconclusive {
            return Err("count must be >= inconclusiveLimit".into());
        }
    }
    let interval = metric.interval.as_deref().filter(|i| !i.is_empty());
    if count > 1 && interval.is_none() {
        return Err("interval must be specified when count > 1".into());
    }
    for (field, text) in [
        ("interval", interval),
        (
            "startDelay",
            metric.initial_delay.as_deref().filter(|d| !d.is_empty()),
        ),
    ] {
        if let Some(text) = text
            && rollout_core::intstr::go_duration_nanos(text).is_none()
        {
            return Err(format!(
                "invalid {field} string: \"{text}\" is not a duration such as 30s or 5m"
            ));
        }
    }
    for (field, condition) in [
        ("successCondition", &metric.success_condition),
        ("failureCondition", &metric.failure_condition),
    ] {
        if let Some(condition) = condition {
            within_limits(condition).map_err(|e| format!("{field} {e}"))?;
        }
    }
    match metric.provider.count() {
        0 => Err("no provider specified".into()),
        1 => Ok(()),
        _ => Err("multiple providers specified".into()),
    }
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

    fn rules(metric: serde_json::Value) -> Result<(), String> {
        let mut metric = metric;
        if metric.get("provider").is_none() {
            metric["provider"] = json!({"web": {"url": "http://127.0.0.1/"}});
        }
        metrics(&[serde_json::from_value(metric).unwrap()]).map_err(|e| e.to_string())
    }

    #[test]
    fn a_condition_over_the_length_limit_is_refused() {
        let long = format!("result == \"{}\"", "a".repeat(4096));
        assert_eq!(
            rules(json!({"name": "m", "failureCondition": long})).unwrap_err(),
            "metrics[0]: failureCondition is 4108 bytes long, more than the limit of 4096 bytes"
        );
        let at_limit = format!("result == \"{}\"", "a".repeat(4096 - 12));
        assert_eq!(at_limit.len(), 4096);
        assert_eq!(
            rules(json!({"name": "m", "successCondition": at_limit})),
            Ok(())
        );
    }

    #[test]
    fn argos_metric_rules() {
        let err = |m| rules(m).unwrap_err();
        assert_eq!(
            metrics(&[]).unwrap_err().to_string(),
            "no metrics specified"
        );
        assert_eq!(rules(json!({"name": "a"})), Ok(()));
        assert_eq!(
            err(json!({"name": "a", "consecutiveSuccessLimit": -1})),
            "metrics[0]: consecutiveSuccessLimit must be >= 0"
        );
        assert_eq!(
            err(json!({"name": "a", "failureLimit": -2})),
            "metrics[0]: failureLimit must be >= 0, or -1 to be disabled"
        );
        assert_eq!(
            err(json!({"name": "a", "failureLimit": -1})),
            "metrics[0]: failureLimit and consecutiveSuccessLimit cannot both be disabled"
        );
        assert_eq!(
            rules(
                json!({"name": "a", "failureLimit": -1, "consecutiveSuccessLimit": 2, "count": 3, "interval": "1s"})
            ),
            Ok(())
        );
        assert_eq!(
            err(
                json!({"name": "a", "failureLimit": -1, "consecutiveSuccessLimit": 4, "count": 3, "interval": "1s"})
            ),
            "metrics[0]: count must be >= consecutiveSuccessLimit"
        );
        assert_eq!(
            err(json!({"name": "a", "inconclusiveLimit": -1})),
            "metrics[0]: inconclusiveLimit must be >= 0"
        );
        assert_eq!(
            err(json!({"name": "a", "consecutiveErrorLimit": -1})),
            "metrics[0]: consecutiveErrorLimit must be >= 0"
        );
        assert_eq!(
            err(json!({"name": "a", "count": 2, "inconclusiveLimit": 3, "interval": "1s"})),
            "metrics[0]: count must be >= inconclusiveLimit"
        );
        assert_eq!(
            err(json!({"name": "a", "count": 2})),
            "metrics[0]: interval must be specified when count > 1"
        );
        assert_eq!(
            err(json!({"name": "a", "interval": "soon"})),
            "metrics[0]: invalid interval string: \"soon\" is not a duration such as 30s or 5m"
        );
        assert_eq!(
            err(json!({"name": "a", "initialDelay": "5"})),
            "metrics[0]: invalid startDelay string: \"5\" is not a duration such as 30s or 5m"
        );
        assert_eq!(
            err(json!({"name": "a", "provider": {}})),
            "metrics[0]: no provider specified"
        );
        assert_eq!(
            err(json!({"name": "a", "provider": {"web": {"url": "u"}, "datadog": {}}})),
            "metrics[0]: multiple providers specified"
        );
        assert_eq!(
            err(json!({"name": "a", "provider": {"plugin": {"x/a": {}, "x/b": {}}}})),
            "metrics[0]: multiple providers specified"
        );
        let two = [
            serde_json::from_value(json!({"name": "a", "provider": {"web": {"url": "u"}}}))
                .unwrap(),
            serde_json::from_value(json!({"name": "a", "provider": {"web": {"url": "u"}}}))
                .unwrap(),
        ];
        assert_eq!(
            metrics(&two).unwrap_err().to_string(),
            "metrics[1]: duplicate name 'a'"
        );
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

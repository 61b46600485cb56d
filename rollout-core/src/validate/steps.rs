//! `spec.strategy.canary.steps[]`: Argo's rules for each step.

use serde_json::Value;

use super::path::{Path, TRAFFIC_ROUTING};
use super::{Validator, messages as m, names, traffic};
use crate::intstr::IntOrString;
use crate::spec::{
    AnalysisArg, CanaryStep, CanaryStrategy, ExperimentStep, StepAction, StringMatch,
};

/// The rules for one step at `path` (`...steps[i]`): each of its actions.
/// Which actions may share a step is checked when the step is read
/// ([`CanaryStep::new`]).
pub(super) fn rules(v: &mut Validator, c: &CanaryStrategy, path: Path<'_>, step: &CanaryStep) {
    for action in step.actions() {
        action_rules(v, c, path, action);
    }
}

/// The rules for one action of the step at `path`.
fn action_rules(v: &mut Validator, c: &CanaryStrategy, path: Path<'_>, action: &StepAction) {
    let tr = c.traffic_routing.as_ref();
    let at = path.field(action.field_name());
    match action {
        StepAction::SetWeight(w) => {
            let max = c.max_weight();
            if *w < 0 || *w > max {
                v.err(
                    at,
                    format!("{w}: SetWeight needs to be between 0 and {max}"),
                );
            }
        }
        StepAction::Pause(p) => {
            if let Some(d) = &p.duration
                && d.as_duration().is_none()
            {
                v.err(at.field("duration"), pause_duration_error(d));
            }
        }
        StepAction::SetCanaryScale(_) => {
            if tr.is_none() {
                v.err(at, m::SET_CANARY_SCALE_NEEDS_ROUTING);
            }
        }
        StepAction::SetHeaderRoute(h) => {
            match tr {
                Some(t) if traffic::carries_header_routes(t) => {
                    let matches = at.field("match");
                    for (j, hm) in h.matches.iter().enumerate() {
                        let value_path = matches.index(j);
                        let value_path = value_path.field("headerValue");
                        if t.alb.is_some() {
                            alb_match(v, value_path, &hm.header_value);
                        } else {
                            string_match(v, value_path, &hm.header_value);
                        }
                    }
                }
                _ => v.err(at, m::HEADER_ROUTE_ROUTERS),
            }
            managed_route(v, c, at, &h.name);
        }
        StepAction::SetMirrorRoute(mr) => {
            if !tr.is_some_and(traffic::carries_mirror_routes) {
                v.err(at, m::MIRROR_ROUTE_ROUTERS);
            }
            let matches = at.field("match");
            for (j, mm) in mr.matches.iter().enumerate() {
                let match_path = matches.index(j);
                if let Some(s) = &mm.method {
                    string_match(v, match_path.field("method"), s);
                }
                if let Some(s) = &mm.path {
                    string_match(v, match_path.field("path"), s);
                }
            }
            managed_route(v, c, at, &mr.name);
        }
        StepAction::Experiment(value) => experiment(v, c, at, value),
        StepAction::Analysis(a) => analysis_args(v, at.field("args"), &a.args),
        StepAction::Plugin(_) => {}
    }
}

/// Why a pause duration is refused, ending with Argo's message.
fn pause_duration_error(d: &IntOrString) -> String {
    let negative = match d {
        IntOrString::Int(n) => *n < 0,
        IntOrString::String(s) => s.starts_with('-'),
    };
    if negative {
        format!("{d} is negative; {}", m::INVALID_DURATION)
    } else {
        format!(
            "{:?} is not a duration (expected seconds, or a duration such as 30s, 5m or 1h30m); {}",
            d.to_string(),
            m::INVALID_DURATION
        )
    }
}

/// `exact`, `prefix` or `regex`: exactly one, non-empty (Argo's `hasMultipleMatchValues`).
fn string_match(v: &mut Validator, path: Path<'_>, s: &StringMatch) {
    match non_empty_kinds(s) {
        0 => v.err(path, m::STRING_MATCH_MISSING),
        1 => {}
        _ => v.err(path, m::STRING_MATCH_MULTIPLE),
    }
}

/// ALB header routes match exact values only.
fn alb_match(v: &mut Validator, path: Path<'_>, s: &StringMatch) {
    if non_empty_kinds(s) == 0 {
        v.err(path, m::STRING_MATCH_MISSING);
    } else if s.exact.as_deref().unwrap_or("").is_empty()
        || s.prefix.as_deref().is_some_and(|p| !p.is_empty())
        || s.regex.as_deref().is_some_and(|p| !p.is_empty())
    {
        v.err(path, m::ALB_EXACT_ONLY);
    }
}

/// How many of exact/prefix/regex are set to a non-empty value (Go reads an
/// empty string as unset).
pub(super) fn non_empty_kinds(s: &StringMatch) -> usize {
    [&s.exact, &s.prefix, &s.regex]
        .into_iter()
        .filter(|k| k.as_deref().is_some_and(|k| !k.is_empty()))
        .count()
}

/// A header or mirror route step names a route in `managedRoutes`.
fn managed_route(v: &mut Validator, c: &CanaryStrategy, at: Path<'_>, name: &str) {
    let Some(tr) = &c.traffic_routing else { return };
    if tr.managed_routes.is_empty() {
        v.err_once(
            TRAFFIC_ROUTING.field("managedRoutes"),
            m::MISSING_MANAGED_ROUTES,
        );
    } else if !tr.managed_routes.iter().any(|r| r.name == name) {
        v.err(at, format!("{name:?}: {}", m::ROUTE_NOT_IN_MANAGED_ROUTES));
    }
}

fn experiment(v: &mut Validator, c: &CanaryStrategy, at: Path<'_>, value: &Value) {
    let step = match ExperimentStep::from_value(value) {
        Ok(s) => s,
        Err(e) => {
            let path = if e.path.is_empty() {
                at.to_string()
            } else {
                format!("{at}.{}", e.path)
            };
            v.err(path, e.message);
            return;
        }
    };
    let templates = at.field("templates");
    for (t, template) in step.templates.iter().enumerate() {
        if template.weight.is_none() {
            continue;
        }
        let weight_path = templates.index(t);
        let weight_path = weight_path.field("weight");
        match &c.traffic_routing {
            None => v.err(weight_path, m::EXPERIMENT_WEIGHT_NEEDS_ROUTING),
            Some(tr) if !traffic::carries_experiment_weights(tr) => {
                v.err(weight_path, m::EXPERIMENT_WEIGHT_ROUTERS);
            }
            Some(_) => {}
        }
    }
    let analyses = at.field("analyses");
    for (a, analysis) in step.analyses.iter().enumerate() {
        let analysis_path = analyses.index(a);
        analysis_args(v, analysis_path.field("args"), &analysis.args);
    }
}

/// Arguments taken from the rollout's metadata (`valueFrom.fieldRef`) name a
/// field the Kubernetes downward API can read.
pub(super) fn analysis_args(v: &mut Validator, path: Path<'_>, args: &[AnalysisArg]) {
    for (k, arg) in args.iter().enumerate() {
        let field_path = arg
            .value_from
            .as_ref()
            .and_then(|f| f.pointer("/fieldRef/fieldPath"))
            .and_then(Value::as_str);
        if let Some(fp) = field_path
            && fp.starts_with("metadata")
            && !readable_metadata_field(fp)
        {
            v.err(
                format!("{path}[{k}].valueFrom.fieldRef.fieldPath"),
                format!("{fp:?}: {}", m::INVALID_ANALYSIS_ARGS),
            );
        }
    }
}

/// Kubernetes' `ExtractFieldPathAsString` on object metadata: `metadata.name`,
/// `.namespace`, `.uid`, `.labels`, `.annotations`, or one label or
/// annotation by a valid key (`metadata.labels['app']`).
fn readable_metadata_field(path: &str) -> bool {
    if let Some(inner) = path.strip_suffix("']")
        && let Some((field, key)) = inner.split_once("['")
        && !field.is_empty()
    {
        return match field {
            "metadata.annotations" => names::qualified_name(&key.to_lowercase()).is_none(),
            "metadata.labels" => names::qualified_name(key).is_none(),
            _ => false,
        };
    }
    matches!(
        path,
        "metadata.annotations"
            | "metadata.labels"
            | "metadata.name"
            | "metadata.namespace"
            | "metadata.uid"
    )
}

#[cfg(test)]
mod tests {
    use super::readable_metadata_field;

    #[test]
    fn downward_api_metadata_fields() {
        for ok in [
            "metadata.name",
            "metadata.uid",
            "metadata.labels['app']",
            "metadata.annotations['Example.com/Key']",
        ] {
            assert!(readable_metadata_field(ok), "{ok}");
        }
        for bad in [
            "metadata.label['app']",
            "metadata.generation",
            "metadata.name['x']",
            "metadata.labels['-x']",
            "metadata.labels['Example.com/x']",
        ] {
            assert!(!readable_metadata_field(bad), "{bad}");
        }
    }
}

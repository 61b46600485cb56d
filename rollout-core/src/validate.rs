//! Validation: Argo Rollouts' rules for a canary Rollout, plus what this
//! engine does not run yet, each reported with its field path.

use std::fmt;

use crate::error::{Error, FieldError};
use crate::intstr::{IntOrString, Rounding};
use crate::spec::{
    AnalysisTemplateRef, CanaryStep, CanaryStrategy, Rollout, StepAction, StringMatch,
    TrafficRouting,
};

/// Checks a Rollout against Argo Rollouts' validation rules for the canary
/// strategy and against what this engine supports. Returns every problem
/// found, in field order; an empty list means the Rollout can be run.
///
/// ```
/// use rollout_core::{validate, Rollout};
/// let rollout = Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web"},
///     "spec": {"strategy": {"canary": {"steps": [
///         {"setWeight": 20}, {"pause": {}}, {"setWeight": 150}
///     ]}}}
/// }), "web.yaml").unwrap();
/// let errors = validate(&rollout);
/// assert_eq!(errors[0].to_string(),
///     "spec.strategy.canary.steps[2].setWeight: 150 is above maxTrafficWeight 100");
/// ```
pub fn validate(rollout: &Rollout) -> Vec<FieldError> {
    let mut v = Validator::default();
    if let Some(r) = rollout.spec.replicas
        && r < 0
    {
        v.err("spec.replicas", format!("{r} is negative"));
    }
    if let Some(p) = rollout.spec.progress_deadline_seconds
        && p <= 0
    {
        v.err(
            "spec.progressDeadlineSeconds",
            format!("{p} must be positive"),
        );
    }
    let strategy = &rollout.spec.strategy;
    match (&strategy.canary, &strategy.blue_green) {
        (Some(c), None) => v.canary(c, rollout.replicas()),
        (None, Some(bg)) => {
            if bg.active_service.is_empty() {
                v.err(
                    "spec.strategy.blueGreen.activeService",
                    "is required for the blue-green strategy",
                );
            }
            v.err(
                "spec.strategy.blueGreen",
                "the blue-green strategy is not supported yet by this engine",
            );
        }
        (Some(_), Some(_)) => v.err(
            "spec.strategy",
            "sets both canary and blueGreen; set exactly one",
        ),
        (None, None) => v.err(
            "spec.strategy",
            "sets neither canary nor blueGreen; set one",
        ),
    }
    v.errors
}

/// [`validate`], as a `Result` carrying the rollout's name.
pub fn check(rollout: &Rollout) -> Result<(), Error> {
    let errors = validate(rollout);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid {
            object: rollout.object_name(),
            errors,
        })
    }
}

/// A field path built on the stack and rendered only when there is an error
/// to report, so validating a valid Rollout allocates nothing.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Self>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    const fn root(name: &'a str) -> Self {
        Self {
            parent: None,
            segment: Segment::Field(name),
        }
    }

    fn field(&'a self, name: &'a str) -> Self {
        Self {
            parent: Some(self),
            segment: Segment::Field(name),
        }
    }

    fn index(&'a self, i: usize) -> Self {
        Self {
            parent: Some(self),
            segment: Segment::Index(i),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match (self.parent, self.segment) {
            (None, Segment::Field(name)) => f.write_str(name),
            (Some(_), Segment::Field(name)) => write!(f, ".{name}"),
            (_, Segment::Index(i)) => write!(f, "[{i}]"),
        }
    }
}

const CANARY: Path<'static> = Path::root("spec.strategy.canary");

/// Routers that can carry header routes, and mirror routes (Argo's rules).
const HEADER_ROUTERS: [&str; 4] = ["istio", "alb", "apisix", "plugins"];
const MIRROR_ROUTERS: [&str; 2] = ["istio", "plugins"];

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn err(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.errors.push(FieldError::new(path.to_string(), message));
    }

    fn canary(&mut self, c: &CanaryStrategy, replicas: i32) {
        self.surge_and_unavailable(c, replicas);
        if let Some(tr) = &c.traffic_routing {
            self.traffic_routing(c, tr);
        } else {
            for (field, set) in [
                (
                    "scaleDownDelaySeconds",
                    c.scale_down_delay_seconds.is_some(),
                ),
                ("dynamicStableScale", c.dynamic_stable_scale == Some(true)),
                (
                    "abortScaleDownDelaySeconds",
                    c.abort_scale_down_delay_seconds.is_some(),
                ),
                ("minPodsPerReplicaSet", c.min_pods_per_replica_set.is_some()),
            ] {
                if set {
                    self.err(CANARY.field(field), "requires trafficRouting");
                }
            }
        }
        if c.dynamic_stable_scale == Some(true) && c.scale_down_delay_seconds.is_some() {
            self.err(
                CANARY.field("dynamicStableScale"),
                "cannot be used together with scaleDownDelaySeconds",
            );
        }
        for (field, value) in [
            ("scaleDownDelaySeconds", c.scale_down_delay_seconds),
            (
                "abortScaleDownDelaySeconds",
                c.abort_scale_down_delay_seconds,
            ),
            ("minPodsPerReplicaSet", c.min_pods_per_replica_set),
            (
                "scaleDownDelayRevisionLimit",
                c.scale_down_delay_revision_limit,
            ),
        ] {
            if let Some(n) = value
                && n < 0
            {
                self.err(CANARY.field(field), format!("{n} is negative"));
            }
        }
        if let Some(t) = &c.replica_progress_threshold
            && t.value < 0
        {
            let path = CANARY.field("replicaProgressThreshold");
            self.err(path.field("value"), format!("{} is negative", t.value));
        }
        if let Some(bg) = &c.analysis {
            let path = CANARY.field("analysis");
            self.analysis_templates(path, &bg.run.templates);
            if let Some(s) = bg.starting_step
                && usize::try_from(s).map_or(true, |s| s > c.steps.len())
            {
                self.err(
                    path.field("startingStep"),
                    format!("{s} is outside the steps (expected 0 to {})", c.steps.len()),
                );
            }
        }
        let steps = CANARY.field("steps");
        for (i, step) in c.steps.iter().enumerate() {
            self.step(steps.index(i), step, c);
        }
    }

    fn surge_and_unavailable(&mut self, c: &CanaryStrategy, replicas: i32) {
        let mut resolved = [None, None];
        for (i, (field, value, rounding)) in [
            ("maxSurge", &c.max_surge, Rounding::Up),
            ("maxUnavailable", &c.max_unavailable, Rounding::Down),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(v) = value else { continue };
            match v.resolve(replicas.max(100), rounding) {
                Ok(n) => resolved[i] = Some(n),
                Err(e) => self.err(CANARY.field(field), e.to_string()),
            }
            if let IntOrString::String(s) = v
                && field == "maxUnavailable"
                && v.resolve(100, rounding).is_ok_and(|p| p > 100)
            {
                self.err(CANARY.field(field), format!("{s} is above 100%"));
            }
        }
        if resolved == [Some(0), Some(0)] {
            self.err(
                CANARY.field("maxSurge"),
                "maxSurge and maxUnavailable cannot both be 0",
            );
        }
    }

    fn traffic_routing(&mut self, c: &CanaryStrategy, tr: &TrafficRouting) {
        let path = CANARY.field("trafficRouting");
        let listed = || tr.providers().collect::<Vec<_>>().join(", ");
        if tr.providers().next().is_none() {
            self.err(
                path,
                "sets no traffic router (expected one of istio, nginx, alb, smi, ambassador, \
                 appMesh, traefik, apisix, plugins)",
            );
        }
        if let Some(w) = tr.max_traffic_weight {
            if !tr.providers().all(|p| p == "nginx" || p == "plugins") {
                self.err(
                    path.field("maxTrafficWeight"),
                    "is only supported with nginx or plugins",
                );
            }
            if w <= 0 {
                self.err(
                    path.field("maxTrafficWeight"),
                    format!("{w} must be positive"),
                );
            }
        }
        let host_level_istio = tr
            .istio
            .as_ref()
            .is_some_and(|i| i.get("destinationRule").is_none());
        let needs_services = tr.providers().any(|p| {
            matches!(
                p,
                "nginx" | "smi" | "alb" | "ambassador" | "appMesh" | "traefik" | "apisix"
            )
        }) || host_level_istio;
        if needs_services {
            let canary = c.canary_service.as_deref().unwrap_or("");
            let stable = c.stable_service.as_deref().unwrap_or("");
            if canary.is_empty() {
                self.err(
                    CANARY.field("canaryService"),
                    format!("is required with trafficRouting {}", listed()),
                );
            }
            if stable.is_empty() {
                self.err(
                    CANARY.field("stableService"),
                    format!("is required with trafficRouting {}", listed()),
                );
            }
            if !canary.is_empty() && canary == stable {
                self.err(
                    CANARY.field("canaryService"),
                    format!("{canary:?} must differ from stableService"),
                );
            }
        }
        let routes = path.field("managedRoutes");
        for (i, r) in tr.managed_routes.iter().enumerate() {
            let at = routes.index(i);
            if r.name.is_empty() {
                self.err(at.field("name"), "is empty");
            } else if tr.managed_routes[..i].iter().any(|o| o.name == r.name) {
                self.err(at.field("name"), format!("{:?} is listed twice", r.name));
            }
        }
        if tr.plugins.keys().any(String::is_empty) {
            self.err(path.field("plugins"), "a plugin name is empty");
        }
    }

    fn step(&mut self, path: Path<'_>, step: &CanaryStep, c: &CanaryStrategy) {
        for action in step.actions() {
            self.step_action(path, action, c);
        }
    }

    fn step_action(&mut self, path: Path<'_>, action: &StepAction, c: &CanaryStrategy) {
        let path = path.field(action.field_name());
        match action {
            StepAction::SetWeight(w) => self.weight(path, *w, c.max_weight()),
            StepAction::Pause(p) => {
                if let Some(d) = &p.duration
                    && d.as_duration().is_none()
                {
                    self.err(
                        path.field("duration"),
                        format!(
                            "{:?} is not a duration (expected seconds, or e.g. 30s, 5m, 1h)",
                            d.to_string()
                        ),
                    );
                }
            }
            StepAction::Experiment(_) => {
                self.err(
                    path,
                    "experiment steps are not supported yet by this engine",
                );
            }
            StepAction::Analysis(a) => self.analysis_templates(path, &a.templates),
            StepAction::SetCanaryScale(s) => {
                if c.traffic_routing.is_none() {
                    self.err(path, "requires trafficRouting");
                }
                // Argo accepts any combination of weight, replicas and
                // matchTrafficWeight (and none); `steps::CanaryScale::of` reads them.
                if let Some(w) = s.weight {
                    self.weight(path.field("weight"), w, 100);
                }
                if let Some(r) = s.replicas
                    && r < 0
                {
                    self.err(path.field("replicas"), format!("{r} is negative"));
                }
            }
            StepAction::SetHeaderRoute(h) => {
                self.route_step(path, &h.name, c, &HEADER_ROUTERS);
                let alb = c.traffic_routing.as_ref().is_some_and(|t| t.alb.is_some());
                let matches = path.field("match");
                for (i, m) in h.matches.iter().enumerate() {
                    let at = matches.index(i);
                    if m.header_name.is_empty() {
                        self.err(at.field("headerName"), "is empty");
                    }
                    self.string_match(at.field("headerValue"), &m.header_value);
                    if alb && m.header_value.exact.is_none() {
                        self.err(
                            at.field("headerValue"),
                            "alb supports exact header matches only",
                        );
                    }
                }
            }
            StepAction::SetMirrorRoute(m) => {
                self.route_step(path, &m.name, c, &MIRROR_ROUTERS);
                if let Some(pct) = m.percentage
                    && !(0..=100).contains(&pct)
                {
                    self.err(
                        path.field("percentage"),
                        format!("{pct} is outside 0 to 100"),
                    );
                }
                let matches = path.field("match");
                for (i, mm) in m.matches.iter().enumerate() {
                    let at = matches.index(i);
                    if let Some(s) = &mm.method {
                        self.string_match(at.field("method"), s);
                    }
                    if let Some(s) = &mm.path {
                        self.string_match(at.field("path"), s);
                    }
                    let headers = at.field("headers");
                    for (name, s) in &mm.headers {
                        self.string_match(headers.field(name), s);
                    }
                }
            }
            StepAction::Plugin(p) => {
                if p.name.is_empty() {
                    self.err(path.field("name"), "is empty");
                }
            }
        }
    }

    fn weight(&mut self, path: Path<'_>, w: i32, max: i32) {
        if w < 0 {
            self.err(path, format!("{w} is negative"));
        } else if w > max {
            self.err(path, format!("{w} is above maxTrafficWeight {max}"));
        }
    }

    fn route_step(&mut self, path: Path<'_>, name: &str, c: &CanaryStrategy, allowed: &[&str]) {
        let routing = c.traffic_routing.as_ref();
        if !routing.is_some_and(|t| t.providers().any(|p| allowed.contains(&p))) {
            self.err(
                path,
                format!("requires trafficRouting with one of {}", allowed.join(", ")),
            );
        }
        let mut managed = c.managed_routes().peekable();
        if managed.peek().is_none() {
            self.err(path, "requires trafficRouting.managedRoutes");
        } else if !managed.any(|m| m == name) {
            self.err(
                path.field("name"),
                format!("{name:?} is not in trafficRouting.managedRoutes"),
            );
        }
    }

    fn string_match(&mut self, path: Path<'_>, m: &StringMatch) {
        if m.kinds_set() != 1 {
            self.err(path, "must set exactly one of exact, prefix and regex");
        }
    }

    fn analysis_templates(&mut self, path: Path<'_>, templates: &[AnalysisTemplateRef]) {
        if templates.is_empty() {
            self.err(path.field("templates"), "must name at least one template");
        }
        let list = path.field("templates");
        for (i, t) in templates.iter().enumerate() {
            if t.template_name.is_empty() {
                self.err(list.index(i).field("templateName"), "is empty");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(canary: serde_json::Value) -> Vec<String> {
        let r =
            Rollout::from_value(json!({"spec": {"strategy": {"canary": canary}}}), "t").unwrap();
        validate(&r).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_plain_canary_is_valid() {
        assert!(
            errors(json!({"steps": [{"setWeight": 20}, {"pause": {"duration": "1h"}}]})).is_empty()
        );
    }

    #[test]
    fn weight_above_max_traffic_weight() {
        let e = errors(json!({"steps": [{"setWeight": 600}],
            "trafficRouting": {"maxTrafficWeight": 500, "plugins": {"p": {}}}}));
        assert_eq!(
            e,
            ["spec.strategy.canary.steps[0].setWeight: 600 is above maxTrafficWeight 500"]
        );
    }

    #[test]
    fn header_route_needs_managed_route_and_a_capable_router() {
        let e = errors(json!({"canaryService": "c", "stableService": "s",
            "steps": [{"setHeaderRoute": {"name": "h", "match": [{"headerName": "x", "headerValue": {"exact": "1"}}]}}],
            "trafficRouting": {"nginx": {"stableIngress": "i"}}}));
        assert!(
            e.iter()
                .any(|m| m.contains("requires trafficRouting with one of istio")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("requires trafficRouting.managedRoutes")),
            "{e:?}"
        );
    }

    #[test]
    fn header_value_sets_exactly_one_kind() {
        let e = errors(json!({"steps": [{"setHeaderRoute": {"name": "h",
                "match": [{"headerName": "x", "headerValue": {"exact": "1", "regex": "1"}}]}}],
            "trafficRouting": {"plugins": {"p": {}}, "managedRoutes": [{"name": "h"}]}}));
        assert_eq!(
            e,
            [
                "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue: must set exactly one of exact, prefix and regex"
            ]
        );
    }

    #[test]
    fn bad_pause_duration() {
        let e = errors(json!({"steps": [{"pause": {"duration": "1x"}}]}));
        assert_eq!(
            e,
            [
                r#"spec.strategy.canary.steps[0].pause.duration: "1x" is not a duration (expected seconds, or e.g. 30s, 5m, 1h)"#
            ]
        );
    }

    #[test]
    fn surge_and_unavailable_both_zero() {
        let e = errors(json!({"maxSurge": 0, "maxUnavailable": "0%"}));
        assert_eq!(
            e,
            ["spec.strategy.canary.maxSurge: maxSurge and maxUnavailable cannot both be 0"]
        );
    }

    #[test]
    fn bad_int_or_percent() {
        let e = errors(json!({"maxSurge": "lots"}));
        assert_eq!(
            e,
            [r#"spec.strategy.canary.maxSurge: "lots" is not a count or a percentage such as 25%"#]
        );
    }

    #[test]
    fn nginx_needs_distinct_services() {
        let e = errors(json!({"canaryService": "web", "stableService": "web",
            "trafficRouting": {"nginx": {"stableIngress": "i"}}}));
        assert_eq!(
            e,
            [r#"spec.strategy.canary.canaryService: "web" must differ from stableService"#]
        );
    }

    #[test]
    fn experiments_are_not_supported_yet() {
        let e = errors(json!({"steps": [{"experiment": {"templates": []}}]}));
        assert_eq!(
            e,
            [
                "spec.strategy.canary.steps[0].experiment: experiment steps are not supported yet by this engine"
            ]
        );
    }

    #[test]
    fn dynamic_stable_scale_rules() {
        let e = errors(json!({"dynamicStableScale": true, "scaleDownDelaySeconds": 5}));
        assert!(
            e.iter()
                .any(|m| m.contains("dynamicStableScale: requires trafficRouting")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("cannot be used together with scaleDownDelaySeconds")),
            "{e:?}"
        );
    }
}

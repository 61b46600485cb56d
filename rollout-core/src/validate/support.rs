//! What Argo accepts but this crate reports as a warning: features the
//! engine does not run yet ([`WarningKind::Unsupported`]), and settings that
//! are valid yet have no effect or a surprising one ([`WarningKind::Suspicious`]).

use super::path::{CANARY, Path, TRAFFIC_ROUTING};
use super::steps::non_empty_kinds;
use super::{Validator, WarningKind};
use crate::intstr::Rounding;
use crate::spec::{AnalysisTemplateRef, CanaryStrategy, Rollout, StepAction};

/// Every warning for the rollout.
pub(super) fn warnings(v: &mut Validator, r: &Rollout) {
    if r.spec.strategy.blue_green.is_some() && r.spec.restart_at.is_some() {
        v.unsupported(
            "spec.restartAt",
            "restarting the pods of a blue-green Rollout is not run by this engine yet",
        );
    }
    if let Some(c) = &r.spec.strategy.canary {
        canary(v, c, r.replicas());
    }
}

fn canary(v: &mut Validator, c: &CanaryStrategy, replicas: i32) {
    for (field, value, rounding) in [
        ("maxSurge", &c.max_surge, Rounding::Up),
        ("maxUnavailable", &c.max_unavailable, Rounding::Down),
    ] {
        if let Some(value) = value
            && let Err(e) = value.resolve(replicas.max(1), rounding)
        {
            v.unsupported(
                CANARY.field(field),
                format!(
                    "{e}; Argo Rollouts accepts it and computes 0, this engine does not run it"
                ),
            );
        }
    }
    if v.all_warnings {
        suspicious(v, c);
    }
    let steps = CANARY.field("steps");
    for (i, step) in c.steps.iter().enumerate() {
        for action in step.actions() {
            // Only these actions can block the engine; the rest warn at most.
            let may_block = matches!(action, StepAction::SetCanaryScale(_));
            if may_block || v.all_warnings {
                let at = steps.index(i);
                self::action(v, at.field(action.field_name()), action);
            }
        }
    }
}

/// The [`WarningKind::Suspicious`] warnings outside the steps.
fn suspicious(v: &mut Validator, c: &CanaryStrategy) {
    let no_routing = c.traffic_routing.is_none();
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
        let Some(n) = value else { continue };
        if n < 0 {
            v.suspicious(CANARY.field(field), format!("{n} is negative"));
        }
        if no_routing && matches!(field, "abortScaleDownDelaySeconds" | "minPodsPerReplicaSet") {
            v.suspicious(CANARY.field(field), "has no effect without trafficRouting");
        }
    }
    if let Some(t) = &c.replica_progress_threshold
        && t.value < 0
    {
        v.suspicious(
            CANARY.field("replicaProgressThreshold").field("value"),
            format!(
                "{} is negative: every desired pod must be available, as without a threshold",
                t.value
            ),
        );
    }
    if let Some(tr) = &c.traffic_routing {
        if tr.providers().next().is_none() {
            v.suspicious(
                TRAFFIC_ROUTING,
                "names no traffic router: weights are computed but nothing routes traffic \
                 (expected one of istio, nginx, alb, smi, ambassador, appMesh, traefik, apisix, plugins)",
            );
        }
        if let Some(w) = tr.max_traffic_weight
            && w <= 0
        {
            v.suspicious(
                TRAFFIC_ROUTING.field("maxTrafficWeight"),
                format!("{w}: no traffic can reach the canary"),
            );
        }
        if tr.plugins.keys().any(String::is_empty) {
            v.suspicious(TRAFFIC_ROUTING.field("plugins"), "a plugin name is empty");
        }
        let routes = TRAFFIC_ROUTING.field("managedRoutes");
        for (i, route) in tr.managed_routes.iter().enumerate() {
            if tr.managed_routes[..i].iter().any(|o| o.name == route.name) {
                let at = routes.index(i);
                v.suspicious(
                    at.field("name"),
                    format!("{:?} is listed twice", route.name),
                );
            }
        }
    }
    if let Some(bg) = &c.analysis {
        let path = CANARY.field("analysis");
        templates(v, path, &bg.run.templates);
        match bg.starting_step {
            Some(s) if s < 0 => v.suspicious(
                path.field("startingStep"),
                format!("{s} is negative: the background analysis starts with the first step"),
            ),
            Some(s) if usize::try_from(s).is_ok_and(|s| s > c.steps.len()) => v.suspicious(
                path.field("startingStep"),
                format!(
                    "{s} is beyond the steps (0 to {}): the background analysis never starts",
                    c.steps.len()
                ),
            ),
            _ => {}
        }
    }
}

fn action(v: &mut Validator, at: Path<'_>, action: &StepAction) {
    match action {
        StepAction::SetCanaryScale(s) => {
            let set = usize::from(s.weight.is_some())
                + usize::from(s.replicas.is_some())
                + usize::from(s.match_traffic_weight);
            if set == 0 {
                v.suspicious(
                    at,
                    "sets none of weight, replicas and matchTrafficWeight: the canary is sized by its traffic weight",
                );
            } else if set > 1 {
                v.suspicious(
                    at,
                    "sets more than one of weight, replicas and matchTrafficWeight: \
                     matchTrafficWeight wins, then replicas, then weight",
                );
            }
            // Argo sizes the canary from these as written; a negative size
            // is one no ReplicaSet can take, so the engine refuses it.
            match s.weight {
                Some(w) if w < 0 => v.unsupported(
                    at.field("weight"),
                    format!("{w} is negative: the canary would get a negative number of pods"),
                ),
                Some(w) if w > 100 => v.suspicious(
                    at.field("weight"),
                    format!("{w} is above 100: the canary gets more pods than spec.replicas"),
                ),
                _ => {}
            }
            if let Some(r) = s.replicas
                && r < 0
            {
                v.unsupported(
                    at.field("replicas"),
                    format!("{r} is negative: a ReplicaSet cannot have fewer than 0 pods"),
                );
            }
        }
        _ if !v.all_warnings => {}
        StepAction::Analysis(a) => templates(v, at, &a.templates),
        StepAction::SetHeaderRoute(h) => {
            let matches = at.field("match");
            for (j, m) in h.matches.iter().enumerate() {
                if m.header_name.is_empty() {
                    let m_at = matches.index(j);
                    v.suspicious(m_at.field("headerName"), "is empty");
                }
            }
        }
        StepAction::SetMirrorRoute(m) => {
            if let Some(p) = m.percentage
                && !(0..=100).contains(&p)
            {
                v.suspicious(at.field("percentage"), format!("{p} is outside 0 to 100"));
            }
            let matches = at.field("match");
            for (j, mm) in m.matches.iter().enumerate() {
                let m_at = matches.index(j);
                let headers = m_at.field("headers");
                for (name, s) in &mm.headers {
                    if non_empty_kinds(s) != 1 {
                        v.suspicious(
                            headers.field(name),
                            "should set exactly one of exact, prefix and regex (Argo Rollouts does not check header matches)",
                        );
                    }
                }
            }
        }
        StepAction::Plugin(p) => {
            if p.name.is_empty() {
                v.suspicious(at.field("name"), "is empty");
            }
        }
        StepAction::SetWeight(_) | StepAction::Pause(_) | StepAction::Experiment(_) => {}
    }
}

fn templates(v: &mut Validator, path: Path<'_>, templates: &[AnalysisTemplateRef]) {
    let list = path.field("templates");
    if templates.is_empty() {
        v.suspicious(
            list,
            "names no template: the AnalysisRun has no metrics and ends in Error",
        );
    }
    for (i, t) in templates.iter().enumerate() {
        if t.template_name.is_empty() {
            let at = list.index(i);
            v.suspicious(at.field("templateName"), "is empty");
        }
    }
}

impl WarningKind {
    /// Whether [`crate::decide`] refuses a rollout with this warning.
    pub const fn blocks_decide(self) -> bool {
        matches!(self, Self::Unsupported)
    }
}

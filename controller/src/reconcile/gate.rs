//! Whether this controller runs a Rollout, and if not, the condition that says why.
//!
//! An invalid Rollout (Argo's validation rules, [`rollout_core::validate()`])
//! gets the `InvalidSpec` condition in Argo's words: `The Rollout "<name>"
//! is invalid: <field>: <problem>`, for the first problem as Argo reports it.
//! A valid Rollout that asks for what this controller does not run yet gets
//! the condition `Unsupported` (reason `UnsupportedByController`) naming the
//! field. Either way nothing but that condition is written.

use rollout_core::{FieldError, Rollout};

/// The verdict on one Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Run it.
    Run,
    /// Refuse it: its spec is invalid (`InvalidSpec`).
    Invalid(String),
    /// Refuse it: it uses what this controller does not run yet (`Unsupported`).
    Unsupported(FieldError),
}

/// The condition type recorded on a Rollout this controller does not run.
pub const UNSUPPORTED_CONDITION: &str = "Unsupported";
/// Its reason.
pub const UNSUPPORTED_REASON: &str = "UnsupportedByController";

/// The `InvalidSpec` message Argo writes for `problem`.
///
/// ```
/// use rollgate_controller::reconcile::gate::invalid_message;
/// assert_eq!(invalid_message("web", "spec.replicas: must be at least 0"),
///            "The Rollout \"web\" is invalid: spec.replicas: must be at least 0");
/// ```
pub fn invalid_message(name: &str, problem: &str) -> String {
    format!("The Rollout \"{name}\" is invalid: {problem}")
}

/// Checks a parsed Rollout.
///
/// ```
/// use rollgate_controller::reconcile::gate::{check, Gate};
/// let rollout = |strategy| rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web"},
///     "spec": {"selector": {"matchLabels": {"app": "web"}},
///              "template": {"metadata": {"labels": {"app": "web"}},
///                           "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
///              "strategy": strategy}}),
///     "web").unwrap();
/// let blue_green = rollout(serde_json::json!({"blueGreen": {"activeService": "web"}}));
/// assert_eq!(check(&blue_green), Gate::Run);
/// let experiment = rollout(serde_json::json!({"canary": {"steps": [
///     {"experiment": {"templates": [{"name": "a", "specRef": "canary"}]}}]}}));
/// assert_eq!(check(&experiment), Gate::Run);
/// let plugin = rollout(serde_json::json!({"canary": {"steps": [
///     {"plugin": {"name": "acme/step"}}]}}));
/// let Gate::Unsupported(field) = check(&plugin) else { panic!() };
/// assert_eq!(field.path, "spec.strategy.canary.steps[0].plugin");
/// ```
pub fn check(rollout: &Rollout) -> Gate {
    if let Some(first) = rollout_core::validate(rollout).into_iter().next() {
        return Gate::Invalid(invalid_message(&rollout.metadata.name, &first.to_string()));
    }
    if let Some(field) = unsupported(rollout) {
        return Gate::Unsupported(field);
    }
    match workload_shape(rollout) {
        Some(problem) => Gate::Invalid(invalid_message(&rollout.metadata.name, &problem)),
        None => Gate::Run,
    }
}

/// A problem building the Rollout's ReplicaSet from its spec (a selector or
/// ephemeral metadata of the wrong shape), found before anything is written.
fn workload_shape(rollout: &Rollout) -> Option<String> {
    let template = crate::workload::pod_template(rollout).ok()?;
    let built = crate::workload::desired_replica_set(rollout, template, "check", 1, None)
        .and(crate::workload::replica_set::ephemeral_metadata_for_new(
            rollout, true,
        ))
        .and(crate::workload::replica_set::ephemeral_metadata_for_new(
            rollout, false,
        ));
    built.err().map(|e| e.to_string())
}

fn not_yet(path: impl Into<String>, what: &str) -> Option<FieldError> {
    Some(FieldError::new(
        path,
        format!("{what} is not run by rollgate-controller yet"),
    ))
}

/// The first field, in spec order, that asks for what this controller does
/// not run yet.
fn unsupported(rollout: &Rollout) -> Option<FieldError> {
    if let Some(field) = rollout_core::unsupported(rollout).into_iter().next() {
        return Some(field);
    }
    if let Err(e) = crate::workload::pod_template(rollout) {
        // Its text is `<field>: <problem>`.
        let text = e.to_string();
        let (path, problem) = text.split_once(": ").unwrap_or(("spec", &text));
        return Some(FieldError::new(path, problem));
    }
    // Blue-green runs as a whole: its Services are switched by selector and
    // it has no traffic routing (Argo's BlueGreenStrategy has no such field,
    // so `blueGreen.trafficRouting` does not even read as a Rollout).
    let canary = rollout.canary()?;
    let base = "spec.strategy.canary";
    if let Some(routing) = &canary.traffic_routing {
        // The in-process routers read Argo's `istio` and `nginx` blocks and
        // any plugin is run (crate::traffic); Argo's other routers are not.
        if let Some(provider) = routing
            .providers()
            .find(|p| !matches!(*p, "istio" | "nginx" | "plugins"))
        {
            return not_yet(
                format!("{base}.trafficRouting.{provider}"),
                &format!("the {provider} traffic router"),
            );
        }
    }
    for (i, step) in canary.steps.iter().enumerate() {
        let at = |field: &str| format!("{base}.steps[{i}].{field}");
        if step.plugin().is_some() {
            return not_yet(at("plugin"), "a step plugin");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn rollout(canary: Value, extra_spec: Value) -> Rollout {
        let mut spec = json!({
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
            "strategy": {"canary": canary}
        });
        for (k, v) in extra_spec.as_object().unwrap() {
            spec[k] = v.clone();
        }
        Rollout::from_value(json!({"metadata": {"name": "web"}, "spec": spec}), "web").unwrap()
    }

    #[test]
    fn a_basic_canary_runs() {
        let steps = json!({"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "1s"}}]});
        assert_eq!(check(&rollout(steps, json!({}))), Gate::Run);
    }

    #[test]
    fn analysis_steps_and_background_analysis_run() {
        let canary = json!({"analysis": {"templates": [{"templateName": "t"}], "startingStep": 1},
            "steps": [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "t"}]}}]});
        assert_eq!(check(&rollout(canary, json!({}))), Gate::Run);
    }

    #[test]
    fn an_invalid_rollout_is_refused_in_argos_words() {
        let gate = check(&rollout(json!({"steps": [{"setWeight": 150}]}), json!({})));
        assert_eq!(
            gate,
            Gate::Invalid(
                "The Rollout \"web\" is invalid: spec.strategy.canary.steps[0].setWeight: 150: SetWeight needs to be between 0 and 100".into()
            )
        );
    }

    fn unsupported_path(canary: Value, extra_spec: Value) -> String {
        match check(&rollout(canary, extra_spec)) {
            Gate::Unsupported(field) => {
                assert!(field.to_string().contains("rollgate-controller"), "{field}");
                field.path
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn what_is_not_run_yet_is_named() {
        let routed = json!({"canaryService": "c", "stableService": "s",
            "trafficRouting": {"alb": {"ingress": "web", "servicePort": 80}}, "steps": [{"setWeight": 5}]});
        assert_eq!(
            unsupported_path(routed, json!({})),
            "spec.strategy.canary.trafficRouting.alb"
        );
        let routed = json!({"canaryService": "c", "stableService": "s",
            "trafficRouting": {"traefik": {"weightedTraefikServiceName": "web"}}});
        assert_eq!(
            unsupported_path(routed, json!({})),
            "spec.strategy.canary.trafficRouting.traefik"
        );
    }

    fn blue_green(strategy: Value, extra_spec: Value) -> Result<Rollout, rollout_core::Error> {
        let mut value = serde_json::to_value(rollout(json!({}), extra_spec)).unwrap();
        value["spec"]["strategy"] = json!({ "blueGreen": strategy });
        Rollout::from_value(value, "web")
    }

    #[test]
    fn blue_green_runs_with_its_analyses_and_metadata() {
        let strategy = json!({"activeService": "web", "previewService": "web-preview",
            "autoPromotionEnabled": false, "scaleDownDelaySeconds": 5,
            "prePromotionAnalysis": {"templates": [{"templateName": "t"}]},
            "postPromotionAnalysis": {"templates": [{"templateName": "t"}]},
            "activeMetadata": {"labels": {"role": "active"}},
            "previewMetadata": {"labels": {"role": "preview"}}});
        assert_eq!(check(&blue_green(strategy, json!({})).unwrap()), Gate::Run);
    }

    #[test]
    fn blue_green_refuses_traffic_routing_and_a_restart() {
        // Argo's BlueGreenStrategy has no trafficRouting: the Rollout does
        // not read, which the reconcile reports as InvalidSpec naming it.
        let routed = json!({"activeService": "web",
            "trafficRouting": {"nginx": {"stableIngress": "web"}}});
        let err = blue_green(routed, json!({})).unwrap_err().to_string();
        assert!(
            err.contains(
                "spec.strategy.blueGreen.trafficRouting: unknown field \"trafficRouting\""
            ),
            "{err}"
        );
        let restart = json!({"restartAt": "2020-01-01T00:00:00Z"});
        let strategy = json!({"activeService": "web"});
        let Gate::Unsupported(field) = check(&blue_green(strategy, restart).unwrap()) else {
            panic!("expected Unsupported")
        };
        assert_eq!(field.path, "spec.restartAt");
    }

    #[test]
    fn blue_green_metadata_of_the_wrong_shape_is_invalid() {
        let strategy = json!({"activeService": "web", "activeMetadata": {"annotations": ["a"]}});
        let Gate::Invalid(message) = check(&blue_green(strategy, json!({})).unwrap()) else {
            panic!("expected Invalid")
        };
        assert_eq!(
            message,
            "The Rollout \"web\" is invalid: spec.strategy.blueGreen.activeMetadata.annotations: expected a map of strings"
        );
    }

    #[test]
    fn experiment_steps_run() {
        let canary = json!({"steps": [{"setWeight": 20},
            {"experiment": {"templates": [{"name": "c", "specRef": "canary"}]}}]});
        assert_eq!(check(&rollout(canary, json!({}))), Gate::Run);
    }

    #[test]
    fn a_pending_restart_runs() {
        let restart = json!({"restartAt": "2020-01-01T00:00:00Z"});
        assert_eq!(check(&rollout(json!({}), restart)), Gate::Run);
    }

    #[test]
    fn the_routers_this_controller_runs_are_let_through() {
        for routing in [
            json!({"nginx": {"stableIngress": "web"}}),
            json!({"istio": {"virtualService": {"name": "web"}}}),
            json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}}),
            json!({"plugins": {"acme/router": {}}}),
        ] {
            let canary = json!({"canaryService": "c", "stableService": "s",
                "trafficRouting": routing, "steps": [{"setWeight": 5}]});
            assert_eq!(check(&rollout(canary, json!({}))), Gate::Run, "{routing}");
        }
    }

    #[test]
    fn ephemeral_metadata_of_the_wrong_shape_is_invalid() {
        let canary = json!({"canaryMetadata": {"labels": {"role": 1}}});
        let Gate::Invalid(message) = check(&rollout(canary, json!({}))) else {
            panic!("expected Invalid")
        };
        assert_eq!(
            message,
            "The Rollout \"web\" is invalid: spec.strategy.canary.canaryMetadata.labels.role: expected a string"
        );
    }

    #[test]
    fn anti_affinity_and_a_resolved_workload_reference_run() {
        let preferred = json!({"antiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": {"weight": 50}}});
        assert_eq!(check(&rollout(preferred, json!({}))), Gate::Run);
        let required =
            json!({"antiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}});
        assert_eq!(check(&rollout(required, json!({}))), Gate::Run);

        let mut r = rollout(json!({}), json!({}));
        let template = r.spec.template.take().unwrap();
        r.spec.selector = None;
        r.spec.workload_ref = Some(rollout_core::spec::WorkloadRef {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some("web".into()),
            scale_down: None,
        });
        let deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}}))
        .unwrap();
        let (resolved, _) = crate::workload::reference::resolve(r, |_| Some(deployment)).unwrap();
        assert_eq!(check(&resolved), Gate::Run);
    }

    #[test]
    fn a_deployment_template_its_selector_does_not_select_is_invalid_in_argos_words() {
        let mut r = rollout(json!({}), json!({}));
        r.spec.template = None;
        r.spec.workload_ref = Some(rollout_core::spec::WorkloadRef {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some("web".into()),
            scale_down: None,
        });
        // The Rollout's own selector (app: web) against the Deployment's pod labels.
        let deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                     "template": {"metadata": {"labels": {"app": "api"}},
                                  "spec": {"containers": [{"name": "api", "image": "nginx"}]}}}}))
        .unwrap();
        let (resolved, _) = crate::workload::reference::resolve(r, |_| Some(deployment)).unwrap();
        let Gate::Invalid(message) = check(&resolved) else {
            panic!("expected Invalid")
        };
        assert!(
            message.starts_with("The Rollout \"web\" is invalid: spec.template.metadata.labels: "),
            "{message}"
        );
        assert!(
            message.contains("`selector` does not match template `labels`"),
            "{message}"
        );
    }
}

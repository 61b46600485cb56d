//! Validation: Argo Rollouts' rules for a Rollout, and what this engine
//! does not run.
//!
//! Three answers, kept apart:
//!
//! * **errors** ([`validate`]): the Rollout breaks a rule Argo Rollouts
//!   enforces; Argo would mark it `InvalidSpec` (or the API server would
//!   refuse it). Each names the field and uses Argo's message where Argo has one.
//! * **unsupported** ([`unsupported`], [`WarningKind::Unsupported`]): Argo
//!   accepts the Rollout, but this engine does not run it yet (`restartAt`
//!   with blue-green) or refuses a value Argo silently reads as
//!   something else. A linter prints these as warnings; [`crate::decide`]
//!   refuses such a Rollout with [`Error::Unsupported`].
//! * **suspicious** ([`WarningKind::Suspicious`]): Argo accepts it and the
//!   engine runs it, but the setting has no effect or a surprising one.
//!
//! [`lint`] returns all three; [`check`] is the gate [`crate::decide`] uses.
//!
//! ```
//! use rollout_core::{lint, Rollout, WarningKind};
//! let rollout = Rollout::from_value(serde_json::json!({
//!     "metadata": {"name": "web"},
//!     "spec": {
//!         "selector": {"matchLabels": {"app": "web"}},
//!         "template": {"metadata": {"labels": {"app": "web"}},
//!                      "spec": {"containers": [{"name": "web", "image": "web:2"}]}},
//!         "restartAt": "2026-01-01T00:00:00Z",
//!         "strategy": {"blueGreen": {"activeService": "web"}}
//!     }
//! }), "web.yaml").unwrap();
//! let report = lint(&rollout);
//! assert!(report.errors.is_empty());
//! assert_eq!(report.warnings[0].kind, WarningKind::Unsupported);
//! assert_eq!(report.warnings[0].to_string(),
//!     "spec.restartAt: restarting the pods of a blue-green Rollout is not run by this engine yet");
//! ```
//!
//! # Paths
//!
//! Every problem names its field from the top of the object
//! (`spec.strategy.canary.steps[2].setWeight`). Argo's own paths leave out
//! the strategy (`spec.strategy.steps[2].setWeight`) and put a few errors on
//! a neighbouring field; this crate names the field that holds the problem
//! (`steps[i].setCanaryScale` rather than `trafficRouting` for "SetCanaryScale
//! requires TrafficRouting", `match[j].headerValue` rather than `match[j]`).
//! Argo reports the same mirror-route method error twice and the missing
//! `managedRoutes` once per step; this crate reports each once.
//!
//! # The rules
//!
//! Argo's `ValidateRollout` (`pkg/apis/rollouts/validation`), the checks its
//! controller makes before reading referenced objects, and the CRD schema
//! rules that this crate's typed parsing does not already enforce. Tests are
//! in `tests/validation/` unless a module is named.
//!
//! | Rule | Field | Status | Test |
//! |---|---|---|---|
//! | name or generateName set; name a DNS-1123 subdomain (API server) | `metadata.name` | error | `metadata_name_is_required_and_a_dns_subdomain` |
//! | replicas, minReadySeconds, revisionHistoryLimit (default 10), progressDeadlineSeconds (default 600) ≥ 0 | `spec.*` | error | `spec_numbers_are_non_negative` |
//! | progressDeadlineSeconds > minReadySeconds | `spec.progressDeadlineSeconds` | error | `progress_deadline_must_exceed_min_ready_seconds` |
//! | restartAt an RFC 3339 time (CRD format `date-time`) | `spec.restartAt` | error | `restart_at_is_a_time` |
//! | selector required without workloadRef | `spec.selector` | error | `selector_is_required_without_workload_ref` |
//! | selector not empty (without workloadRef) | `spec.selector` | error | `empty_selector_is_invalid` |
//! | selector labels, operators, values valid | `spec.selector.*` | error | `selector_labels_and_expressions_are_checked` |
//! | selector matches the template's labels | `spec.template.metadata.labels` | error | `selector_must_match_template_labels` |
//! | workloadRef and a template with labels/annotations are exclusive | `spec.template` | error | `workload_ref_with_template_labels_is_invalid` |
//! | template: valid labels and annotation names, ≥ 1 container, names (DNS-1123 label, unique), images | `spec.template.*` | error | `pod_template_needs_named_containers_with_images` |
//! | template: restartPolicy Always, no activeDeadlineSeconds, no ephemeral containers | `spec.template.spec.*` | error | `pod_template_restart_policy_and_deadline` |
//! | the rest of Kubernetes' PodSpec validation (volumes, probes, ports, resources, env, security context, ...) | `spec.template.spec` | **not implemented**: a large, version-dependent body of rules; Argo runs it, this crate leaves it to the API server | — |
//! | exactly one of canary and blueGreen | `spec.strategy` | error | `strategy_sets_exactly_one_of_canary_and_blue_green` |
//! | blue-green: activeService required | `spec.strategy.blueGreen.activeService` | parse error (CRD) | `blue_green_active_service_is_required` |
//! | blue-green: activeService ≠ previewService | `spec.strategy.blueGreen.activeService` | error | `blue_green_services_must_differ` |
//! | blue-green: scaleDownDelayRevisionLimit ≤ revisionHistoryLimit | `spec.strategy.blueGreen.scaleDownDelayRevisionLimit` | error | `blue_green_scale_down_revision_limit_within_history` |
//! | antiAffinity: exactly one kind; preferred weight 1–100 | `*.antiAffinity` | error | `anti_affinity_sets_exactly_one_kind_with_weight_1_to_100` |
//! | maxSurge and maxUnavailable not both 0 (Argo's reading: `"0"`, `"0%"`, and any non-number string count as 0) | `spec.strategy.canary.maxSurge` | error | `surge_and_unavailable_cannot_both_be_zero` |
//! | canaryService ≠ stableService | `spec.strategy.canary.stableService` | error | `canary_and_stable_services_must_differ` |
//! | canary/stable Services required by ALB, host-level Istio (both unless pingPong), SMI, APISIX, Ambassador, NGINX, App Mesh, Traefik | `spec.strategy.canary.{stable,canary}Service` | error | `routers_that_require_canary_and_stable_services` |
//! | pingPong: only with ALB, Istio or plugins (when routed) | `spec.strategy.canary.trafficRouting` | error | `ping_pong_routers` |
//! | pingPong: both Services set and different | `spec.strategy.canary.pingPong.*` | error | `ping_pong_needs_two_distinct_services` |
//! | pingPong with ALB: rootService set | `spec.strategy.canary.trafficRouting.alb.rootService` | error | `ping_pong_with_alb_needs_root_service` |
//! | pingPong replaces canary/stable Services for ALB and Istio | — | accepted | `ping_pong_replaces_canary_and_stable_services` |
//! | scaleDownDelaySeconds, dynamicStableScale need trafficRouting | `spec.strategy.canary.*` | error | `scale_down_delay_and_dynamic_stable_scale_need_traffic_routing` |
//! | dynamicStableScale excludes scaleDownDelaySeconds | `spec.strategy.canary.dynamicStableScale` | error | `scale_down_delay_and_dynamic_stable_scale_need_traffic_routing` |
//! | maxTrafficWeight only with NGINX or plugins (others may be present too) | `spec.strategy.canary.trafficRouting.maxTrafficWeight` | error | `max_traffic_weight_needs_nginx_or_plugins` |
//! | NGINX: stableIngress xor stableIngresses (controller) | `spec.strategy.canary.trafficRouting.nginx` | error | `ingress_and_virtual_service_one_of` |
//! | ALB: ingress xor ingresses (controller) | `spec.strategy.canary.trafficRouting.alb` | error | `ingress_and_virtual_service_one_of` |
//! | Istio: virtualService xor virtualServices (controller) | `spec.strategy.canary.trafficRouting.istio` | error | `ingress_and_virtual_service_one_of` |
//! | router blocks' required fields (CRD: alb.servicePort, ambassador.mappings, istio names and subsets, ...) | `spec.strategy.canary.trafficRouting.*` | error | `router_blocks_have_their_required_fields` |
//! | the referenced Services, Ingresses, VirtualServices, Mappings, App Mesh routers, AnalysisTemplates exist and fit | — | **not implemented**: needs the cluster | — |
//! | a step sets at least one action, and not two of setWeight, pause, experiment, analysis | `steps[i]` | parse error; parsing also refuses the combinations Argo accepts (such as setWeight with setCanaryScale) | `two_fields_name_both`, `no_field_lists_the_choices` (`step` module) |
//! | setWeight between 0 and maxTrafficWeight | `steps[i].setWeight` | error | `set_weight_between_0_and_max_traffic_weight` |
//! | pause duration: seconds or a Go duration, not negative | `steps[i].pause.duration` | error | `pause_duration_follows_go` |
//! | setCanaryScale needs trafficRouting | `steps[i].setCanaryScale` | error | `set_canary_scale_needs_traffic_routing` |
//! | setCanaryScale with none, or several, of weight/replicas/matchTrafficWeight | `steps[i].setCanaryScale` | accepted, suspicious | `set_canary_scale_combinations_are_accepted` |
//! | setCanaryScale with a negative weight or replicas | `steps[i].setCanaryScale.*` | accepted by Argo, unsupported here (no ReplicaSet takes a negative size) | `set_canary_scale_combinations_are_accepted` |
//! | setHeaderRoute needs Istio, ALB, APISIX or plugins | `steps[i].setHeaderRoute` | error | `header_route_routers_and_matches` |
//! | header value: exactly one non-empty exact/prefix/regex; ALB exact only | `steps[i].setHeaderRoute.match[j].headerValue` | error | `header_route_routers_and_matches`, `header_route_alb_exact_only`, `empty_string_match_counts_as_missing` |
//! | setMirrorRoute needs Istio or plugins | `steps[i].setMirrorRoute` | error | `mirror_route_routers_and_matches` |
//! | mirror method and path: exactly one non-empty kind | `steps[i].setMirrorRoute.match[j].*` | error | `mirror_route_routers_and_matches` |
//! | header/mirror routes: managedRoutes present, route name listed (an empty list reads as absent; Argo reports the route as not listed instead) | `trafficRouting.managedRoutes`, `steps[i].set*Route` | error | `routes_must_be_managed` |
//! | setHeaderRoute without a name (the CRD allows it; Argo then finds no such managed route) | `steps[i].setHeaderRoute` | parse error | `header_route_name_is_required` |
//! | experiment template weight needs SMI, ALB, Istio or plugins | `steps[i].experiment.templates[t].weight` | error | `experiment_weight_needs_a_capable_router` |
//! | experiment step fields (CRD: templates, name, specRef; no unknown fields) | `steps[i].experiment.*` | error | `experiment_step_fields_are_strict` |
//! | analysis args from metadata name a downward-API field | `steps[i].{analysis,experiment.analyses[a]}.args[k]` | error | `analysis_args_must_name_readable_metadata` |
//! | `restartAt` with blue-green | `spec.restartAt` | unsupported | `argo_features_the_engine_does_not_run_are_warnings`, `check_refuses_unsupported_rollouts` |
//! | maxSurge/maxUnavailable that is not a count or percentage, or negative | `spec.strategy.canary.max*` | unsupported | `unreadable_surge_is_accepted_but_unsupported` |
//! | trafficRouting naming no router | `spec.strategy.canary.trafficRouting` | accepted, suspicious | `empty_traffic_routing_is_accepted_with_a_warning` |
//! | abortScaleDownDelaySeconds, minPodsPerReplicaSet without trafficRouting | `spec.strategy.canary.*` | accepted, suspicious | `settings_without_effect_are_warnings` |
//! | analysis naming no template; startingStep outside the steps | `*.analysis.*` | accepted, suspicious | `settings_without_effect_are_warnings` |
//! | negative delays and limits, negative replicaProgressThreshold, maxTrafficWeight ≤ 0, duplicate managed routes, mirror percentage outside 0–100, empty names | various | accepted, suspicious | `settings_without_effect_are_warnings` |
//! | mirror header matches (Argo does not check them) | `steps[i].setMirrorRoute.match[j].headers.*` | accepted, suspicious | `mirror_route_header_matches_are_only_warnings` |
//! | replicaProgressThreshold.type other than `Percent` or `Pods` | `spec.strategy.canary.replicaProgressThreshold.type` | parse error; deliberate: Argo's CRD has no enum and Argo reads any other value as `Pods`, which hides typos | `replica_progress_threshold_type_is_percent_or_pods` |
//! | blue-green analyses' args; background analysis args | — | not checked (Argo does not check them either) | — |

mod blue_green;
mod canary;
mod messages;
mod names;
mod object;
mod path;
mod steps;
mod support;
mod traffic;

use std::fmt;

use crate::error::{Error, FieldError};
use crate::spec::Rollout;

use path::Path;

/// The outcome of [`lint`]: the rule violations, and the warnings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Validation {
    /// Rules Argo Rollouts enforces that the Rollout breaks, in field order.
    pub errors: Vec<FieldError>,
    /// What Argo accepts but this crate warns about, in field order.
    pub warnings: Vec<Warning>,
}

impl Validation {
    /// No rule is broken (warnings allowed): Argo Rollouts accepts the Rollout.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Valid, and nothing in it that [`crate::decide`] refuses to run.
    pub fn is_runnable(&self) -> bool {
        self.is_valid() && !self.warnings.iter().any(|w| w.kind.blocks_decide())
    }
}

/// Something Argo accepts that this crate warns about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Whether the engine runs it.
    pub kind: WarningKind,
    /// Where, and what.
    pub field: FieldError,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.field.fmt(f)
    }
}

/// The two kinds of [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// Valid for Argo, but this engine does not run it: [`crate::decide`]
    /// returns [`Error::Unsupported`].
    Unsupported,
    /// Valid and run, but without effect or with a surprising one.
    Suspicious,
}

/// Every rule Argo Rollouts enforces, with the warnings: what a linter prints.
/// A Rollout with no errors is one Argo accepts.
pub fn lint(rollout: &Rollout) -> Validation {
    let mut v = Validator::new(true);
    v.run(rollout);
    Validation {
        errors: v.errors,
        warnings: v.warnings,
    }
}

/// Checks a Rollout against Argo Rollouts' rules and returns every problem
/// found, in field order; an empty list means Argo accepts it. What this
/// engine does not run is not an error here: see [`unsupported`] and [`lint`].
///
/// ```
/// use rollout_core::{validate, Rollout};
/// let rollout = Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web"},
///     "spec": {
///         "selector": {"matchLabels": {"app": "web"}},
///         "template": {"metadata": {"labels": {"app": "web"}},
///                      "spec": {"containers": [{"name": "web", "image": "web:2"}]}},
///         "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 150}]}}
///     }
/// }), "web.yaml").unwrap();
/// let errors = validate(&rollout);
/// assert_eq!(errors[0].to_string(),
///     "spec.strategy.canary.steps[2].setWeight: 150: SetWeight needs to be between 0 and 100");
/// ```
pub fn validate(rollout: &Rollout) -> Vec<FieldError> {
    lint(rollout).errors
}

/// What Argo accepts in this Rollout but this engine does not run (the
/// [`WarningKind::Unsupported`] warnings), in field order.
///
/// ```
/// use rollout_core::{unsupported, Rollout};
/// let rollout = Rollout::from_value(serde_json::json!({
///     "spec": {"restartAt": "2026-01-01T00:00:00Z",
///              "strategy": {"blueGreen": {"activeService": "web"}}}
/// }), "web.yaml").unwrap();
/// assert_eq!(unsupported(&rollout)[0].to_string(),
///     "spec.restartAt: restarting the pods of a blue-green Rollout is not run by this engine yet");
/// ```
pub fn unsupported(rollout: &Rollout) -> Vec<FieldError> {
    lint(rollout)
        .warnings
        .into_iter()
        .filter(|w| w.kind == WarningKind::Unsupported)
        .map(|w| w.field)
        .collect()
}

/// The gate [`crate::decide`] applies: [`Error::Invalid`] listing every
/// broken rule that concerns what the engine reads, else
/// [`Error::Unsupported`] naming the first thing the engine does not run.
///
/// The object-level rules (`metadata.name`, the selector, the pod template
/// and `workloadRef`) are left to [`validate`]: the engine never reads them,
/// a controller resolves `workloadRef` before deciding, and a library caller
/// may hand the engine just the strategy.
pub fn check(rollout: &Rollout) -> Result<(), Error> {
    let mut v = Validator::new(false);
    v.run(rollout);
    if !v.errors.is_empty() {
        return Err(Error::Invalid {
            object: rollout.object_name(),
            errors: v.errors,
        });
    }
    match v.warnings.into_iter().find(|w| w.kind.blocks_decide()) {
        Some(w) => Err(Error::Unsupported {
            object: rollout.object_name(),
            field: w.field,
        }),
        None => Ok(()),
    }
}

/// Collects errors and warnings; paths are rendered only when something is reported.
struct Validator {
    /// Check `metadata`, the selector and the pod template ([`lint`]), or
    /// leave them out ([`check`]).
    object_rules: bool,
    /// Collect [`WarningKind::Suspicious`] warnings too, not only what blocks [`crate::decide`].
    all_warnings: bool,
    errors: Vec<FieldError>,
    warnings: Vec<Warning>,
}

impl Validator {
    /// A validator for [`lint`] (`true`: every rule and warning) or for
    /// [`check`] (`false`: what the engine reads, and what blocks it).
    const fn new(lint: bool) -> Self {
        Self {
            object_rules: lint,
            all_warnings: lint,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn run(&mut self, r: &Rollout) {
        if self.object_rules {
            object::metadata(self, r);
        }
        object::numbers(self, r);
        if self.object_rules {
            object::selector_and_template(self, r);
        }
        let strategy = &r.spec.strategy;
        match (&strategy.canary, &strategy.blue_green) {
            (Some(c), None) => canary::rules(self, c),
            (None, Some(bg)) => blue_green::rules(self, r, bg),
            (Some(_), Some(_)) => {
                self.err(Path::root("spec.strategy"), messages::MULTIPLE_STRATEGIES)
            }
            (None, None) => self.err(Path::root("spec.strategy"), messages::MISSING_STRATEGY),
        }
        support::warnings(self, r);
    }

    fn err(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.errors.push(FieldError::new(path.to_string(), message));
    }

    /// [`Self::err`], unless the same error is already listed.
    fn err_once(&mut self, path: impl fmt::Display, message: &str) {
        let path = path.to_string();
        if !self
            .errors
            .iter()
            .any(|e| e.path == path && e.message == message)
        {
            self.errors.push(FieldError::new(path, message));
        }
    }

    fn unsupported(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.warn(WarningKind::Unsupported, path, message);
    }

    /// A [`WarningKind::Suspicious`] warning, when they are collected.
    fn suspicious(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        if self.all_warnings {
            self.warn(WarningKind::Suspicious, path, message);
        }
    }

    fn warn(&mut self, kind: WarningKind, path: impl fmt::Display, message: impl Into<String>) {
        self.warnings.push(Warning {
            kind,
            field: FieldError::new(path.to_string(), message),
        });
    }
}

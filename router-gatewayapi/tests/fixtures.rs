//! Table tests: every YAML file in `tests/fixtures/` is a route, a call and
//! the expected route (or "unchanged", or an error), run by the testkit's
//! fixture runner. The plan is applied as the API server would apply the
//! JSON patch; planning again on the result must change nothing.

use std::path::{Path, PathBuf};

use rollgate_testkit::fixtures::{self, Adapter, Outcome};

use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_core::TrafficTarget;
use router_gatewayapi::config::{
    DEFAULT_IN_PROGRESS_LABEL, DEFAULT_STICKY_COOKIE, DEFAULT_STICKY_MAX_AGE, RouteKind,
};
use router_gatewayapi::plan::{Hashes, Route, Routing, Services, Sticky, plan};
use serde::Deserialize;
use serde_json::Value;

/// A fixture's route and call (the runner reads the expectation).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    services: Option<ServicesDef>,
    #[serde(default)]
    managed_routes: Vec<String>,
    /// The route entry's `rules` (the rules the config names as the rollout's).
    #[serde(default)]
    rules: Option<Vec<String>>,
    /// The route entry's `useHeaderRoutes` (default true).
    #[serde(default)]
    use_header_routes: Option<bool>,
    /// Whether the in-progress label is managed (default false).
    #[serde(default)]
    in_progress_label: bool,
    /// The rollout, `<namespace>/<name>` (default: none named): the label's
    /// holder, and the name of its sticky rules and record.
    #[serde(default)]
    rollout: String,
    /// The extra destinations' Services as last applied (the Rollout's
    /// `status.canary.weights.additional`).
    #[serde(default)]
    previous_additional: Vec<String>,
    /// The port of each extra destination's Service.
    #[serde(default)]
    additional_ports: std::collections::BTreeMap<String, i32>,
    /// The sticky session as the router resolved it (`stickySession`).
    #[serde(default)]
    sticky: Option<StickyDef>,
    /// The canary and stable pod template hashes (`status.currentPodHash`,
    /// `status.stableRS`).
    #[serde(default)]
    hashes: Option<HashesDef>,
    call: Call,
    route: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesDef {
    canary: String,
    stable: String,
    namespace: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StickyDef {
    #[serde(default = "default_cookie")]
    cookie: String,
    #[serde(default = "default_max_age")]
    max_age: u32,
    /// Whether the API server's HTTPRoute has `sessionPersistence` and it
    /// is used (the experimental channel); else cookie rules.
    #[serde(default)]
    session_persistence: bool,
}

fn default_cookie() -> String {
    DEFAULT_STICKY_COOKIE.to_owned()
}

fn default_max_age() -> u32 {
    DEFAULT_STICKY_MAX_AGE
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashesDef {
    canary: String,
    stable: String,
}

/// One of Argo's per-aspect calls, or a whole target (`apply`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Call {
    set_weight: Option<i32>,
    #[serde(default)]
    max_weight: Option<i32>,
    #[serde(default)]
    additional: Vec<WeightDestination>,
    set_header_route: Option<SetHeaderRoute>,
    set_mirror_route: Option<SetMirrorRoute>,
    #[serde(default)]
    remove_managed_routes: bool,
    apply: Option<TrafficTarget>,
}

impl Call {
    /// The target the call stands for.
    fn target(&self) -> TrafficTarget {
        if let Some(w) = self.set_weight {
            TrafficTarget::weight(w, &self.additional)
        } else if let Some(h) = &self.set_header_route {
            TrafficTarget::header_route(h.clone())
        } else if let Some(m) = &self.set_mirror_route {
            TrafficTarget::mirror_route(m.clone())
        } else if self.remove_managed_routes {
            TrafficTarget::no_managed_routes()
        } else if let Some(target) = &self.apply {
            target.clone()
        } else {
            panic!("the call does nothing")
        }
    }
}

fn kind(name: Option<&str>) -> RouteKind {
    match name.unwrap_or("HTTPRoute") {
        "HTTPRoute" => RouteKind::Http,
        "GRPCRoute" => RouteKind::Grpc,
        "TCPRoute" => RouteKind::Tcp,
        "TLSRoute" => RouteKind::Tls,
        other => panic!("unknown kind {other}"),
    }
}

const DEFAULT_SERVICES: Services<'static> = Services {
    canary: "web-canary",
    stable: "web-stable",
    namespace: "default",
};

fn run(f: &Fixture, object: &Value) -> Result<Option<json_patch::Patch>, router_gatewayapi::Error> {
    run_target(f, object, &f.call.target())
}

fn run_target(
    f: &Fixture,
    object: &Value,
    target: &TrafficTarget,
) -> Result<Option<json_patch::Patch>, router_gatewayapi::Error> {
    let services = f.services.as_ref().map_or(DEFAULT_SERVICES, |s| Services {
        canary: &s.canary,
        stable: &s.stable,
        namespace: &s.namespace,
    });
    let route = Route {
        object,
        kind: kind(f.kind.as_deref()),
    };
    let ports: Vec<(String, i32)> = f
        .additional_ports
        .iter()
        .map(|(s, p)| (s.clone(), *p))
        .collect();
    let routing = Routing {
        previous_additional: &f.previous_additional,
        additional_ports: &ports,
        max_weight: f.call.max_weight.unwrap_or(100),
        managed_routes: &f.managed_routes,
        in_progress_label: f.in_progress_label.then_some(DEFAULT_IN_PROGRESS_LABEL),
        rollout: &f.rollout,
        rules: f.rules.as_deref(),
        header_routes: f.use_header_routes.unwrap_or(true),
        sticky: f.sticky.as_ref().map(|s| Sticky {
            cookie: &s.cookie,
            max_age: s.max_age,
            session_persistence: s.session_persistence,
        }),
        hashes: f.hashes.as_ref().map_or_else(Hashes::default, |h| Hashes {
            canary: &h.canary,
            stable: &h.stable,
        }),
        ..Routing::new(services)
    };
    plan(&route, &routing, target)
}

/// Plans a fixture's call with the router's planner; the outcome is the
/// route after the JSON patch.
struct GatewayApi;

impl Adapter for GatewayApi {
    type Fixture = Fixture;

    fn input(&self, fixture: &Fixture) -> Value {
        fixture.route.clone()
    }

    fn plan(&self, fixture: &Fixture, object: &Value) -> Result<Outcome, String> {
        let Some(patch) = run(fixture, object).map_err(|e| e.to_string())? else {
            return Ok(Outcome::Unchanged);
        };
        let mut after = object.clone();
        json_patch::patch(&mut after, &patch)
            .map_err(|e| format!("the planned patch does not apply: {e}"))?;
        Ok(Outcome::Changed(after))
    }
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn every_fixture_plans_as_expected() {
    fixtures::run_all(&GatewayApi, &fixture_path(""), 16);
}

#[test]
fn a_concurrent_edit_makes_the_patch_fail_instead_of_overwriting_it() {
    let (f, _) = fixtures::load::<GatewayApi>(&fixture_path("04-multi-rule.yaml"));
    let plan = run(&f, &f.route).unwrap().unwrap();
    // Someone inserts a rule at the top between our read and our write.
    let mut edited = f.route.clone();
    edited["spec"]["rules"].as_array_mut().unwrap().insert(
        0,
        serde_json::json!({"backendRefs": [{"name": "maintenance", "weight": 1}]}),
    );
    let before = edited.clone();
    assert!(
        json_patch::patch(&mut edited, &plan).is_err(),
        "the guarded patch must not apply"
    );
    assert_eq!(edited, before, "a failed patch changes nothing");
}

#[test]
fn a_rule_the_rollout_does_not_own_is_byte_identical_at_every_weight() {
    let (f, _) =
        fixtures::load::<GatewayApi>(&fixture_path("19-user-rule-to-stable-untouched.yaml"));
    let routing = Routing::new(DEFAULT_SERVICES);
    let mut object = f.route.clone();
    for weight in [1, 80, 40, 0, 100, 0, 100, 20] {
        let route = Route {
            object: &object,
            kind: RouteKind::Http,
        };
        let target = TrafficTarget::weight(weight, &[]);
        if let Some(patch) = plan(&route, &routing, &target).unwrap() {
            json_patch::patch(&mut object, &patch).unwrap();
        }
        for user_rule in [0, 2] {
            assert_eq!(
                object["spec"]["rules"][user_rule], f.route["spec"]["rules"][user_rule],
                "rule {user_rule} at canary weight {weight}"
            );
        }
        assert_eq!(
            object["spec"]["rules"][1]["backendRefs"][0]["weight"], weight,
            "the rollout's rule follows the weight"
        );
    }
}

#[test]
fn a_sticky_session_leaves_no_trace_at_zero_and_full_weight() {
    let path = fixture_path("41-sticky-cookie-rules-at-a-partial-weight.yaml");
    let (f, _) = fixtures::load::<GatewayApi>(&path);
    let mut object = f.route.clone();
    for weight in [10, 30, 0, 50, 100, 1, 99, 0, 60, 100] {
        let target = TrafficTarget::weight(weight, &[]);
        if let Some(patch) = run_target(&f, &object, &target).unwrap() {
            json_patch::patch(&mut object, &patch).unwrap();
        }
        assert!(
            run_target(&f, &object, &target).unwrap().is_none(),
            "planning weight {weight} again changes nothing"
        );
        assert_eq!(
            object["spec"]["rules"][0], f.route["spec"]["rules"][0],
            "the user's rule at weight {weight}"
        );
        let rules = object["spec"]["rules"].as_array().unwrap();
        if weight == 0 || weight == 100 {
            let mut bare = f.route.clone();
            bare["spec"]["rules"][1]["backendRefs"][0]["weight"] = weight.into();
            bare["spec"]["rules"][1]["backendRefs"][1]["weight"] = (100 - weight).into();
            assert_eq!(
                object, bare,
                "no trace of the sticky session at weight {weight}"
            );
        } else {
            let names: Vec<_> = rules.iter().map(|r| r["name"].as_str()).collect();
            assert_eq!(
                names,
                [
                    None,
                    None,
                    Some("rollgate-sticky-default.web-canary"),
                    Some("rollgate-sticky-default.web-stable")
                ],
                "at weight {weight}"
            );
            let canary = &rules[1]["backendRefs"][0];
            assert_eq!(canary["weight"], weight);
            let cookie = &canary["filters"][0]["responseHeaderModifier"]["add"][0]["value"];
            assert!(
                cookie
                    .as_str()
                    .unwrap()
                    .starts_with("rollgate-version=c0ffee;"),
                "{cookie}"
            );
        }
    }
}

#[test]
fn turning_the_sticky_session_off_takes_back_what_it_added_and_nothing_else() {
    for name in [
        "41-sticky-cookie-rules-at-a-partial-weight.yaml",
        "45-sticky-session-persistence-at-a-partial-weight.yaml",
    ] {
        let (mut f, _) = fixtures::load::<GatewayApi>(&fixture_path(name));
        let target = TrafficTarget::weight(30, &[]);
        let mut object = f.route.clone();
        let patch = run_target(&f, &object, &target).unwrap().unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
        assert!(
            object["metadata"]["annotations"]["sticky.rollgate.dev/default.web"].is_string(),
            "{name}: recorded"
        );
        // The config no longer has stickySession: the record says what to take back.
        f.sticky = None;
        let patch = run_target(&f, &object, &target).unwrap().unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
        let mut bare = f.route.clone();
        bare["spec"]["rules"][1]["backendRefs"][0]["weight"] = 30.into();
        bare["spec"]["rules"][1]["backendRefs"][1]["weight"] = 70.into();
        assert_eq!(object, bare, "{name}: as the route was, at weight 30");
        assert!(
            run_target(&f, &object, &target).unwrap().is_none(),
            "{name}: then nothing to write"
        );
    }
}

//! Table tests: every YAML file in `tests/fixtures/` is a route, a call and
//! the expected route (or "unchanged", or an error), run by the testkit's
//! fixture runner. The plan is applied as the API server would apply the
//! JSON patch; planning again on the result must change nothing.

use std::path::{Path, PathBuf};

use rollgate_testkit::fixtures::{self, Adapter, Outcome};

use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_gatewayapi::config::RouteKind;
use router_gatewayapi::plan::{
    Route, Services, plan_header_route, plan_mirror_route, plan_remove_managed, plan_weights,
};
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

fn run(f: &Fixture, object: &Value) -> Result<Option<json_patch::Patch>, router_gatewayapi::Error> {
    let default = ServicesDef {
        canary: "web-canary".into(),
        stable: "web-stable".into(),
        namespace: "default".into(),
    };
    let s = f.services.as_ref().unwrap_or(&default);
    let services = Services {
        canary: &s.canary,
        stable: &s.stable,
        namespace: &s.namespace,
    };
    let route = Route {
        object,
        kind: kind(f.kind.as_deref()),
        managed: &f.managed_routes,
    };
    let c = &f.call;
    if let Some(w) = c.set_weight {
        plan_weights(
            &route,
            &services,
            w,
            c.max_weight.unwrap_or(100),
            &c.additional,
        )
    } else if let Some(h) = &c.set_header_route {
        plan_header_route(&route, &services, h)
    } else if let Some(m) = &c.set_mirror_route {
        plan_mirror_route(&route, &services, m)
    } else if c.remove_managed_routes {
        plan_remove_managed(&route)
    } else {
        panic!("the call does nothing")
    }
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
    let services = Services {
        canary: "web-canary",
        stable: "web-stable",
        namespace: "default",
    };
    let mut object = f.route.clone();
    for weight in [1, 80, 40, 0, 100, 0, 100, 20] {
        let route = Route {
            object: &object,
            kind: RouteKind::Http,
            managed: &[],
        };
        if let Some(patch) = plan_weights(&route, &services, weight, 100, &[]).unwrap() {
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

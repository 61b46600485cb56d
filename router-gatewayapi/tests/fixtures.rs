//! Table tests: every YAML file in `tests/fixtures/` is a route, a call and
//! the expected route (or "unchanged", or an error). The plan is applied as
//! the API server would apply the JSON patch; planning again on the result
//! must change nothing.

use std::path::Path;

use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_gatewayapi::config::RouteKind;
use router_gatewayapi::plan::{
    Route, Services, plan_header_route, plan_mirror_route, plan_remove_managed, plan_weights,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    description: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    services: Option<ServicesDef>,
    #[serde(default)]
    managed_routes: Vec<String>,
    call: Call,
    route: Value,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    unchanged: bool,
    #[serde(default)]
    error: Option<String>,
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
        panic!("{}: the call does nothing", f.description)
    }
}

#[test]
fn every_fixture_plans_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 16, "{} fixtures", files.len());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let f: Fixture = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = run(&f, &f.route);
        if let Some(want) = &f.error {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{name}: expected an error"));
            assert!(err.to_string().contains(want.as_str()), "{name}: {err}");
            continue;
        }
        let plan = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        if f.unchanged {
            assert!(plan.is_none(), "{name}: expected no change, got {plan:?}");
            continue;
        }
        let plan = plan.unwrap_or_else(|| panic!("{name}: expected a change"));
        let mut after = f.route.clone();
        json_patch::patch(&mut after, &plan).unwrap_or_else(|e| panic!("{name}: patch fails: {e}"));
        let want = f
            .expect
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no expectation"));
        assert_eq!(&after, want, "{name}: {}", f.description);
        let again = run(&f, &after).unwrap_or_else(|e| panic!("{name}: second plan: {e}"));
        assert!(
            again.is_none(),
            "{name}: planning again changed something: {again:?}"
        );
    }
}

#[test]
fn a_concurrent_edit_makes_the_patch_fail_instead_of_overwriting_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/04-multi-rule.yaml");
    let f: Fixture = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/19-user-rule-to-stable-untouched.yaml");
    let f: Fixture = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
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

//! Table tests: every YAML file in `tests/fixtures/` is a VirtualService or
//! DestinationRule, a config, a call and the expected object (or
//! "unchanged", or an error). Planning the same call again over the result
//! must change nothing.

use std::collections::BTreeSet;
use std::path::Path;

use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_istio::config::Config;
use router_istio::plan::{
    Rollout, plan_header_route, plan_mirror_route, plan_remove_managed, plan_update_hash,
    plan_weights,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    description: String,
    config: Value,
    #[serde(default)]
    managed_routes: Vec<String>,
    call: Call,
    object: Value,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    unchanged: bool,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Call {
    set_weight: Option<i32>,
    #[serde(default)]
    additional: Vec<WeightDestination>,
    set_header_route: Option<SetHeaderRoute>,
    set_mirror_route: Option<SetMirrorRoute>,
    #[serde(default)]
    remove_managed_routes: Vec<String>,
    update_hash: Option<(String, String)>,
    /// The DestinationRule's host, for header and mirror routes.
    canary_host: Option<String>,
}

fn run(f: &Fixture, object: &Value) -> Result<Option<Value>, String> {
    let config = Config::parse(&f.config, "default/web").map_err(|e| e.to_string())?;
    let rollout = Rollout {
        canary_service: "web-canary",
        stable_service: "web-stable",
        managed_routes: &f.managed_routes,
        destination_rule: config.destination_rule.as_ref(),
    };
    let vs_ref = &config.virtual_services[0];
    let c = &f.call;
    let host = c.canary_host.as_deref().unwrap_or("web-canary");
    let result = if let Some(w) = c.set_weight {
        plan_weights(object, vs_ref, &rollout, w, &c.additional)
    } else if let Some(step) = &c.set_header_route {
        plan_header_route(object, vs_ref, &rollout, step, host)
    } else if let Some(step) = &c.set_mirror_route {
        plan_mirror_route(object, vs_ref, &rollout, step, host)
    } else if !c.remove_managed_routes.is_empty() {
        let names: BTreeSet<String> = c.remove_managed_routes.iter().cloned().collect();
        Ok(plan_remove_managed(object, &names))
    } else if let Some((canary, stable)) = &c.update_hash {
        let dr = config
            .destination_rule
            .as_ref()
            .expect("a destinationRule for updateHash");
        plan_update_hash(object, dr, "web", canary, stable, &c.additional)
    } else {
        panic!("{}: no call", f.description)
    };
    result.map_err(|e| e.to_string())
}

#[test]
fn every_fixture_plans_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "fixtures missing: {names:?}");
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let f: Fixture = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = run(&f, &f.object);
        if let Some(expected) = &f.error {
            let err = result.expect_err(&format!("{name}: expected an error ({})", f.description));
            assert!(
                err.contains(expected.as_str()),
                "{name}: error {err:?} lacks {expected:?}"
            );
            continue;
        }
        let planned = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        if f.unchanged {
            assert!(
                planned.is_none(),
                "{name}: expected no change, got {planned:#?}"
            );
            continue;
        }
        let after = planned.unwrap_or_else(|| panic!("{name}: expected a change"));
        let expect = f
            .expect
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no expectation; got {after:#}"));
        assert_eq!(&after, expect, "{name}: {}", f.description);
        let again = run(&f, &after).unwrap_or_else(|e| panic!("{name}: again: {e}"));
        assert!(again.is_none(), "{name}: planning again changes {again:#?}");
    }
}

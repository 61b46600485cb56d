//! Table tests: every YAML file in `tests/fixtures/` is a VirtualService or
//! DestinationRule, a config, a call and the expected object (or
//! "unchanged", or an error), run by the testkit's fixture runner. Planning
//! the same call again over the result must change nothing.

use std::collections::BTreeSet;
use std::path::Path;

use rollgate_testkit::fixtures::{self, Adapter, Outcome};

use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_istio::config::Config;
use router_istio::plan::{
    Rollout, plan_header_route, plan_mirror_route, plan_remove_managed, plan_update_hash,
    plan_weights,
};
use serde::Deserialize;
use serde_json::Value;

/// A fixture's object, config and call (the runner reads the expectation).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    config: Value,
    #[serde(default)]
    managed_routes: Vec<String>,
    call: Call,
    object: Value,
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
        panic!("the fixture has no call")
    };
    result.map_err(|e| e.to_string())
}

/// Plans a fixture's call over its VirtualService or DestinationRule; the
/// outcome is the object to write.
struct Istio;

impl Adapter for Istio {
    type Fixture = Fixture;

    fn input(&self, fixture: &Fixture) -> Value {
        fixture.object.clone()
    }

    fn plan(&self, fixture: &Fixture, object: &Value) -> Result<Outcome, String> {
        Ok(run(fixture, object)?.map_or(Outcome::Unchanged, Outcome::Changed))
    }
}

#[test]
fn every_fixture_plans_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    fixtures::run_all(&Istio, &dir, 12);
}

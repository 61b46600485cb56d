//! Table tests: every YAML file in `tests/fixtures/` is a VirtualService or
//! DestinationRule, a config, a call and the expected object (or
//! "unchanged", or an error), run by the testkit's fixture runner. A call
//! is Argo's per-aspect call (`setWeight`, `setHeaderRoute`,
//! `setMirrorRoute`, `removeManagedRoutes`, `updateHash`) or a whole
//! `target`; each becomes a [`TrafficTarget`] planned by the router's one
//! plan function. A weight-only change is planned as a guarded JSON patch,
//! which the runner applies to the object. Planning the same call again
//! over the result must change nothing.

use std::path::Path;

use rollgate_testkit::fixtures::{self, Adapter, Outcome};

use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_core::{Hashes, TrafficTarget};
use router_istio::config::Config;
use router_istio::plan::{Rollout, Write, plan_destination_rule, plan_virtual_service};
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
    remove_managed_routes: bool,
    update_hash: Option<(String, String)>,
    /// A whole target (its camelCase wire form), instead of one aspect.
    target: Option<TrafficTarget>,
    /// The DestinationRule's host, for header and mirror routes.
    canary_host: Option<String>,
}

impl Call {
    /// The call as the target the router plans.
    fn target(&self) -> TrafficTarget {
        if let Some(target) = &self.target {
            return target.clone();
        }
        let mut target = if let Some(step) = &self.set_header_route {
            TrafficTarget::header_route(step.clone())
        } else if let Some(step) = &self.set_mirror_route {
            TrafficTarget::mirror_route(step.clone())
        } else if self.remove_managed_routes {
            TrafficTarget::no_managed_routes()
        } else {
            TrafficTarget::default()
        };
        target.canary_weight = self.set_weight;
        target.additional = self.additional.clone();
        target
    }
}

fn run(f: &Fixture, object: &Value) -> Result<Option<Value>, String> {
    let config = Config::parse(&f.config, "default/web").map_err(|e| e.to_string())?;
    let c = &f.call;
    if let Some((canary, stable)) = &c.update_hash {
        let dr = config
            .destination_rule
            .as_ref()
            .expect("a destinationRule for updateHash");
        let hashes = Hashes {
            canary: canary.clone(),
            stable: stable.clone(),
        };
        return plan_destination_rule(object, dr, "web", &hashes, &c.additional)
            .map_err(|e| e.to_string());
    }
    let rollout = Rollout {
        canary_service: "web-canary",
        stable_service: "web-stable",
        managed_routes: &f.managed_routes,
        destination_rule: config.destination_rule.as_ref(),
    };
    let host = c.canary_host.as_deref().unwrap_or("web-canary");
    let written = plan_virtual_service(
        object,
        &config.virtual_services[0],
        &rollout,
        &c.target(),
        host,
    )
    .map_err(|e| e.to_string())?;
    Ok(written.map(|write| match write {
        Write::Replace(after) => after,
        Write::Weights(patch) => {
            let mut after = object.clone();
            json_patch::patch(&mut after, &patch)
                .unwrap_or_else(|e| panic!("the weight patch applies to the object read: {e}"));
            after
        }
    }))
}

/// Plans a fixture's call over its VirtualService or DestinationRule; the
/// outcome is the object as written.
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
    fixtures::run_all(&Istio, &dir, 16);
}

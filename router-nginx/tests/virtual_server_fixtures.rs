//! Table tests of the VirtualServer split: every YAML file in
//! `tests/virtual-server-fixtures/` is a VirtualServer (or
//! VirtualServerRoute) as read, a plugin config, the rollout's
//! `managedRoutes` and a call (a weight, the header routes in effect or one
//! `setHeaderRoute` step), and the expected object after the guarded JSON
//! patch of [`plan`], "unchanged" or an error, run by the testkit's fixture
//! runner. Planning again over the patched object must change nothing.

use std::path::Path;

use rollgate_testkit::fixtures::{self, Adapter, Outcome};
use rollout_core::spec::SetHeaderRoute;
use router_core::{Routes, TrafficTarget};
use router_nginx::config::Settings;
use router_nginx::plan::Rollout;
use router_nginx::virtual_server::plan;
use serde::Deserialize;
use serde_json::Value;

/// A fixture's object and call (the runner reads the expectation).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    config: Value,
    #[serde(default)]
    managed_routes: Vec<String>,
    #[serde(default)]
    max_traffic_weight: Option<i32>,
    /// The canary weight; left out: the call sets no weight.
    #[serde(default)]
    weight: Option<i32>,
    /// Exactly these header routes are in effect (every other managed
    /// route removed).
    #[serde(default)]
    header_routes: Option<Vec<SetHeaderRoute>>,
    /// One `setHeaderRoute` step (the other routes stay as they are).
    #[serde(default)]
    header_route: Option<SetHeaderRoute>,
    object: Value,
}

struct VirtualServers;

impl Adapter for VirtualServers {
    type Fixture = Fixture;

    fn input(&self, fixture: &Fixture) -> Value {
        fixture.object.clone()
    }

    fn plan(&self, f: &Fixture, object: &Value) -> Result<Outcome, String> {
        let rollout = Rollout {
            name: "web",
            namespace: "default",
            uid: None,
            canary_service: "web-canary",
            stable_service: "web-stable",
            max_traffic_weight: f.max_traffic_weight,
            promoted: false,
        };
        let settings = Settings::parse(&f.config, "default/web").map_err(|e| e.to_string())?;
        let target = settings
            .virtual_servers
            .first()
            .ok_or("the fixture's config names no virtualServer or virtualServerRoute")?;
        let routes = match (&f.header_routes, &f.header_route) {
            (Some(all), _) => Routes::Exactly {
                header: all.clone(),
                mirror: Vec::new(),
            },
            (None, Some(one)) => Routes::Header(one.clone()),
            (None, None) => Routes::AsIs,
        };
        let traffic = TrafficTarget {
            canary_weight: f.weight,
            routes,
            ..Default::default()
        };
        match plan(object, target, &rollout, &f.managed_routes, &traffic)
            .map_err(|e| e.to_string())?
        {
            None => Ok(Outcome::Unchanged),
            Some(patch) => {
                let mut after = object.clone();
                json_patch::patch(&mut after, &patch)
                    .map_err(|e| format!("the patch does not apply: {e}"))?;
                Ok(Outcome::Changed(after))
            }
        }
    }
}

#[test]
fn every_virtual_server_fixture_plans_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/virtual-server-fixtures");
    fixtures::run_all(&VirtualServers, &dir, 12);
}

//! Table tests: every YAML file in `tests/fixtures/` is a stable Ingress, an
//! optional existing canary Ingress, a config and the desired traffic (a
//! weight and the header route in effect, if any: every other managed route
//! removed; extra destinations, if any), and the expected plan of [`plan`]: the object to apply,
//! "unchanged", "delete", or an error, run by the testkit's fixture runner.
//! Planning again over the object as stored after the apply must change
//! nothing.

use std::path::Path;

use rollgate_testkit::fixtures::{self, Adapter, Outcome};

use rollout_core::spec::SetHeaderRoute;
use rollout_core::status::WeightDestination;
use router_core::{Routes, TrafficTarget};
use router_nginx::config::Config;
use router_nginx::plan::{FIELD_MANAGER, Plan, Rollout, check, owned_annotations, plan};
use serde::Deserialize;
use serde_json::Value;

/// A fixture's objects and desired traffic (the runner reads the
/// expectation).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    #[serde(default)]
    rollout: RolloutDef,
    config: Value,
    weight: i32,
    #[serde(default)]
    header_route: Option<SetHeaderRoute>,
    /// Extra destinations (an experiment's weighted templates).
    #[serde(default)]
    additional: Vec<WeightDestination>,
    stable: Value,
    #[serde(default)]
    canary: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RolloutDef {
    name: String,
    namespace: String,
    uid: Option<String>,
    canary_service: String,
    stable_service: String,
    max_traffic_weight: Option<i32>,
    /// The rollout's status (for completion).
    status: Option<Value>,
}

impl Default for RolloutDef {
    fn default() -> Self {
        Self {
            name: "web".into(),
            namespace: "default".into(),
            uid: Some("3f0c2a9e-0000-4000-8000-000000000001".into()),
            canary_service: "web-canary".into(),
            stable_service: "web-stable".into(),
            max_traffic_weight: None,
            status: None,
        }
    }
}

/// Whether a fixture's rollout status is fully promoted, as the context
/// says: `stableRS` set and equal to `currentPodHash`.
fn promoted(status: Option<&Value>) -> bool {
    status.is_some_and(|s| {
        s["stableRS"].as_str().is_some_and(|stable| {
            !stable.is_empty() && s["currentPodHash"].as_str() == Some(stable)
        })
    })
}

/// The fixture's plan over the existing canary Ingress `canary`, or its
/// error message.
fn run(f: &Fixture, canary: Option<&Value>) -> Result<Plan, String> {
    let r = &f.rollout;
    let rollout = Rollout {
        name: &r.name,
        namespace: &r.namespace,
        uid: r.uid.as_deref(),
        canary_service: &r.canary_service,
        stable_service: &r.stable_service,
        max_traffic_weight: r.max_traffic_weight,
        promoted: promoted(r.status.as_ref()),
    };
    let label = format!("{}/{}", r.namespace, r.name);
    let config = Config::parse(&f.config, &label).map_err(|e| e.to_string())?;
    let target = TrafficTarget {
        canary_weight: Some(f.weight),
        routes: Routes::Exactly {
            header: f.header_route.iter().cloned().collect(),
            mirror: Vec::new(),
        },
        additional: f.additional.clone(),
        ..Default::default()
    };
    check(&target, &label).map_err(|e| e.to_string())?;
    plan(&f.stable, canary, &rollout, &config, &target).map_err(|e| e.to_string())
}

/// Plans a fixture's desired traffic over its canary Ingress (`null` when
/// there is none yet); the outcome of an apply is the applied object.
struct Nginx;

impl Adapter for Nginx {
    type Fixture = Fixture;

    fn input(&self, fixture: &Fixture) -> Value {
        fixture.canary.clone().unwrap_or(Value::Null)
    }

    fn plan(&self, fixture: &Fixture, canary: &Value) -> Result<Outcome, String> {
        let canary = (!canary.is_null()).then_some(canary);
        Ok(match run(fixture, canary)? {
            Plan::Unchanged => Outcome::Unchanged,
            Plan::Delete => Outcome::Delete,
            Plan::Apply(object) => Outcome::Changed(object),
        })
    }

    /// As stored after a server-side apply: the annotations we applied
    /// before and leave out now removed, our fields over the rest of the
    /// existing object, recorded as ours in managedFields.
    fn stored_after(&self, _: &Fixture, canary: &Value, applied: &Value) -> Value {
        let mut stored = if canary.is_null() {
            serde_json::json!({})
        } else {
            canary.clone()
        };
        let dropped = owned_annotations(&stored, FIELD_MANAGER);
        if let Some(annotations) = stored["metadata"]["annotations"].as_object_mut() {
            for key in dropped {
                if applied["metadata"]["annotations"][&key].is_null() {
                    annotations.remove(&key);
                }
            }
        }
        merge(&mut stored, applied);
        record_apply(&mut stored, applied);
        stored
    }
}

/// Records `applied`'s annotations as owned by our field manager (what the
/// API server does on an apply), replacing our previous entry.
fn record_apply(stored: &mut Value, applied: &Value) {
    let owned: serde_json::Map<String, Value> = applied["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| (format!("f:{k}"), serde_json::json!({})))
        .collect();
    let mut fields: Vec<Value> = stored["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    fields.retain(|m| m["manager"] != FIELD_MANAGER);
    fields.push(serde_json::json!({
        "manager": FIELD_MANAGER, "operation": "Apply", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": owned}}
    }));
    stored["metadata"]["managedFields"] = Value::Array(fields);
}

/// A JSON merge of `patch` into `target` (objects merged, the rest replaced).
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        _ => *target = patch.clone(),
    }
}

#[test]
fn every_fixture_plans_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    fixtures::run_all(&Nginx, &dir, 12);
}

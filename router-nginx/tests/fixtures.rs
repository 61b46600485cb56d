//! Table tests: every YAML file in `tests/fixtures/` is a stable Ingress, an
//! optional existing canary Ingress, a config and the desired traffic, and
//! the expected plan: the object to apply, "unchanged", "delete", or an
//! error. Planning again over the applied object must change nothing.

use std::path::Path;

use rollout_core::spec::SetHeaderRoute;
use router_nginx::config::Config;
use router_nginx::plan::{
    Desired, FIELD_MANAGER, HeaderRoute, Plan, Rollout, canary_ingress, plan, plan_delete,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    description: String,
    #[serde(default)]
    rollout: RolloutDef,
    config: Value,
    weight: i32,
    #[serde(default)]
    header_route: Option<SetHeaderRoute>,
    stable: Value,
    #[serde(default)]
    canary: Option<Value>,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    unchanged: bool,
    #[serde(default)]
    delete: bool,
    #[serde(default)]
    error: Option<String>,
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

/// The fixture's plan, or its error message.
fn run(f: &Fixture) -> Result<Plan, String> {
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
    let header = match &f.header_route {
        Some(step) => HeaderRoute::from_step(step, &label).map_err(|e| e.to_string())?,
        None => None,
    };
    if f.weight == 0 && config.delete_on_completion && rollout.promoted {
        return plan_delete(f.canary.as_ref(), &rollout).map_err(|e| e.to_string());
    }
    let desired = Desired {
        weight: f.weight,
        header: header.as_ref(),
    };
    let object =
        canary_ingress(&f.stable, &rollout, &config, &desired).map_err(|e| e.to_string())?;
    let first = plan(f.canary.as_ref(), object, &rollout).map_err(|e| e.to_string())?;
    if let Plan::Apply(applied) = &first {
        // As stored after a server-side apply: our fields over the existing
        // object, recorded as ours in managedFields; then nothing to do.
        let mut stored = f.canary.clone().unwrap_or_else(|| serde_json::json!({}));
        merge(&mut stored, applied);
        record_apply(&mut stored, applied);
        let again = canary_ingress(&f.stable, &rollout, &config, &desired).unwrap();
        let second = plan(Some(&stored), again, &rollout).map_err(|e| e.to_string())?;
        if second != Plan::Unchanged {
            return Err(format!(
                "planning again over the applied object: {second:?}"
            ));
        }
    }
    Ok(first)
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
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "fixtures missing: {names:?}");
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let f: Fixture = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = run(&f);
        if let Some(expected) = &f.error {
            let err = result.expect_err(&format!("{name}: expected an error ({})", f.description));
            assert!(
                err.contains(expected.as_str()),
                "{name}: error {err:?} lacks {expected:?}"
            );
            continue;
        }
        let planned = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        match planned {
            Plan::Unchanged => assert!(f.unchanged, "{name}: unexpectedly unchanged"),
            Plan::Delete => assert!(f.delete, "{name}: unexpectedly deleted"),
            Plan::Apply(object) => {
                let expect = f
                    .expect
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: applies {object:#}"));
                assert_eq!(&object, expect, "{name}: {}", f.description);
            }
        }
    }
}

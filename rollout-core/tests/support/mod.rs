//! Helpers shared by the scenario tests: Rollouts from JSON or from the
//! example manifests, and a simulated cluster where revision 1 is deployed.
#![allow(dead_code)] // each test binary uses its own part

pub(crate) mod blue_green;
pub(crate) mod cases;

use std::path::Path;

use rollout_core::sim::Sim;
use rollout_core::{Phase, Rollout, Time};

pub(crate) const T0: Time = Time::from_unix_seconds(1_790_000_000);

pub(crate) fn manifest(name: &str) -> Rollout {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/manifests")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let value: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    Rollout::from_value(value, name).unwrap()
}

pub(crate) fn rollout(spec: serde_json::Value) -> Rollout {
    let mut doc = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default", "generation": 1},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
    });
    json_merge(&mut doc["spec"], spec);
    Rollout::from_value(doc, "test").unwrap()
}

pub(crate) fn json_merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                json_merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

/// Deployed and healthy at revision 1.
pub(crate) fn deployed(r: Rollout) -> Sim {
    let mut sim = Sim::new(r, T0);
    if sim.rollout.spec.template.is_none() {
        sim.set_image("hello:1.23.1");
    }
    sim.settle();
    assert_eq!(
        sim.phase(),
        Some(Phase::Healthy),
        "{:#?}",
        sim.rollout.status
    );
    sim
}

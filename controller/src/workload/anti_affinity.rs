//! `antiAffinity`: the pod anti-affinity term Argo injects into a new
//! ReplicaSet's pod template against the stable ReplicaSet's pods
//! (`GenerateReplicaSetAffinity`, `CreateInjectedAntiAffinityRule`).
//!
//! While the Rollout has a stable ReplicaSet (`status.stableRS`) other than
//! the one being created, the template's affinity gets one more
//! `podAntiAffinity` term: pods labelled `rollouts-pod-template-hash In
//! [<stable hash>]`, in the Rollout's namespace, on the same
//! `kubernetes.io/hostname`, appended to
//! `preferredDuringSchedulingIgnoredDuringExecution` with the Rollout's
//! weight, or to `requiredDuringSchedulingIgnoredDuringExecution`. The term
//! is the ReplicaSet's, not the Rollout's: the pod template hash is computed
//! before it is added, so it never changes the hash, and it is taken out
//! again before a ReplicaSet's template is compared with the Rollout's
//! ([`remove`]). When the stable ReplicaSet changes while the ReplicaSet
//! still names the old one, the ReplicaSet's affinity is regenerated
//! ([`needs_update`], Argo's `IfInjectedAntiAffinityRuleNeedsUpdate`); once
//! the ReplicaSet is the stable one itself its term is left as it is.
//!
//! The term is found by the first `matchExpressions` entry on the hash label
//! in the list of the configured kind, as Argo finds it. Unlike Argo, taking
//! a preferred term out also removes what it leaves empty (Argo leaves an
//! empty `preferredDuringSchedulingIgnoredDuringExecution` list, which then
//! never equals a template without affinity).

use rollout_core::Rollout;
use rollout_core::spec::AntiAffinity;
use serde_json::{Map, Value, json};

use super::POD_TEMPLATE_HASH_LABEL;

/// The topology key of the injected term.
pub const TOPOLOGY_KEY: &str = "kubernetes.io/hostname";
const PREFERRED: &str = "preferredDuringSchedulingIgnoredDuringExecution";
const REQUIRED: &str = "requiredDuringSchedulingIgnoredDuringExecution";

/// The Rollout's anti-affinity, if it asks for one of the two kinds (Argo's
/// `GetRolloutAffinity`: the canary's, else the blue-green strategy's).
pub fn strategy(rollout: &Rollout) -> Option<&AntiAffinity> {
    let strategy = &rollout.spec.strategy;
    strategy
        .canary
        .as_ref()
        .and_then(|c| c.anti_affinity.as_ref())
        .or_else(|| {
            strategy
                .blue_green
                .as_ref()
                .and_then(|b| b.anti_affinity.as_ref())
        })
        .filter(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .is_some()
                || a.required_during_scheduling_ignored_during_execution
                    .is_some()
        })
}

/// The Rollout's stable hash, when it is set and is not `current_hash`.
fn other_stable<'a>(rollout: &'a Rollout, current_hash: &str) -> Option<&'a str> {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.stable_rs.as_deref())
        .filter(|s| !s.is_empty() && *s != current_hash)
}

/// The affinity of the ReplicaSet of `current_hash`: the Rollout template's
/// own, plus the injected term while another stable ReplicaSet exists.
/// `None` when neither is there.
///
/// ```
/// use rollgate_controller::workload::anti_affinity::affinity;
/// let rollout = rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web", "namespace": "shop"},
///     "spec": {"template": {"spec": {"containers": []}},
///              "strategy": {"canary": {"antiAffinity": {
///                  "preferredDuringSchedulingIgnoredDuringExecution": {"weight": 40}}}}},
///     "status": {"stableRS": "abc"}}), "web").unwrap();
/// let injected = affinity(&rollout, "def").unwrap();
/// let term = &injected["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
/// assert_eq!(term["weight"], 40);
/// assert_eq!(term["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["values"][0], "abc");
/// assert_eq!(term["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname");
/// // The stable ReplicaSet's own pods get no term.
/// assert_eq!(affinity(&rollout, "abc"), None);
/// ```
pub fn affinity(rollout: &Rollout, current_hash: &str) -> Option<Value> {
    let own = rollout
        .spec
        .template
        .as_ref()
        .and_then(|t| t.pointer("/spec/affinity"))
        .filter(|a| !a.is_null())
        .cloned();
    let (Some(kind), Some(stable)) = (strategy(rollout), other_stable(rollout, current_hash))
    else {
        return own;
    };
    let term = json!({
        "labelSelector": {"matchExpressions": [
            {"key": POD_TEMPLATE_HASH_LABEL, "operator": "In", "values": [stable]}
        ]},
        "namespaces": [rollout.metadata.namespace.clone().unwrap_or_default()],
        "topologyKey": TOPOLOGY_KEY,
    });
    let mut affinity = match own {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let anti = affinity
        .entry("podAntiAffinity")
        .or_insert_with(|| json!({}));
    if !anti.is_object() {
        *anti = json!({});
    }
    let (list, entry) = match &kind.preferred_during_scheduling_ignored_during_execution {
        Some(p) => (
            PREFERRED,
            json!({"weight": p.weight, "podAffinityTerm": term}),
        ),
        None => (REQUIRED, term),
    };
    let terms = anti
        .as_object_mut()
        .map(|a| a.entry(list).or_insert_with(|| json!([])));
    match terms {
        Some(Value::Array(items)) => items.push(entry),
        Some(other) => *other = json!([entry]),
        None => {}
    }
    Some(Value::Object(affinity))
}

/// Puts [`affinity`] into a ReplicaSet's pod template (Argo sets the
/// template's `spec.affinity` to it when creating the ReplicaSet).
pub fn inject(template: &mut Value, rollout: &Rollout, current_hash: &str) {
    if let Some(affinity) = affinity(rollout, current_hash)
        && let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("affinity".into(), affinity);
    }
}

/// Where the injected term is in `affinity`: the list and the index.
fn injected(affinity: &Value, kind: &AntiAffinity) -> Option<(&'static str, usize)> {
    let (list, pointer) = if kind
        .preferred_during_scheduling_ignored_during_execution
        .is_some()
    {
        (PREFERRED, "/podAffinityTerm/labelSelector/matchExpressions")
    } else {
        (REQUIRED, "/labelSelector/matchExpressions")
    };
    let terms = affinity.get("podAntiAffinity")?.get(list)?.as_array()?;
    terms
        .iter()
        .position(|term| {
            term.pointer(pointer)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| e.get("key").and_then(Value::as_str) == Some(POD_TEMPLATE_HASH_LABEL))
        })
        .map(|i| (list, i))
}

/// Takes the injected term out of a ReplicaSet's pod template, and what it
/// leaves empty (Argo's `RemoveInjectedAntiAffinityRule`).
pub fn remove(template: &mut Value, kind: Option<&AntiAffinity>) {
    let Some(kind) = kind else { return };
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let Some((list, index)) = spec.get("affinity").and_then(|a| injected(a, kind)) else {
        return;
    };
    let Some(affinity) = spec.get_mut("affinity").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(anti) = affinity
        .get_mut("podAntiAffinity")
        .and_then(Value::as_object_mut)
    {
        if let Some(Value::Array(terms)) = anti.get_mut(list) {
            terms.remove(index);
        }
        anti.retain(|_, v| !is_empty(v));
    }
    affinity.retain(|_, v| !is_empty(v));
    if affinity.is_empty() {
        spec.remove("affinity");
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Whether an existing ReplicaSet's injected term names a stable hash that
/// is no longer the Rollout's (and the ReplicaSet is not the stable one):
/// its affinity is then set to [`affinity`] again.
pub fn needs_update(template: &Value, rollout: &Rollout, current_hash: &str) -> bool {
    let (Some(kind), Some(stable)) = (strategy(rollout), other_stable(rollout, current_hash))
    else {
        return false;
    };
    let Some(affinity) = template.pointer("/spec/affinity") else {
        return false;
    };
    let Some((list, index)) = injected(affinity, kind) else {
        return false;
    };
    let selector = if list == PREFERRED {
        "/podAffinityTerm/labelSelector/matchExpressions"
    } else {
        "/labelSelector/matchExpressions"
    };
    affinity["podAntiAffinity"][list][index]
        .pointer(selector)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("key").and_then(Value::as_str) == Some(POD_TEMPLATE_HASH_LABEL))
        .any(|e| {
            e.pointer("/values/0")
                .and_then(Value::as_str)
                .is_some_and(|v| v != stable)
        })
}

#[cfg(test)]
mod tests;

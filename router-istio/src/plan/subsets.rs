//! The DestinationRule's subsets, pointed at the ReplicaSets.

use rollout_core::status::WeightDestination;
use router_core::Hashes;
use serde_json::{Value, json};

use super::object_error;
use crate::Error;
use crate::config::DestinationRuleRef;

/// The pod-template-hash label a subset selects on.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";

/// Annotation naming the rollout that manages a DestinationRule's subsets.
/// Not Argo's `argo-rollouts.argoproj.io/managed-by-rollouts`: Argo Rollouts'
/// own Istio controller strips the hash labels from a DestinationRule that
/// carries that annotation but is not referenced by `trafficRouting.istio`,
/// which is exactly the case when this router runs as Argo's plugin.
pub const MANAGED_BY: &str = "rollgate.dev/managed-by-rollout";

/// The DestinationRule with the canary and stable subsets selecting
/// `hashes.canary` and `hashes.stable` (an empty hash removes the label),
/// experiment subsets selecting theirs (added if missing); `None` when it
/// already does. Subsets that are none of these are kept as they are, and so
/// is every other field (Argo's own router drops such subsets).
///
/// # Errors
///
/// The canary or stable subset is missing, or `spec.subsets` is not a list.
///
/// ```
/// use router_core::Hashes;
/// use router_istio::config::DestinationRuleRef;
/// use router_istio::plan::plan_destination_rule;
/// let dr = serde_json::json!({"metadata": {"name": "web"}, "spec": {"host": "web", "subsets": [
///     {"name": "canary"}, {"name": "stable"}, {"name": "legacy", "labels": {"v": "0"}}]}});
/// let dr_ref: DestinationRuleRef = serde_json::from_value(serde_json::json!(
///     {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"})).unwrap();
/// let hashes = Hashes { canary: "abc".into(), stable: "def".into() };
/// let after = plan_destination_rule(&dr, &dr_ref, "web", &hashes, &[]).unwrap().unwrap();
/// assert_eq!(after["spec"]["subsets"][0]["labels"]["rollouts-pod-template-hash"], "abc");
/// assert_eq!(after["spec"]["subsets"][2], dr["spec"]["subsets"][2]);
/// ```
pub fn plan_destination_rule(
    dr: &Value,
    dr_ref: &DestinationRuleRef,
    rollout_name: &str,
    hashes: &Hashes,
    additional: &[WeightDestination],
) -> Result<Option<Value>, Error> {
    let mut out = dr.clone();
    out["metadata"]["annotations"][MANAGED_BY] = json!(rollout_name);
    let mut wanted: Vec<(&str, &str)> = vec![
        (&dr_ref.canary_subset_name, &hashes.canary),
        (&dr_ref.stable_subset_name, &hashes.stable),
    ];
    for a in additional {
        if let (Some(name), Some(hash)) = (&a.service_name, &a.pod_template_hash) {
            wanted.push((name, hash));
        }
    }
    if out["spec"]["subsets"].is_null() {
        out["spec"]["subsets"] = json!([]);
    }
    let subsets = out["spec"]["subsets"]
        .as_array_mut()
        .ok_or_else(|| object_error(dr, "DestinationRule", "spec.subsets is not a list"))?;
    for (i, (name, hash)) in wanted.into_iter().enumerate() {
        let position = subsets
            .iter()
            .position(|s| s["name"].as_str() == Some(name));
        let subset = match position {
            Some(p) => &mut subsets[p],
            None if i >= 2 => {
                subsets.push(json!({"name": name, "labels": {}}));
                subsets.last_mut().expect("just pushed")
            }
            None => {
                return Err(object_error(
                    dr,
                    "DestinationRule",
                    format!("subset '{name}' not found"),
                ));
            }
        };
        if hash.is_empty() {
            if let Some(labels) = subset["labels"].as_object_mut() {
                labels.remove(HASH_LABEL);
            }
        } else {
            subset["labels"][HASH_LABEL] = json!(hash);
        }
    }
    Ok((dr != &out).then_some(out))
}

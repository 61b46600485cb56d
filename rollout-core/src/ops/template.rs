//! What `kubectl argo rollouts set image` and `undo` do to a pod template,
//! as pure functions returning the JSON patch (RFC 6902) to send.
//!
//! Both edit `spec.template` of the object that holds the Rollout's pod
//! template: the Rollout itself, or the Deployment its `workloadRef` names
//! (the caller reads that object and sends the patch to it). A patch that
//! edits a list entry starts with `test` operations on what it read, so the
//! API server refuses it if another writer changed the list in between,
//! where kubectl-argo-rollouts sends a whole-object update guarded by the
//! resourceVersion: the result is the same, the conflict window narrower.
//!
//! ```
//! use rollout_core::ops::set_image;
//! let rollout = serde_json::json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "web", "image": "example/web:1.0"}]}}}});
//! let patch = set_image(&rollout, "web", "example/web:1.1").unwrap();
//! assert_eq!(patch, serde_json::json!([
//!     {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
//!     {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "example/web:1.1"},
//! ]));
//! ```

use serde_json::{Map, Value, json};

/// The label the controller adds to every ReplicaSet's pod template; it is
/// not part of the template a person wrote.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// The ReplicaSet annotation with the revision it was created (or last
/// reused) for.
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";

/// Why a template operation cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `set image` named a container the template does not have.
    #[error(
        "no container named \"{container}\" in spec.template.spec (it has {}); use one of them, or * for all",
        names_or_none(.found)
    )]
    NoSuchContainer {
        /// The name asked for.
        container: String,
        /// The names of the template's containers, init and ephemeral
        /// containers.
        found: Vec<String>,
    },
    /// `undo --to-revision N` named a revision no ReplicaSet has.
    #[error("no ReplicaSet of the rollout has revision {revision} (it has {})", revisions(.found))]
    NoSuchRevision {
        /// The revision asked for.
        revision: u64,
        /// The revisions the rollout's ReplicaSets have, newest first.
        found: Vec<u64>,
    },
    /// `undo` without a revision, but there is no revision before the current one.
    #[error("there is no previous revision to go back to (it has {})", revisions(.found))]
    NoPreviousRevision {
        /// The revisions the rollout's ReplicaSets have, newest first.
        found: Vec<u64>,
    },
}

fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "no containers".to_owned()
    } else {
        names.join(", ")
    }
}

fn revisions(found: &[u64]) -> String {
    if found.is_empty() {
        "no ReplicaSets with a revision".to_owned()
    } else {
        let list: Vec<String> = found.iter().map(u64::to_string).collect();
        format!("revision {}", list.join(", "))
    }
}

/// The container lists of a pod spec, in the order `set image` visits them.
const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// `kubectl argo rollouts set image NAME CONTAINER=IMAGE`: the JSON patch
/// that sets the image of every container (init, regular and ephemeral)
/// named `container` in `object`'s `spec.template.spec`, or of every
/// container when `container` is `*`. `object` is the Rollout, or the
/// Deployment of its `workloadRef`, as read from the API server.
///
/// The patch tests each edited entry's name before replacing its image.
/// Fails, changing nothing, when no container matches (as Argo does).
pub fn set_image(object: &Value, container: &str, image: &str) -> Result<Value, TemplateError> {
    let pod_spec = object.pointer("/spec/template/spec");
    let mut ops = Vec::new();
    let mut found = Vec::new();
    for list in CONTAINER_LISTS {
        let entries = pod_spec
            .and_then(|s| s.get(list))
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, entry) in entries.iter().enumerate() {
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
            found.push(name.to_owned());
            if name == container || container == "*" {
                let at = format!("/spec/template/spec/{list}/{i}");
                ops.push(json!({"op": "test", "path": format!("{at}/name"), "value": name}));
                ops.push(json!({"op": "replace", "path": format!("{at}/image"), "value": image}));
            }
        }
    }
    if ops.is_empty() {
        return Err(TemplateError::NoSuchContainer {
            container: container.to_owned(),
            found,
        });
    }
    Ok(Value::Array(ops))
}

/// One ReplicaSet of a rollout, as `undo` needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionTemplate {
    /// The revision from [`REVISION_ANNOTATION`] (0 without one, as Argo
    /// reads a missing annotation).
    pub revision: u64,
    /// The ReplicaSet's `spec.template`.
    pub template: Value,
}

/// What `undo` will do.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// The current template already is the revision's: nothing to send.
    AlreadyAt {
        /// The revision it matches.
        revision: u64,
    },
    /// Send `patch` (a JSON patch replacing `/spec/template`) to restore
    /// `revision`'s template.
    Restore {
        /// The revision restored.
        revision: u64,
        /// The JSON patch.
        patch: Value,
    },
}

/// `kubectl argo rollouts undo [--to-revision N]`: restore the pod template
/// of the ReplicaSet with revision `to_revision`, or with `0` of the newest
/// revision before the current one, into `current_template` (the
/// `spec.template` of the Rollout or of its `workloadRef` Deployment).
/// `replica_sets` are the ReplicaSets the Rollout controls.
///
/// The restored template is the ReplicaSet's without the controller's
/// [`POD_TEMPLATE_HASH_LABEL`]. As in Argo, when every field set in the
/// current template has the same value in the revision's (the revision may
/// hold fields the API server defaulted), there is nothing to do.
///
/// ```
/// use rollout_core::ops::{undo, RevisionTemplate, Undo};
/// use serde_json::json;
/// let rs = |revision, image| RevisionTemplate { revision, template: json!({
///     "metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": "abc"}},
///     "spec": {"containers": [{"name": "web", "image": image}]}}) };
/// let current = json!({"metadata": {"labels": {"app": "web"}},
///                      "spec": {"containers": [{"name": "web", "image": "web:2"}]}});
/// let Undo::Restore { revision, patch } = undo(&current, &[rs(1, "web:1"), rs(2, "web:2")], 0).unwrap()
/// else { panic!() };
/// assert_eq!(revision, 1);
/// assert_eq!(patch[0]["value"]["spec"]["containers"][0]["image"], "web:1");
/// assert_eq!(patch[0]["value"]["metadata"]["labels"], json!({"app": "web"}));
/// ```
pub fn undo(
    current_template: &Value,
    replica_sets: &[RevisionTemplate],
    to_revision: u64,
) -> Result<Undo, TemplateError> {
    let mut found: Vec<u64> = replica_sets.iter().map(|rs| rs.revision).collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    found.dedup();
    let chosen = if to_revision == 0 {
        // The second-newest revision, as Argo picks it.
        let previous = found.get(1).copied();
        previous.and_then(|p| replica_sets.iter().find(|rs| rs.revision == p))
    } else {
        replica_sets.iter().find(|rs| rs.revision == to_revision)
    };
    let Some(chosen) = chosen else {
        return Err(if to_revision == 0 {
            TemplateError::NoPreviousRevision { found }
        } else {
            TemplateError::NoSuchRevision {
                revision: to_revision,
                found,
            }
        });
    };
    let mut template = chosen.template.clone();
    remove_hash_label(&mut template);
    let mut current = current_template.clone();
    remove_hash_label(&mut current);
    if derivative(&current, &template) {
        return Ok(Undo::AlreadyAt {
            revision: chosen.revision,
        });
    }
    Ok(Undo::Restore {
        revision: chosen.revision,
        patch: json!([{"op": "replace", "path": "/spec/template", "value": template}]),
    })
}

fn remove_hash_label(template: &mut Value) {
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
}

/// Whether every field set in `a` has the same value in `b` (fields unset,
/// null or empty in `a` match anything): Go's semantic `DeepDerivative`,
/// which Argo's `undo` uses to see that a template already matches.
fn derivative(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, _) => true,
        (Value::Object(a), _) if a.is_empty() => true,
        (Value::Array(a), _) if a.is_empty() => true,
        (Value::String(a), _) if a.is_empty() => true,
        (Value::Object(a), Value::Object(b)) => object_derivative(a, b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| derivative(x, y))
        }
        _ => a == b,
    }
}

fn object_derivative(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.iter().all(|(k, v)| {
        b.get(k)
            .map_or_else(|| derivative(v, &Value::Null), |w| derivative(v, w))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: Value) -> Value {
        json!({"spec": {"template": {"spec": containers}}})
    }

    #[test]
    fn set_image_edits_every_list_and_star_matches_all() {
        let object = pod(json!({
            "initContainers": [{"name": "init", "image": "a"}],
            "containers": [{"name": "web", "image": "b"}, {"name": "init", "image": "c"}],
        }));
        let patch = set_image(&object, "init", "x").unwrap();
        let paths: Vec<&str> = patch
            .as_array()
            .unwrap()
            .iter()
            .filter(|op| op["op"] == "replace")
            .map(|op| op["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "/spec/template/spec/initContainers/0/image",
                "/spec/template/spec/containers/1/image"
            ]
        );
        let all = set_image(&object, "*", "x").unwrap();
        assert_eq!(all.as_array().unwrap().len(), 6);
    }

    #[test]
    fn set_image_of_a_missing_container_names_the_ones_there() {
        let object = pod(json!({"containers": [{"name": "web", "image": "b"}]}));
        let err = set_image(&object, "api", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no container named \"api\" in spec.template.spec (it has web); use one of them, or * for all"
        );
        let empty = set_image(&json!({}), "api", "x").unwrap_err();
        assert!(
            empty.to_string().contains("(it has no containers)"),
            "{empty}"
        );
    }

    fn rs(revision: u64, image: &str) -> RevisionTemplate {
        RevisionTemplate {
            revision,
            template: json!({
                "metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: format!("h{revision}")}},
                "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent"}]},
            }),
        }
    }

    #[test]
    fn undo_to_a_revision_or_the_previous_one() {
        let current = json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:3"}]}});
        let sets = [rs(1, "web:1"), rs(3, "web:3"), rs(2, "web:2")];
        let Undo::Restore { revision, patch } = undo(&current, &sets, 0).unwrap() else {
            panic!("a restore")
        };
        assert_eq!(revision, 2);
        assert_eq!(patch[0]["path"], "/spec/template");
        assert_eq!(patch[0]["value"]["spec"]["containers"][0]["image"], "web:2");
        let Undo::Restore { revision, .. } = undo(&current, &sets, 1).unwrap() else {
            panic!("a restore")
        };
        assert_eq!(revision, 1);
        // The API server's defaults in the ReplicaSet do not make it differ.
        assert_eq!(
            undo(&current, &sets, 3).unwrap(),
            Undo::AlreadyAt { revision: 3 }
        );
    }

    #[test]
    fn undo_without_the_revision_says_which_there_are() {
        let current = json!({});
        let err = undo(&current, &[rs(1, "a"), rs(2, "b")], 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no ReplicaSet of the rollout has revision 7 (it has revision 2, 1)"
        );
        let err = undo(&current, &[rs(1, "a")], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "there is no previous revision to go back to (it has revision 1)"
        );
    }
}

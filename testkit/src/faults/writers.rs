//! Writers that edit a rollout's route beside its controller, as people
//! and GitOps tools do.
//!
//! - [`ArgoCdLike`]: every few seconds, a server-side apply of the user's
//!   HTTPRoute (from "git") with field manager `argocd-controller`, forced,
//!   as Argo CD's self-heal sync applies it with `ServerSideApply=true`.
//!   The rules it does not have in git (the ones the rollout writes) are
//!   applied as they are live, as Argo CD's `RespectIgnoreDifferences=true`
//!   applies fields listed under `ignoreDifferences`: `spec.rules` is an
//!   atomic list, so the user's rules and the rollout's share one field.
//!   [`ArgoCdLike::start_with`] with [`Rules::Live`] applies the live
//!   `spec.rules` whole instead, as Argo CD itself does once an
//!   `ignoreDifferences` entry covers a field inside that list.
//! - [`kubectl_edit`]: one merge patch with field manager `kubectl-edit`,
//!   as `kubectl edit` sends it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// The field manager Argo CD applies with.
pub const ARGO_CD_MANAGER: &str = "argocd-controller";

/// The field manager of `kubectl edit`.
pub const KUBECTL_EDIT_MANAGER: &str = "kubectl-edit";

/// What the writer applies as `spec.rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Git's rules merged into the live ones by name: a live rule git has
    /// is git's, the others stay as they are live.
    GitByName,
    /// The live rules, whole: with `RespectIgnoreDifferences=true`, Argo CD
    /// copies the live value of every ignored field into what it applies,
    /// by a merge patch in which an atomic list is replaced whole, so an
    /// ignored field inside `spec.rules` brings the whole live list.
    Live,
}

/// An Argo CD-like writer re-applying one object; stops when dropped.
pub struct ArgoCdLike {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    api: Api<DynamicObject>,
    git: Mutex<Value>,
    rules: Rules,
    applies: AtomicU64,
    failures: AtomicU64,
}

impl ArgoCdLike {
    /// Re-applies `git` (an HTTPRoute with apiVersion, kind and
    /// metadata.name) through `api` every `every`, from now on, with git's
    /// rules merged into the live ones by name ([`Rules::GitByName`]).
    pub fn start(api: Api<DynamicObject>, git: Value, every: Duration) -> Self {
        Self::start_with(api, git, every, Rules::GitByName)
    }

    /// [`ArgoCdLike::start`] applying `rules` as `spec.rules`.
    pub fn start_with(api: Api<DynamicObject>, git: Value, every: Duration, rules: Rules) -> Self {
        let shared = Arc::new(Shared {
            api,
            git: Mutex::new(git),
            rules,
            applies: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let looping = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let _ = looping.apply().await;
                tokio::time::sleep(every).await;
            }
        });
        Self { shared, task }
    }

    /// A new commit: `git` is applied now (and from now on); returns the
    /// object as that apply stored it (its defaults filled in, its
    /// `metadata.resourceVersion`).
    ///
    /// # Errors
    ///
    /// The API server's answer when the apply fails.
    pub async fn commit(&self, git: Value) -> Result<Value, kube::Error> {
        *self
            .shared
            .git
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = git;
        self.shared.apply().await
    }

    /// (applies that succeeded, applies that failed) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.shared.applies.load(Ordering::Relaxed),
            self.shared.failures.load(Ordering::Relaxed),
        )
    }
}

impl Drop for ArgoCdLike {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    async fn apply(&self) -> Result<Value, kube::Error> {
        let git = self
            .git
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let name = git["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let result = async {
            let live = self.api.get(&name).await?;
            let live = serde_json::to_value(live).unwrap_or_default();
            let desired = match self.rules {
                Rules::GitByName => with_live_rules(&git, &live["spec"]["rules"]),
                Rules::Live => {
                    let mut desired = git.clone();
                    desired["spec"]["rules"] = live["spec"]["rules"].clone();
                    desired
                }
            };
            let applied = self
                .api
                .patch(
                    &name,
                    &PatchParams::apply(ARGO_CD_MANAGER).force(),
                    &Patch::Apply(&desired),
                )
                .await?;
            Ok(serde_json::to_value(applied).unwrap_or_default())
        }
        .await;
        let counter = if result.is_ok() {
            &self.applies
        } else {
            &self.failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }
}

/// `git` with its `spec.rules` merged into the live ones by name: a live
/// rule git has is git's, a live rule git lacks (the rollout's) stays as
/// it is, in the live order; git's rules missing live are added at the end.
fn with_live_rules(git: &Value, live: &Value) -> Value {
    let ours = git["spec"]["rules"].as_array().cloned().unwrap_or_default();
    let named = |rule: &Value, name: &Value| !name.is_null() && rule["name"] == *name;
    let mut rules: Vec<Value> = live
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| {
            ours.iter()
                .find(|o| named(o, &rule["name"]))
                .cloned()
                .unwrap_or_else(|| rule.clone())
        })
        .collect();
    for rule in &ours {
        if !rules.iter().any(|r| named(r, &rule["name"])) {
            rules.push(rule.clone());
        }
    }
    let mut desired = git.clone();
    desired["spec"]["rules"] = json!(rules);
    desired
}

/// One merge patch of `patch` on object `name`, as `kubectl edit` sends
/// it; returns the object's resourceVersion after it.
///
/// # Errors
///
/// The API server's answer when the patch fails.
pub async fn kubectl_edit(
    api: &Api<DynamicObject>,
    name: &str,
    patch: &Value,
) -> Result<String, kube::Error> {
    let patched = api
        .patch(
            name,
            &PatchParams {
                field_manager: Some(KUBECTL_EDIT_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(patch),
        )
        .await?;
    Ok(patched.metadata.resource_version.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_rules_replace_their_live_namesakes_and_the_rest_stay() {
        let git = json!({"metadata": {"name": "web"}, "spec": {"rules": [
            {"name": "users", "v": 2}, {"name": "added", "v": 1}]}});
        let live = json!([
            {"name": "testers", "v": "rollout"},
            {"name": "users", "v": 1},
            {"backendRefs": [{"name": "web-stable", "weight": 80}]}]);
        let desired = with_live_rules(&git, &live);
        assert_eq!(
            desired["spec"]["rules"],
            json!([{"name": "testers", "v": "rollout"}, {"name": "users", "v": 2},
                   {"backendRefs": [{"name": "web-stable", "weight": 80}]},
                   {"name": "added", "v": 1}])
        );
        assert_eq!(desired["metadata"], git["metadata"]);
    }
}

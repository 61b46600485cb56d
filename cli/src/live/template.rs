//! `set image NAME CONTAINER=IMAGE` and `undo NAME [--to-revision N]`: the
//! pod template edits, built by `rollout_core::ops` and sent as JSON
//! patches to the object holding the template: the Rollout, or the
//! Deployment its `workloadRef` names (as kubectl-argo-rollouts does; a
//! `workloadRef` to a ReplicaSet or PodTemplate is refused).

use std::io::Write;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams};
use rollout_core::ops::{self, REVISION_ANNOTATION, RevisionTemplate, Undo};
use serde_json::Value;

use super::client::{ReadRollout, Session};
use super::snapshot::controlled_by;
use super::{LiveError, api_message};

/// Where a Rollout's pod template lives.
enum Holder {
    Rollout,
    Deployment(String),
}

impl Holder {
    fn of(session: &Session, read: &ReadRollout) -> Result<Self, LiveError> {
        let Some(reference) = &read.rollout.spec.workload_ref else {
            return Ok(Self::Rollout);
        };
        let name = reference.name.clone().unwrap_or_default();
        match reference.kind.as_deref() {
            Some("Deployment") if !name.is_empty() => Ok(Self::Deployment(name)),
            kind => Err(LiveError::Invalid {
                object: session.object("rollout", &read.rollout.metadata.name),
                message: format!(
                    "spec.workloadRef: expected a Deployment with a name, found kind {} named {name:?}; \
                     edit that workload directly",
                    kind.unwrap_or("(none)")
                ),
            }),
        }
    }

    /// The object holding the template, as JSON.
    async fn read(&self, session: &Session, read: &ReadRollout) -> Result<Value, LiveError> {
        match self {
            Self::Rollout => Ok(read.object.clone()),
            Self::Deployment(name) => session.get(&deployments(session), "deployment", name).await,
        }
    }

    /// Sends the JSON patch to the object holding the template.
    async fn patch(
        &self,
        session: &Session,
        rollout: &str,
        operations: Value,
    ) -> Result<(), LiveError> {
        match self {
            Self::Rollout => {
                session
                    .json_patch(&session.rollouts(), "rollout", rollout, operations)
                    .await
            }
            Self::Deployment(name) => {
                session
                    .json_patch(&deployments(session), "deployment", name, operations)
                    .await
            }
        }
    }
}

fn deployments(session: &Session) -> Api<Deployment> {
    Api::namespaced(session.client.clone(), &session.namespace)
}

/// Sets the image of container `CONTAINER` (every container for `*`) from
/// `CONTAINER=IMAGE`, and prints `rollout "NAME" image updated` (or
/// `deployment "NAME"` for a `workloadRef`).
pub(crate) async fn set_image(
    session: &Session,
    name: &str,
    assignment: &str,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let Some((container, image)) = assignment
        .split_once('=')
        .filter(|(c, i)| !c.is_empty() && !i.is_empty())
    else {
        return Err(LiveError::Invalid {
            object: format!("the argument {assignment:?}"),
            message: "expected CONTAINER=IMAGE, as web=example/web:1.2".into(),
        });
    };
    let read = session.rollout(name).await?;
    let holder = Holder::of(session, &read)?;
    let object = holder.read(session, &read).await?;
    let (kind, target) = match &holder {
        Holder::Rollout => ("rollout", name.to_owned()),
        Holder::Deployment(d) => ("deployment", d.clone()),
    };
    let patch = ops::set_image(&object, container, image).map_err(|e| LiveError::Invalid {
        object: session.object(kind, &target),
        message: e.to_string(),
    })?;
    holder.patch(session, name, patch).await?;
    writeln!(out, "{kind} \"{target}\" image updated")?;
    Ok(())
}

/// Restores revision `to_revision`'s pod template (0: the revision before
/// the current), and prints `rollout 'NAME' undo`, or that it was skipped.
pub(crate) async fn undo(
    session: &Session,
    name: &str,
    to_revision: u64,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let read = session.rollout(name).await?;
    let holder = Holder::of(session, &read)?;
    let object = holder.read(session, &read).await?;
    let uid = read.rollout.metadata.uid.clone().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(session.client.clone(), &session.namespace);
    let list = rs_api
        .list(&ListParams::default())
        .await
        .map_err(|e| LiveError::Api {
            action: "listing",
            object: format!("the ReplicaSets of {}", session.object("rollout", name)),
            message: api_message(&e),
        })?;
    let revisions: Vec<RevisionTemplate> = list
        .items
        .into_iter()
        .filter(|rs| controlled_by(rs.metadata.owner_references.as_deref(), &uid))
        .filter_map(|rs| {
            // A revision that is not a number is skipped, as Argo skips it.
            let revision = match rs.metadata.annotations.as_ref()?.get(REVISION_ANNOTATION) {
                Some(r) => r.parse().ok()?,
                None => 0,
            };
            let template = serde_json::to_value(rs.spec?.template?).ok()?;
            Some(RevisionTemplate { revision, template })
        })
        .collect();
    let current = object
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let plan = ops::undo(&current, &revisions, to_revision).map_err(|e| LiveError::Invalid {
        object: session.object("rollout", name),
        message: e.to_string(),
    })?;
    match plan {
        Undo::AlreadyAt { revision } => writeln!(
            out,
            "skipped rollback (current template already matches revision {revision})"
        )?,
        Undo::Restore { patch, .. } => {
            holder.patch(session, name, patch).await?;
            writeln!(out, "rollout '{name}' undo")?;
        }
    }
    Ok(())
}

//! `list rollouts [-A]`: one line per Rollout with kubectl-argo-rollouts'
//! columns (NAME, STRATEGY, STATUS, STEP, SET-WEIGHT, READY, DESIRED,
//! UP-TO-DATE, AVAILABLE; NAMESPACE first with `-A`). The columns are as
//! wide as their content, where kubectl-argo-rollouts pads each to a fixed
//! width first.

use std::io::Write;

use kube::api::{Api, DynamicObject, ListParams};
use rollout_core::Rollout;
use rollout_core::conditions::rollout_phase;

use super::client::{Session, rollout_resource, to_rollout};
use super::info::{set_weight, step, strategy};
use super::{LiveError, api_message};
use crate::view::{Table, Text};

/// One line of the list.
pub(crate) fn row(r: &Rollout, namespace: bool) -> Vec<String> {
    let st = r.status.clone().unwrap_or_default();
    let canary = r.canary().is_some();
    let mut row = Vec::new();
    if namespace {
        row.push(r.metadata.namespace.clone().unwrap_or_default());
    }
    row.extend([
        r.metadata.name.clone(),
        strategy(r).to_owned(),
        rollout_phase(r).0.as_str().to_owned(),
        step(r).unwrap_or_else(|| "-".into()),
        if canary {
            set_weight(r).to_string()
        } else {
            "-".into()
        },
        format!(
            "{}/{}",
            st.ready_replicas.unwrap_or(0),
            st.replicas.unwrap_or(0)
        ),
        r.replicas().to_string(),
        st.updated_replicas.unwrap_or(0).to_string(),
        st.available_replicas.unwrap_or(0).to_string(),
    ]);
    row
}

/// Prints the namespace's Rollouts, or every namespace's.
pub(crate) async fn rollouts(
    session: &Session,
    all_namespaces: bool,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let api: Api<DynamicObject> = if all_namespaces {
        Api::all_with(session.client.clone(), &rollout_resource())
    } else {
        session.rollouts()
    };
    let where_ = if all_namespaces {
        "every namespace".to_owned()
    } else {
        format!("namespace {}", session.namespace)
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| LiveError::Api {
            action: "listing",
            object: format!("the Rollouts of {where_}"),
            message: api_message(&e),
        })?;
    let mut rollouts = Vec::new();
    for item in list.items {
        let value = serde_json::to_value(&item).unwrap_or_default();
        let name = format!(
            "rollout {}/{}",
            item.metadata.namespace.as_deref().unwrap_or_default(),
            item.metadata.name.as_deref().unwrap_or_default()
        );
        rollouts.push(to_rollout(&value, &name)?);
    }
    if rollouts.is_empty() {
        eprintln!("No resources found in {where_}.");
        return Ok(());
    }
    rollouts.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    let mut table = Table::default();
    let mut header = vec![
        "NAME",
        "STRATEGY",
        "STATUS",
        "STEP",
        "SET-WEIGHT",
        "READY",
        "DESIRED",
        "UP-TO-DATE",
        "AVAILABLE",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    table.row(header.into_iter().map(Text::plain).collect());
    for r in &rollouts {
        table.row(
            row(r, all_namespaces)
                .into_iter()
                .map(Text::plain)
                .collect(),
        );
    }
    out.write_all(table.render(false).as_bytes())?;
    Ok(())
}

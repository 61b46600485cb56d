//! A Rollout with the objects it owns, read together: what `get rollout`
//! and `--watch` draw from.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use kube::{Resource, ResourceExt};
use rollout_core::{Rollout, Time};
use serde_json::Value;

use super::client::{Session, analysis_run_resource};
use super::{LiveError, api_message};

/// A Rollout and what it controls, at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) rollout: Rollout,
    /// When the Rollout was created (`now` if the server did not say).
    pub(crate) created: Time,
    /// The ReplicaSets whose controller is the Rollout.
    pub(crate) replica_sets: Vec<ReplicaSet>,
    /// The pods whose controller is one of those ReplicaSets.
    pub(crate) pods: Vec<Pod>,
    /// The AnalysisRuns whose controller is the Rollout, as JSON.
    pub(crate) analysis_runs: Vec<Value>,
    /// When it was read.
    pub(crate) now: Time,
}

/// Whether `owners` names `uid` as the controller.
pub(crate) fn controlled_by(
    owners: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]>,
    uid: &str,
) -> bool {
    owners
        .unwrap_or_default()
        .iter()
        .any(|o| o.uid == uid && o.controller == Some(true))
}

/// A creation timestamp as a [`Time`], `now` when absent.
pub(crate) fn created_at(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    now: Time,
) -> Time {
    meta.creation_timestamp
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(now)
}

impl Snapshot {
    /// Reads Rollout `name` and the ReplicaSets (with their pods) and
    /// AnalysisRuns it controls.
    pub(crate) async fn read(session: &Session, name: &str) -> Result<Self, LiveError> {
        let read = session.rollout(name).await?;
        let now = Time::from_system_time(std::time::SystemTime::now());
        let uid = read.rollout.metadata.uid.clone().unwrap_or_default();
        let created = read
            .object
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(now);
        let list = |kind: &'static str| {
            move |e: kube::Error| LiveError::Api {
                action: "listing",
                object: format!("the {kind} of {}", session.object("rollout", name)),
                message: api_message(&e),
            }
        };
        let params = ListParams::default();
        let rs_api: Api<ReplicaSet> = Api::namespaced(session.client.clone(), &session.namespace);
        let replica_sets: Vec<ReplicaSet> = rs_api
            .list(&params)
            .await
            .map_err(list("ReplicaSets"))?
            .items
            .into_iter()
            .filter(|rs| controlled_by(rs.meta().owner_references.as_deref(), &uid))
            .collect();
        let rs_uids: Vec<String> = replica_sets.iter().filter_map(|rs| rs.uid()).collect();
        let pod_api: Api<Pod> = Api::namespaced(session.client.clone(), &session.namespace);
        let pods = pod_api
            .list(&params)
            .await
            .map_err(list("pods"))?
            .items
            .into_iter()
            .filter(|p| {
                rs_uids
                    .iter()
                    .any(|u| controlled_by(p.meta().owner_references.as_deref(), u))
            })
            .collect();
        let run_api: Api<DynamicObject> = Api::namespaced_with(
            session.client.clone(),
            &session.namespace,
            &analysis_run_resource(),
        );
        let analysis_runs = run_api
            .list(&params)
            .await
            .map_err(list("AnalysisRuns"))?
            .items
            .into_iter()
            .filter(|r| controlled_by(r.meta().owner_references.as_deref(), &uid))
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect();
        Ok(Self {
            rollout: read.rollout,
            created,
            replica_sets,
            pods,
            analysis_runs,
            now,
        })
    }
}

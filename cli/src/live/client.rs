//! Connecting to the cluster as kubectl does, and reading and patching the
//! objects the live commands work on.

use std::path::PathBuf;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rollout_core::Rollout;
use serde_json::Value;

use super::{LiveError, api_message};

/// Where the cluster is: the kubeconfig, its context and the namespace,
/// with kubectl's flags and defaults.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Connection {
    /// The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then
    /// the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// The namespace (default: the context's, else `default`).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    namespace: Option<String>,
}

/// A client and the namespace the command works in.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) namespace: String,
}

impl Connection {
    /// Reads the kubeconfig and builds the client. Nothing is sent yet.
    pub(crate) async fn connect(&self) -> Result<Session, LiveError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path).map_err(|e| {
                    LiveError::Kubeconfig(format!("reading {}: {e}", path.display()))
                })?;
                Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| LiveError::Kubeconfig(format!("{}: {e}", path.display())))?
            }
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| LiveError::Kubeconfig(e.to_string()))?,
            None => Config::infer()
                .await
                .map_err(|e| LiveError::Kubeconfig(e.to_string()))?,
        };
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| {
            LiveError::Kubeconfig(format!("building a client: {}", api_message(&e)))
        })?;
        Ok(Session { client, namespace })
    }
}

/// The Rollout resource, `argoproj.io/v1alpha1`.
pub(crate) fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"))
}

/// The AnalysisRun resource, `argoproj.io/v1alpha1`.
pub(crate) fn analysis_run_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "argoproj.io",
        "v1alpha1",
        "AnalysisRun",
    ))
}

/// A Rollout as read: the whole object, and the typed view of it.
pub(crate) struct ReadRollout {
    pub(crate) object: Value,
    pub(crate) rollout: Rollout,
}

impl Session {
    /// `rollout NAMESPACE/NAME`, as messages name it.
    pub(crate) fn object(&self, kind: &str, name: &str) -> String {
        format!("{kind} {}/{name}", self.namespace)
    }

    /// The namespace's Rollouts.
    pub(crate) fn rollouts(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &rollout_resource())
    }

    /// Reads Rollout `name`.
    pub(crate) async fn rollout(&self, name: &str) -> Result<ReadRollout, LiveError> {
        let object = self.get(&self.rollouts(), "rollout", name).await?;
        let rollout = to_rollout(&object, &self.object("rollout", name))?;
        Ok(ReadRollout { object, rollout })
    }

    /// Reads object `name` of `api` as JSON; `kind` names it in errors.
    pub(crate) async fn get<K>(
        &self,
        api: &Api<K>,
        kind: &str,
        name: &str,
    ) -> Result<Value, LiveError>
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        match api.get_opt(name).await {
            Ok(Some(o)) => Ok(serde_json::to_value(o).unwrap_or(Value::Null)),
            Ok(None) => Err(LiveError::NotFound {
                object: self.object(kind, name),
            }),
            Err(e) => Err(LiveError::Api {
                action: "reading",
                object: self.object(kind, name),
                message: api_message(&e),
            }),
        }
    }

    /// Sends a JSON merge patch to the object (`status: false`) or to its
    /// status subresource.
    pub(crate) async fn merge_patch<K>(
        &self,
        api: &Api<K>,
        kind: &str,
        name: &str,
        body: &Value,
        status: bool,
    ) -> Result<(), LiveError>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let params = PatchParams::default();
        let patch = Patch::Merge(body);
        let result = if status {
            api.patch_status(name, &params, &patch).await
        } else {
            api.patch(name, &params, &patch).await
        };
        result.map(drop).map_err(|e| LiveError::Api {
            action: if status {
                "patching the status of"
            } else {
                "patching"
            },
            object: self.object(kind, name),
            message: api_message(&e),
        })
    }

    /// Sends a JSON patch (RFC 6902) to the object.
    pub(crate) async fn json_patch<K>(
        &self,
        api: &Api<K>,
        kind: &str,
        name: &str,
        operations: Value,
    ) -> Result<(), LiveError>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let object = self.object(kind, name);
        let patch: json_patch::Patch =
            serde_json::from_value(operations).map_err(|e| LiveError::Invalid {
                object: object.clone(),
                message: format!("the patch built for it is not a JSON patch: {e}"),
            })?;
        api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
            .map(drop)
            .map_err(|e| LiveError::Api {
                action: "patching",
                object,
                message: api_message(&e),
            })
    }
}

/// The typed view of a Rollout read from the API server; `name` (`rollout
/// shop/web`) starts the message of a field that cannot be read.
pub(crate) fn to_rollout(object: &Value, name: &str) -> Result<Rollout, LiveError> {
    Ok(Rollout::from_value(object.clone(), name)?)
}

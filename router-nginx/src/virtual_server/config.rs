//! The VirtualServer part of the plugin config: `virtualServer` and
//! `virtualServerRoute`, beside (or instead of) the canary Ingress keys.
//!
//! | field | meaning |
//! |---|---|
//! | `virtualServer.name` | the F5 NGINX VirtualServer (in the rollout's namespace) whose routes the rollout splits |
//! | `virtualServer.routes` | the `path`s of its routes to split; empty or left out: every route passing to an upstream of the stable Service |
//! | `virtualServerRoute.name` / `.routes` | the same for a VirtualServerRoute and the `path`s of its subroutes |

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// The two F5 NGINX Ingress Controller resources this router splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `k8s.nginx.org/v1` VirtualServer: its routes are `spec.routes`.
    VirtualServer,
    /// `k8s.nginx.org/v1` VirtualServerRoute: its routes are `spec.subroutes`.
    VirtualServerRoute,
}

impl Kind {
    /// Both kinds, in the order they are written.
    pub const ALL: [Self; 2] = [Self::VirtualServer, Self::VirtualServerRoute];

    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::VirtualServer => "VirtualServer",
            Self::VirtualServerRoute => "VirtualServerRoute",
        }
    }

    /// The resource's plural name.
    pub fn plural(self) -> &'static str {
        match self {
            Self::VirtualServer => "virtualservers",
            Self::VirtualServerRoute => "virtualserverroutes",
        }
    }

    /// The field of `spec` holding the routes.
    pub fn routes_field(self) -> &'static str {
        match self {
            Self::VirtualServer => "routes",
            Self::VirtualServerRoute => "subroutes",
        }
    }

    /// The plugin config key naming one.
    pub fn config_key(self) -> &'static str {
        match self {
            Self::VirtualServer => "virtualServer",
            Self::VirtualServerRoute => "virtualServerRoute",
        }
    }
}

/// One VirtualServer or VirtualServerRoute the rollout splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Which resource.
    pub kind: Kind,
    /// Its name, in the rollout's namespace.
    pub name: String,
    /// The `path`s of the routes to split; empty: every route whose action
    /// passes to an upstream of the stable Service.
    pub routes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Raw {
    name: String,
    #[serde(default)]
    routes: Vec<String>,
}

impl Target {
    /// Reads the config under `kind`'s key; `rollout` names the rollout in
    /// errors.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field: an unknown field, no name, an
    /// empty or repeated route path.
    ///
    /// ```
    /// use router_nginx::virtual_server::{Kind, Target};
    /// let t = Target::parse(Kind::VirtualServer, &serde_json::json!({"name": "web", "routes": ["/"]}), "default/web").unwrap();
    /// assert_eq!((t.name.as_str(), t.routes.as_slice()), ("web", ["/".to_owned()].as_slice()));
    /// let err = Target::parse(Kind::VirtualServerRoute, &serde_json::json!({"name": "api", "paths": []}), "default/web");
    /// assert!(err.unwrap_err().to_string().contains("virtualServerRoute: unknown field `paths`"));
    /// ```
    pub fn parse(kind: Kind, value: &Value, rollout: &str) -> Result<Self, Error> {
        let key = kind.config_key();
        let error = |message: String| Error::Config {
            rollout: rollout.to_owned(),
            message: format!("plugin config: {key}{message}"),
        };
        let raw: Raw =
            serde_json::from_value(value.clone()).map_err(|e| error(format!(": {e}")))?;
        if raw.name.is_empty() {
            return Err(error(format!(
                ".name: empty (the {} to split)",
                kind.kind()
            )));
        }
        for (i, path) in raw.routes.iter().enumerate() {
            if path.is_empty() {
                return Err(error(format!(".routes[{i}]: empty (a route's path)")));
            }
            if raw.routes[..i].contains(path) {
                return Err(error(format!(".routes[{i}]: `{path}` is listed twice")));
            }
        }
        Ok(Self {
            kind,
            name: raw.name,
            routes: raw.routes,
        })
    }

    /// `VirtualServer <namespace>/<name>`, for messages.
    pub fn label(&self, namespace: &str) -> String {
        format!("{} {namespace}/{}", self.kind.kind(), self.name)
    }
}

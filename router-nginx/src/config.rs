//! The plugin config: Argo Rollouts' `trafficRouting.nginx` shape, under
//! `trafficRouting.plugins["rollgate/nginx"]`, plus two options of our own;
//! and, beside it or instead, the F5 NGINX VirtualServer keys
//! `virtualServer` and `virtualServerRoute` ([`crate::virtual_server::config`]).
//! [`Settings`] reads both.
//!
//! | field | meaning |
//! |---|---|
//! | `stableIngress` / `stableIngresses` | the user's Ingress(es) routing to the stable Service; exactly one of the two |
//! | `annotationPrefix` | prefix of the generated annotations (default `nginx.ingress.kubernetes.io`) |
//! | `additionalIngressAnnotations` | added to each canary Ingress, keys prefixed unless they already start with the prefix |
//! | `canaryIngressAnnotations` | added verbatim (they win over additional ones) |
//! | `canaryByCookie` | cookie name for `canary-by-cookie`: a request with the cookie set to `always` goes to the canary, `never` to stable, anything else by weight |
//! | `deleteCanaryIngressOnCompletion` | delete the canary Ingress once the rollout is fully promoted, instead of leaving it at weight 0 as Argo does |

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::virtual_server::{Kind, Target};

/// The key this router's config is read from.
pub const PLUGIN_NAME: &str = "rollgate/nginx";

/// ingress-nginx's annotation prefix.
pub const DEFAULT_ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// A validated plugin config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The stable Ingresses, in order (one canary Ingress each).
    pub stable_ingresses: Vec<String>,
    /// Prefix of the generated annotations.
    pub annotation_prefix: String,
    /// `additionalIngressAnnotations`, keys already prefixed.
    pub additional_annotations: BTreeMap<String, String>,
    /// `canaryIngressAnnotations`, verbatim.
    pub canary_annotations: BTreeMap<String, String>,
    /// Cookie name for `canary-by-cookie`.
    pub canary_by_cookie: Option<String>,
    /// Delete the canary Ingress once the rollout is fully promoted.
    pub delete_on_completion: bool,
}

/// Everything under the plugin's key: canary Ingresses, F5 NGINX
/// VirtualServers (and VirtualServerRoutes), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The canary Ingress config, when a stable Ingress is named.
    pub ingress: Option<Config>,
    /// The VirtualServer and VirtualServerRoute the rollout splits.
    pub virtual_servers: Vec<Target>,
}

impl Settings {
    /// Reads the config: the keys `virtualServer` and `virtualServerRoute`
    /// as [`Target`]s, the rest as a canary Ingress [`Config`] (required
    /// when neither key is there).
    ///
    /// # Errors
    ///
    /// Those of [`Config::parse`] and [`Target::parse`].
    ///
    /// ```
    /// use router_nginx::config::Settings;
    /// let s = Settings::parse(&serde_json::json!({"virtualServer": {"name": "web"}}), "default/web").unwrap();
    /// assert!(s.ingress.is_none());
    /// assert_eq!(s.virtual_servers[0].name, "web");
    /// let both = Settings::parse(&serde_json::json!({"stableIngress": "web", "virtualServer": {"name": "web"}}), "default/web").unwrap();
    /// assert!(both.ingress.is_some());
    /// ```
    pub fn parse(value: &Value, rollout: &str) -> Result<Self, Error> {
        let Some(object) = value.as_object() else {
            return Ok(Self {
                ingress: Some(Config::parse(value, rollout)?),
                virtual_servers: Vec::new(),
            });
        };
        let mut rest = object.clone();
        let mut virtual_servers = Vec::new();
        for kind in Kind::ALL {
            if let Some(v) = rest.remove(kind.config_key()) {
                virtual_servers.push(Target::parse(kind, &v, rollout)?);
            }
        }
        let ingress = if virtual_servers.is_empty() || !rest.is_empty() {
            Some(Config::parse(&Value::Object(rest), rollout)?)
        } else {
            None
        };
        Ok(Self {
            ingress,
            virtual_servers,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Raw {
    stable_ingress: Option<String>,
    stable_ingresses: Option<Vec<String>>,
    annotation_prefix: Option<String>,
    #[serde(default)]
    additional_ingress_annotations: BTreeMap<String, String>,
    #[serde(default)]
    canary_ingress_annotations: BTreeMap<String, String>,
    canary_by_cookie: Option<String>,
    #[serde(default)]
    delete_canary_ingress_on_completion: bool,
}

impl Config {
    /// Reads and validates a config; `rollout` names the rollout in errors.
    ///
    /// ```
    /// use router_nginx::config::Config;
    /// let c = Config::parse(&serde_json::json!({
    ///     "stableIngress": "web",
    ///     "additionalIngressAnnotations": {"canary-by-header": "x-canary"}
    /// }), "default/web").unwrap();
    /// assert_eq!(c.stable_ingresses, ["web"]);
    /// assert_eq!(c.additional_annotations["nginx.ingress.kubernetes.io/canary-by-header"], "x-canary");
    ///
    /// let both = Config::parse(&serde_json::json!({"stableIngress": "a", "stableIngresses": ["b"]}), "default/web");
    /// assert!(both.unwrap_err().to_string().contains("Both are configured"));
    /// ```
    pub fn parse(value: &Value, rollout: &str) -> Result<Self, Error> {
        let error = |message: String| Error::Config {
            rollout: rollout.to_owned(),
            message,
        };
        let raw: Raw = serde_json::from_value(value.clone())
            .map_err(|e| error(format!("plugin config: {e}")))?;
        let stable_ingresses = match (raw.stable_ingress, raw.stable_ingresses) {
            (Some(_), Some(_)) => {
                return Err(error(
                    "Either StableIngress or StableIngresses must be configured. Both are configured."
                        .into(),
                ));
            }
            (None, None) => {
                return Err(error(
                    "Either StableIngress or StableIngresses must be configured. Neither are \
                     configured. (For F5 NGINX VirtualServers, configure virtualServer or \
                     virtualServerRoute.)"
                        .into(),
                ));
            }
            (Some(one), None) => vec![one],
            (None, Some(list)) => list,
        };
        if stable_ingresses.is_empty() || stable_ingresses.iter().any(String::is_empty) {
            return Err(error(
                "plugin config: stableIngresses: an Ingress name is empty".into(),
            ));
        }
        let annotation_prefix = raw
            .annotation_prefix
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_ANNOTATION_PREFIX.to_owned());
        let additional_annotations = raw
            .additional_ingress_annotations
            .into_iter()
            .map(|(k, v)| {
                let key = if k.starts_with(&annotation_prefix) {
                    k
                } else {
                    format!("{annotation_prefix}/{k}")
                };
                (key, v)
            })
            .collect();
        if raw.canary_by_cookie.as_deref() == Some("") {
            return Err(error(
                "plugin config: canaryByCookie: empty cookie name".into(),
            ));
        }
        Ok(Self {
            stable_ingresses,
            annotation_prefix,
            additional_annotations,
            canary_annotations: raw.canary_ingress_annotations,
            canary_by_cookie: raw.canary_by_cookie,
            delete_on_completion: raw.delete_canary_ingress_on_completion,
        })
    }

    /// `<prefix>/<name>`.
    pub fn annotation(&self, name: &str) -> String {
        format!("{}/{name}", self.annotation_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field() {
        let err = |v: Value| Config::parse(&v, "ns/r").unwrap_err().to_string();
        assert!(err(json!({})).contains("Neither are configured"));
        assert!(
            err(json!({"stableIngress": "a", "stableIngres": ["b"]}))
                .contains("unknown field `stableIngres`")
        );
        assert!(err(json!({"stableIngresses": []})).contains("stableIngresses"));
        assert!(
            err(json!({"stableIngress": "a", "canaryByCookie": ""})).contains("canaryByCookie")
        );
    }

    #[test]
    fn prefix_applies_to_additional_annotations_only() {
        let c = Config::parse(
            &json!({"stableIngress": "a", "annotationPrefix": "custom.nginx.org",
                    "additionalIngressAnnotations": {"canary-by-header": "x", "custom.nginx.org/other": "y"},
                    "canaryIngressAnnotations": {"example.com/team": "web"}}),
            "ns/r",
        )
        .unwrap();
        assert_eq!(
            c.additional_annotations.keys().collect::<Vec<_>>(),
            [
                "custom.nginx.org/canary-by-header",
                "custom.nginx.org/other"
            ]
        );
        assert_eq!(c.canary_annotations["example.com/team"], "web");
        assert_eq!(c.annotation("canary"), "custom.nginx.org/canary");
    }
}

//! The plugin config: Argo Rollouts' `trafficRouting.istio` shape, under
//! `trafficRouting.plugins["rollgate/istio"]`.
//!
//! | field | meaning |
//! |---|---|
//! | `virtualService` / `virtualServices` | `name` (`name.namespace` for another namespace), `routes` (http route names), `tlsRoutes` (`port`, `sniHosts`), `tcpRoutes` (`port`); exactly one of the two |
//! | `destinationRule` | `name`, `canarySubsetName`, `stableSubsetName`, `additionalSubsetNames`: subset-level splitting |

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// The key this router's config is read from.
pub const PLUGIN_NAME: &str = "rollgate/istio";

/// A validated plugin config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The VirtualServices, in order.
    pub virtual_services: Vec<VirtualServiceRef>,
    /// Subset-level splitting, when set.
    pub destination_rule: Option<DestinationRuleRef>,
}

/// One VirtualService and the routes of it that carry the weights.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualServiceRef {
    /// `name` or `name.namespace` (a trailing `.cluster.local` is ignored).
    pub name: String,
    /// HTTP route names; empty: the only (or first unnamed) http route.
    #[serde(default)]
    pub routes: Vec<String>,
    /// TLS routes by port and SNI hosts.
    #[serde(default)]
    pub tls_routes: Vec<TlsRoute>,
    /// TCP routes by port.
    #[serde(default)]
    pub tcp_routes: Vec<TcpRoute>,
}

/// A TLS route selector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsRoute {
    /// The port of its match blocks (0: none).
    #[serde(default)]
    pub port: i64,
    /// Its SNI hosts (as a set).
    #[serde(default)]
    pub sni_hosts: Vec<String>,
}

/// A TCP route selector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpRoute {
    /// The port of its match blocks (0: none).
    #[serde(default)]
    pub port: i64,
}

/// The DestinationRule whose subsets select the canary and stable pods.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRuleRef {
    /// Its name (in the rollout's namespace).
    pub name: String,
    /// The canary subset.
    pub canary_subset_name: String,
    /// The stable subset.
    pub stable_subset_name: String,
    /// Subsets whose weights are left alone.
    #[serde(default)]
    pub additional_subset_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Raw {
    virtual_service: Option<VirtualServiceRef>,
    virtual_services: Option<Vec<VirtualServiceRef>>,
    destination_rule: Option<DestinationRuleRef>,
}

impl Config {
    /// Reads and validates a config; `rollout` names the rollout in errors.
    ///
    /// ```
    /// use router_istio::config::Config;
    /// let c = Config::parse(&serde_json::json!({
    ///     "virtualService": {"name": "web-vsvc.istio-system", "routes": ["primary"]}
    /// }), "default/web").unwrap();
    /// assert_eq!(c.virtual_services[0].namespaced("default"), ("web-vsvc".into(), "istio-system".into()));
    /// assert!(Config::parse(&serde_json::json!({}), "default/web").is_err());
    /// ```
    pub fn parse(value: &Value, rollout: &str) -> Result<Self, Error> {
        let error = |message: String| Error::Config {
            rollout: rollout.to_owned(),
            message,
        };
        let raw: Raw = serde_json::from_value(value.clone())
            .map_err(|e| error(format!("plugin config: {e}")))?;
        let virtual_services = match (raw.virtual_service, raw.virtual_services) {
            (Some(one), None) => vec![one],
            (None, Some(list)) if !list.is_empty() => list,
            _ => {
                return Err(error(
                    "plugin config: either VirtualService or VirtualServices must be configured"
                        .into(),
                ));
            }
        };
        if virtual_services.iter().any(|v| v.name.is_empty()) {
            return Err(error(
                "plugin config: a virtualService name is empty".into(),
            ));
        }
        if let Some(dr) = &raw.destination_rule
            && (dr.name.is_empty()
                || dr.canary_subset_name.is_empty()
                || dr.stable_subset_name.is_empty()
                || dr.canary_subset_name == dr.stable_subset_name)
        {
            return Err(error(
                "plugin config: destinationRule needs a name and two different subset names \
                 (canarySubsetName, stableSubsetName)"
                    .into(),
            ));
        }
        Ok(Self {
            virtual_services,
            destination_rule: raw.destination_rule,
        })
    }
}

impl VirtualServiceRef {
    /// (name, namespace): a trailing `.cluster.local` dropped, then with a
    /// dot the last segment is the namespace; otherwise `default_namespace`.
    pub fn namespaced(&self, default_namespace: &str) -> (String, String) {
        let name = self
            .name
            .strip_suffix(".cluster.local")
            .unwrap_or(&self.name);
        match name.rsplit_once('.') {
            Some((name, namespace)) => (name.to_owned(), namespace.to_owned()),
            None => (name.to_owned(), default_namespace.to_owned()),
        }
    }
}

/// Refuses a `maxTrafficWeight` other than 100, as Argo Rollouts does.
///
/// Argo's Istio router has no notion of another total: it writes the canary
/// weight as it comes and gives stable `100 - weight`, and Argo's
/// validation refuses `maxTrafficWeight` unless NGINX or a plugin routes the
/// traffic ("Canary maxTrafficWeight in traffic routing only supported in
/// Nginx and Plugins"), so a Rollout with `trafficRouting.istio` and the
/// field never runs. This router follows that rule rather than converting
/// weights: a weight of another total cannot be written in Istio's 100
/// without rounding, and rounding would make `verify` and the step's
/// recorded weight disagree with what the data plane carries.
///
/// When: the router runs this check first on every call, before reading or
/// writing anything, so a rollout whose spec carries the field is refused
/// at its first call (nothing written) and on every call after; a spec
/// edited to carry it mid-rollout is refused from then on, with the data
/// plane left as the last accepted call made it (each call writes whole
/// objects), as Argo's validation holds a Rollout whose spec turned
/// invalid. A plugin's `init` carries no rollout, so no earlier point
/// exists.
///
/// ```
/// use router_istio::config::check_max_traffic_weight;
/// assert!(check_max_traffic_weight(None, "default/web").is_ok());
/// assert!(check_max_traffic_weight(Some(100), "default/web").is_ok());
/// let err = check_max_traffic_weight(Some(1000), "default/web").unwrap_err();
/// assert!(err.to_string().starts_with(
///     "rollout default/web: spec.strategy.canary.trafficRouting.maxTrafficWeight: 1000"), "{err}");
/// ```
pub fn check_max_traffic_weight(
    max_traffic_weight: Option<i32>,
    rollout: &str,
) -> Result<(), Error> {
    match max_traffic_weight {
        None | Some(100) => Ok(()),
        Some(other) => Err(Error::Config {
            rollout: rollout.to_owned(),
            message: format!(
                "spec.strategy.canary.trafficRouting.maxTrafficWeight: {other} is not \
                 supported: Istio route weights add up to 100 (remove the field or set it to 100)"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_errors() {
        let vs = |name: &str| VirtualServiceRef {
            name: name.into(),
            routes: vec![],
            tls_routes: vec![],
            tcp_routes: vec![],
        };
        assert_eq!(
            vs("a.b.istio").namespaced("d"),
            ("a.b".into(), "istio".into())
        );
        assert_eq!(
            vs("web.ns.cluster.local").namespaced("d"),
            ("web".into(), "ns".into())
        );
        assert_eq!(vs("web").namespaced("d"), ("web".into(), "d".into()));
        let err = |v: Value| Config::parse(&v, "ns/r").unwrap_err().to_string();
        assert!(
            err(json!({"virtualService": {"name": "a"}, "virtualServices": [{"name": "b"}]}))
                .contains("either VirtualService")
        );
        assert!(
            err(json!({"virtualService": {"name": "a", "route": ["x"]}}))
                .contains("unknown field `route`")
        );
        assert!(err(json!({"virtualService": {"name": "a"}, "destinationRule": {"name": "d", "canarySubsetName": "s", "stableSubsetName": "s"}})).contains("two different subset names"));
    }
}

//! The router's configuration: the Gateway API plugin's schema, as users
//! already write it under `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`
//! (also accepted under `rollgate/gatewayapi`), read strictly.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::core::Selector;
use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;

mod sticky;
use sticky::RawSticky;
pub use sticky::{
    DEFAULT_STICKY_COOKIE, DEFAULT_STICKY_MAX_AGE, MAX_STICKY_MAX_AGE, StickyMode, StickySession,
};

/// The plugin names this router's config is read under.
pub const PLUGIN_NAMES: [&str; 2] = ["argoproj-labs/gatewayAPI", "rollgate/gatewayapi"];

/// The default GitOps label set on routes while a canary has traffic.
pub const DEFAULT_IN_PROGRESS_LABEL: (&str, &str) =
    ("rollouts.argoproj.io/gatewayapi-canary", "in-progress");

/// A kind of Gateway API route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `HTTPRoute` (`gateway.networking.k8s.io/v1`).
    Http,
    /// `GRPCRoute` (`gateway.networking.k8s.io/v1`).
    Grpc,
    /// `TCPRoute` (`v1` on Gateway API v1.5+, `v1alpha2` before: the
    /// router uses the version the API server serves).
    Tcp,
    /// `TLSRoute` (`v1` on Gateway API v1.5+, `v1alpha2` before: the
    /// router uses the version the API server serves).
    Tls,
}

impl RouteKind {
    /// The Kubernetes kind, e.g. `HTTPRoute`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Http => "HTTPRoute",
            Self::Grpc => "GRPCRoute",
            Self::Tcp => "TCPRoute",
            Self::Tls => "TLSRoute",
        }
    }

    /// Whether rules of this kind can carry header and mirror routes.
    pub fn routes_requests(self) -> bool {
        matches!(self, Self::Http | Self::Grpc)
    }
}

/// One route the rollout's traffic goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRef {
    /// Its kind.
    pub kind: RouteKind,
    /// Its name.
    pub name: String,
    /// Whether header (and mirror) routes are managed on it.
    pub use_header_routes: bool,
    /// The rules that are the rollout's to weight and to copy for header and
    /// mirror routes, by `spec.rules[].name` (`rules` on a list entry);
    /// `None`: every rule outside the managed rules that sends traffic to
    /// both the canary and the stable Service.
    pub rules: Option<Vec<String>>,
}

/// The configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The named routes (single-route keys first, then the lists), in order.
    pub routes: Vec<RouteRef>,
    /// Label selectors discovering more routes, by kind.
    pub selectors: Vec<(RouteKind, Selector)>,
    /// The namespace of every route (the rollout's when unset).
    pub namespace: Option<String>,
    /// The GitOps label set while the canary has traffic; `None` when disabled.
    pub in_progress_label: Option<(String, String)>,
    /// Whether `verify_weight` checks the routes (`verifyWeight`, default
    /// true); when false it answers "not implemented" and nothing waits.
    pub verify_weight: bool,
    /// `stickySession`: keep a client on the version it first reached, on
    /// HTTPRoutes; `None` when off (the default).
    pub sticky_session: Option<StickySession>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Raw {
    http_route: Option<String>,
    grpc_route: Option<String>,
    tcp_route: Option<String>,
    tls_route: Option<String>,
    #[serde(default)]
    http_routes: Vec<RawRoute>,
    #[serde(default)]
    grpc_routes: Vec<RawRoute>,
    #[serde(default)]
    tcp_routes: Vec<RawRoute>,
    #[serde(default)]
    tls_routes: Vec<RawRoute>,
    http_route_selector: Option<RawSelector>,
    grpc_route_selector: Option<RawSelector>,
    tcp_route_selector: Option<RawSelector>,
    tls_route_selector: Option<RawSelector>,
    namespace: Option<String>,
    #[serde(default)]
    disable_in_progress_label: bool,
    in_progress_label_key: Option<String>,
    in_progress_label_value: Option<String>,
    verify_weight: Option<bool>,
    sticky_session: Option<RawSticky>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRoute {
    name: String,
    #[serde(default)]
    use_header_routes: bool,
    rules: Option<Vec<String>>,
}

/// A `metav1.LabelSelector`, read strictly.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSelector {
    match_labels: Option<BTreeMap<String, String>>,
    match_expressions: Option<Vec<RawRequirement>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    key: String,
    operator: String,
    values: Option<Vec<String>>,
}

impl RawSelector {
    /// The selector; `field` names it in the error.
    fn selector(self, field: &str) -> Result<Selector, String> {
        let selector = LabelSelector {
            match_labels: self.match_labels,
            match_expressions: self.match_expressions.map(|rs| {
                rs.into_iter()
                    .map(|r| LabelSelectorRequirement {
                        key: r.key,
                        operator: r.operator,
                        values: r.values,
                    })
                    .collect()
            }),
        };
        Selector::try_from(selector).map_err(|e| {
            format!(
                "plugin config: {field}: {e} (expected matchLabels and matchExpressions whose \
                 operator is In or NotIn with values, or Exists or DoesNotExist without)"
            )
        })
    }
}

impl Config {
    /// Reads and validates a config; `rollout` names the rollout in errors.
    ///
    /// ```
    /// use router_gatewayapi::config::{Config, RouteKind};
    /// let c = Config::parse(&serde_json::json!({"httpRoute": "web", "namespace": "default"}), "default/web").unwrap();
    /// assert_eq!(c.routes[0].kind, RouteKind::Http);
    /// assert!(c.routes[0].use_header_routes, "a single httpRoute gets header routes");
    /// let err = Config::parse(&serde_json::json!({"httpRoute": "web", "useHeaderRoutes": true}), "default/web").unwrap_err();
    /// assert!(err.to_string().contains("unknown field `useHeaderRoutes`"), "{err}");
    /// ```
    pub fn parse(value: &Value, rollout: &str) -> Result<Self, Error> {
        let config_error = |message: String| Error::Config {
            rollout: rollout.to_owned(),
            message,
        };
        let raw: Raw = serde_json::from_value(value.clone())
            .map_err(|e| config_error(format!("plugin config: {e}")))?;
        let mut routes = Vec::new();
        for (kind, single) in [
            (RouteKind::Http, &raw.http_route),
            (RouteKind::Grpc, &raw.grpc_route),
            (RouteKind::Tcp, &raw.tcp_route),
            (RouteKind::Tls, &raw.tls_route),
        ] {
            if let Some(name) = single {
                routes.push(RouteRef {
                    kind,
                    name: name.clone(),
                    use_header_routes: kind.routes_requests(),
                    rules: None,
                });
            }
        }
        for (kind, key, list) in [
            (RouteKind::Http, "httpRoutes", &raw.http_routes),
            (RouteKind::Grpc, "grpcRoutes", &raw.grpc_routes),
            (RouteKind::Tcp, "tcpRoutes", &raw.tcp_routes),
            (RouteKind::Tls, "tlsRoutes", &raw.tls_routes),
        ] {
            for (i, r) in list.iter().enumerate() {
                if let Some(rules) = &r.rules {
                    check_rules(rules, &format!("{key}[{i}].rules")).map_err(config_error)?;
                }
                routes.push(RouteRef {
                    kind,
                    name: r.name.clone(),
                    use_header_routes: r.use_header_routes && kind.routes_requests(),
                    rules: r.rules.clone(),
                });
            }
        }
        if let Some(r) = routes.iter().find(|r| r.name.is_empty()) {
            return Err(config_error(format!(
                "plugin config: a {} name is empty",
                r.kind.kind()
            )));
        }
        let mut selectors = Vec::new();
        for (kind, field, raw) in [
            (
                RouteKind::Http,
                "httpRouteSelector",
                raw.http_route_selector,
            ),
            (
                RouteKind::Grpc,
                "grpcRouteSelector",
                raw.grpc_route_selector,
            ),
            (RouteKind::Tcp, "tcpRouteSelector", raw.tcp_route_selector),
            (RouteKind::Tls, "tlsRouteSelector", raw.tls_route_selector),
        ] {
            if let Some(raw) = raw {
                selectors.push((kind, raw.selector(field).map_err(config_error)?));
            }
        }
        if routes.is_empty() && selectors.is_empty() {
            return Err(config_error(
                "plugin config: names no route (expected httpRoute, grpcRoute, tcpRoute, tlsRoute, \
                 their list forms, or a route selector)"
                    .into(),
            ));
        }
        let sticky_session = raw
            .sticky_session
            .map(RawSticky::sticky)
            .transpose()
            .map_err(config_error)?;
        let in_progress_label = (!raw.disable_in_progress_label).then(|| {
            (
                raw.in_progress_label_key
                    .unwrap_or_else(|| DEFAULT_IN_PROGRESS_LABEL.0.to_owned()),
                raw.in_progress_label_value
                    .unwrap_or_else(|| DEFAULT_IN_PROGRESS_LABEL.1.to_owned()),
            )
        });
        Ok(Self {
            routes,
            selectors,
            namespace: raw.namespace.filter(|n| !n.is_empty()),
            in_progress_label,
            verify_weight: raw.verify_weight.unwrap_or(true),
            sticky_session,
        })
    }
}

/// A `rules` list: at least one name, none empty, none twice.
fn check_rules(rules: &[String], field: &str) -> Result<(), String> {
    if rules.is_empty() {
        return Err(format!(
            "plugin config: {field}: an empty list (expected the names of the route's rules to \
             weight, spec.rules[].name; leave it out to weight every rule that sends traffic to \
             both Services)"
        ));
    }
    for (i, name) in rules.iter().enumerate() {
        if name.is_empty() {
            return Err(format!(
                "plugin config: {field}[{i}]: an empty name (expected a spec.rules[].name)"
            ));
        }
        if rules[..i].contains(name) {
            return Err(format!(
                "plugin config: {field}[{i}]: rule {name:?} is listed twice"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_entries_default_to_no_header_routes() {
        let c = Config::parse(
            &json!({"httpRoutes": [{"name": "a"}, {"name": "b", "useHeaderRoutes": true}],
                    "tcpRoutes": [{"name": "t", "useHeaderRoutes": true}]}),
            "ns/r",
        )
        .unwrap();
        let flags: Vec<_> = c
            .routes
            .iter()
            .map(|r| (r.name.as_str(), r.use_header_routes))
            .collect();
        assert_eq!(flags, [("a", false), ("b", true), ("t", false)]);
    }

    #[test]
    fn a_config_without_routes_is_refused() {
        let err = Config::parse(&json!({"namespace": "x"}), "ns/r").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("rollout ns/r: plugin config: names no route"),
            "{err}"
        );
    }

    #[test]
    fn the_in_progress_label_can_be_renamed_or_disabled() {
        let c = Config::parse(
            &json!({"httpRoute": "a", "inProgressLabelKey": "k"}),
            "ns/r",
        )
        .unwrap();
        assert_eq!(
            c.in_progress_label,
            Some(("k".into(), "in-progress".into()))
        );
        let c = Config::parse(
            &json!({"httpRoute": "a", "disableInProgressLabel": true}),
            "ns/r",
        )
        .unwrap();
        assert_eq!(c.in_progress_label, None);
    }

    #[test]
    fn a_route_entry_may_name_its_weighted_rules() {
        let c = Config::parse(
            &json!({"httpRoutes": [{"name": "a", "rules": ["main", "api"]}]}),
            "ns/r",
        )
        .unwrap();
        assert_eq!(c.routes[0].rules, Some(vec!["main".into(), "api".into()]));
        let err = Config::parse(
            &json!({"httpRoutes": [{"name": "a"}, {"name": "b", "rules": []}]}),
            "ns/r",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("rollout ns/r: plugin config: httpRoutes[1].rules: an empty list"),
            "{err}"
        );
        let err = Config::parse(
            &json!({"tcpRoutes": [{"name": "t", "rules": ["x", "x"]}]}),
            "ns/r",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("tcpRoutes[0].rules[1]: rule \"x\" is listed twice"),
            "{err}"
        );
        let err = Config::parse(
            &json!({"httpRoutes": [{"name": "a", "rules": "main"}]}),
            "ns/r",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("expected a sequence"), "{err}");
    }

    #[test]
    fn route_selectors_are_read_strictly() {
        let c = Config::parse(
            &json!({"httpRouteSelector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                     {"key": "legacy", "operator": "DoesNotExist"}]}}),
            "ns/r",
        )
        .unwrap();
        assert_eq!(c.selectors[0].0, RouteKind::Http);
        assert_eq!(
            c.selectors[0].1.to_string(),
            "app=web,tier in (a,b),!legacy"
        );
        let err = Config::parse(
            &json!({"tcpRouteSelector": {"matchLabel": {"a": "b"}}}),
            "ns/r",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `matchLabel`"), "{err}");
        let err = Config::parse(
            &json!({"grpcRouteSelector": {"matchExpressions": [{"key": "k", "operator": "In"}]}}),
            "ns/r",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("rollout ns/r: plugin config: grpcRouteSelector: "),
            "{err}"
        );
    }
}

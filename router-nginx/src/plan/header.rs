//! Header routes as ingress-nginx's canary annotations express them, and
//! which one a canary Ingress carries for a [`TrafficTarget`].

use rollout_core::spec::{SetHeaderRoute, StringMatch};
use router_core::{RouteTarget, Routes, TrafficTarget};
use serde_json::Value;

use super::annotation;
use crate::Error;
use crate::config::Config;

/// Annotation naming the managed header route a canary Ingress carries.
pub const HEADER_ROUTE_ANNOTATION: &str = "rollgate.dev/header-route";

/// A header route as ingress-nginx's canary annotations express it: one
/// header, matched exactly (`canary-by-header-value`) or by a regular
/// expression (`canary-by-header-pattern`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRoute {
    /// The managed route's name.
    pub name: String,
    /// The header's name.
    pub header: String,
    /// How its value is matched.
    pub value: HeaderValue,
}

/// How a header route matches the header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// `canary-by-header-value`.
    Exact(String),
    /// `canary-by-header-pattern` (a prefix becomes an anchored, escaped pattern).
    Pattern(String),
}

impl HeaderRoute {
    /// The header route a `setHeaderRoute` step asks for; `None` for a step
    /// with no match (which removes the route).
    ///
    /// # Errors
    ///
    /// More than one match, or a match that sets not exactly one of `exact`,
    /// `prefix` and `regex`: ingress-nginx matches one header by one rule.
    ///
    /// ```
    /// use router_nginx::plan::{HeaderRoute, HeaderValue};
    /// let step = serde_json::from_value(serde_json::json!({
    ///     "name": "beta", "match": [{"headerName": "x-user", "headerValue": {"prefix": "beta."}}]
    /// })).unwrap();
    /// let route = HeaderRoute::from_step(&step, "default/web").unwrap().unwrap();
    /// assert_eq!(route.value, HeaderValue::Pattern(r"^beta\..*".into()));
    /// ```
    pub fn from_step(step: &SetHeaderRoute, rollout: &str) -> Result<Option<Self>, Error> {
        let unsupported = |message: String| Error::Unsupported {
            rollout: rollout.to_owned(),
            message: format!("setHeaderRoute {}: {message}", step.name),
        };
        let m = match step.matches.as_slice() {
            [] => return Ok(None),
            [one] => one,
            more => {
                return Err(unsupported(format!(
                    "ingress-nginx canary Ingresses match on one header; the step has {} matches",
                    more.len()
                )));
            }
        };
        let value = match &m.header_value {
            StringMatch {
                exact: Some(v),
                prefix: None,
                regex: None,
            } => HeaderValue::Exact(v.clone()),
            StringMatch {
                exact: None,
                prefix: Some(v),
                regex: None,
            } => HeaderValue::Pattern(format!("^{}.*", regex::escape(v))),
            StringMatch {
                exact: None,
                prefix: None,
                regex: Some(v),
            } => HeaderValue::Pattern(v.clone()),
            _ => {
                return Err(unsupported(format!(
                    "header {}: set exactly one of exact, prefix and regex",
                    m.header_name
                )));
            }
        };
        Ok(Some(Self {
            name: step.name.clone(),
            header: m.header_name.clone(),
            value,
        }))
    }

    /// The managed header route a canary Ingress carries (as this router
    /// wrote it), if any.
    pub fn current(canary: &Value, config: &Config) -> Option<Self> {
        let name = annotation(canary, HEADER_ROUTE_ANNOTATION)?;
        let header = annotation(canary, &config.annotation("canary-by-header"))?;
        let value =
            if let Some(v) = annotation(canary, &config.annotation("canary-by-header-value")) {
                HeaderValue::Exact(v.to_owned())
            } else {
                HeaderValue::Pattern(
                    annotation(canary, &config.annotation("canary-by-header-pattern"))?.to_owned(),
                )
            };
        Some(Self {
            name: name.to_owned(),
            header: header.to_owned(),
            value,
        })
    }
}

/// The header route `target` sets (a route it names with a non-empty
/// match), translated; `None` when it sets none.
///
/// # Errors
///
/// The target sets more than one header route (ingress-nginx allows one per
/// canary Ingress), or one [`HeaderRoute::from_step`] refuses. Both depend on
/// the target alone, so a router checks them before any I/O.
pub fn requested(target: &TrafficTarget, rollout: &str) -> Result<Option<HeaderRoute>, Error> {
    let set: Vec<&SetHeaderRoute> = match &target.routes {
        Routes::Exactly { header, .. } => header.iter().filter(|h| !h.matches.is_empty()).collect(),
        Routes::Header(h) if !h.matches.is_empty() => vec![h],
        Routes::AsIs | Routes::Header(_) | Routes::Mirror(_) => Vec::new(),
    };
    match set.as_slice() {
        [] => Ok(None),
        [one] => HeaderRoute::from_step(one, rollout),
        more => Err(Error::Unsupported {
            rollout: rollout.to_owned(),
            message: format!(
                "setHeaderRoute {}: ingress-nginx allows one header route per canary Ingress; \
                 {} are asked for at once",
                more.iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                more.len()
            ),
        }),
    }
}

/// The header route the canary Ingress `canary_name` carries after
/// `target`: the one in place (`current`) unless the target removes or
/// replaces it, or the one the target sets (`requested`).
///
/// # Errors
///
/// The target sets a header route while another one it leaves as it is
/// stays in place: ingress-nginx allows one per canary Ingress, so the
/// other must be removed first (in the same target or before).
pub fn in_effect(
    current: Option<HeaderRoute>,
    requested: Option<HeaderRoute>,
    target: &TrafficTarget,
    rollout: &str,
    canary_name: &str,
) -> Result<Option<HeaderRoute>, Error> {
    let kept = current.filter(|c| target.route(&c.name) == RouteTarget::AsIs);
    match (kept, requested) {
        (Some(active), Some(route)) => Err(Error::Unsupported {
            rollout: rollout.to_owned(),
            message: format!(
                "setHeaderRoute {}: header route `{}` is in place on Ingress {canary_name}; \
                 ingress-nginx allows one header route per canary Ingress (remove it first)",
                route.name, active.name
            ),
        }),
        (kept, None) => Ok(kept),
        (None, requested) => Ok(requested),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::spec::HeaderMatch;

    fn step(name: &str, header: &str) -> SetHeaderRoute {
        SetHeaderRoute {
            name: name.into(),
            matches: vec![HeaderMatch {
                header_name: header.into(),
                header_value: StringMatch {
                    exact: Some("1".into()),
                    ..Default::default()
                },
            }],
        }
    }

    fn route(name: &str) -> HeaderRoute {
        HeaderRoute {
            name: name.into(),
            header: format!("x-{name}"),
            value: HeaderValue::Exact("1".into()),
        }
    }

    #[test]
    fn one_header_route_at_a_time() {
        let gamma = TrafficTarget::header_route(step("gamma", "x-gamma"));
        let asked = requested(&gamma, "ns/web").unwrap();
        let err = in_effect(
            Some(route("beta")),
            asked,
            &gamma,
            "ns/web",
            "web-web-canary",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("header route `beta` is in place"),
            "{err}"
        );
        // Removing a route that is not the one in place changes nothing.
        let remove_gamma = TrafficTarget::header_route(SetHeaderRoute {
            name: "gamma".into(),
            ..Default::default()
        });
        let kept = in_effect(Some(route("beta")), None, &remove_gamma, "ns/web", "c").unwrap();
        assert_eq!(kept, Some(route("beta")));
    }

    #[test]
    fn a_whole_target_replaces_the_route_in_place() {
        let target = TrafficTarget {
            routes: Routes::Exactly {
                header: vec![step("gamma", "x-gamma")],
                mirror: Vec::new(),
            },
            ..Default::default()
        };
        let asked = requested(&target, "ns/web").unwrap();
        let after = in_effect(Some(route("beta")), asked, &target, "ns/web", "c").unwrap();
        assert_eq!(after.map(|r| r.name), Some("gamma".to_owned()));

        let two = TrafficTarget {
            routes: Routes::Exactly {
                header: vec![step("beta", "x-beta"), step("gamma", "x-gamma")],
                mirror: Vec::new(),
            },
            ..Default::default()
        };
        let err = requested(&two, "ns/web").unwrap_err().to_string();
        assert!(
            err.contains("setHeaderRoute beta, gamma: ingress-nginx allows one"),
            "{err}"
        );
    }
}

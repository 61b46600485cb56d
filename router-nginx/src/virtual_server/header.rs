//! Header routes as F5 NGINX `matches`, and the record of the ones in place.
//!
//! A `setHeaderRoute` step becomes one match on each split route: its
//! header matches as the match's `conditions` (all must hold, as in Argo),
//! and the action of the route with the canary upstream in place of the
//! stable one. Matches carry no name, so which matches are the rollout's,
//! and of which managed route, is recorded in the annotation
//! [`HEADER_ROUTES_ANNOTATION`] of the object: a match is the rollout's
//! when it equals a recorded one, and every other match is left as it is.

use std::collections::BTreeMap;

use rollout_core::spec::{SetHeaderRoute, StringMatch};
use router_core::{RouteTarget, Routes, TrafficTarget};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Error;

/// Annotation recording the header routes in place, by route path:
/// `{"<path>": [{"name": "<managed route>", "conditions": [...]}]}`.
pub const HEADER_ROUTES_ANNOTATION: &str = "rollgate.dev/header-routes";

/// One header route in place on one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRoute {
    /// The managed route's name.
    pub name: String,
    /// The match's `conditions`.
    pub conditions: Value,
}

impl HeaderRoute {
    /// The match this header route is on a route whose canary action is
    /// `canary_action`.
    pub fn to_match(&self, canary_action: &Value) -> Value {
        json!({"conditions": self.conditions, "action": canary_action})
    }
}

/// The header routes in place, by route path.
pub type Record = BTreeMap<String, Vec<HeaderRoute>>;

/// The record an object carries (empty without the annotation).
///
/// # Errors
///
/// The annotation is not a record this router writes.
pub fn record(object: &Value, label: &str) -> Result<Record, Error> {
    let Some(text) = object["metadata"]["annotations"][HEADER_ROUTES_ANNOTATION].as_str() else {
        return Ok(Record::new());
    };
    serde_json::from_str(text).map_err(|e| Error::VirtualServer {
        object: label.to_owned(),
        message: format!(
            "metadata.annotations[{HEADER_ROUTES_ANNOTATION}]: expected the header routes this \
             router records ({{\"<path>\": [{{\"name\": ..., \"conditions\": [...]}}]}}): {e}"
        ),
    })
}

/// The `conditions` of a `setHeaderRoute` step with a match.
///
/// # Errors
///
/// A header value matched otherwise than exactly (F5 NGINX conditions
/// compare a value exactly), or one F5 NGINX would read differently: a
/// leading `!` (a negation) or `~` (a regular expression), a `"`, or a
/// trailing `\`.
///
/// ```
/// use router_nginx::virtual_server::conditions;
/// let step = serde_json::from_value(serde_json::json!({
///     "name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]
/// })).unwrap();
/// assert_eq!(conditions(&step, "default/web").unwrap(), serde_json::json!([{"header": "x-beta", "value": "1"}]));
/// ```
pub fn conditions(step: &SetHeaderRoute, rollout: &str) -> Result<Value, Error> {
    let unsupported = |message: String| Error::Unsupported {
        rollout: rollout.to_owned(),
        message: format!("setHeaderRoute {}: {message}", step.name),
    };
    let mut out = Vec::with_capacity(step.matches.len());
    for m in &step.matches {
        let header = &m.header_name;
        let value = match &m.header_value {
            StringMatch {
                exact: Some(v),
                prefix: None,
                regex: None,
            } => v,
            _ => {
                return Err(unsupported(format!(
                    "header {header}: F5 NGINX VirtualServer conditions match a value exactly; \
                     set headerValue.exact only (prefix and regex cannot be expressed)"
                )));
            }
        };
        let misread = if value.starts_with('!') {
            Some("a leading `!`, which F5 NGINX reads as a negation")
        } else if value.starts_with('~') {
            Some("a leading `~`, which NGINX reads as a regular expression")
        } else if value.contains('"') || value.ends_with('\\') {
            Some("a `\"` or a trailing `\\`, which F5 NGINX refuses")
        } else {
            None
        };
        if let Some(why) = misread {
            return Err(unsupported(format!(
                "header {header}: the exact value {value:?} has {why}"
            )));
        }
        if header.is_empty() {
            return Err(unsupported("headerName: empty".into()));
        }
        out.push(json!({"header": header, "value": value}));
    }
    Ok(Value::Array(out))
}

/// Refuses, from the target alone, every header route it sets that
/// [`conditions`] refuses.
///
/// # Errors
///
/// Those of [`conditions`].
pub(super) fn check(target: &TrafficTarget, rollout: &str) -> Result<(), Error> {
    let set: Vec<&SetHeaderRoute> = match &target.routes {
        Routes::Exactly { header, .. } => header.iter().collect(),
        Routes::Header(h) => vec![h],
        Routes::AsIs | Routes::Mirror(_) => Vec::new(),
    };
    for step in set.into_iter().filter(|h| !h.matches.is_empty()) {
        conditions(step, rollout)?;
    }
    Ok(())
}

/// The header routes in place on a route after `target`, given those in
/// place before (`current`), in `managedRoutes` order (`managed`; recorded
/// routes it no longer lists after them, as they were).
///
/// # Errors
///
/// Those of [`conditions`].
pub fn in_effect(
    current: &[HeaderRoute],
    target: &TrafficTarget,
    managed: &[String],
    rollout: &str,
) -> Result<Vec<HeaderRoute>, Error> {
    let unlisted = current
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| !managed.iter().any(|m| m == n));
    let names: Vec<&str> = managed.iter().map(String::as_str).chain(unlisted).collect();
    let mut out = Vec::new();
    for name in names {
        match target.route(name) {
            RouteTarget::AsIs => out.extend(current.iter().find(|c| c.name == name).cloned()),
            RouteTarget::Header(step) => out.push(HeaderRoute {
                name: name.to_owned(),
                conditions: conditions(step, rollout)?,
            }),
            RouteTarget::Absent | RouteTarget::Mirror(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(value: serde_json::Value) -> SetHeaderRoute {
        serde_json::from_value(
            json!({"name": "beta", "match": [{"headerName": "x-beta", "headerValue": value}]}),
        )
        .unwrap()
    }

    #[test]
    fn only_exact_values_f5_reads_as_written() {
        let err = |v| conditions(&step(v), "ns/web").unwrap_err().to_string();
        assert!(err(json!({"prefix": "a"})).contains("match a value exactly"));
        assert!(err(json!({"regex": "a.*"})).contains("match a value exactly"));
        assert!(err(json!({"exact": "!a"})).contains("negation"));
        assert!(err(json!({"exact": "~a"})).contains("regular expression"));
        assert!(err(json!({"exact": "a\\"})).contains("trailing"));
        let two: SetHeaderRoute = serde_json::from_value(json!({"name": "beta", "match": [
            {"headerName": "x-a", "headerValue": {"exact": "1"}},
            {"headerName": "x-b", "headerValue": {"exact": "2"}}]}))
        .unwrap();
        assert_eq!(
            conditions(&two, "ns/web").unwrap(),
            json!([{"header": "x-a", "value": "1"}, {"header": "x-b", "value": "2"}])
        );
    }

    #[test]
    fn routes_in_managed_routes_order_and_unlisted_ones_kept() {
        let current = vec![
            HeaderRoute {
                name: "old".into(),
                conditions: json!([]),
            },
            HeaderRoute {
                name: "beta".into(),
                conditions: json!([{"header": "x", "value": "1"}]),
            },
        ];
        let managed = ["gamma".to_owned(), "beta".to_owned()];
        let mut gamma = step(json!({"exact": "2"}));
        gamma.name = "gamma".into();
        let after = in_effect(
            &current,
            &TrafficTarget::header_route(gamma),
            &managed,
            "ns/web",
        )
        .unwrap();
        let names: Vec<_> = after.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["gamma", "beta", "old"]);
        let none = in_effect(
            &current,
            &TrafficTarget::no_managed_routes(),
            &managed,
            "ns/web",
        )
        .unwrap();
        assert!(none.is_empty());
    }
}

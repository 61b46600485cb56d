//! One route the rollout splits: how it is read, in either of the two
//! shapes it can have, and the shape a weight gives it.
//!
//! - Weight 0 (the user's own shape): an `action` passing to an upstream
//!   of the stable Service (`pass`, or `proxy.upstream`).
//! - Any other weight: no `action`, and `splits` of two: the user's action
//!   with weight `100 - w`, then the same action with the canary upstream
//!   in place of the stable one, with weight `w`.
//!
//! The user's action travels in the first split, so going back to weight 0
//! restores it as it was, with nothing recorded elsewhere.

use serde_json::{Map, Value, json};

/// The upstream an action passes to (`pass`, or `proxy.upstream`).
pub fn upstream_of(action: &Value) -> Option<&str> {
    action["pass"]
        .as_str()
        .or_else(|| action["proxy"]["upstream"].as_str())
}

/// `action` passing to `upstream` instead.
pub fn with_upstream(action: &Value, upstream: &str) -> Value {
    let mut action = action.clone();
    if action.get("pass").is_some() {
        action["pass"] = json!(upstream);
    } else {
        action["proxy"]["upstream"] = json!(upstream);
    }
    action
}

/// A route the rollout splits, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Split<'a> {
    /// Its index in `spec.routes` (`spec.subroutes`).
    pub index: usize,
    /// The route as read.
    pub route: &'a Value,
    /// The user's action, passing to the stable upstream.
    pub action: &'a Value,
    /// The stable upstream's name.
    pub stable: &'a str,
    /// The canary weight it carries.
    pub weight: i32,
}

impl<'a> Split<'a> {
    /// `route` as one of the two shapes, with `canary_name` naming the
    /// canary upstream of a stable upstream; `is_stable` says whether an
    /// upstream name is one of the stable Service's. `Err` says what the
    /// route is instead.
    pub fn read(
        index: usize,
        route: &'a Value,
        is_stable: impl Fn(&str) -> bool,
        canary_name: impl Fn(&str) -> String,
    ) -> Result<Self, String> {
        let split = |action: &'a Value, weight| {
            let stable = upstream_of(action).filter(|u| is_stable(u))?;
            Some(Self {
                index,
                route,
                action,
                stable,
                weight,
            })
        };
        if let Some(splits) = route.get("splits") {
            if let (Some([stable, canary]), None) =
                (splits.as_array().map(Vec::as_slice), route.get("action"))
            {
                let ours = split(
                    &stable["action"],
                    canary["weight"]
                        .as_i64()
                        .and_then(|w| i32::try_from(w).ok())
                        .unwrap_or(-1),
                )
                .filter(|s| canary["action"] == with_upstream(s.action, &canary_name(s.stable)))
                .filter(|s| {
                    (0..=100).contains(&s.weight)
                        && stable["weight"].as_i64() == Some(i64::from(100 - s.weight))
                });
                if let Some(ours) = ours {
                    return Ok(ours);
                }
            }
            return Err(
                "`splits` that are not the rollout's (its splits are two: the stable \
                        upstream's action, then the same action passing to the canary upstream)"
                    .into(),
            );
        }
        if let Some(action) = route.get("action") {
            return split(action, 0).ok_or_else(|| {
                format!(
                    "an action that passes to no upstream of the stable Service ({})",
                    upstream_of(action).map_or("no `pass` or `proxy.upstream`".into(), |u| {
                        format!("upstream `{u}`")
                    })
                )
            });
        }
        if let Some(target) = route["route"].as_str() {
            return Err(format!(
                "`route: {target}`, a VirtualServerRoute (split its subroutes with \
                 virtualServerRoute)"
            ));
        }
        Err("no `action`".into())
    }

    /// The route with canary weight `weight` and `matches` (`None`: as
    /// read), `canary_action` being the user's action passing to the canary
    /// upstream.
    pub fn shaped(&self, weight: i32, canary_action: &Value, matches: Option<Vec<Value>>) -> Value {
        let mut route: Map<String, Value> = self.route.as_object().cloned().unwrap_or_default();
        if weight == 0 {
            route.remove("splits");
            route.insert("action".into(), self.action.clone());
        } else {
            route.remove("action");
            route.insert(
                "splits".into(),
                json!([{"weight": 100 - weight, "action": self.action},
                       {"weight": weight, "action": canary_action}]),
            );
        }
        match matches {
            None => {}
            Some(m) if m.is_empty() => {
                route.remove("matches");
            }
            Some(m) => {
                route.insert("matches".into(), Value::Array(m));
            }
        }
        Value::Object(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(u: &str) -> String {
        format!("{u}-canary")
    }

    #[test]
    fn both_shapes_read_back() {
        let user =
            json!({"path": "/", "action": {"proxy": {"upstream": "web", "rewritePath": "/v1"}}});
        let read = Split::read(0, &user, |u| u == "web", canary).unwrap();
        assert_eq!((read.stable, read.weight), ("web", 0));
        let canary_action = with_upstream(read.action, "web-canary");
        assert_eq!(canary_action["proxy"]["rewritePath"], "/v1");
        let split = read.shaped(30, &canary_action, None);
        let again = Split::read(0, &split, |u| u == "web", canary).unwrap();
        assert_eq!((again.action, again.weight), (read.action, 30));
        assert_eq!(again.shaped(0, &canary_action, None), user);
    }

    #[test]
    fn other_shapes_say_what_they_are() {
        let is_web = |u: &str| u == "web";
        let other = json!({"path": "/", "action": {"pass": "cdn"}});
        assert!(
            Split::read(0, &other, is_web, canary)
                .unwrap_err()
                .contains("upstream `cdn`")
        );
        let theirs = json!({"path": "/", "splits": [
            {"weight": 50, "action": {"pass": "web"}}, {"weight": 50, "action": {"pass": "cdn"}}]});
        assert!(
            Split::read(0, &theirs, is_web, canary)
                .unwrap_err()
                .contains("not the rollout's")
        );
        let delegated = json!({"path": "/api", "route": "ns/api"});
        assert!(
            Split::read(0, &delegated, is_web, canary)
                .unwrap_err()
                .contains("virtualServerRoute")
        );
    }
}

//! A route as the plan sees it: which rules are managed, which are the
//! rollout's, and which backendRefs point at the rollout's Services.

use serde_json::Value;

use super::sticky::{self, Kept, Record};
use super::{Route, Routing, Services};
use crate::error::Error;
use crate::precedence;

/// A route as read, with what the rollout says about it.
#[derive(Debug, Clone)]
pub(super) struct View<'a> {
    pub(super) route: &'a Route<'a>,
    pub(super) routing: &'a Routing<'a>,
    /// The names of this rollout's sticky cookie rules, canary first (see
    /// [`sticky::rule_names`]).
    pub(super) sticky_rules: [String; 2],
    /// What this rollout's sticky session put on the route, as recorded
    /// there (see [`sticky::record`]).
    pub(super) recorded: Option<Record>,
}

impl<'a> View<'a> {
    /// # Errors
    ///
    /// The rollout's sticky-session record on the route is unreadable.
    pub(super) fn new(route: &'a Route<'a>, routing: &'a Routing<'a>) -> Result<Self, Error> {
        let recorded =
            sticky::record::read(route.object, routing.rollout).map_err(|why| Error::Route {
                route: route.label(),
                message: why,
            })?;
        Ok(Self {
            route,
            routing,
            sticky_rules: sticky::rule_names(routing.rollout),
            recorded,
        })
    }

    /// Whether a `sessionPersistence` named `session` is the sticky
    /// session's: the config's cookie name, or the one recorded as kept by
    /// `sessionPersistence`.
    pub(super) fn is_own_session(&self, session: &str) -> bool {
        self.routing.sticky.is_some_and(|s| s.cookie == session)
            || self
                .recorded
                .as_ref()
                .is_some_and(|r| r.mode == Kept::SessionPersistence && r.cookie == session)
    }

    /// The cookie names whose `Set-Cookie` entries on the rollout's
    /// backendRefs are the sticky session's: the config's, and the one
    /// recorded as kept by cookie rules.
    pub(super) fn own_cookies(&self) -> Vec<&str> {
        let mut cookies: Vec<&str> = self.routing.sticky.iter().map(|s| s.cookie).collect();
        if let Some(r) = self
            .recorded
            .as_ref()
            .filter(|r| r.mode == Kept::CookieRule)
            && !cookies.contains(&r.cookie.as_str())
        {
            cookies.push(&r.cookie);
        }
        cookies
    }

    /// The names of the sticky cookie rules this rollout takes for its own:
    /// its two, then those of earlier versions (see
    /// [`sticky::LEGACY_RULES`]) unless they are the same.
    pub(super) fn sticky_rule_names(&self) -> impl Iterator<Item = &str> + Clone {
        let own = self.sticky_rules.iter().map(String::as_str);
        let legacy = sticky::LEGACY_RULES
            .into_iter()
            .filter(|l| !self.sticky_rules.iter().any(|o| o == l));
        own.chain(legacy)
    }

    pub(super) fn services(&self) -> &Services<'a> {
        &self.routing.services
    }

    pub(super) fn error(&self, message: impl Into<String>) -> Error {
        Error::Route {
            route: self.route.label(),
            message: message.into(),
        }
    }

    pub(super) fn rules(&self) -> Result<&'a [Value], Error> {
        match &self.route.object["spec"]["rules"] {
            Value::Array(rules) => Ok(rules),
            Value::Null => Ok(&[]),
            _ => Err(self.error("spec.rules is not a list")),
        }
    }

    /// Whether a rule is one of ours, by name: a managed route's rule
    /// (`name`, `name-<n>`), one of this rollout's sticky-session cookie
    /// rules or of an earlier version's (see [`super::sticky`]) or a
    /// companion rule keeping their precedence (`<rule>--<later route>`,
    /// see [`crate::precedence`]). Another rollout's sticky rules are not.
    pub(super) fn is_managed(&self, rule: &Value) -> bool {
        let managed = self
            .routing
            .managed_routes
            .iter()
            .map(String::as_str)
            .chain(self.sticky_rule_names());
        let own = |n: &str| managed.clone().any(|m| is_named(n, m));
        rule["name"]
            .as_str()
            .is_some_and(|n| own(n) || precedence::is_companion(n, managed.clone(), own))
    }

    /// Whether a backendRef points at `service` in the rollout's namespace.
    pub(super) fn refers_to(&self, backend: &Value, service: &str) -> bool {
        backend["name"].as_str() == Some(service)
            && matches!(backend["group"].as_str(), None | Some(""))
            && matches!(backend["kind"].as_str(), None | Some("Service"))
            && backend["namespace"]
                .as_str()
                .unwrap_or(self.route.namespace())
                == self.services().namespace
    }

    /// The first backendRef of `rule` that points at `service`.
    pub(super) fn backend_of<'r>(&self, rule: &'r Value, service: &str) -> Option<&'r Value> {
        rule["backendRefs"]
            .as_array()?
            .iter()
            .find(|b| self.refers_to(b, service))
    }

    /// The rollout's rules, with their index: the rules the config names
    /// (in route order), else the unmanaged rules with both the canary and
    /// the stable Service. Never empty.
    pub(super) fn source_rules(&self) -> Result<Vec<(usize, &'a Value)>, Error> {
        let rules = self.rules()?;
        if let Some(named) = self.routing.rules {
            return self.named_rules(rules, named);
        }
        let services = self.services();
        let both = |rule: &Value| {
            self.backend_of(rule, services.canary).is_some()
                && self.backend_of(rule, services.stable).is_some()
        };
        let sources: Vec<_> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| !self.is_managed(r) && both(r))
            .collect();
        if sources.is_empty() {
            return Err(self.error(format!(
                "no rule outside the managed rules sends traffic to both Service {} \
                 (canaryService) and Service {} (stableService); only such rules are the \
                 rollout's to weight",
                services.canary, services.stable
            )));
        }
        Ok(sources)
    }

    /// The rules named `named` (the config's `rules`), in route order.
    fn named_rules(
        &self,
        rules: &'a [Value],
        named: &[String],
    ) -> Result<Vec<(usize, &'a Value)>, Error> {
        let mut found = Vec::with_capacity(named.len());
        for name in named {
            let Some((i, rule)) = rules
                .iter()
                .enumerate()
                .find(|(_, r)| r["name"].as_str() == Some(name))
            else {
                let names: Vec<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
                let have = if names.is_empty() {
                    "it names none of its rules".to_owned()
                } else {
                    format!("its named rules: {}", names.join(", "))
                };
                return Err(self.error(format!(
                    "plugin config rules: the route has no rule named {name:?} in spec.rules \
                     ({have})"
                )));
            };
            if self.is_managed(rule) {
                return Err(self.error(format!(
                    "plugin config rules: rule {name:?} is a managed route's rule \
                     (managedRoutes); name rules of your own"
                )));
            }
            found.push((i, rule));
        }
        found.sort_by_key(|(i, _)| *i);
        found.dedup_by_key(|(i, _)| *i);
        Ok(found)
    }
}

/// `name` or `<name>-<digits>`.
pub(super) fn is_named(rule: &str, name: &str) -> bool {
    rule == name
        || rule
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_names_are_exact_or_numbered() {
        assert!(is_named("beta", "beta"));
        assert!(is_named("beta-2", "beta"));
        assert!(!is_named("beta-x", "beta"));
        assert!(!is_named("beta-", "beta"));
        assert!(!is_named("betamax", "beta"));
    }
}

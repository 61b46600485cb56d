//! Gateway API's limits on a route's rules and matches, checked before a
//! write so that a layout past them is refused with a message naming the
//! route, the limit and the count, instead of the API server's 422.
//!
//! The limits are the CRDs' (Gateway API v1.6, standard and experimental
//! channels alike, for HTTPRoute `v1`/`v1beta1` and GRPCRoute `v1`):
//! `spec.rules` has at most 16 items, each rule's `matches` at most 64, and
//! a validation rule caps the matches of all rules together at 128. An
//! HTTPRoute rule written without `matches` is defaulted to one match (every
//! path) and counts as one; a GRPCRoute rule without `matches` counts as
//! none. Companion rules multiply matches (each is an intersection of two
//! rules' matches), so a few managed routes over a route with many matches
//! reach these limits.

use serde_json::Value;

use super::view::View;
use crate::config::RouteKind;
use crate::error::Error;

/// At most this many rules in a route (`spec.rules` `maxItems`).
pub const MAX_RULES: usize = 16;
/// At most this many matches in one rule (`spec.rules[].matches` `maxItems`).
pub const MAX_MATCHES_PER_RULE: usize = 64;
/// At most this many matches across all rules of a route.
pub const MAX_MATCHES: usize = 128;

/// How many matches the API server counts for `rule`.
fn matches(kind: RouteKind, rule: &Value) -> usize {
    match rule.get("matches") {
        Some(Value::Array(ms)) => ms.len(),
        None | Some(Value::Null) if kind == RouteKind::Http => 1,
        _ => 0,
    }
}

/// Refuses `rules` (the route's rules after the write) when they exceed a
/// limit, naming the limit and the count.
pub(super) fn check<'v>(
    view: &View<'_>,
    rules: impl Iterator<Item = &'v Value>,
) -> Result<(), Error> {
    let kind = view.route.kind;
    let limit = |message: String| Error::Limit {
        route: view.route.label(),
        message,
    };
    let (mut count, mut total) = (0, 0);
    for rule in rules {
        count += 1;
        let n = matches(kind, rule);
        if n > MAX_MATCHES_PER_RULE {
            let name = rule["name"].as_str().unwrap_or("(unnamed)");
            return Err(limit(format!(
                "rule {name} would have {n} matches; Gateway API allows at most \
                 {MAX_MATCHES_PER_RULE} per rule (spec.rules[].matches)"
            )));
        }
        total += n;
    }
    if count > MAX_RULES {
        return Err(limit(format!(
            "the managed routes would make {count} rules; Gateway API allows at most \
             {MAX_RULES} rules per {} (spec.rules)",
            kind.kind()
        )));
    }
    if total > MAX_MATCHES {
        return Err(limit(format!(
            "the managed routes would make {total} matches across all rules; Gateway API \
             allows at most {MAX_MATCHES} per {}",
            kind.kind()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_http_rule_without_matches_counts_one_a_grpc_rule_none() {
        let rule = json!({"backendRefs": []});
        assert_eq!(matches(RouteKind::Http, &rule), 1);
        assert_eq!(matches(RouteKind::Grpc, &rule), 0);
        assert_eq!(matches(RouteKind::Http, &json!({"matches": [{}, {}]})), 2);
    }

    #[test]
    fn a_grpc_route_past_the_total_is_refused_naming_the_count() {
        use crate::plan::{Route, Routing, Services};
        let object = json!({"metadata": {"name": "api", "namespace": "shop"}});
        let route = Route {
            object: &object,
            kind: RouteKind::Grpc,
        };
        let routing = Routing::new(Services {
            canary: "c",
            stable: "s",
            namespace: "shop",
        });
        let view = View::new(&route, &routing).unwrap();
        let rule = |n: usize| json!({"matches": vec![json!({}); n]});
        let at_limit = [rule(64), rule(64), json!({})];
        assert!(check(&view, at_limit.iter()).is_ok());
        let past = [rule(64), rule(64), rule(1)];
        assert_eq!(
            check(&view, past.iter()).unwrap_err().to_string(),
            "GRPCRoute shop/api: the managed routes would make 129 matches across all rules; \
             Gateway API allows at most 128 per GRPCRoute; nothing was changed"
        );
        let too_many: Vec<Value> = (0..17).map(|_| json!({})).collect();
        assert!(
            check(&view, too_many.iter())
                .unwrap_err()
                .to_string()
                .contains("17 rules; Gateway API allows at most 16 rules per GRPCRoute")
        );
    }
}

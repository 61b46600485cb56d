//! Sticky sessions (`stickySession`, HTTPRoutes only): while the canary has
//! part of the traffic (a weight above 0 and below `maxTrafficWeight`), a
//! client stays on the version that first served it. At weight 0 and at
//! full weight every trace of it is removed: the weights alone then send
//! everyone to one version.
//!
//! Two ways, chosen by the router (see [`Sticky::session_persistence`]):
//!
//! * **`sessionPersistence`** (Gateway API experimental channel): each of
//!   the rollout's rules gets `sessionPersistence` with the cookie name as
//!   its `sessionName` (by which it is recognised as the rollout's), a
//!   permanent cookie living `maxAgeSeconds`. The gateway picks a backend
//!   by weight for a new client and keeps it there.
//! * **Cookie rules** (any channel): the canary and stable backendRefs of
//!   the rollout's rules add `Set-Cookie: <cookie>=<pod template hash>`
//!   (a `ResponseHeaderModifier` backendRef filter, merged into one the
//!   user has), and two managed rules per rule of the rollout's, named
//!   after the rollout (see [`rule_names`]: `-<n>` for the next rules),
//!   copies of it that match its matches plus a `Cookie` header carrying
//!   that version's hash and send everything to that version. A cookie
//!   names a version by its hash, so one from an aborted or replaced
//!   canary matches no rule: its client is weighted again and gets a new
//!   cookie. After a promotion the canary's hash is the stable hash, so its
//!   clients stay where they were. The sticky rules come after the managed
//!   header and mirror routes, which take precedence over them (with
//!   companion rules, as between managed routes). Rollouts sharing a route
//!   each have their own, and leave the others' alone.
//!
//! Both ways are laid out from the desired state on every weight change, so
//! switching from one to the other converges. What the session put on the
//! route is recorded there (see [`record`]), so that once `stickySession`
//! is turned off the router takes back exactly that: the
//! `sessionPersistence` or the `Set-Cookie` entries of the recorded cookie
//! name (another name is the user's and stays byte-identical), and the
//! cookie rules (recognised by name, the fixed names of earlier versions
//! included), then the record.

use serde_json::{Value, json};

use super::header::{copies, only_ref};
use super::view::View;
use super::{Hashes, Sticky};
use crate::config::RouteKind;
use crate::error::Error;

mod names;
pub(super) mod record;

pub use names::{LEGACY_RULES, RULE_PREFIX, rule_names, token};
pub(super) use record::{Kept, Record};
pub use record::{RECORD_PREFIX, record_key};

/// The sticky session in effect at canary weight `weight`: the setting and
/// the hashes naming the two versions; `None` when no client is to be
/// pinned (weight 0 or full, not an HTTPRoute, sticky sessions off, or,
/// for cookie rules, a hash not known or both the same).
fn active<'a>(view: &View<'a>, weight: i32) -> Option<(Sticky<'a>, Hashes<'a>)> {
    let sticky = view.routing.sticky?;
    let hashes = view.routing.hashes;
    let named = !hashes.canary.is_empty() && !hashes.stable.is_empty();
    let partial = weight > 0 && weight < view.routing.max_weight;
    let usable = sticky.session_persistence || (named && hashes.canary != hashes.stable);
    (view.route.kind == RouteKind::Http && partial && usable).then_some((sticky, hashes))
}

/// The cookie rules of the canary (`canary`) or of the stable version at
/// canary weight `weight`, named after the rollout: none unless cookie
/// rules are in effect.
pub(super) fn rules(view: &View<'_>, canary: bool, weight: i32) -> Result<Vec<Value>, Error> {
    let Some((sticky, hashes)) = active(view, weight).filter(|(s, _)| !s.session_persistence)
    else {
        return Ok(Vec::new());
    };
    let services = view.services();
    let (service, hash, name) = if canary {
        (services.canary, hashes.canary, &view.sticky_rules[0])
    } else {
        (services.stable, hashes.stable, &view.sticky_rules[1])
    };
    let cookie = json!({"type": "RegularExpression", "name": "Cookie",
                        "value": cookie_regex(sticky.cookie, hash)});
    copies(view, name, &[cookie], |source| {
        only_ref(view, source, service)
    })
}

/// A regular expression matching a `Cookie` header that carries
/// `<cookie>=<hash>`, whether the gateway matches it whole or in part.
fn cookie_regex(cookie: &str, hash: &str) -> String {
    format!(
        "^(.*;\\s*)?{}={}(\\s*;.*)?$",
        regex::escape(cookie),
        regex::escape(hash)
    )
}

/// The `Set-Cookie` value that pins a client to the version `hash`.
fn set_cookie(sticky: &Sticky<'_>, hash: &str) -> String {
    format!(
        "{}={hash}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
        sticky.cookie, sticky.max_age
    )
}

/// What the sticky session at canary weight `weight` puts on the route,
/// as its record says it (`None`: nothing).
fn wanted_record(view: &View<'_>, weight: i32) -> Option<Record> {
    active(view, weight).map(|(s, _)| Record {
        mode: if s.session_persistence {
            Kept::SessionPersistence
        } else {
            Kept::CookieRule
        },
        cookie: s.cookie.to_owned(),
    })
}

/// Pushes the operations that make the rollout's record say what its
/// sticky session puts on the route at canary weight `weight` (see
/// [`record`]); none when it already does.
pub(super) fn record_ops(view: &View<'_>, weight: i32, ops: &mut Vec<Value>) {
    record::ops(view, wanted_record(view, weight).as_ref(), ops);
}

/// The operations that make the canary and stable backendRefs of the
/// rollout's rules set the sticky cookie at canary weight `weight`, or
/// stop setting it (the config's cookie, and the recorded one: see
/// [`View::own_cookies`]); every other filter untouched. Each change is
/// guarded by `test`s of the backendRef's name and of its filters as read.
pub(super) fn backend_ops(view: &View<'_>, weight: i32) -> Result<Vec<Value>, Error> {
    let cookies = view.own_cookies();
    if cookies.is_empty() || view.route.kind != RouteKind::Http {
        return Ok(Vec::new());
    }
    let active = active(view, weight).filter(|(s, _)| !s.session_persistence);
    let services = view.services();
    let mut ops = Vec::new();
    for (i, rule) in view.source_rules()? {
        let refs = rule["backendRefs"].as_array().into_iter().flatten();
        for (j, backend) in refs.enumerate() {
            let hash = if view.refers_to(backend, services.canary) {
                active.map(|(_, h)| h.canary)
            } else if view.refers_to(backend, services.stable) {
                active.map(|(_, h)| h.stable)
            } else {
                continue;
            };
            let have = backend.get("filters");
            let mut want = backend.clone();
            for cookie in &cookies {
                strip_cookie(&mut want, cookie);
            }
            if let Some((sticky, _)) = active {
                let value = set_cookie(&sticky, hash.unwrap_or_default());
                add_cookie(&mut want, &value).map_err(|why| {
                    view.error(format!(
                        "spec.rules[{i}].backendRefs[{j}] ({}): {why}; the sticky session's \
                         cookie {} cannot be added",
                        backend["name"].as_str().unwrap_or_default(),
                        sticky.cookie
                    ))
                })?;
            }
            let want = want.get("filters");
            if want == have {
                continue;
            }
            let at = format!("/spec/rules/{i}/backendRefs/{j}");
            ops.push(json!({"op": "test", "path": format!("{at}/name"), "value": backend["name"]}));
            match (have, want) {
                (Some(have), Some(want)) => {
                    ops.push(json!({"op": "test", "path": format!("{at}/filters"), "value": have}));
                    ops.push(
                        json!({"op": "replace", "path": format!("{at}/filters"), "value": want}),
                    );
                }
                (Some(have), None) => {
                    ops.push(json!({"op": "test", "path": format!("{at}/filters"), "value": have}));
                    ops.push(json!({"op": "remove", "path": format!("{at}/filters")}));
                }
                (None, Some(want)) => {
                    ops.push(json!({"op": "add", "path": format!("{at}/filters"), "value": want}));
                }
                (None, None) => {}
            }
        }
    }
    Ok(ops)
}

/// Whether a `Set-Cookie` header entry is the sticky cookie `cookie`.
fn is_own_cookie(entry: &Value, cookie: &str) -> bool {
    entry["name"]
        .as_str()
        .is_some_and(|n| n.eq_ignore_ascii_case("set-cookie"))
        && entry["value"]
            .as_str()
            .and_then(|v| v.strip_prefix(cookie))
            .is_some_and(|rest| rest.starts_with('='))
}

/// Removes the sticky cookie from a backendRef's filters: its `Set-Cookie`
/// entry, the `add` list it leaves empty, the `ResponseHeaderModifier` it
/// leaves empty and the `filters` list it leaves empty.
pub(super) fn strip_cookie(backend: &mut Value, cookie: &str) {
    let Some(filters) = backend.get_mut("filters").and_then(Value::as_array_mut) else {
        return;
    };
    let mut touched = false;
    for filter in filters.iter_mut() {
        let Some(modifier) = filter
            .get_mut("responseHeaderModifier")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let Some(add) = modifier.get_mut("add").and_then(Value::as_array_mut) else {
            continue;
        };
        let before = add.len();
        add.retain(|entry| !is_own_cookie(entry, cookie));
        if add.len() != before {
            touched = true;
            if add.is_empty() {
                modifier.remove("add");
            }
        }
    }
    if !touched {
        return;
    }
    filters.retain(|f| {
        f["type"] != "ResponseHeaderModifier"
            || f["responseHeaderModifier"]
                .as_object()
                .is_some_and(|m| !m.is_empty())
    });
    if filters.is_empty()
        && let Some(b) = backend.as_object_mut()
    {
        b.remove("filters");
    }
}

/// Adds the sticky cookie `Set-Cookie: value` to a backendRef's
/// `ResponseHeaderModifier` (one is added after its filters when it has
/// none). A modifier that already sets or adds `Set-Cookie` is the user's
/// and refuses it (Gateway API allows one entry per header name).
fn add_cookie(backend: &mut Value, value: &str) -> Result<(), String> {
    let entry = json!({"name": "Set-Cookie", "value": value});
    let Some(b) = backend.as_object_mut() else {
        return Err("not an object".into());
    };
    let filters = b.entry("filters").or_insert_with(|| json!([]));
    let Some(filters) = filters.as_array_mut() else {
        return Err("filters is not a list".into());
    };
    let modifier = filters
        .iter_mut()
        .find(|f| f["type"] == "ResponseHeaderModifier")
        .and_then(|f| f.get_mut("responseHeaderModifier"))
        .and_then(Value::as_object_mut);
    let Some(modifier) = modifier else {
        filters.push(json!({"type": "ResponseHeaderModifier",
                            "responseHeaderModifier": {"add": [entry]}}));
        return Ok(());
    };
    for list in ["add", "set"] {
        let theirs = modifier
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| {
                e["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("set-cookie"))
            });
        if theirs {
            return Err(format!(
                "its ResponseHeaderModifier already has a Set-Cookie entry in {list}"
            ));
        }
    }
    match modifier.entry("add").or_insert_with(|| json!([])) {
        Value::Array(add) => add.push(entry),
        _ => return Err("its responseHeaderModifier.add is not a list".into()),
    }
    Ok(())
}

/// Whether a rule's `sessionPersistence` is the sticky session's (see
/// [`View::is_own_session`]).
pub(super) fn is_own_persistence(view: &View<'_>, rule: &Value) -> bool {
    rule["sessionPersistence"]["sessionName"]
        .as_str()
        .is_some_and(|name| view.is_own_session(name))
}

/// The operations that give the rollout's rules the sticky session's
/// `sessionPersistence` at canary weight `weight`, or remove it (the
/// config's, or the recorded one once the config has none); a rule's
/// `sessionPersistence` under another `sessionName` is the user's: left as
/// it is, and an error when the sticky session needs the field. Each change
/// is guarded by a `test` of the rule's backendRefs as read.
pub(super) fn persistence_ops(view: &View<'_>, weight: i32) -> Result<Vec<Value>, Error> {
    let recorded = view
        .recorded
        .as_ref()
        .is_some_and(|r| r.mode == Kept::SessionPersistence);
    if (view.routing.sticky.is_none() && !recorded) || view.route.kind != RouteKind::Http {
        return Ok(Vec::new());
    }
    let want = active(view, weight)
        .filter(|(s, _)| s.session_persistence)
        .map(|(s, _)| (s.cookie, persistence(&s)));
    let mut ops = Vec::new();
    for (i, rule) in view.source_rules()? {
        let have = rule.get("sessionPersistence");
        let ours = is_own_persistence(view, rule);
        let at = format!("/spec/rules/{i}/sessionPersistence");
        let guard = json!({"op": "test", "path": format!("/spec/rules/{i}/backendRefs"),
                           "value": rule["backendRefs"]});
        match (&want, have) {
            (Some((_, want)), Some(have)) if ours && have == want => {}
            (Some((_, want)), Some(have)) if ours => {
                ops.extend([
                    guard,
                    json!({"op": "test", "path": at, "value": have}),
                    json!({"op": "replace", "path": at, "value": want}),
                ]);
            }
            (Some((cookie, _)), Some(have)) => {
                return Err(view.error(format!(
                    "spec.rules[{i}].sessionPersistence: already set (sessionName {}), not by \
                     this rollout; the sticky session (stickySession, sessionName {cookie}) \
                     cannot replace it: remove it, or use stickySession.mode cookieRule",
                    have["sessionName"].as_str().unwrap_or("unset")
                )));
            }
            (Some((_, want)), None) => {
                ops.extend([guard, json!({"op": "add", "path": at, "value": want})]);
            }
            (None, Some(have)) if ours => {
                ops.extend([
                    guard,
                    json!({"op": "test", "path": at, "value": have}),
                    json!({"op": "remove", "path": at}),
                ]);
            }
            (None, _) => {}
        }
    }
    Ok(ops)
}

/// The `sessionPersistence` of the rollout's rules: a permanent cookie
/// named like the sticky cookie, living `max_age` seconds (every field the
/// API server would default written out, so that it reads back equal).
fn persistence(sticky: &Sticky<'_>) -> Value {
    json!({
        "sessionName": sticky.cookie,
        "type": "Cookie",
        "absoluteTimeout": duration(sticky.max_age),
        "cookieConfig": {"lifetimeType": "Permanent"},
    })
}

/// Seconds as a Gateway API duration (`1h30m`, `45s`).
fn duration(seconds: u32) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Whether the route carries a sticky cookie rule of this rollout's or of
/// an earlier version's (so that turning `stickySession` off still removes
/// them).
pub(super) fn has_rules(view: &View<'_>) -> bool {
    view.rules().is_ok_and(|rules| {
        rules.iter().any(|r| {
            r["name"].as_str().is_some_and(|n| {
                view.sticky_rule_names()
                    .any(|s| super::view::is_named(n, s))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_gateway_api_durations() {
        assert_eq!(duration(86_400), "24h");
        assert_eq!(duration(5_430), "1h30m30s");
        assert_eq!(duration(45), "45s");
    }

    #[test]
    fn the_cookie_regex_finds_the_cookie_anywhere_in_the_header() {
        let re = regex::Regex::new(&cookie_regex("rollgate-version", "abc")).unwrap();
        for yes in [
            "rollgate-version=abc",
            "a=1; rollgate-version=abc",
            "rollgate-version=abc; b=2",
            "a=1;rollgate-version=abc ; b=2",
        ] {
            assert!(re.is_match(yes), "{yes}");
        }
        for no in [
            "rollgate-version=abcd",
            "xrollgate-version=abc",
            "rollgate-version=ab",
            "",
        ] {
            assert!(!re.is_match(no), "{no}");
        }
    }

    #[test]
    fn the_cookie_is_merged_into_the_users_modifier_and_taken_out_again() {
        let user = json!({"name": "web-canary", "filters": [
            {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x", "value": "1"}]}},
            {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"remove": ["server"]}}]});
        let mut b = user.clone();
        add_cookie(&mut b, "rollgate-version=abc; Path=/").unwrap();
        assert_eq!(
            b["filters"][1]["responseHeaderModifier"]["add"][0]["value"],
            "rollgate-version=abc; Path=/"
        );
        strip_cookie(&mut b, "rollgate-version");
        assert_eq!(b, user, "the user's filters are byte-identical again");
        let mut bare = json!({"name": "web-canary"});
        add_cookie(&mut bare, "rollgate-version=abc").unwrap();
        strip_cookie(&mut bare, "rollgate-version");
        assert_eq!(bare, json!({"name": "web-canary"}));
        let mut theirs = json!({"filters": [{"type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": "set-cookie", "value": "s=1"}]}}]});
        assert!(add_cookie(&mut theirs, "rollgate-version=abc").is_err());
    }
}

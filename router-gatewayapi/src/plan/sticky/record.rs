//! The record of what a rollout's sticky session put on a route, kept on
//! the route itself: once `stickySession` is gone from the config, it is
//! what tells the router which `sessionPersistence` and which `Set-Cookie`
//! entries are its own to take back.
//!
//! One annotation per rollout, `sticky.rollgate.dev/<token>` (see
//! [`super::token`]), whose value says how the session was kept and under
//! which cookie name: `{"mode":"cookieRule","cookie":"rollgate-version"}`.
//! It is there exactly while something of the session is on the route:
//! written with it, removed with the last of it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::names::token;
use crate::plan::annotation;
use crate::plan::view::View;

/// What the record annotation's key starts with.
pub const RECORD_PREFIX: &str = "sticky.rollgate.dev/";

/// The record annotation's key for `rollout` (`<namespace>/<name>`).
///
/// ```
/// use router_gatewayapi::plan::sticky::record_key;
/// assert_eq!(record_key("shop/web"), "sticky.rollgate.dev/shop.web");
/// ```
pub fn record_key(rollout: &str) -> String {
    format!("{RECORD_PREFIX}{}", token(rollout))
}

/// How a recorded sticky session was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Kept {
    /// The rollout's rules' `sessionPersistence`, named after the cookie.
    SessionPersistence,
    /// `Set-Cookie` entries on the rollout's backendRefs, and the cookie
    /// rules (recognised by their names).
    CookieRule,
}

/// What a rollout's sticky session put on a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with mode and cookie")]
pub(crate) struct Record {
    /// How it was kept.
    pub(crate) mode: Kept,
    /// The cookie (and `sessionPersistence` session) name.
    pub(crate) cookie: String,
}

/// The record of `rollout` on the route `object`, if any; an empty
/// `rollout` has none.
///
/// # Errors
///
/// The annotation is not a record: a message naming it and what was
/// expected.
pub(crate) fn read(object: &Value, rollout: &str) -> Result<Option<Record>, String> {
    if rollout.is_empty() {
        return Ok(None);
    }
    let key = record_key(rollout);
    let Some(value) = object["metadata"]["annotations"].get(&key) else {
        return Ok(None);
    };
    let parsed = value
        .as_str()
        .ok_or_else(|| "not a string".to_owned())
        .and_then(|text| serde_json::from_str(text).map_err(|e| e.to_string()));
    parsed.map(Some).map_err(|why| {
        format!(
            "metadata.annotations[{key}]: not the record of rollout {rollout}'s sticky session \
             ({why}; expected {{\"mode\":\"sessionPersistence\" or \"cookieRule\",\"cookie\":\
             \"<cookie name>\"}}); remove what the sticky session left and the annotation"
        )
    })
}

/// The operations that make the rollout's record say `want` (`None`: no
/// record), guarded by a `test` of the record as read; none when it
/// already does, or when the plan names no rollout.
pub(crate) fn ops(view: &View<'_>, want: Option<&Record>, ops: &mut Vec<Value>) {
    let rollout = view.routing.rollout;
    if rollout.is_empty() || view.recorded.as_ref() == want {
        return;
    }
    let value = want.map(|r| serde_json::to_string(r).unwrap_or_default());
    annotation::set(
        view.route.object,
        &record_key(rollout),
        value.as_deref(),
        ops,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_reads_back_and_a_bad_one_is_named() {
        let record = Record {
            mode: Kept::CookieRule,
            cookie: "v".into(),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(text, r#"{"mode":"cookieRule","cookie":"v"}"#);
        let object = json!({"metadata": {"annotations": {"sticky.rollgate.dev/shop.web": text}}});
        assert_eq!(read(&object, "shop/web"), Ok(Some(record)));
        assert_eq!(read(&object, "shop/api"), Ok(None));
        assert_eq!(read(&object, ""), Ok(None));
        let bad = json!({"metadata": {"annotations": {"sticky.rollgate.dev/shop.web": "yes"}}});
        let err = read(&bad, "shop/web").unwrap_err();
        assert!(
            err.starts_with(
                "metadata.annotations[sticky.rollgate.dev/shop.web]: not the record of rollout \
                 shop/web's sticky session (expected value"
            ),
            "{err}"
        );
    }
}

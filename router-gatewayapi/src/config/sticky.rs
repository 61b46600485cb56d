//! `stickySession`: the sticky canary's settings, read strictly (see
//! [`crate::plan::sticky`] for what they do).

use serde::Deserialize;

/// The default name of the sticky-session cookie.
pub const DEFAULT_STICKY_COOKIE: &str = "rollgate-version";
/// The default lifetime of the sticky-session cookie, in seconds (a day).
pub const DEFAULT_STICKY_MAX_AGE: u32 = 86_400;
/// The longest cookie lifetime accepted, in seconds (a year).
pub const MAX_STICKY_MAX_AGE: u32 = 366 * 86_400;

/// `stickySession`: while the canary has part of the traffic, a client
/// stays on the version (canary or stable) that first served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickySession {
    /// The cookie (or `sessionPersistence` session) name (`cookieName`,
    /// default `rollgate-version`).
    pub cookie_name: String,
    /// How long a client stays pinned, in seconds (`maxAgeSeconds`,
    /// default a day).
    pub max_age: u32,
    /// How clients are pinned (`mode`, default `auto`).
    pub mode: StickyMode,
}

/// How a sticky session is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StickyMode {
    /// `sessionPersistence` when the API server's HTTPRoute has it (the
    /// experimental channel CRDs), else `cookieRule`.
    Auto,
    /// The HTTPRoute rules' `sessionPersistence` (Gateway API experimental
    /// channel; the gateway pins clients itself).
    SessionPersistence,
    /// Managed rules matching a cookie that the rollout's backendRefs set
    /// (any channel; backendRef filters must be supported by the gateway).
    CookieRule,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawSticky {
    cookie_name: Option<String>,
    max_age_seconds: Option<u32>,
    mode: Option<StickyMode>,
}

impl RawSticky {
    /// The validated setting; errors name the field.
    pub(super) fn sticky(self) -> Result<StickySession, String> {
        let cookie_name = self
            .cookie_name
            .unwrap_or_else(|| DEFAULT_STICKY_COOKIE.to_owned());
        // A cookie name is an RFC 6265 token; sessionPersistence caps it at 128.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if cookie_name.is_empty() || cookie_name.len() > 128 || !cookie_name.bytes().all(token) {
            return Err(format!(
                "plugin config: stickySession.cookieName: {cookie_name:?} is not a cookie name \
                 (expected 1 to 128 letters, digits or !#$%&'*+-.^_`|~)"
            ));
        }
        let max_age = self.max_age_seconds.unwrap_or(DEFAULT_STICKY_MAX_AGE);
        if !(1..=MAX_STICKY_MAX_AGE).contains(&max_age) {
            return Err(format!(
                "plugin config: stickySession.maxAgeSeconds: {max_age} (expected 1 to \
                 {MAX_STICKY_MAX_AGE}, a year)"
            ));
        }
        Ok(StickySession {
            cookie_name,
            max_age,
            mode: self.mode.unwrap_or(StickyMode::Auto),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use serde_json::json;

    #[test]
    fn sticky_session_is_opt_in_and_read_strictly() {
        let c = Config::parse(&json!({"httpRoute": "a"}), "ns/r").unwrap();
        assert_eq!(c.sticky_session, None);
        let c = Config::parse(&json!({"httpRoute": "a", "stickySession": {}}), "ns/r").unwrap();
        assert_eq!(
            c.sticky_session,
            Some(StickySession {
                cookie_name: "rollgate-version".into(),
                max_age: 86_400,
                mode: StickyMode::Auto
            })
        );
        let c = Config::parse(
            &json!({"httpRoute": "a", "stickySession": {"cookieName": "v", "maxAgeSeconds": 60,
                    "mode": "cookieRule"}}),
            "ns/r",
        )
        .unwrap();
        let sticky = c.sticky_session.unwrap();
        assert_eq!(
            (sticky.cookie_name.as_str(), sticky.max_age, sticky.mode),
            ("v", 60, StickyMode::CookieRule)
        );
        for (bad, says) in [
            (json!({"cookie": "v"}), "unknown field `cookie`"),
            (json!({"mode": "header"}), "unknown variant `header`"),
            (
                json!({"cookieName": "a b"}),
                "stickySession.cookieName: \"a b\" is not a cookie name",
            ),
            (
                json!({"maxAgeSeconds": 0}),
                "stickySession.maxAgeSeconds: 0 (expected 1 to",
            ),
            (json!({"maxAgeSeconds": -1}), "invalid value: integer `-1`"),
        ] {
            let err = Config::parse(&json!({"httpRoute": "a", "stickySession": bad}), "ns/r")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("rollout ns/r: plugin config: "), "{err}");
            assert!(err.contains(says), "{err}");
        }
    }
}

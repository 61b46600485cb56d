//! Credentials a caller resolved (from Secrets, through the metric's
//! `{{args.NAME}}`) and how they go on a request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use rollgate_analysis::types::Authentication;

use crate::error::Failure;

/// How a request authenticates. The caller resolves the values (from
/// Secrets); the providers only put them on the request.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
    /// `Authorization: Basic base64(USERNAME:PASSWORD)`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// The `Authorization` header's value.
    pub(crate) fn header(&self) -> Result<HeaderValue, Failure> {
        let text = match self {
            Self::Bearer(token) => format!("Bearer {token}"),
            Self::Basic { username, password } => {
                format!(
                    "Basic {}",
                    STANDARD.encode(format!("{username}:{password}"))
                )
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| Failure::Config {
            field: "authentication".to_owned(),
            problem: "the credentials hold characters a header cannot carry".to_owned(),
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The credentials a metric's `authentication` asks for, with Argo's
    /// rules: `basicAuth` with a username and no password (or the reverse)
    /// is an error; `oauth2` and `sigv4` are not supported by Rollgate yet
    /// and are refused rather than ignored.
    pub fn from_authentication(
        authentication: Option<&Authentication>,
        provider: &'static str,
    ) -> Result<Option<Self>, Failure> {
        let Some(authentication) = authentication else {
            return Ok(None);
        };
        if authentication
            .oauth2
            .as_ref()
            .is_some_and(|o| o.token_url.is_some())
        {
            return Err(Failure::Config {
                field: field(provider, "oauth2"),
                problem: "OAuth2 client credentials are not supported yet; use headers with a bearer token".to_owned(),
            });
        }
        if authentication
            .sigv4
            .as_ref()
            .is_some_and(|s| s != &Default::default())
        {
            return Err(Failure::Config {
                field: field(provider, "sigv4"),
                problem: "AWS SigV4 signing is not supported yet".to_owned(),
            });
        }
        let Some(basic) = &authentication.basic_auth else {
            return Ok(None);
        };
        let username = basic.username.clone().unwrap_or_default();
        let password = basic.password.clone().unwrap_or_default();
        match (username.is_empty(), password.is_empty()) {
            (true, true) => Ok(None),
            (true, false) => Err(Failure::Config {
                field: field(provider, "basicAuth.username"),
                problem: "missing mandatory parameter in metric for basic auth setup: username"
                    .to_owned(),
            }),
            (false, true) => Err(Failure::Config {
                field: field(provider, "basicAuth.password"),
                problem: "missing mandatory parameter in metric for basic auth setup: password"
                    .to_owned(),
            }),
            (false, false) => Ok(Some(Self::Basic { username, password })),
        }
    }
}

fn field(provider: &str, rest: &str) -> String {
    format!("provider.{provider}.authentication.{rest}")
}

#[cfg(test)]
mod tests {
    use rollgate_analysis::types::{BasicAuthConfig, OAuth2Config, Sigv4Config};

    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output_and_headers_are_sensitive() {
        let basic = Credentials::Basic {
            username: "argo".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{basic:?}").contains("s3cret"));
        assert!(!format!("{:?}", Credentials::Bearer("t0ken".into())).contains("t0ken"));
        assert!(basic.header().unwrap().is_sensitive());
    }

    #[test]
    fn oauth2_and_sigv4_are_refused_with_their_field() {
        let oauth2 = Authentication {
            oauth2: Some(OAuth2Config {
                token_url: Some("https://idp.example/token".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sigv4 = Authentication {
            sigv4: Some(Sigv4Config {
                region: Some("eu-west-1".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let error = Credentials::from_authentication(Some(&oauth2), "web").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("provider.web.authentication.oauth2: OAuth2 client credentials are not supported yet"),
            "{error}"
        );
        let error = Credentials::from_authentication(Some(&sigv4), "prometheus").unwrap_err();
        assert!(
            error.to_string().starts_with(
                "provider.prometheus.authentication.sigv4: AWS SigV4 signing is not supported yet"
            ),
            "{error}"
        );
    }

    #[test]
    fn basic_auth_needs_both_parts_or_neither() {
        let with = |username: Option<&str>, password: Option<&str>| Authentication {
            basic_auth: Some(BasicAuthConfig {
                username: username.map(str::to_owned),
                password: password.map(str::to_owned),
            }),
            ..Default::default()
        };
        assert_eq!(
            Credentials::from_authentication(Some(&with(None, None)), "web").unwrap(),
            None
        );
        let error =
            Credentials::from_authentication(Some(&with(None, Some("p"))), "web").unwrap_err();
        assert_eq!(
            error.to_string(),
            "provider.web.authentication.basicAuth.username: missing mandatory parameter in metric for basic auth setup: username"
        );
        assert_eq!(
            Credentials::from_authentication(Some(&with(Some("u"), Some("p"))), "web").unwrap(),
            Some(Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
    }
}

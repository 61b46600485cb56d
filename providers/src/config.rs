//! What both providers read from a metric the same way: headers, the
//! `Authorization` header, an address and a check that arguments were
//! substituted.

use http::header::{AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use rollgate_analysis::types::WebMetricHeader;

use crate::auth::Credentials;
use crate::error::Failure;

/// The request headers: `User-Agent`, the credentials' `Authorization`,
/// then the metric's `headers` in order, each replacing a header of the
/// same name set before it (as Argo's header round-tripper and Go's
/// `Header.Set` do). `field` is the headers' field path, such as
/// `provider.web.headers`.
pub(crate) fn headers(
    list: &[WebMetricHeader],
    credentials: Option<&Credentials>,
    field: &str,
) -> Result<HeaderMap, Failure> {
    let mut map = HeaderMap::new();
    map.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("rollgate/", env!("CARGO_PKG_VERSION"))),
    );
    if let Some(credentials) = credentials {
        map.insert(AUTHORIZATION, credentials.header()?);
    }
    for (i, header) in list.iter().enumerate() {
        let name = HeaderName::from_bytes(header.key.as_bytes()).map_err(|_| Failure::Config {
            field: format!("{field}[{i}].key"),
            problem: format!("{:?} is not an HTTP header name", header.key),
        })?;
        substituted(&header.value, &format!("{field}[{i}].value"))?;
        let value = HeaderValue::from_str(&header.value).map_err(|_| Failure::Config {
            field: format!("{field}[{i}].value"),
            problem: "expected text without control characters".to_owned(),
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

/// An `http` or `https` URL with a host.
pub(crate) fn url(text: &str, field: &str) -> Result<Uri, Failure> {
    let invalid = || Failure::Config {
        field: field.to_owned(),
        problem: format!("{text:?} is not a URL such as http://prometheus.monitoring:9090"),
    };
    let uri: Uri = text.parse().map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(uri),
        _ => Err(invalid()),
    }
}

/// An argument left as `{{args.NAME}}`: the caller substitutes arguments
/// before measuring, so one still here was never resolved.
pub(crate) fn substituted(text: &str, field: &str) -> Result<(), Failure> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inner = after[..end].trim();
        if inner.starts_with("args.") {
            return Err(Failure::Config {
                field: field.to_owned(),
                problem: format!(
                    "{{{{{inner}}}}} was not substituted: the caller resolves arguments before measuring"
                ),
            });
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

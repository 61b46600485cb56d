//! The request headers of a plugin download, from the Secrets its
//! registration names under `headersFrom`, as Argo Rollouts reads them:
//! every Secret is in the controller's namespace, and each of its `data`
//! entries is one header (the key its name, the value its value), added in
//! the order of `headersFrom`, a key repeated across Secrets sending the
//! header twice.
//!
//! Where this controller differs: a Secret whose key is not a valid header
//! name, or whose value is not a valid header value, is refused naming the
//! Secret and the key (Argo's HTTP client fails the download without
//! saying which); a header's value never appears in a message or a log.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use super::TrafficError;
use super::registry::PluginItem;

/// The headers `plugin`'s download sends: read from its `headersFrom`
/// Secrets in `namespace`. Empty, without a request, when it names none.
///
/// # Errors
///
/// [`TrafficError::PluginLoad`] naming the plugin and the Secret when a
/// Secret cannot be read or does not exist, or an entry is not a valid
/// header.
pub async fn download_headers(
    client: &Client,
    namespace: &str,
    plugin: &PluginItem,
) -> Result<HeaderMap, TrafficError> {
    let mut secrets = Vec::with_capacity(plugin.headers_from.len());
    if plugin.headers_from.is_empty() {
        return Ok(HeaderMap::new());
    }
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    for (i, entry) in plugin.headers_from.iter().enumerate() {
        let name = &entry.secret_ref.name;
        let field = format!("headersFrom[{i}].secretRef");
        let secret = api.get_opt(name).await.map_err(|e| {
            load_error(
                plugin,
                format!("{field}: Secret {namespace}/{name} cannot be read: {e}"),
            )
        })?;
        let secret = secret.ok_or_else(|| {
            load_error(
                plugin,
                format!("{field}: Secret {namespace}/{name} does not exist"),
            )
        })?;
        secrets.push((
            format!("{namespace}/{name}"),
            secret.data.unwrap_or_default(),
        ));
    }
    headers_of(plugin, &secrets)
}

/// The headers of `secrets` (each `(namespace/name, data)`), in order.
///
/// # Errors
///
/// [`TrafficError::PluginLoad`] naming the Secret and the key of an entry
/// that is not a valid header.
pub fn headers_of(
    plugin: &PluginItem,
    secrets: &[(String, BTreeMap<String, ByteString>)],
) -> Result<HeaderMap, TrafficError> {
    let mut headers = HeaderMap::new();
    for (secret, data) in secrets {
        for (key, value) in data {
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                load_error(
                    plugin,
                    format!(
                        "Secret {secret}: key {key:?} is not a valid HTTP header name \
                         (expected letters, digits and - only)"
                    ),
                )
            })?;
            let mut value = HeaderValue::from_bytes(&value.0).map_err(|_| {
                load_error(
                    plugin,
                    format!(
                        "Secret {secret}: the value of key {key:?} is not a valid HTTP header value \
                         (expected visible text without line breaks)"
                    ),
                )
            })?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
    }
    Ok(headers)
}

fn load_error(plugin: &PluginItem, message: String) -> TrafficError {
    TrafficError::PluginLoad {
        plugin: plugin.name.clone(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::registry::{HeadersFrom, SecretRef};

    fn plugin() -> PluginItem {
        PluginItem {
            name: "acme/router".into(),
            location: "https://127.0.0.1/router".into(),
            sha256: String::new(),
            args: Vec::new(),
            headers_from: vec![HeadersFrom {
                secret_ref: SecretRef {
                    name: "token".into(),
                },
            }],
        }
    }

    fn data(entries: &[(&str, &[u8])]) -> BTreeMap<String, ByteString> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
            .collect()
    }

    #[test]
    fn every_entry_of_every_secret_is_a_header_in_order() {
        let secrets = [
            (
                "argo-rollouts/token".to_owned(),
                data(&[("Authorization", b"Bearer abc"), ("X-Team", b"payments")]),
            ),
            (
                "argo-rollouts/more".to_owned(),
                data(&[("X-Team", b"platform")]),
            ),
        ];
        let headers = headers_of(&plugin(), &secrets).unwrap();
        assert_eq!(headers["authorization"], "Bearer abc");
        let teams: Vec<_> = headers.get_all("x-team").iter().collect();
        assert_eq!(teams, ["payments", "platform"]);
        assert!(headers["authorization"].is_sensitive());
    }

    #[test]
    fn an_entry_that_is_not_a_header_names_the_secret_and_key_not_the_value() {
        let err = headers_of(
            &plugin(),
            &[("ns/token".to_owned(), data(&[("bad key", b"x")]))],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "traffic router plugin \"acme/router\" cannot be loaded: Secret ns/token: key \"bad key\" \
             is not a valid HTTP header name (expected letters, digits and - only)"
        );
        let err = headers_of(
            &plugin(),
            &[(
                "ns/token".to_owned(),
                data(&[("Authorization", b"hunter2\nvalue")]),
            )],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("Secret ns/token: the value of key \"Authorization\""),
            "{text}"
        );
        assert!(
            !text.contains("hunter2"),
            "the value stays out of the message: {text}"
        );
    }
}

//! The traffic-router plugins registered for the controller, as Argo
//! Rollouts registers them: the `trafficRouterPlugins` key of the
//! `argo-rollouts-config` ConfigMap in the controller's namespace, a YAML
//! list of `name`, `location`, `sha256`, `args` and `headersFrom`.
//!
//! Argo's rules are followed: a name is `<namespace>/<name>` (letters,
//! digits and `-`, then letters, digits, `_`, `-` and `.`), and a
//! registration is looked up by that name. Which file a registration runs,
//! and how its location and `sha256` are checked, is
//! [`super::binaries`]'s job.

use serde::Deserialize;

use super::TrafficError;

/// The ConfigMap Argo Rollouts reads its plugins from.
pub const CONFIG_MAP: &str = "argo-rollouts-config";
/// The key holding the traffic-router plugins.
pub const TRAFFIC_ROUTER_PLUGINS_KEY: &str = "trafficRouterPlugins";

/// One entry of `trafficRouterPlugins`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginItem {
    /// The name Rollouts use under `trafficRouting.plugins`.
    pub name: String,
    /// `file:///path/to/binary`, or an `http://` or `https://` URL to download it from.
    pub location: String,
    /// The expected SHA-256 of the file, in hexadecimal.
    #[serde(default)]
    pub sha256: String,
    /// Arguments for the plugin process.
    #[serde(default)]
    pub args: Vec<String>,
    /// Secrets in the controller's namespace whose entries are sent as
    /// request headers when the plugin is downloaded (Argo's `headersFrom`:
    /// each key a header name, its value the header's value).
    #[serde(default)]
    pub headers_from: Vec<HeadersFrom>,
}

/// One entry of a plugin's `headersFrom`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadersFrom {
    /// The Secret the headers come from.
    pub secret_ref: SecretRef,
}

/// A Secret in the controller's namespace, by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SecretRef {
    /// The Secret's name.
    pub name: String,
}

/// Reads the `trafficRouterPlugins` value of the ConfigMap `source`
/// (`<namespace>/<name>`, for messages).
///
/// # Errors
///
/// [`TrafficError::Registry`] naming the ConfigMap and the key when the
/// value is not a YAML list of plugins, or a name is not `<namespace>/<name>`
/// (Argo's rule).
///
/// ```
/// use rollgate_controller::traffic::registry::parse;
/// let plugins = parse("- name: acme/router\n  location: file:///plugins/router\n  args: [\"-v\"]\n",
///                     "argo-rollouts/argo-rollouts-config").unwrap();
/// assert_eq!(plugins[0].name, "acme/router");
/// assert_eq!(plugins[0].args, ["-v"]);
/// let err = parse("- name: router\n  location: file:///r\n", "argo-rollouts/argo-rollouts-config").unwrap_err();
/// assert_eq!(err.to_string(), "ConfigMap argo-rollouts/argo-rollouts-config: trafficRouterPlugins[0].name: \
///     \"router\": a plugin name must be of the form <namespace>/<name>");
/// ```
pub fn parse(text: &str, source: &str) -> Result<Vec<PluginItem>, TrafficError> {
    let registry_error = |field: String, message: String| TrafficError::Registry {
        config_map: source.to_owned(),
        field,
        message,
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let plugins: Vec<PluginItem> = serde_yaml_ng::from_str(text).map_err(|e| {
        registry_error(
            TRAFFIC_ROUTER_PLUGINS_KEY.into(),
            format!(
                "expected a list of plugins, each with a name and a location: {}",
                one_line(&e.to_string())
            ),
        )
    })?;
    for (i, plugin) in plugins.iter().enumerate() {
        if !valid_name(&plugin.name) {
            return Err(registry_error(
                format!("{TRAFFIC_ROUTER_PLUGINS_KEY}[{i}].name"),
                format!(
                    "{:?}: a plugin name must be of the form <namespace>/<name>",
                    plugin.name
                ),
            ));
        }
        if let Some(j) = plugin
            .headers_from
            .iter()
            .position(|h| h.secret_ref.name.is_empty())
        {
            return Err(registry_error(
                format!("{TRAFFIC_ROUTER_PLUGINS_KEY}[{i}].headersFrom[{j}].secretRef.name"),
                "expected the name of a Secret".into(),
            ));
        }
    }
    Ok(plugins)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Argo's rule for plugin names: `<namespace>/<name>`.
///
/// ```
/// use rollgate_controller::traffic::registry::valid_name;
/// assert!(valid_name("argoproj-labs/gatewayAPI"));
/// assert!(valid_name("rollgate/journal.v2"));
/// assert!(!valid_name("journal"));
/// assert!(!valid_name("a/b/c"));
/// assert!(!valid_name("a_b/c"));
/// ```
pub fn valid_name(name: &str) -> bool {
    let Some((namespace, plugin)) = name.split_once('/') else {
        return false;
    };
    !namespace.is_empty()
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !plugin.is_empty()
        && plugin
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The SHA-256 of `bytes` in lowercase hexadecimal.
///
/// ```
/// use rollgate_controller::traffic::registry::sha256_hex;
/// assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// `bytes` in lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, b| {
            let _ = write!(text, "{b:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_of_the_wrong_shape_names_the_key() {
        let err = parse("name: x", "ns/argo-rollouts-config").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "ConfigMap ns/argo-rollouts-config: trafficRouterPlugins: expected a list of plugins"
            ),
            "{err}"
        );
        assert_eq!(parse("  \n", "ns/cm").unwrap(), Vec::new());
    }

    #[test]
    fn headers_from_names_secrets() {
        let plugins = parse(
            "- name: acme/router\n  location: https://127.0.0.1/router\n  headersFrom:\n  - secretRef:\n      name: token\n",
            "ns/cm",
        )
        .unwrap();
        assert_eq!(plugins[0].headers_from[0].secret_ref.name, "token");
        let err = parse(
            "- name: acme/router\n  location: https://127.0.0.1/router\n  headersFrom:\n  - secretRef: {}\n",
            "ns/cm",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ConfigMap ns/cm: trafficRouterPlugins"),
            "{err}"
        );
        let err = parse(
            "- name: acme/router\n  location: https://127.0.0.1/router\n  headersFrom:\n  - secretRef:\n      name: ''\n",
            "ns/cm",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap ns/cm: trafficRouterPlugins[0].headersFrom[0].secretRef.name: expected the name of a Secret"
        );
    }
}

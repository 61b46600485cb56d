//! The traffic-router plugins registered for the controller, as Argo
//! Rollouts registers them: the `trafficRouterPlugins` key of the
//! `argo-rollouts-config` ConfigMap in the controller's namespace, a YAML
//! list of `name`, `location`, `sha256` and `args`.
//!
//! Argo's rules are followed: a name is `<namespace>/<name>` (letters,
//! digits and `-`, then letters, digits, `_`, `-` and `.`), and a
//! registration is looked up by that name. Where this controller differs,
//! it says so:
//!
//! * Only `file://` locations are run. Argo downloads `http(s)://`
//!   locations at start-up; this controller does not download anything, so
//!   such a plugin is refused with a message saying to use a `file://`
//!   location.
//! * The file is run where it is, not copied into a plugin directory.
//! * `sha256`, when given, is checked for `file://` locations too (Argo
//!   checks it only after a download), before the process starts; it must
//!   be 64 hexadecimal digits (Argo compares other lengths against a digest
//!   it computes differently, which can never match a real file's).

use std::path::{Path, PathBuf};

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
    /// `file:///path/to/binary` (or, in Argo, an `http(s)` URL).
    pub location: String,
    /// The expected SHA-256 of the file, in hexadecimal.
    #[serde(default)]
    pub sha256: String,
    /// Arguments for the plugin process.
    #[serde(default)]
    pub args: Vec<String>,
    /// Argo's `headersFrom` (used for downloads only; ignored here).
    #[serde(default, rename = "headersFrom")]
    pub headers_from: Option<serde_json::Value>,
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

/// The binary a registration runs, checked: a `file://` location naming a
/// regular file whose SHA-256 is `sha256` when that is given.
///
/// # Errors
///
/// [`TrafficError::PluginLoad`] naming the plugin: another scheme, a file
/// that cannot be read, a `sha256` that is not 64 hexadecimal digits or that
/// does not match.
pub fn binary(plugin: &PluginItem) -> Result<PathBuf, TrafficError> {
    let load_error = |message: String| TrafficError::PluginLoad {
        plugin: plugin.name.clone(),
        message,
    };
    let Some(path) = plugin.location.strip_prefix("file://") else {
        let message =
            if plugin.location.starts_with("http://") || plugin.location.starts_with("https://") {
                format!(
                    "location {:?}: rollgate-controller does not download plugins; \
                 put the binary on the controller's file system and use a file:// location",
                    plugin.location
                )
            } else {
                format!(
                    "location {:?}: expected a file:// location",
                    plugin.location
                )
            };
        return Err(load_error(message));
    };
    let path = Path::new(path);
    let bytes = std::fs::read(path).map_err(|e| {
        load_error(format!(
            "location {:?}: cannot read {}: {e}",
            plugin.location,
            path.display()
        ))
    })?;
    if !plugin.sha256.is_empty() {
        let expected = plugin.sha256.to_ascii_lowercase();
        if expected.len() != 64 || !expected.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(load_error(format!(
                "sha256 {:?}: expected 64 hexadecimal digits",
                plugin.sha256
            )));
        }
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(load_error(format!(
                "sha256 of {} is {actual}, not the registered {expected}",
                path.display()
            )));
        }
    }
    Ok(path.to_path_buf())
}

/// The SHA-256 of `bytes` in lowercase hexadecimal.
///
/// ```
/// use rollgate_controller::traffic::registry::sha256_hex;
/// assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(location: String, sha256: &str) -> PluginItem {
        PluginItem {
            name: "acme/router".into(),
            location,
            sha256: sha256.into(),
            args: Vec::new(),
            headers_from: None,
        }
    }

    #[test]
    fn a_file_location_is_checked_against_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("router");
        std::fs::write(&path, b"#!/bin/sh\n").unwrap();
        let location = format!("file://{}", path.display());
        let good = sha256_hex(b"#!/bin/sh\n");
        assert_eq!(binary(&item(location.clone(), "")).unwrap(), path);
        assert_eq!(
            binary(&item(location.clone(), &good.to_uppercase())).unwrap(),
            path
        );
        let bad = "0".repeat(64);
        let err = binary(&item(location.clone(), &bad)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "traffic router plugin \"acme/router\" cannot be loaded: sha256 of {} is {good}, not the registered {bad}",
                path.display()
            )
        );
        let err = binary(&item(location, "abc")).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("sha256 \"abc\": expected 64 hexadecimal digits"),
            "{err}"
        );
    }

    #[test]
    fn other_locations_are_refused_naming_the_plugin() {
        let err = binary(&item("https://example.com/router".into(), "")).unwrap_err();
        assert!(
            err.to_string().contains("does not download plugins"),
            "{err}"
        );
        let err = binary(&item("file:///nonexistent/router".into(), "")).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "traffic router plugin \"acme/router\" cannot be loaded: location \"file:///nonexistent/router\": cannot read"
            ),
            "{err}"
        );
    }

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
}

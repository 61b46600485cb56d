//! Which file a plugin registration runs, checked: a `file://` location
//! as it is, or an `http://` / `https://` location downloaded into the
//! plugin directory.
//!
//! Argo Rollouts' rules, and where this controller differs:
//!
//! * A download goes to `<plugin directory>/<namespace>/<name>` for the
//!   plugin `<namespace>/<name>` (Argo's naming), directories and file
//!   with mode 0700. Argo's directory is `plugin-bin` in its working
//!   directory (`/home/argo-rollouts/plugin-bin` in its image); this
//!   controller's is `--plugin-dir`, by default [`default_plugin_dir`].
//! * Argo downloads every registered plugin at start-up and refuses to
//!   start when one fails. This controller downloads a plugin when a
//!   Rollout first names it, once per (name, location, sha256): a failed
//!   download is the Rollout's `TrafficRouting` condition and is tried
//!   again with the Rollout's backoff. A file already in the plugin
//!   directory with the registered `sha256` is used without downloading it
//!   again.
//! * `sha256`, when given, is checked after the download (as in Argo) and
//!   again on the file just before every start, and for `file://`
//!   locations too (Argo checks it only after a download). A download that
//!   does not match is deleted and never run. As in Argo, a registration
//!   without `sha256` is run unchecked. It must be 64 hexadecimal digits
//!   (Argo compares other lengths against a digest it computes
//!   differently, which can never match a real file's).
//! * A `file://` location is run where it is, not copied into the plugin
//!   directory.
//! * The download's size and duration are bounded ([`Limits`]; Argo's
//!   are not).
//! * `headersFrom`: the download sends the entries of the Secrets it
//!   names as request headers ([`super::headers`]), as Argo does; on a
//!   redirect to another host the credentials among them are dropped
//!   ([`super::download`]).

use std::collections::HashMap;
use std::io::Read as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use http::HeaderMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::TrafficError;
use super::download::{self, Limits};
use super::registry::{PluginItem, hex};

/// The plugin directory when `--plugin-dir` is not given:
/// `rollgate-plugin-bin` in the system's temporary directory (`$TMPDIR`,
/// else `/tmp`), which is writable in a container whose root file system
/// is read-only once `/tmp` is an `emptyDir`.
///
/// ```
/// use rollgate_controller::traffic::binaries::default_plugin_dir;
/// assert!(default_plugin_dir().ends_with("rollgate-plugin-bin"));
/// ```
pub fn default_plugin_dir() -> PathBuf {
    std::env::temp_dir().join("rollgate-plugin-bin")
}

/// The files registered plugins run, downloading those that need it.
#[derive(Debug)]
pub struct PluginBinaries {
    dir: PathBuf,
    limits: Limits,
    /// Downloaded files by (name, location, sha256).
    downloaded: tokio::sync::Mutex<HashMap<(String, String, String), PathBuf>>,
}

/// Distinguishes the partial files of downloads in flight.
static DOWNLOADS: AtomicU64 = AtomicU64::new(0);

impl PluginBinaries {
    /// Downloads go into `dir` (created when needed), within `limits`.
    pub fn new(dir: PathBuf, limits: Limits) -> Self {
        Self {
            dir,
            limits,
            downloaded: tokio::sync::Mutex::default(),
        }
    }

    /// The file `plugin` runs, checked against its `sha256` when that is
    /// given; downloaded first, sending `headers` (those of its
    /// `headersFrom`), for an `http(s)` location not yet downloaded.
    ///
    /// # Errors
    ///
    /// [`TrafficError::PluginLoad`] naming the plugin, its location and
    /// what failed: another scheme, a file that cannot be read, a `sha256`
    /// that is not 64 hexadecimal digits or does not match, a failed
    /// download.
    pub async fn binary(
        &self,
        plugin: &PluginItem,
        headers: &HeaderMap,
    ) -> Result<PathBuf, TrafficError> {
        let expected = expected_sha256(plugin)?;
        let location = plugin.location.as_str();
        let path = if let Some(path) = location.strip_prefix("file://") {
            PathBuf::from(path)
        } else if location.starts_with("http://") || location.starts_with("https://") {
            self.downloaded_file(plugin, expected.as_deref(), headers)
                .await?
        } else {
            return Err(load_error(
                plugin,
                "expected a file://, http:// or https:// location".into(),
            ));
        };
        check_file(plugin, &path, expected.as_deref())?;
        Ok(path)
    }

    /// The downloaded file of `plugin`: downloaded now unless it was for
    /// this registration, or a file with the expected digest is there.
    async fn downloaded_file(
        &self,
        plugin: &PluginItem,
        expected: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<PathBuf, TrafficError> {
        let key = (
            plugin.name.clone(),
            plugin.location.clone(),
            expected.unwrap_or_default().to_owned(),
        );
        let mut downloaded = self.downloaded.lock().await;
        if let Some(path) = downloaded.get(&key)
            && path.is_file()
        {
            return Ok(path.clone());
        }
        let (namespace, name) = plugin
            .name
            .split_once('/')
            .ok_or_else(|| load_error(plugin, "a plugin name must be <namespace>/<name>".into()))?;
        let directory = self.dir.join(namespace);
        let path = directory.join(name);
        if let Some(expected) = expected
            && file_sha256(&path).is_ok_and(|actual| actual == expected)
        {
            tracing::info!(plugin = %plugin.name, path = %path.display(), "using the plugin already downloaded");
            downloaded.insert(key, path.clone());
            return Ok(path);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&directory)
            .map_err(|e| {
                load_error(
                    plugin,
                    format!(
                        "cannot create the plugin directory {}: {e}",
                        directory.display()
                    ),
                )
            })?;
        let partial = directory.join(format!(
            ".{name}.download-{}-{}",
            std::process::id(),
            DOWNLOADS.fetch_add(1, Ordering::Relaxed)
        ));
        tracing::info!(plugin = %plugin.name, location = %plugin.location, "downloading plugin");
        let result = self
            .download_to(plugin, &partial, expected, &path, headers)
            .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result?;
        downloaded.insert(key, path.clone());
        Ok(path)
    }

    /// Downloads `plugin` into `partial`, checks it and moves it to `path`.
    async fn download_to(
        &self,
        plugin: &PluginItem,
        partial: &Path,
        expected: Option<&str>,
        path: &Path,
        headers: &HeaderMap,
    ) -> Result<(), TrafficError> {
        let location = &plugin.location;
        let file = download::download(location, partial, &self.limits, headers)
            .await
            .map_err(|e| {
                load_error(
                    plugin,
                    format!("location {location:?}: download failed: {e}"),
                )
            })?;
        if let Some(expected) = expected
            && file.sha256 != expected
        {
            return Err(load_error(
                plugin,
                format!(
                    "location {location:?}: the downloaded file's sha256 is {}, not the registered {expected}; \
                     it is deleted and not run",
                    file.sha256
                ),
            ));
        }
        std::fs::rename(partial, path).map_err(|e| {
            load_error(
                plugin,
                format!(
                    "location {location:?}: cannot move the download to {}: {e}",
                    path.display()
                ),
            )
        })?;
        tracing::info!(plugin = %plugin.name, path = %path.display(), bytes = file.bytes, "plugin downloaded");
        Ok(())
    }
}

fn load_error(plugin: &PluginItem, message: String) -> TrafficError {
    TrafficError::PluginLoad {
        plugin: plugin.name.clone(),
        message,
    }
}

/// The registered `sha256` in lowercase, checked to be 64 hexadecimal digits.
fn expected_sha256(plugin: &PluginItem) -> Result<Option<String>, TrafficError> {
    if plugin.sha256.is_empty() {
        return Ok(None);
    }
    let expected = plugin.sha256.to_ascii_lowercase();
    if expected.len() != 64 || !expected.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(load_error(
            plugin,
            format!("sha256 {:?}: expected 64 hexadecimal digits", plugin.sha256),
        ));
    }
    Ok(Some(expected))
}

/// Checks that `path` is a readable file with the digest `expected`, if given.
fn check_file(
    plugin: &PluginItem,
    path: &Path,
    expected: Option<&str>,
) -> Result<(), TrafficError> {
    let actual = file_sha256(path).map_err(|e| {
        load_error(
            plugin,
            format!(
                "location {:?}: cannot read {}: {e}",
                plugin.location,
                path.display()
            ),
        )
    })?;
    match expected {
        Some(expected) if actual != expected => Err(load_error(
            plugin,
            format!(
                "sha256 of {} is {actual}, not the registered {expected}",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// The SHA-256 of the file at `path`, read in pieces.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        digest.update(&buffer[..read]);
    }
    Ok(hex(digest.finish().as_ref()))
}

#[cfg(test)]
mod tests;

use std::os::unix::fs::PermissionsExt as _;

use axum::Router;
use axum::routing::get;

use super::*;
use crate::traffic::registry::sha256_hex;
use crate::traffic::test_server::{Hits, serve};
use http::HeaderMap;

const PLUGIN: &[u8] = b"#!/bin/sh\necho plugin\n";

fn item(location: String, sha256: &str) -> PluginItem {
    PluginItem {
        name: "acme/router".into(),
        location,
        sha256: sha256.into(),
        args: Vec::new(),
        headers_from: Vec::new(),
    }
}

/// A server of the plugin at `/plugin` and of other bytes at `/other`,
/// counting the requests for each.
async fn plugin_server() -> (String, Hits, Hits) {
    let (plugin, other) = (Hits::default(), Hits::default());
    let router = Router::new()
        .route(
            "/plugin",
            get({
                let hits = plugin.clone();
                move || async move {
                    hits.hit();
                    PLUGIN
                }
            }),
        )
        .route(
            "/other",
            get({
                let hits = other.clone();
                move || async move {
                    hits.hit();
                    &b"#!/bin/sh\necho something else\n"[..]
                }
            }),
        );
    (serve(router).await, plugin, other)
}

/// The files in `dir`, recursively, as paths relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn a_download_is_checked_stored_as_argo_names_it_and_made_once() {
    let (base, hits, _) = plugin_server().await;
    let dir = tempfile::tempdir().unwrap();
    let binaries = PluginBinaries::new(dir.path().join("plugin-bin"), Limits::default());
    let plugin = item(format!("{base}/plugin"), &sha256_hex(PLUGIN).to_uppercase());
    let path = binaries.binary(&plugin, &HeaderMap::new()).await.unwrap();
    assert_eq!(path, dir.path().join("plugin-bin/acme/router"));
    assert_eq!(std::fs::read(&path).unwrap(), PLUGIN);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o700);
    assert_eq!(mode(&dir.path().join("plugin-bin/acme")), 0o700);
    assert_eq!(hits.count(), 1);
    // The same registration again: no request.
    assert_eq!(
        binaries.binary(&plugin, &HeaderMap::new()).await.unwrap(),
        path
    );
    assert_eq!(hits.count(), 1);
    // Without a sha256 it is another registration: downloaded again, run unchecked (as Argo).
    let unchecked = item(format!("{base}/plugin"), "");
    assert_eq!(
        binaries
            .binary(&unchecked, &HeaderMap::new())
            .await
            .unwrap(),
        path
    );
    assert_eq!(hits.count(), 2);
    assert_eq!(
        binaries
            .binary(&unchecked, &HeaderMap::new())
            .await
            .unwrap(),
        path
    );
    assert_eq!(hits.count(), 2);
    // A new controller finds the file with the registered digest and does not download it.
    let restarted = PluginBinaries::new(dir.path().join("plugin-bin"), Limits::default());
    assert_eq!(
        restarted.binary(&plugin, &HeaderMap::new()).await.unwrap(),
        path
    );
    assert_eq!(hits.count(), 2);
    assert_eq!(files(dir.path()), ["plugin-bin/acme/router"]);
}

#[tokio::test]
async fn a_download_that_does_not_match_its_sha256_is_deleted_and_never_run() {
    let (base, _, other) = plugin_server().await;
    let dir = tempfile::tempdir().unwrap();
    let binaries = PluginBinaries::new(dir.path().to_path_buf(), Limits::default());
    let location = format!("{base}/other");
    let expected = sha256_hex(PLUGIN);
    let err = binaries
        .binary(&item(location.clone(), &expected), &HeaderMap::new())
        .await
        .unwrap_err();
    let actual = sha256_hex(b"#!/bin/sh\necho something else\n");
    assert_eq!(
        err.to_string(),
        format!(
            "traffic router plugin \"acme/router\" cannot be loaded: location {location:?}: \
             the downloaded file's sha256 is {actual}, not the registered {expected}; it is deleted and not run"
        )
    );
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    // Not remembered: the next try downloads again.
    binaries
        .binary(&item(location, &expected), &HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(other.count(), 2);
}

#[tokio::test]
async fn a_file_changed_after_its_download_is_not_run() {
    let (base, _, _) = plugin_server().await;
    let dir = tempfile::tempdir().unwrap();
    let binaries = PluginBinaries::new(dir.path().to_path_buf(), Limits::default());
    let plugin = item(format!("{base}/plugin"), &sha256_hex(PLUGIN));
    let path = binaries.binary(&plugin, &HeaderMap::new()).await.unwrap();
    std::fs::write(&path, b"#!/bin/sh\necho replaced\n").unwrap();
    // Remembered as downloaded, but checked again before it runs.
    let err = binaries
        .binary(&plugin, &HeaderMap::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "sha256 of {} is {}",
            path.display(),
            sha256_hex(b"#!/bin/sh\necho replaced\n")
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_failed_download_names_the_plugin_and_the_location_and_leaves_nothing() {
    let (base, _, _) = plugin_server().await;
    let dir = tempfile::tempdir().unwrap();
    let binaries = PluginBinaries::new(dir.path().to_path_buf(), Limits::default());
    let location = format!("{base}/missing");
    let err = binaries
        .binary(&item(location.clone(), ""), &HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "traffic router plugin \"acme/router\" cannot be loaded: location {location:?}: \
             download failed: GET {location} answered 404 Not Found"
        )
    );
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn a_file_location_is_checked_against_its_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let binaries = PluginBinaries::new(dir.path().join("plugin-bin"), Limits::default());
    let path = dir.path().join("router");
    std::fs::write(&path, b"#!/bin/sh\n").unwrap();
    let location = format!("file://{}", path.display());
    let good = sha256_hex(b"#!/bin/sh\n");
    assert_eq!(
        binaries
            .binary(&item(location.clone(), ""), &HeaderMap::new())
            .await
            .unwrap(),
        path
    );
    assert_eq!(
        binaries
            .binary(
                &item(location.clone(), &good.to_uppercase()),
                &HeaderMap::new()
            )
            .await
            .unwrap(),
        path
    );
    let bad = "0".repeat(64);
    let err = binaries
        .binary(&item(location.clone(), &bad), &HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "traffic router plugin \"acme/router\" cannot be loaded: sha256 of {} is {good}, not the registered {bad}",
            path.display()
        )
    );
    let err = binaries
        .binary(&item(location, "abc"), &HeaderMap::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("sha256 \"abc\": expected 64 hexadecimal digits"),
        "{err}"
    );
    assert!(
        !dir.path().join("plugin-bin").exists(),
        "a file:// location is not copied"
    );
}

#[tokio::test]
async fn other_locations_are_refused_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let binaries = PluginBinaries::new(dir.path().to_path_buf(), Limits::default());
    let err = binaries
        .binary(
            &item("ftp://127.0.0.1/router".into(), ""),
            &HeaderMap::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "traffic router plugin \"acme/router\" cannot be loaded: expected a file://, http:// or https:// location"
    );
    let err = binaries
        .binary(
            &item("file:///nonexistent/router".into(), ""),
            &HeaderMap::new(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "traffic router plugin \"acme/router\" cannot be loaded: location \"file:///nonexistent/router\": cannot read"
        ),
        "{err}"
    );
}

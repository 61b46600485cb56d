//! The workspace's binaries for tests that run them as processes.
//!
//! An integration test sees only its own package's binaries
//! (`CARGO_BIN_EXE_<name>`); a test that runs another package's binary (a
//! plugin under Argo's controller, the controller itself, the journal
//! router) asks [`workspace_binary`] for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The path of binary `bin` of workspace package `package`, built first with
/// `cargo build -p <package> --bin <bin>` (a no-op when it is up to date), in
/// the target directory of the running test (`CARGO_TARGET_DIR` as the test
/// was run with, else the workspace's). Built at most once per test process,
/// however many tests ask at the same time.
///
/// # Panics
///
/// When cargo cannot be run or the build fails: a test that needs the binary
/// cannot run without it.
///
/// ```no_run
/// let plugin = rollgate_testkit::workspace_binary("rollgate-nginx", "rollgate-nginx");
/// assert!(plugin.ends_with("rollgate-nginx"));
/// ```
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = built.get(bin) {
        return path.clone();
    }
    // A test executable is target/<profile>/deps/<test>-<hash>.
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .expect("the test executable sits in target/<profile>/deps");
    let target_dir = profile_dir
        .parent()
        .expect("target/<profile> has a parent")
        .to_path_buf();
    let release = profile_dir.file_name().is_some_and(|p| p == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .arg("--target-dir")
        .arg(&target_dir);
    if release {
        command.arg("--release");
    }
    let status = command.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build -p {package} --bin {bin} failed ({status})"
    );
    let path = profile_dir.join(bin);
    assert!(
        path.exists(),
        "cargo built {bin} but {} is missing",
        path.display()
    );
    built.insert(bin.to_owned(), path.clone());
    path
}

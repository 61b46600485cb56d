//! The `decide` example prints the first decision of an update, and names
//! the file, line and field of a problem.

use std::process::Command;

fn decide(file: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_decide"))
        .arg(file)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("the example runs")
}

#[test]
fn the_first_step_of_an_update() {
    let out = decide("examples/manifests/seed001-rollout-canary.yaml");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("scale ReplicaSet canary (Current) to 1 pods"),
        "{stdout}"
    );
    assert!(
        stdout.contains("scale ReplicaSet stable (Stable) to 2 pods"),
        "{stdout}"
    );
    assert!(stdout.contains("phase Progressing"), "{stdout}");
}

#[test]
fn an_invalid_rollout_is_reported_by_line() {
    let out = decide("rollout-core/tests/data/invalid-rollout.yaml");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rollout-core/tests/data/invalid-rollout.yaml"
    );
    let line = 1 + std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.contains("- setWeight: 250"))
        .unwrap();
    let want = format!(
        "invalid-rollout.yaml:{line}: shop/web: spec.strategy.canary.steps[3].setWeight: 250"
    );
    assert!(stderr.contains(&want), "{stderr}");
}

#[test]
fn a_blue_green_update_starts_behind_the_preview_service() {
    let out = decide("examples/manifests/seed000-notifications-service-bluegreen.yaml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("scale ReplicaSet canary (Current) to 0 pods"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Service notifications-service-green selects canary"),
        "{stdout}"
    );
    assert!(!stdout.contains("basic canary"), "{stdout}");
    assert!(!stdout.contains("RolloutCompleted"), "{stdout}");
}

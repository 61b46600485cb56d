//! `rollgate`'s live verbs on the real-cluster tier (`ROLLGATE_E2E=1`; see
//! `scripts/cluster`), side by side with the real `kubectl argo rollouts`.
//!
//! Each test runs under Argo's controller and under rollgate-controller. In
//! its namespace two identical basic canaries are created, `ours` (driven
//! by `rollgate`) and `theirs` (driven by kubectl-argo-rollouts); every
//! verb is run on both, and once both have settled the fields the verb
//! acts on (spec and status) must be the same. `get rollout`, `list
//! rollouts` and `status` must print the same content: the header lines
//! of `get` word for word, its tree row by row with names, ages and
//! scale-down delays left out (pod names are random; our columns are as
//! wide as their content where kubectl-argo-rollouts pads them to fixed
//! widths, so whitespace is not compared), the `list` columns after NAME,
//! and `status` lines word for word. `status` exits 0 Healthy, 1 Degraded
//! and 2 on timeout (kubectl-argo-rollouts exits 1 on timeout: the one
//! deliberate difference).

mod pair;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rollgate_e2e::{Under, scenario};
use serde_json::json;

use pair::{OURS, PATIENCE, Pair, THEIRS, healthy_with, paused_at_step_1, phase, text};

/// set image, the views at a pause, status timing out, pause, promote,
/// status Healthy.
async fn update_pause_promote(under: Under) {
    let Some(pair) = Pair::new("cli-update", under).await else {
        return;
    };
    pair.settle("Healthy", healthy_with("nginx:1.27")).await;
    pair.same_views().await;
    pair.status_exits(0);

    let (ours, theirs) = pair.both(
        &["set", "image", "{}", "app=nginx:1.28"],
        &["set", "image", "{}", "app=nginx:1.28"],
    );
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    let paused = pair.settle("paused at step 1", paused_at_step_1).await;
    assert_eq!(paused["pauseReasons"], json!(["CanaryPauseStep"]));
    pair.same_views().await;
    // Paused is not final: the wait times out.
    pair.status_exits(2);

    let (ours, theirs) = pair.both(&["pause", "{}"], &["pause", "{}"]);
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    let manual = pair
        .settle("manually paused", |o| o["spec"]["paused"] == true)
        .await;
    assert_eq!(manual["paused"], true);
    pair.same_views().await;

    // kubectl-argo-rollouts sends the status part of promote before the
    // spec part: when Argo's controller reconciles in between, it pauses at
    // the step again and a second promote is needed. `rollgate` sends the
    // spec part first, so one promote always goes on (see `live::act`).
    let (ours, theirs) = pair.both(&["promote", "{}"], &["promote", "{}"]);
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    pair.until(OURS, "promoted at once", healthy_with("nginx:1.28"))
        .await;
    let theirs = pair
        .until(THEIRS, "un-paused", |o| {
            o["spec"]["paused"] == false && (healthy_with("nginx:1.28")(o) || paused_at_step_1(o))
        })
        .await;
    if phase(&theirs) == "Paused" {
        eprintln!("{under:?}: kubectl-argo-rollouts' promote paused again: promoting again");
        assert!(pair.theirs(&["promote", THEIRS]).status.success());
    }
    let done = pair.settle("promoted", healthy_with("nginx:1.28")).await;
    assert_eq!(
        (done["paused"].clone(), done["currentStepIndex"].clone()),
        (json!(false), json!(2))
    );
    pair.same_views().await;
    pair.status_exits(0);
}

/// abort (status exits 1), retry, promote --full, undo, restart, and
/// resume against kubectl-argo-rollouts' promote.
async fn abort_retry_full_undo_restart(under: Under) {
    let Some(pair) = Pair::new("cli-abort", under).await else {
        return;
    };
    pair.settle("Healthy", healthy_with("nginx:1.27")).await;
    pair.both(
        &["set", "image", "{}", "app=nginx:1.28"],
        &["set", "image", "{}", "app=nginx:1.28"],
    );
    pair.settle("paused at step 1", paused_at_step_1).await;

    let (ours, theirs) = pair.both(&["abort", "{}"], &["abort", "{}"]);
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    let aborted = pair
        .settle("aborted", |o| {
            phase(o) == "Degraded"
                && o["status"]["abort"] == true
                && o["status"]["updatedReplicas"].as_i64().unwrap_or(0) == 0
                && o["status"]["availableReplicas"] == 2
        })
        .await;
    assert_eq!(aborted["abort"], true);
    pair.same_views().await;
    pair.status_exits(1);

    let (ours, theirs) = pair.both(&["retry", "rollout", "{}"], &["retry", "rollout", "{}"]);
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    pair.settle("retried, paused at step 1", paused_at_step_1)
        .await;

    let (ours, theirs) = pair.both(&["promote", "{}", "--full"], &["promote", "{}", "--full"]);
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    pair.settle("fully promoted", healthy_with("nginx:1.28"))
        .await;
    pair.same_views().await;

    // Back to revision 1's template: the steps run again.
    let (ours, theirs) = pair.both(&["undo", "{}"], &["undo", "{}"]);
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    let undone = pair
        .settle("undone, paused at step 1", |o| {
            paused_at_step_1(o)
                && o["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
        })
        .await;
    assert_eq!(undone["image"], "nginx:1.27");
    pair.same_views().await;
    // And forward by revision number, to the stable template: promoted at
    // once, as a rollback to the stable ReplicaSet skips the steps.
    let (ours, theirs) = pair.both(
        &["undo", "{}", "--to-revision", "2"],
        &["undo", "{}", "--to-revision", "2"],
    );
    assert_eq!(ours.replace(OURS, THEIRS), theirs);
    pair.settle("undone to revision 2", healthy_with("nginx:1.28"))
        .await;

    // `resume` is the patch kubectl-argo-rollouts' `promote` sends.
    pair.both(&["pause", "{}"], &["pause", "{}"]);
    pair.settle("manually paused", |o| {
        phase(o) == "Paused" && o["spec"]["paused"] == true
    })
    .await;
    let (ours, theirs) = pair.both(&["resume", "{}"], &["promote", "{}"]);
    assert_eq!(ours, format!("rollout '{OURS}' resumed\n"));
    assert_eq!(theirs, format!("rollout '{THEIRS}' promoted\n"));
    pair.settle("resumed", |o| {
        healthy_with("nginx:1.28")(o) && o["spec"]["paused"] == false
    })
    .await;

    let (ours, theirs) = pair.both(&["restart", "{}"], &["restart", "{}"]);
    assert_eq!(ours, format!("rollout '{OURS}' restarts in 0s\n"));
    assert_eq!(theirs, format!("rollout '{THEIRS}' restarts in 0s\n"));
    pair.settle("restarted", |o| {
        healthy_with("nginx:1.28")(o) && o["status"]["restartedAt"].is_string()
    })
    .await;
    pair.same_views().await;

    // A container the template lacks: an error naming it, nothing changed.
    let before = pair.read(OURS).await;
    let out = pair.rollgate(&["set", "image", OURS, "api=nginx:1.29"]);
    assert_eq!(out.status.code(), Some(1));
    let namespace = &pair.scene.cluster.namespace;
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: rollout {namespace}/{OURS}: no container named \"api\" in spec.template.spec \
             (it has app); use one of them, or * for all\n"
        )
    );
    assert_eq!(
        before["metadata"]["resourceVersion"],
        pair.read(OURS).await["metadata"]["resourceVersion"]
    );
}

/// `get rollout --watch` draws again as the Rollout changes and stops at
/// `--timeout`; `status` with `--watch` prints each change until Healthy.
async fn watch_follows_changes(under: Under) {
    let Some(pair) = Pair::new("cli-watch", under).await else {
        return;
    };
    pair.settle("Healthy", healthy_with("nginx:1.27")).await;
    let namespace = pair.scene.cluster.namespace.clone();
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args(args)
            .args(["-n", &namespace])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run rollgate")
    };
    let started = Instant::now();
    let mut get = spawn(&["get", "rollout", OURS, "--watch", "--timeout", "40s"]);
    // What `get --watch` has printed so far, read as it comes.
    let drawn = Arc::new(Mutex::new(String::new()));
    let reader = {
        let drawn = Arc::clone(&drawn);
        let stdout = get.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut drawn = drawn.lock().unwrap();
                drawn.push_str(&line);
                drawn.push('\n');
            }
        })
    };
    let drew = |what: &'static str, check: fn(&str) -> bool| {
        let drawn = Arc::clone(&drawn);
        async move {
            let waited = Instant::now();
            while !drawn.lock().unwrap().lines().any(check) {
                assert!(
                    waited.elapsed() < PATIENCE,
                    "{under:?}: get --watch did not draw {what}:\n{}",
                    drawn.lock().unwrap()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    drew("the first frame", |l| l.starts_with("Status:")).await;
    pair.both(
        &["set", "image", "{}", "app=nginx:1.28"],
        &["set", "image", "{}", "app=nginx:1.28"],
    );
    // Started once the update is under way, so that it waits for it.
    let status = spawn(&["status", OURS, "--timeout", "120s"]);
    pair.settle("paused at step 1", paused_at_step_1).await;
    drew("the pause", |l| {
        l.starts_with("Status:") && l.ends_with("Paused")
    })
    .await;
    pair.both(&["promote", "{}"], &["promote", "{}"]);
    pair.settle("promoted", healthy_with("nginx:1.28")).await;

    let status = status.wait_with_output().expect("status ends");
    assert_eq!(status.status.code(), Some(0));
    let lines = text(&status.stdout);
    assert_ne!(lines.lines().next(), Some("Healthy"), "{lines}");
    assert!(lines.contains("Paused - CanaryPauseStep\n"), "{lines}");
    assert_eq!(lines.lines().last(), Some("Healthy"), "{lines}");

    let ended = get.wait().expect("get --watch ends");
    assert!(ended.success());
    assert!(started.elapsed() >= Duration::from_secs(40));
    reader.join().expect("read get --watch");
    let frames = drawn.lock().unwrap().clone();
    let statuses: Vec<&str> = frames
        .lines()
        .filter(|l| l.starts_with("Status:"))
        .collect();
    assert!(statuses.len() > 2, "{frames}");
    assert!(statuses.iter().any(|s| s.ends_with("Paused")), "{frames}");
    assert!(
        statuses.last().is_some_and(|s| s.ends_with("Healthy")),
        "{frames}"
    );
    assert!(frames.contains("# revision:2"), "{frames}");
}

scenario!(update_pause_promote);
scenario!(abort_retry_full_undo_restart);
scenario!(watch_follows_changes);

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

use std::io::{BufRead, BufReader};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use rollgate_e2e::{Scene, Under, scenario};
use serde_json::{Value, json};

/// How long one wait may take: generous, as the machine is shared.
const PATIENCE: Duration = Duration::from_secs(150);

/// The two Rollouts: driven by `rollgate`, and by kubectl-argo-rollouts.
const OURS: &str = "ours";
const THEIRS: &str = "theirs";

fn manifest(name: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
        },
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A side-by-side run in one namespace under one controller.
struct Pair {
    scene: Scene,
}

impl Pair {
    async fn new(name: &str, under: Under) -> Option<Self> {
        let mut scene = Scene::new(name, under, OURS).await?;
        scene.start_basic().await;
        for name in [OURS, THEIRS] {
            scene.cluster.create(manifest(name)).await;
        }
        Some(Self { scene })
    }

    fn rollouts(&self) -> Api<DynamicObject> {
        self.scene.rollouts()
    }

    /// `rollgate ARGS -n NAMESPACE`, as a user types it.
    fn rollgate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args(args)
            .args(["-n", &self.scene.cluster.namespace])
            .output()
            .expect("run rollgate")
    }

    /// `kubectl argo rollouts ARGS -n NAMESPACE`, whatever its exit code.
    fn theirs(&self, args: &[&str]) -> Output {
        let plugin = std::env::var("ROLLGATE_KUBECTL_ARGO_ROLLOUTS")
            .expect("ROLLGATE_KUBECTL_ARGO_ROLLOUTS (scripts/cluster env)");
        Command::new(plugin)
            .args(args)
            .args(["-n", &self.scene.cluster.namespace])
            .output()
            .expect("run kubectl-argo-rollouts")
    }

    /// Runs `verb` with `rollgate` on `ours` and with kubectl-argo-rollouts
    /// on `theirs` (`{}` in the arguments stands for the Rollout); both must
    /// succeed. Returns what each printed.
    fn both(&self, ours: &[&str], theirs: &[&str]) -> (String, String) {
        let fill = |args: &[&str], name: &str| -> Vec<String> {
            args.iter().map(|a| a.replace("{}", name)).collect()
        };
        let ours_args = fill(ours, OURS);
        let out = self.rollgate(&ours_args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            out.status.success(),
            "{:?}: rollgate {ours_args:?}: {}",
            self.scene.under,
            text(&out.stderr)
        );
        let theirs_args = fill(theirs, THEIRS);
        let their = self.theirs(&theirs_args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            their.status.success(),
            "{:?}: kubectl argo rollouts {theirs_args:?}: {}",
            self.scene.under,
            text(&their.stderr)
        );
        (text(&out.stdout), text(&their.stdout))
    }

    async fn read(&self, name: &str) -> Value {
        let object = self.rollouts().get(name).await.expect("read a Rollout");
        serde_json::to_value(object).expect("a Rollout as JSON")
    }

    /// Waits until `check` holds for Rollout `name`; returns it.
    async fn until(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let o = self.read(name).await;
            if check(&o) {
                eprintln!(
                    "{:?}: {name}: {what}: after {:?}",
                    self.scene.under,
                    started.elapsed()
                );
                return o;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{:?}: {name}: {what}: not within {PATIENCE:?}\n{:#}",
                self.scene.under,
                fields(&o)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until `check` holds for both Rollouts and their fields are the
    /// same; returns those fields.
    async fn settle(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (ours, theirs) = (self.read(OURS).await, self.read(THEIRS).await);
            if check(&ours) && check(&theirs) && fields(&ours) == fields(&theirs) {
                eprintln!(
                    "{:?}: {what}: after {:?}",
                    self.scene.under,
                    started.elapsed()
                );
                return fields(&ours);
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{:?}: {what}: not within {PATIENCE:?}\nours: {:#}\ntheirs: {:#}",
                self.scene.under,
                fields(&ours),
                fields(&theirs)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `get rollout`, `list rollouts` and `status --watch=false` print the
    /// same content for both Rollouts. Pods coming and going (a Terminating
    /// pod shown for one Rollout only) can make one reading differ, so they
    /// are read again for up to 30 seconds before the difference counts.
    async fn same_views(&self) {
        let started = Instant::now();
        loop {
            match self.views_differ() {
                None => return,
                Some(difference) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("{:?}: {difference}", self.scene.under)
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// What differs between the two tools' views, if anything.
    fn views_differ(&self) -> Option<String> {
        let (ours, theirs) = self.both(
            &["get", "rollout", "{}"],
            &["get", "rollout", "{}", "--no-color"],
        );
        if get_view(&ours, OURS) != get_view(&theirs, THEIRS) {
            return Some(format!("get rollout:\n{ours}\n{theirs}"));
        }
        let out = self.rollgate(&["list", "rollouts"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let ours = text(&out.stdout);
        let theirs = text(&self.theirs(&["list", "rollouts"]).stdout);
        let same_list = list_columns(&ours, OURS) == list_columns(&ours, THEIRS)
            && list_columns(&theirs, OURS) == list_columns(&theirs, THEIRS)
            && list_columns(&ours, OURS) == list_columns(&theirs, THEIRS)
            && list_header(&ours) == list_header(&theirs);
        if !same_list {
            return Some(format!("list rollouts:\n{ours}\n{theirs}"));
        }
        let ours = text(&self.rollgate(&["status", OURS, "--watch=false"]).stdout);
        let theirs = text(&self.theirs(&["status", THEIRS, "--watch=false"]).stdout);
        (ours != theirs).then(|| format!("status --watch=false:\n{ours}\n{theirs}"))
    }

    /// `status --timeout 2s` exits `code` (kubectl-argo-rollouts exits 0
    /// when Healthy, else 1) and ends with the same line as
    /// kubectl-argo-rollouts' for the other Rollout.
    fn status_exits(&self, code: i32) {
        let ours = self.rollgate(&["status", OURS, "--timeout", "2s"]);
        let theirs = self.theirs(&["status", THEIRS, "--timeout", "2s"]);
        let under = self.scene.under;
        assert_eq!(
            ours.status.code(),
            Some(code),
            "{under:?}: {}",
            text(&ours.stderr)
        );
        assert_eq!(theirs.status.code(), Some(code.min(1)), "{under:?}");
        let last = |o: &Output| text(&o.stdout).lines().last().map(str::to_owned);
        assert_eq!(last(&ours), last(&theirs), "{under:?}: status");
    }
}

/// What the verbs act on, for comparison: the spec's pause, image and
/// restart, and the status a user sees.
fn fields(o: &Value) -> Value {
    let st = &o["status"];
    let same = |a: &str, b: &str| st[a].is_string() && st[a] == st[b];
    json!({
        "paused": o["spec"]["paused"].as_bool().unwrap_or(false),
        "image": o["spec"]["template"]["spec"]["containers"][0]["image"],
        "restartAt": o["spec"]["restartAt"].is_string(),
        "phase": st["phase"],
        "message": st["message"],
        "currentStepIndex": st["currentStepIndex"],
        "abort": st["abort"].as_bool().unwrap_or(false),
        "promoteFull": st["promoteFull"].as_bool().unwrap_or(false),
        "pauseReasons": st["pauseConditions"].as_array().map(|p| {
            p.iter().map(|c| c["reason"].clone()).collect::<Vec<_>>()
        }),
        "controllerPause": st["controllerPause"].as_bool().unwrap_or(false),
        "promoted": same("stableRS", "currentPodHash"),
        "replicas": [st["replicas"], st["updatedReplicas"], st["availableReplicas"]],
        "restartedAt": st["restartedAt"].is_string(),
    })
}

/// The header lines of `get rollout` after `Name:`, and its tree rows as
/// (kind, status, info) with names, ages and delays left out.
fn get_view(printed: &str, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let (head, tree) = printed.split_once("\n\n").unwrap_or((printed, ""));
    let head = head
        .lines()
        .filter(|l| !l.starts_with("Name:"))
        .map(|l| l.trim_end().to_owned())
        .collect();
    let tree = tree
        .lines()
        .skip(1)
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let kind = ["Rollout", "ReplicaSet", "Pod", "AnalysisRun"]
                .iter()
                .position(|k| words.contains(k));
            match kind {
                // `# revision:N`
                None => vec![words.last().copied().unwrap_or_default().to_owned()],
                Some(_) => {
                    let at = words
                        .iter()
                        .position(|w| ["Rollout", "ReplicaSet", "Pod", "AnalysisRun"].contains(w))
                        .unwrap_or(0);
                    // kind, icon, status; then age and info.
                    let mut row: Vec<String> =
                        words[at..].iter().map(|w| (*w).to_owned()).collect();
                    if row.len() > 3 {
                        row.remove(3);
                    }
                    row.iter_mut().for_each(|w| *w = w.replace(name, "NAME"));
                    row.iter()
                        .map(|w| match w.split_once("delay:") {
                            Some((before, _)) => format!("{before}delay"),
                            None => w.clone(),
                        })
                        .collect()
                }
            }
        })
        .collect();
    (head, tree)
}

/// The columns of `list rollouts` after NAME, for Rollout `name`.
fn list_columns(printed: &str, name: &str) -> Vec<String> {
    printed
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&name))
        .unwrap_or_else(|| panic!("a line for {name} in\n{printed}"))[1..]
        .iter()
        .map(|w| (*w).to_owned())
        .collect()
}

fn list_header(printed: &str) -> Vec<String> {
    printed
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn phase(o: &Value) -> &str {
    o["status"]["phase"].as_str().unwrap_or_default()
}

fn healthy_with(image: &'static str) -> impl Fn(&Value) -> bool {
    move |o| {
        phase(o) == "Healthy"
            && o["status"]["stableRS"] == o["status"]["currentPodHash"]
            && o["status"]["availableReplicas"] == 2
            && o["status"]["replicas"] == 2
            && o["spec"]["template"]["spec"]["containers"][0]["image"] == image
    }
}

fn paused_at_step_1(o: &Value) -> bool {
    phase(o) == "Paused"
        && o["status"]["currentStepIndex"] == 1
        && o["status"]["availableReplicas"] == 2
        && o["status"]["updatedReplicas"] == 1
}

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

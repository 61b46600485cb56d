//! The side-by-side harness: two identical Rollouts in one namespace under
//! one controller, `ours` driven by `rollgate` and `theirs` by
//! kubectl-argo-rollouts, and the comparisons of what each leaves and
//! prints.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use rollgate_e2e::{Scene, Under};
use serde_json::{Value, json};

/// How long one wait may take: generous, as the machine is shared.
pub(crate) const PATIENCE: Duration = Duration::from_secs(150);

/// The two Rollouts: driven by `rollgate`, and by kubectl-argo-rollouts.
pub(crate) const OURS: &str = "ours";
pub(crate) const THEIRS: &str = "theirs";

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

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A side-by-side run in one namespace under one controller.
pub(crate) struct Pair {
    pub(crate) scene: Scene,
}

impl Pair {
    pub(crate) async fn new(name: &str, under: Under) -> Option<Self> {
        let mut scene = Scene::new(name, under, OURS).await?;
        scene.start_basic().await;
        for name in [OURS, THEIRS] {
            scene.cluster.create(manifest(name)).await;
        }
        Some(Self { scene })
    }

    pub(crate) fn rollouts(&self) -> Api<DynamicObject> {
        self.scene.rollouts()
    }

    /// `rollgate ARGS -n NAMESPACE`, as a user types it.
    pub(crate) fn rollgate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args(args)
            .args(["-n", &self.scene.cluster.namespace])
            .output()
            .expect("run rollgate")
    }

    /// `kubectl argo rollouts ARGS -n NAMESPACE`, whatever its exit code.
    pub(crate) fn theirs(&self, args: &[&str]) -> Output {
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
    pub(crate) fn both(&self, ours: &[&str], theirs: &[&str]) -> (String, String) {
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

    pub(crate) async fn read(&self, name: &str) -> Value {
        let object = self.rollouts().get(name).await.expect("read a Rollout");
        serde_json::to_value(object).expect("a Rollout as JSON")
    }

    /// Waits until `check` holds for Rollout `name`; returns it.
    pub(crate) async fn until(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
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
    pub(crate) async fn settle(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
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
    pub(crate) async fn same_views(&self) {
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
    pub(crate) fn views_differ(&self) -> Option<String> {
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
    pub(crate) fn status_exits(&self, code: i32) {
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
pub(crate) fn fields(o: &Value) -> Value {
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
pub(crate) fn get_view(printed: &str, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
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
pub(crate) fn list_columns(printed: &str, name: &str) -> Vec<String> {
    printed
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&name))
        .unwrap_or_else(|| panic!("a line for {name} in\n{printed}"))[1..]
        .iter()
        .map(|w| (*w).to_owned())
        .collect()
}

pub(crate) fn list_header(printed: &str) -> Vec<String> {
    printed
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn phase(o: &Value) -> &str {
    o["status"]["phase"].as_str().unwrap_or_default()
}

pub(crate) fn healthy_with(image: &'static str) -> impl Fn(&Value) -> bool {
    move |o| {
        phase(o) == "Healthy"
            && o["status"]["stableRS"] == o["status"]["currentPodHash"]
            && o["status"]["availableReplicas"] == 2
            && o["status"]["replicas"] == 2
            && o["spec"]["template"]["spec"]["containers"][0]["image"] == image
    }
}

pub(crate) fn paused_at_step_1(o: &Value) -> bool {
    phase(o) == "Paused"
        && o["status"]["currentStepIndex"] == 1
        && o["status"]["availableReplicas"] == 2
        && o["status"]["updatedReplicas"] == 1
}

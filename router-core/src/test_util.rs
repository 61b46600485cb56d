//! Test doubles (feature `test-util`): [`JournalRouter`], a reference router
//! that records every call (the whole [`TrafficTarget`] it is given) instead
//! of touching a data plane, for tests, benchmarks and trying a plugin
//! protocol end to end.
//!
//! Its behaviour can be steered from the rollout's plugin config, so a test
//! can make it misbehave across a process boundary:
//! `{"fail": "<message>"}` makes every call fail with that message, of the
//! kind `{"failKind": "<kind>"}` names (an [`ErrorKind::name`]; `config`
//! when not given),
//! `{"delayMs": N}` makes every call take N ms, and
//! `{"verify": "NotVerified" | "NotImplemented"}` sets what `verify`
//! answers (default `Verified`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::context::RolloutContext;
use crate::error::{Error, ErrorKind};
use crate::router::{TrafficRouter, Verified};
use crate::target::TrafficTarget;

/// How many calls the in-memory journal keeps; older ones are dropped.
pub const JOURNAL_CAPACITY: usize = 10_000;

/// The environment variable naming the file the plugin binary appends its journal to.
pub const JOURNAL_ENV: &str = "ROLLGATE_JOURNAL";

/// A router that keeps a journal of its calls (and appends it, one JSON
/// object per line, to a file if given one).
#[derive(Debug, Default)]
pub struct JournalRouter {
    entries: Mutex<Vec<Value>>,
    file: Option<PathBuf>,
}

impl JournalRouter {
    /// A journal kept in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A journal also appended to `file`.
    pub fn with_file(file: impl Into<PathBuf>) -> Self {
        Self {
            entries: Mutex::default(),
            file: Some(file.into()),
        }
    }

    /// The calls so far, oldest first (at most [`JOURNAL_CAPACITY`] of them).
    pub fn entries(&self) -> Vec<Value> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    async fn record(
        &self,
        rollout: Option<&RolloutContext>,
        mut entry: Value,
    ) -> Result<(), Error> {
        if let Some(ctx) = rollout {
            entry["rollout"] = json!(ctx.object_name());
            entry["maxTrafficWeight"] = json!(ctx.max_weight());
            entry["managedRoutes"] = ctx
                .managed_routes
                .iter()
                .map(|r| json!({"name": r.name, "kind": r.kind.to_string()}))
                .collect();
            entry["promoted"] = json!(ctx.promoted);
            entry["aborted"] = json!(ctx.aborted);
            entry["plugin"] = json!(ctx.plugin_name);
            if let Some(ms) = ctx.config.get("delayMs").and_then(Value::as_u64) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if let Some(message) = ctx.config.get("fail").and_then(Value::as_str) {
                let kind = match ctx.config.get("failKind") {
                    None => ErrorKind::Config,
                    Some(name) => {
                        name.as_str()
                            .and_then(ErrorKind::from_name)
                            .ok_or_else(|| {
                                Error::rollout_config(
                                    &ctx.object_name(),
                                    format!(
                                        "failKind: expected one of {}, got {name}",
                                        ErrorKind::ALL.map(ErrorKind::name).join(", ")
                                    ),
                                )
                            })?
                    }
                };
                return Err(Error::new(kind, message));
            }
        }
        if let Some(file) = &self.file {
            let line = format!("{entry}\n");
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| Error::internal(format!("journal {}: {e}", file.display())))?;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= JOURNAL_CAPACITY {
                entries.drain(..JOURNAL_CAPACITY / 2);
            }
            entries.push(entry);
        }
        Ok(())
    }
}

/// Records what it is asked: `{"call": "Init"}`, `{"call": "Apply", "target":
/// <target>}` and `{"call": "Verify", "target": <target>}`, the target as its
/// JSON form (camelCase), plus the rollout context's `rollout`
/// (`namespace/name`), `maxTrafficWeight` (in effect), `managedRoutes`
/// (`name` and `kind`), `promoted`, `aborted` and `plugin`. So a test sees
/// exactly which aspects a call carried, and in how many calls they came.
/// Like every router it refuses, recording nothing, a target naming a route
/// `managedRoutes` does not list.
#[async_trait]
impl TrafficRouter for JournalRouter {
    async fn init(&self) -> Result<(), Error> {
        self.record(None, json!({"call": "Init"})).await
    }

    async fn name(&self) -> Result<String, Error> {
        Ok("rollgate/journal".into())
    }

    async fn apply(&self, rollout: &RolloutContext, target: &TrafficTarget) -> Result<(), Error> {
        rollout.require_listed_routes(target)?;
        let entry = json!({"call": "Apply", "target": target});
        self.record(Some(rollout), entry).await
    }

    async fn verify(
        &self,
        rollout: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, Error> {
        let entry = json!({"call": "Verify", "target": target});
        self.record(Some(rollout), entry).await?;
        Ok(match rollout.config.get("verify").and_then(Value::as_str) {
            Some("NotVerified") => Verified::NotVerified,
            Some("NotImplemented") => Verified::NotImplemented,
            _ => Verified::Verified,
        })
    }
}

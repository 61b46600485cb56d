//! Request counts from the API server's audit log.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// The API server's audit log (`$ROLLGATE_CLUSTER/audit.log`).
///
/// # Panics
///
/// Without `ROLLGATE_CLUSTER` (`scripts/cluster env` sets it).
pub fn audit_path() -> PathBuf {
    PathBuf::from(std::env::var("ROLLGATE_CLUSTER").expect("ROLLGATE_CLUSTER")).join("audit.log")
}

/// Where the audit log ends now (its length in bytes): where counting
/// starts.
pub fn audit_offset() -> u64 {
    std::fs::metadata(audit_path()).map_or(0, |m| m.len())
}

/// Lets the audit log catch up with the requests already answered.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Requests counted from the audit log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    /// Every request (`ResponseComplete` events).
    pub all: u64,
    /// Writes: create, update, patch, delete.
    pub writes: u64,
}

/// The requests since audit offset `from` ([`audit_offset`]) that
/// `select` picks (given each `ResponseComplete` event of the audit log),
/// read line by line: the log of a large run is gigabytes.
pub fn audited_requests(from: u64, select: impl Fn(&Value) -> bool) -> Requests {
    use std::io::{BufRead, Seek, SeekFrom};
    let mut requests = Requests::default();
    let Ok(mut file) = std::fs::File::open(audit_path()) else {
        return requests;
    };
    if file.seek(SeekFrom::Start(from)).is_err() {
        return requests;
    }
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if event["stage"] != "ResponseComplete" || !select(&event) {
            continue;
        }
        requests.all += 1;
        if matches!(
            event["verb"].as_str(),
            Some("patch" | "update" | "create" | "delete" | "deletecollection")
        ) {
            requests.writes += 1;
        }
    }
    requests
}

/// Whether an audit event's user agent starts with `prefix` (Argo's
/// controller sends `rollouts-controller/...`, ours
/// `rollgate-controller/...`).
pub fn user_agent_is(event: &Value, prefix: &str) -> bool {
    event["userAgent"]
        .as_str()
        .is_some_and(|agent| agent.starts_with(prefix))
}

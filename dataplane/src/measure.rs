//! What the scenarios read from Traefik's dynamic configuration
//! (`/api/rawdata`): the weights of a route's backends, the servers behind a
//! Service, and whether every upstream is a loopback address; and how far a
//! measured split is from the weight it should follow.

use serde_json::Value;

use crate::Error;
use crate::tally::Tally;
use crate::traefik::{upstream_ip, upstreams};

/// The (stable, canary) weights of the route's split: those of the
/// weighted service that lists the backend `stable` (Traefik names a
/// Gateway API backend `<namespace>-<service>-<port>` followed by a
/// suffix, so any name containing it counts), leaving out the rules of
/// managed routes that send to the canary alone; 0 for a side not listed,
/// `(0, 0)` when no weighted service lists `stable`.
///
/// ```
/// let rawdata = serde_json::json!({"services": {
///     "rule-0-wrr": {"weighted": {"services": [
///         {"name": "ns-web-stable-http-80", "weight": 80},
///         {"name": "ns-web-canary-http-80", "weight": 20}]}},
///     "rule-1-wrr": {"weighted": {"services": [{"name": "ns-web-canary-http-80", "weight": 1}]}}}});
/// let split = rollgate_dataplane::measure::split(&rawdata, "web-stable", "web-canary");
/// assert_eq!(split, (80, 20));
/// ```
pub fn split(rawdata: &Value, stable: &str, canary: &str) -> (i64, i64) {
    let weight = |backends: &[Value], service: &str| -> i64 {
        backends
            .iter()
            .filter(|b| b["name"].as_str().is_some_and(|n| n.contains(service)))
            .map(|b| b["weight"].as_i64().unwrap_or(1))
            .sum()
    };
    rawdata["services"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, s)| s["weighted"]["services"].as_array())
        .find(|backends| {
            backends
                .iter()
                .any(|b| b["name"].as_str().is_some_and(|n| n.contains(stable)))
        })
        .map_or((0, 0), |backends| {
            (weight(backends, stable), weight(backends, canary))
        })
}

/// How many servers Traefik balances over for the backends whose service
/// name contains `service`.
///
/// ```
/// let rawdata = serde_json::json!({"services": {"ns-web-canary-80-abc": {"loadBalancer": {
///     "servers": [{"url": "http://127.1.0.4:8080"}, {"url": "http://127.1.0.5:8080"}]}}}});
/// assert_eq!(rollgate_dataplane::measure::servers(&rawdata, "web-canary"), 2);
/// ```
pub fn servers(rawdata: &Value, service: &str) -> usize {
    rawdata["services"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.contains(service))
        .filter_map(|(_, s)| s["loadBalancer"]["servers"].as_array())
        .map(Vec::len)
        .sum()
}

/// How many upstreams `rawdata` lists, all of them 127.x addresses.
///
/// # Errors
///
/// [`Error::NotLoopback`] naming the first upstream outside 127.0.0.0/8
/// (or not an address), [`Error::Request`] when there is none at all.
///
/// ```
/// use rollgate_dataplane::measure::loopback_upstreams;
/// let upstream = |url| serde_json::json!({"services": {"a": {"loadBalancer": {"servers": [{"url": url}]}}}});
/// assert_eq!(loopback_upstreams(&upstream("http://127.1.0.3:8080")).unwrap(), 1);
/// assert!(loopback_upstreams(&upstream("http://10.96.0.12:80")).is_err());
/// ```
pub fn loopback_upstreams(rawdata: &Value) -> Result<usize, Error> {
    let all = upstreams(rawdata);
    if all.is_empty() {
        return Err(Error::Request(format!(
            "Traefik's configuration has no upstream: {rawdata}"
        )));
    }
    match all
        .iter()
        .find(|u| !upstream_ip(u).is_some_and(|ip| ip.is_loopback()))
    {
        Some(outside) => Err(Error::NotLoopback(outside.clone())),
        None => Ok(all.len()),
    }
}

/// How far, in percentage points, `version`'s measured share of `tally` is
/// from `weight` (a whole percentage).
///
/// ```
/// let mut tally = rollgate_dataplane::Tally::default();
/// tally.answers.insert(("1".into(), 200), 790);
/// tally.answers.insert(("2".into(), 200), 210);
/// assert!((rollgate_dataplane::measure::split_error(&tally, "2", 20) - 1.0).abs() < 1e-9);
/// ```
pub fn split_error(tally: &Tally, version: &str, weight: u8) -> f64 {
    (tally.share(version) - f64::from(weight)).abs()
}

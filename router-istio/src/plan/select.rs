//! Which routes of a VirtualService carry the rollout's weights (Argo
//! Rollouts' rules: `routes` by name or the one unnamed route, `tlsRoutes`
//! by port and SNI hosts, `tcpRoutes` by port, plus the managed mirror
//! routes).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Rollout, vs_error};
use crate::Error;
use crate::config::VirtualServiceRef;

/// The routes of kind `kind` (`http`, `tls`, `tcp`), empty when there are none.
pub(super) fn routes<'v>(vs: &'v Value, kind: &str) -> &'v [Value] {
    vs["spec"][kind].as_array().map_or(&[], Vec::as_slice)
}

/// The http routes that carry the weights: those named in `routes`, or the
/// one unmanaged route; plus the managed mirror routes, which are weighted
/// alongside.
pub(super) fn http_indexes(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
) -> Result<Vec<usize>, Error> {
    let http = routes(vs, "http");
    let mut indexes = Vec::new();
    if vs_ref.routes.is_empty() {
        if !(vs_ref.tls_routes.is_empty() && vs_ref.tcp_routes.is_empty()) {
            return Ok(indexes);
        }
        let unmanaged: Vec<usize> = (0..http.len())
            .filter(|&i| !rollout.is_managed(&http[i]))
            .collect();
        match unmanaged.as_slice() {
            [one] => indexes.push(*one),
            _ => {
                return Err(vs_error(
                    vs,
                    "spec.http[] should be set in VirtualService and it must have exactly one route \
                     when omitting spec.strategy.canary.trafficRouting.istio.virtualService.routes",
                ));
            }
        }
    } else {
        for name in &vs_ref.routes {
            let i = http
                .iter()
                .position(|r| r["name"].as_str() == Some(name))
                .ok_or_else(|| {
                    vs_error(
                        vs,
                        format!("HTTP Route '{name}' is not found in the defined Virtual Service."),
                    )
                })?;
            indexes.push(i);
        }
    }
    for (i, route) in http.iter().enumerate() {
        if !route["mirror"].is_null() && rollout.is_managed(route) && !indexes.contains(&i) {
            indexes.push(i);
        }
    }
    Ok(indexes)
}

/// The distinct ports of a route's match blocks.
fn match_ports(route: &Value) -> BTreeSet<i64> {
    route["match"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["port"].as_i64())
        .collect()
}

fn port_matches(route: &Value, port: i64) -> bool {
    let ports = match_ports(route);
    match ports.len() {
        0 => port == 0,
        1 => ports.contains(&port),
        _ => false,
    }
}

/// The tls routes every `tlsRoutes` selector names (port and SNI hosts as a set).
pub(super) fn tls_indexes(vs: &Value, vs_ref: &VirtualServiceRef) -> Result<Vec<usize>, Error> {
    let tls = routes(vs, "tls");
    let mut indexes = Vec::new();
    for selector in &vs_ref.tls_routes {
        let want: BTreeSet<&str> = selector.sni_hosts.iter().map(String::as_str).collect();
        let found: Vec<usize> = (0..tls.len())
            .filter(|&i| {
                let hosts: BTreeSet<&str> = tls[i]["match"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|m| m["sniHosts"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                port_matches(&tls[i], selector.port) && hosts == want
            })
            .collect();
        if found.is_empty() {
            return Err(vs_error(
                vs,
                "No matching TLS routes found in the defined Virtual Service.",
            ));
        }
        indexes.extend(found);
    }
    Ok(indexes)
}

/// The tcp routes every `tcpRoutes` selector names (by port).
pub(super) fn tcp_indexes(vs: &Value, vs_ref: &VirtualServiceRef) -> Result<Vec<usize>, Error> {
    let tcp = routes(vs, "tcp");
    let mut indexes = Vec::new();
    for selector in &vs_ref.tcp_routes {
        let found: Vec<usize> = (0..tcp.len())
            .filter(|&i| port_matches(&tcp[i], selector.port))
            .collect();
        if found.is_empty() {
            return Err(vs_error(
                vs,
                "No matching TCP routes found in the defined Virtual Service.",
            ));
        }
        indexes.extend(found);
    }
    Ok(indexes)
}

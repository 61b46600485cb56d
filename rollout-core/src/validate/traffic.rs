//! `spec.strategy.canary.trafficRouting`: the rules Argo applies to the
//! router blocks without reading the cluster.

use serde_json::Value;

use super::path::TRAFFIC_ROUTING;
use super::{Validator, messages as m};
use crate::spec::{CanaryStrategy, TrafficRouting};

/// Routers that require `canaryService` and `stableService` (Argo's
/// `requireCanaryStableServices`): ALB and host-level Istio unless ping-pong
/// is used, SMI, APISIX, Ambassador, NGINX, App Mesh and Traefik. Plugins
/// and subset-level Istio do not.
pub(super) fn requires_canary_and_stable_services(c: &CanaryStrategy) -> bool {
    let Some(tr) = &c.traffic_routing else {
        return false;
    };
    let no_ping_pong = c.ping_pong.is_none();
    let host_level_istio = tr
        .istio
        .as_ref()
        .is_some_and(|i| absent(i.get("destinationRule")));
    ((tr.alb.is_some() || host_level_istio) && no_ping_pong)
        || tr.smi.is_some()
        || tr.apisix.is_some()
        || tr.ambassador.is_some()
        || tr.nginx.is_some()
        || tr.app_mesh.is_some()
        || tr.traefik.is_some()
}

fn absent(v: Option<&Value>) -> bool {
    v.is_none_or(Value::is_null)
}

/// Whether the router can carry header routes / mirror routes / experiment weights.
pub(super) fn carries_header_routes(tr: &TrafficRouting) -> bool {
    tr.istio.is_some() || tr.alb.is_some() || tr.apisix.is_some() || !tr.plugins.is_empty()
}

/// See [`carries_header_routes`].
pub(super) fn carries_mirror_routes(tr: &TrafficRouting) -> bool {
    tr.istio.is_some() || !tr.plugins.is_empty()
}

/// See [`carries_header_routes`].
pub(super) fn carries_experiment_weights(tr: &TrafficRouting) -> bool {
    tr.alb.is_some() || tr.smi.is_some() || tr.istio.is_some() || !tr.plugins.is_empty()
}

/// The rules on the traffic routing block itself.
pub(super) fn rules(v: &mut Validator, tr: &TrafficRouting) {
    if tr.max_traffic_weight.is_some() && tr.nginx.is_none() && tr.plugins.is_empty() {
        v.err(
            TRAFFIC_ROUTING.field("maxTrafficWeight"),
            m::MAX_WEIGHT_ROUTERS,
        );
    }
    // Checked by Argo's controller before it reads the referenced objects.
    if let Some(nginx) = &tr.nginx {
        let single = non_empty_str(nginx.get("stableIngress"));
        let multiple = !absent(nginx.get("stableIngresses"));
        one_of(
            v,
            "nginx",
            single,
            multiple,
            m::NGINX_INGRESS_BOTH,
            m::NGINX_INGRESS_NEITHER,
        );
    }
    if let Some(alb) = &tr.alb {
        let single = non_empty_str(alb.get("ingress"));
        let multiple = !absent(alb.get("ingresses"));
        one_of(
            v,
            "alb",
            single,
            multiple,
            m::ALB_INGRESS_BOTH,
            m::ALB_INGRESS_NEITHER,
        );
    }
    if let Some(istio) = &tr.istio {
        let single = !absent(istio.get("virtualService"));
        let multiple = !absent(istio.get("virtualServices"));
        if single == multiple {
            v.err(TRAFFIC_ROUTING.field("istio"), m::ISTIO_VIRTUAL_SERVICES);
        }
    }
    required_router_fields(v, tr);
}

fn non_empty_str(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

fn one_of(
    v: &mut Validator,
    router: &str,
    single: bool,
    multiple: bool,
    both: &str,
    neither: &str,
) {
    match (single, multiple) {
        (true, true) => v.err(TRAFFIC_ROUTING.field(router), both),
        (false, false) => v.err(TRAFFIC_ROUTING.field(router), neither),
        _ => {}
    }
}

/// The fields the CRD's schema requires inside the router blocks, which this
/// crate keeps as opaque JSON: `(router, parent pointer, field)`.
const REQUIRED: [(&str, &str, &str); 10] = [
    ("alb", "", "servicePort"),
    ("ambassador", "", "mappings"),
    ("apisix", "/route", "name"),
    ("appMesh", "/virtualService", "name"),
    ("appMesh", "/virtualNodeGroup", "canaryVirtualNodeRef"),
    ("appMesh", "/virtualNodeGroup", "stableVirtualNodeRef"),
    ("istio", "/virtualService", "name"),
    ("istio", "/destinationRule", "name"),
    ("istio", "/destinationRule", "canarySubsetName"),
    ("istio", "/destinationRule", "stableSubsetName"),
];

fn required_router_fields(v: &mut Validator, tr: &TrafficRouting) {
    if tr.alb.is_none()
        && tr.ambassador.is_none()
        && tr.apisix.is_none()
        && tr.app_mesh.is_none()
        && tr.istio.is_none()
        && tr.traefik.is_none()
    {
        return;
    }
    let block = |name: &str| match name {
        "alb" => tr.alb.as_ref(),
        "ambassador" => tr.ambassador.as_ref(),
        "apisix" => tr.apisix.as_ref(),
        "appMesh" => tr.app_mesh.as_ref(),
        "istio" => tr.istio.as_ref(),
        "traefik" => tr.traefik.as_ref(),
        _ => None,
    };
    let mut check = |router: &str, parent: &str, field: &str| {
        let Some(parent_value) = block(router).and_then(|b| b.pointer(parent)) else {
            return;
        };
        if parent_value.is_object() && absent(parent_value.get(field)) {
            let at = format!(
                "{TRAFFIC_ROUTING}.{router}{}.{field}",
                parent.replace('/', ".")
            );
            v.err(at, "is required");
        }
    };
    for (router, parent, field) in REQUIRED {
        check(router, parent, field);
    }
    check("traefik", "", "weightedTraefikServiceName");
    if let Some(list) = tr
        .istio
        .as_ref()
        .and_then(|i| i.get("virtualServices"))
        .and_then(Value::as_array)
    {
        for (i, vs) in list.iter().enumerate() {
            if absent(vs.get("name")) {
                v.err(
                    format!("{TRAFFIC_ROUTING}.istio.virtualServices[{i}].name"),
                    "is required",
                );
            }
        }
    }
}

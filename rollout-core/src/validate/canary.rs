//! `spec.strategy.canary` outside its steps and traffic routing: surge and
//! unavailability, the Services, ping-pong, scale-down settings, anti-affinity.

use super::path::{CANARY, Path, TRAFFIC_ROUTING};
use super::{Validator, messages as m, steps, traffic};
use crate::intstr::IntOrString;
use crate::spec::{AntiAffinity, CanaryStrategy};

/// Every Argo rule for a canary strategy (`ValidateRolloutStrategyCanary`).
pub(super) fn rules(v: &mut Validator, c: &CanaryStrategy) {
    surge_and_unavailable(v, c);
    let canary = c.canary_service.as_deref().unwrap_or("");
    let stable = c.stable_service.as_deref().unwrap_or("");
    if !canary.is_empty() && canary == stable {
        v.err(CANARY.field("stableService"), m::DUPLICATED_SERVICES_CANARY);
    }
    if let Some(pp) = &c.ping_pong {
        let tr = c.traffic_routing.as_ref();
        if tr.is_some_and(|t| t.alb.is_none() && t.istio.is_none() && t.plugins.is_empty()) {
            v.err(TRAFFIC_ROUTING, m::PING_PONG_ROUTERS);
        }
        let path = CANARY.field("pingPong");
        if pp.ping_service.is_empty() {
            v.err(path.field("pingService"), m::PING_PONG_REQUIRED);
        }
        if pp.pong_service.is_empty() {
            v.err(path.field("pongService"), m::PING_PONG_REQUIRED);
        }
        if pp.ping_service == pp.pong_service {
            v.err(path.field("pingService"), m::DUPLICATED_PING_PONG);
        }
        if let Some(alb) = tr.and_then(|t| t.alb.as_ref())
            && alb
                .get("rootService")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .is_empty()
        {
            v.err(
                TRAFFIC_ROUTING.field("alb").field("rootService"),
                m::ALB_ROOT_SERVICE,
            );
        }
    }
    if traffic::requires_canary_and_stable_services(c) {
        if stable.is_empty() {
            v.err(
                CANARY.field("stableService"),
                m::SERVICES_FOR_TRAFFIC_ROUTING,
            );
        }
        if canary.is_empty() {
            v.err(
                CANARY.field("canaryService"),
                m::SERVICES_FOR_TRAFFIC_ROUTING,
            );
        }
    }
    match &c.traffic_routing {
        None => {
            if c.scale_down_delay_seconds.is_some() {
                v.err(
                    CANARY.field("scaleDownDelaySeconds"),
                    m::SCALE_DOWN_DELAY_NEEDS_ROUTING,
                );
            }
            if c.dynamic_stable_scale == Some(true) {
                v.err(
                    CANARY.field("dynamicStableScale"),
                    m::DYNAMIC_STABLE_SCALE_NEEDS_ROUTING,
                );
            }
        }
        Some(tr) => {
            if c.scale_down_delay_seconds.is_some() && c.dynamic_stable_scale == Some(true) {
                v.err(
                    CANARY.field("dynamicStableScale"),
                    m::DYNAMIC_STABLE_SCALE_WITH_DELAY,
                );
            }
            traffic::rules(v, tr);
        }
    }
    let step_list = CANARY.field("steps");
    for (i, step) in c.steps.iter().enumerate() {
        steps::rules(v, c, step_list.index(i), step);
    }
    anti_affinity(v, CANARY.field("antiAffinity"), c.anti_affinity.as_ref());
}

/// Argo's reading of an int-or-percent for the "both zero" rule: a valid
/// percentage (`25%`) is its number; anything else is read as an integer,
/// and a string that is not one counts as 0.
fn argo_int_or_percent(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => match s.strip_suffix('%') {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse().unwrap_or(0)
            }
            _ => s.parse().unwrap_or(0),
        },
    }
}

fn surge_and_unavailable(v: &mut Validator, c: &CanaryStrategy) {
    // Unset, each defaults to 25%: not zero.
    let read = |value: Option<&IntOrString>| value.map_or(25, argo_int_or_percent);
    let surge = read(c.max_surge.as_ref());
    let unavailable = read(c.max_unavailable.as_ref());
    if surge == 0 && unavailable == 0 {
        v.err(CANARY.field("maxSurge"), m::SURGE_AND_UNAVAILABLE_ZERO);
    }
}

/// `antiAffinity` of either strategy: exactly one kind, a weight of 1 to 100.
pub(super) fn anti_affinity(v: &mut Validator, path: Path<'_>, a: Option<&AntiAffinity>) {
    let Some(a) = a else { return };
    let preferred = a
        .preferred_during_scheduling_ignored_during_execution
        .as_ref();
    let required = a
        .required_during_scheduling_ignored_during_execution
        .is_some();
    if preferred.is_some() == required {
        v.err(path, m::ANTI_AFFINITY_ONE_OF);
    }
    if let Some(p) = preferred
        && !(1..=100).contains(&p.weight)
    {
        v.err(
            path.field("preferredDuringSchedulingIgnoredDuringExecution")
                .field("weight"),
            format!("{}: {}", p.weight, m::ANTI_AFFINITY_WEIGHT),
        );
    }
}

//! Argo Rollouts' `Plugin.<Method>` calls (`rollout/trafficrouting/plugin/rpc`)
//! mapped onto the [`TrafficRouter`] contract. Arguments are read from the
//! decoded gob tree by Go field name; fields this router does not need are
//! ignored, so newer Argo versions keep working.

use rollout_core::spec::{HeaderMatch, MirrorMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use rollout_core::status::WeightDestination;
use router_core::{
    Error, Hashes, ManagedRoute, RolloutContext, RouteStep, TrafficRouter, Verified,
};

use super::rpc::{Call, Reply};
use crate::gob::{Schema, Value};

fn rpc_error_schema() -> Schema {
    Schema::Struct {
        name: "RpcError",
        fields: vec![("ErrorString", Schema::String)],
    }
}

fn rpc_error(message: String) -> Value {
    Value::Struct(vec![("ErrorString".into(), Value::String(message))])
}

fn outcome(result: Result<(), Error>) -> Value {
    rpc_error(result.err().map(|e| e.to_string()).unwrap_or_default())
}

/// Serves one `Plugin.<Method>` call.
pub(super) async fn handle(router: &dyn TrafficRouter, plugin_name: &str, call: &Call) -> Reply {
    let args = match &call.body {
        Value::Interface(Some((_, v))) => Some(v.as_ref()),
        _ => None,
    };
    let method = call.method.strip_prefix("Plugin.").unwrap_or("");
    let ctx = || -> Result<RolloutContext, Error> {
        let rollout = args
            .and_then(|a| a.field("Rollout"))
            .ok_or_else(|| Error::invalid(format!("{method}: the call carries no Rollout")))?;
        context(rollout, plugin_name)
    };
    let reply = |body: Value| Reply::ok(call, rpc_error_schema(), body);
    match method {
        "InitPlugin" => reply(outcome(router.init().await)),
        "Type" => {
            let name = router
                .name()
                .await
                .unwrap_or_else(|e| format!("Type rpc call error: {e}"));
            Reply::ok(call, Schema::String, Value::String(name))
        }
        "SetWeight" => {
            let result = async {
                let ctx = ctx()?;
                let weight = int(args, "DesiredWeight");
                router.set_weight(&ctx, weight, &destinations(args)).await
            }
            .await;
            reply(outcome(result))
        }
        "UpdateHash" => {
            let result = async {
                let ctx = ctx()?;
                let text = |f: &str| {
                    args.and_then(|a| a.field(f))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                router
                    .update_hash(
                        &ctx,
                        &text("CanaryHash"),
                        &text("StableHash"),
                        &destinations(args),
                    )
                    .await
            }
            .await;
            reply(outcome(result))
        }
        "SetHeaderRoute" => {
            let result = async {
                let ctx = ctx()?;
                let route = header_route(args.and_then(|a| a.field("SetHeaderRoute")));
                router.set_header_route(&ctx, &route).await
            }
            .await;
            reply(outcome(result))
        }
        "SetMirrorRoute" => {
            let result = async {
                let ctx = ctx()?;
                let route = mirror_route(args.and_then(|a| a.field("SetMirrorRoute")));
                router.set_mirror_route(&ctx, &route).await
            }
            .await;
            reply(outcome(result))
        }
        "RemoveManagedRoutes" => {
            let result = async { router.remove_managed_routes(&ctx()?).await }.await;
            reply(outcome(result))
        }
        "VerifyWeight" => {
            let result = async {
                let ctx = ctx()?;
                router
                    .verify_weight(&ctx, int(args, "DesiredWeight"), &destinations(args))
                    .await
            }
            .await;
            let (verified, err) = match result {
                Ok(v) => (v, String::new()),
                Err(e) => (Verified::NotVerified, e.to_string()),
            };
            let code = match verified {
                Verified::NotVerified => 0,
                Verified::Verified => 1,
                Verified::NotImplemented => 2,
            };
            Reply::ok(
                call,
                Schema::Struct {
                    name: "VerifyWeightResponse",
                    fields: vec![("Verified", Schema::Int), ("Err", rpc_error_schema())],
                },
                Value::Struct(vec![
                    ("Verified".into(), Value::Int(code)),
                    ("Err".into(), rpc_error(err)),
                ]),
            )
        }
        _ => Reply::error(call, format!("rpc: can't find method {}", call.method)),
    }
}

fn int(args: Option<&Value>, field: &str) -> i32 {
    args.and_then(|a| a.field(field))
        .and_then(Value::as_i64)
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(0)
}

fn text(v: Option<&Value>, field: &str) -> Option<String> {
    v.and_then(|v| v.field(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn destinations(args: Option<&Value>) -> Vec<WeightDestination> {
    args.and_then(|a| a.field("AdditionalDestinations"))
        .map(Value::elements)
        .unwrap_or_default()
        .iter()
        .map(|d| WeightDestination {
            weight: d
                .field("Weight")
                .and_then(Value::as_i64)
                .and_then(|w| i32::try_from(w).ok())
                .unwrap_or(0),
            service_name: text(Some(d), "ServiceName"),
            pod_template_hash: text(Some(d), "PodTemplateHash"),
        })
        .collect()
}

fn string_match(v: Option<&Value>) -> StringMatch {
    StringMatch {
        exact: text(v, "Exact"),
        prefix: text(v, "Prefix"),
        regex: text(v, "Regex"),
    }
}

fn header_route(v: Option<&Value>) -> SetHeaderRoute {
    SetHeaderRoute {
        name: text(v, "Name").unwrap_or_default(),
        matches: v
            .and_then(|v| v.field("Match"))
            .map(Value::elements)
            .unwrap_or_default()
            .iter()
            .map(|m| HeaderMatch {
                header_name: text(Some(m), "HeaderName").unwrap_or_default(),
                header_value: string_match(m.field("HeaderValue")),
            })
            .collect(),
    }
}

fn mirror_route(v: Option<&Value>) -> SetMirrorRoute {
    SetMirrorRoute {
        name: text(v, "Name").unwrap_or_default(),
        matches: v
            .and_then(|v| v.field("Match"))
            .map(Value::elements)
            .unwrap_or_default()
            .iter()
            .map(|m| MirrorMatch {
                method: m.field("Method").map(|s| string_match(Some(s))),
                path: m.field("Path").map(|s| string_match(Some(s))),
                headers: match m.field("Headers") {
                    Some(Value::Map(entries)) => entries
                        .iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), string_match(Some(v)))))
                        .collect(),
                    _ => Default::default(),
                },
            })
            .collect(),
        percentage: v
            .and_then(|v| v.field("Percentage"))
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok()),
    }
}

/// The context of a call from the gob-encoded `v1alpha1.Rollout` Argo
/// sends: the same typed fields [`RolloutContext::new`] reads from a
/// Rollout, found by their Go field names (the kinds of the managed routes
/// from the steps, promoted from `Status.StableRS == Status.CurrentPodHash`,
/// aborted from `Status.Abort`).
pub(crate) fn context(rollout: &Value, plugin_name: &str) -> Result<RolloutContext, Error> {
    let meta = rollout.field("ObjectMeta");
    let name = text(meta, "Name").unwrap_or_default();
    let namespace = text(meta, "Namespace").unwrap_or_else(|| "default".into());
    let object = format!("{namespace}/{name}");
    let canary = rollout.path(&["Spec", "Strategy", "Canary"]);
    let routing = canary.and_then(|c| c.field("TrafficRouting"));
    let raw = routing
        .and_then(|r| r.field("Plugins"))
        .and_then(|p| p.map_get(plugin_name))
        .and_then(Value::as_bytes)
        .ok_or_else(|| {
            Error::rollout_config(
                &object,
                format!("spec.strategy.canary.trafficRouting.plugins: no entry {plugin_name:?}"),
            )
        })?;
    let config = crate::plugin_config(raw).map_err(|e| {
        Error::rollout_config(
            &object,
            format!("spec.strategy.canary.trafficRouting.plugins[{plugin_name:?}]: {e}"),
        )
    })?;
    let steps = canary
        .and_then(|c| c.field("Steps"))
        .map(Value::elements)
        .unwrap_or_default();
    let mirrored = |name: &str| {
        steps
            .iter()
            .any(|s| text(s.field("SetMirrorRoute"), "Name").as_deref() == Some(name))
    };
    let managed_routes = routing
        .and_then(|r| r.field("ManagedRoutes"))
        .map(Value::elements)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| text(Some(r), "Name"))
        .map(|name| ManagedRoute {
            kind: if mirrored(&name) {
                RouteStep::Mirror
            } else {
                RouteStep::Header
            },
            name,
        })
        .collect();
    let status = rollout.field("Status");
    let stable_rs = text(status, "StableRS");
    Ok(RolloutContext {
        uid: text(meta, "UID"),
        name,
        namespace,
        canary_service: text(canary, "CanaryService").unwrap_or_default(),
        stable_service: text(canary, "StableService").unwrap_or_default(),
        managed_routes,
        max_traffic_weight: routing
            .and_then(|r| r.field("MaxTrafficWeight"))
            .and_then(Value::as_i64)
            .and_then(|w| i32::try_from(w).ok()),
        promoted: stable_rs.is_some() && stable_rs == text(status, "CurrentPodHash"),
        hashes: Hashes {
            canary: text(status, "CurrentPodHash").unwrap_or_default(),
            stable: stable_rs.clone().unwrap_or_default(),
        },
        aborted: matches!(
            status.and_then(|s| s.field("Abort")),
            Some(Value::Bool(true))
        ),
        plugin_name: plugin_name.to_owned(),
        config,
        previous_additional: status
            .and_then(|s| s.field("Canary"))
            .and_then(|c| c.field("Weights"))
            .and_then(|w| w.field("Additional"))
            .map(Value::elements)
            .unwrap_or_default()
            .iter()
            .filter_map(|d| text(Some(d), "ServiceName"))
            .filter(|n| !n.is_empty())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn st(fields: Vec<(&str, Value)>) -> Value {
        Value::Struct(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The shape Argo's gob encoder sends for a promoted, aborted rollout
    /// with a header and a mirror route.
    fn argo_rollout(status: Value) -> Value {
        with_config(status, br#"{"verify":"NotVerified"}"#.to_vec())
    }

    fn with_config(status: Value, config: Vec<u8>) -> Value {
        st(vec![
            (
                "ObjectMeta",
                st(vec![
                    ("Name", s("web")),
                    ("Namespace", s("shop")),
                    ("UID", s("u-1")),
                ]),
            ),
            (
                "Spec",
                st(vec![(
                    "Strategy",
                    st(vec![(
                        "Canary",
                        st(vec![
                            ("CanaryService", s("web-canary")),
                            ("StableService", s("web-stable")),
                            (
                                "Steps",
                                Value::Slice(vec![
                                    st(vec![("SetHeaderRoute", st(vec![("Name", s("beta"))]))]),
                                    st(vec![("SetMirrorRoute", st(vec![("Name", s("shadow"))]))]),
                                ]),
                            ),
                            (
                                "TrafficRouting",
                                st(vec![
                                    (
                                        "ManagedRoutes",
                                        Value::Slice(vec![
                                            st(vec![("Name", s("beta"))]),
                                            st(vec![("Name", s("shadow"))]),
                                        ]),
                                    ),
                                    ("MaxTrafficWeight", Value::Int(1000)),
                                    (
                                        "Plugins",
                                        Value::Map(vec![(
                                            s("rollgate/journal"),
                                            Value::Bytes(config),
                                        )]),
                                    ),
                                ]),
                            ),
                        ]),
                    )]),
                )]),
            ),
            ("Status", status),
        ])
    }

    #[test]
    fn the_context_is_read_from_argos_call() {
        let status = st(vec![
            ("StableRS", s("abc")),
            ("CurrentPodHash", s("abc")),
            ("Abort", Value::Bool(true)),
        ]);
        let ctx = context(&argo_rollout(status), "rollgate/journal").unwrap();
        assert_eq!(
            ctx,
            RolloutContext {
                previous_additional: Vec::new(),
                name: "web".into(),
                namespace: "shop".into(),
                uid: Some("u-1".into()),
                canary_service: "web-canary".into(),
                stable_service: "web-stable".into(),
                managed_routes: vec![
                    ManagedRoute {
                        name: "beta".into(),
                        kind: RouteStep::Header
                    },
                    ManagedRoute {
                        name: "shadow".into(),
                        kind: RouteStep::Mirror
                    },
                ],
                max_traffic_weight: Some(1000),
                promoted: true,
                aborted: true,
                plugin_name: "rollgate/journal".into(),
                config: serde_json::json!({"verify": "NotVerified"}),
                hashes: Hashes {
                    canary: "abc".into(),
                    stable: "abc".into(),
                },
            }
        );
    }

    #[test]
    fn a_rollout_mid_update_is_neither_promoted_nor_aborted() {
        let status = st(vec![("StableRS", s("abc")), ("CurrentPodHash", s("def"))]);
        let ctx = context(&argo_rollout(status), "rollgate/journal").unwrap();
        assert!(!ctx.promoted && !ctx.aborted);
        let err = context(&argo_rollout(st(vec![])), "rollgate/nginx").unwrap_err();
        assert_eq!(err.kind(), router_core::ErrorKind::Config);
        assert_eq!(
            err.to_string(),
            "rollout shop/web: spec.strategy.canary.trafficRouting.plugins: no entry \"rollgate/nginx\""
        );
    }

    #[test]
    fn a_config_over_the_size_limit_is_refused_unread() {
        let mut config = br#"{"verify":""#.to_vec();
        config.resize(crate::MAX_PLUGIN_CONFIG_BYTES + 1, b' ');
        let err = context(&with_config(st(vec![]), config), "rollgate/journal").unwrap_err();
        assert_eq!(err.kind(), router_core::ErrorKind::Config);
        assert_eq!(
            err.to_string(),
            "rollout shop/web: spec.strategy.canary.trafficRouting.plugins[\"rollgate/journal\"]: \
             1048577 bytes, more than the limit of 1048576 bytes"
        );
        let err = context(&with_config(st(vec![]), b"{".to_vec()), "rollgate/journal").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "rollout shop/web: spec.strategy.canary.trafficRouting.plugins[\"rollgate/journal\"]: not JSON: "
            ),
            "{err}"
        );
    }
}

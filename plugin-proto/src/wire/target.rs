//! [`TrafficTarget`] and its parts on the wire.

use rollout_core::spec::{HeaderMatch, MirrorMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use rollout_core::status::WeightDestination;
use router_core::{Error, Hashes, Routes, TrafficTarget};

use super::{pb, refused};

impl From<&TrafficTarget> for pb::TrafficTarget {
    fn from(t: &TrafficTarget) -> Self {
        use pb::traffic_target::Routes as Oneof;
        Self {
            canary_weight: t.canary_weight,
            hashes: t.hashes.as_ref().map(|h| pb::Hashes {
                canary: h.canary.clone(),
                stable: h.stable.clone(),
            }),
            additional: t.additional.iter().map(Into::into).collect(),
            routes: Some(match &t.routes {
                Routes::AsIs => Oneof::AsIs(pb::AsIs {}),
                Routes::Exactly { header, mirror } => Oneof::Exactly(pb::ExactRoutes {
                    header: header.iter().map(Into::into).collect(),
                    mirror: mirror.iter().map(Into::into).collect(),
                }),
                Routes::Header(h) => Oneof::Header(h.into()),
                Routes::Mirror(m) => Oneof::Mirror(m.into()),
            }),
        }
    }
}

/// A target from the wire: the routes `oneof` must be set (a peer that
/// sets a kind of routes this version does not know is refused rather than
/// read as "leave the routes as they are").
pub(super) fn target_from(call: &str, t: pb::TrafficTarget) -> Result<TrafficTarget, Error> {
    use pb::traffic_target::Routes as Oneof;
    let routes = match t.routes {
        Some(Oneof::AsIs(pb::AsIs {})) => Routes::AsIs,
        Some(Oneof::Exactly(e)) => Routes::Exactly {
            header: e.header.into_iter().map(Into::into).collect(),
            mirror: e.mirror.into_iter().map(Into::into).collect(),
        },
        Some(Oneof::Header(h)) => Routes::Header(h.into()),
        Some(Oneof::Mirror(m)) => Routes::Mirror(m.into()),
        None => {
            return Err(refused(
                call,
                "target.routes",
                "not set; expected one of as_is, exactly, header, mirror",
            ));
        }
    };
    Ok(TrafficTarget {
        canary_weight: t.canary_weight,
        hashes: t.hashes.map(|h| Hashes {
            canary: h.canary,
            stable: h.stable,
        }),
        additional: t.additional.into_iter().map(Into::into).collect(),
        routes,
    })
}

impl From<&WeightDestination> for pb::WeightDestination {
    fn from(d: &WeightDestination) -> Self {
        Self {
            weight: d.weight,
            service_name: d.service_name.clone(),
            pod_template_hash: d.pod_template_hash.clone(),
        }
    }
}

impl From<pb::WeightDestination> for WeightDestination {
    fn from(d: pb::WeightDestination) -> Self {
        Self {
            weight: d.weight,
            service_name: d.service_name,
            pod_template_hash: d.pod_template_hash,
        }
    }
}

impl From<&StringMatch> for pb::StringMatch {
    fn from(m: &StringMatch) -> Self {
        Self {
            exact: m.exact.clone(),
            prefix: m.prefix.clone(),
            regex: m.regex.clone(),
        }
    }
}

impl From<pb::StringMatch> for StringMatch {
    fn from(m: pb::StringMatch) -> Self {
        Self {
            exact: m.exact,
            prefix: m.prefix,
            regex: m.regex,
        }
    }
}

impl From<&SetHeaderRoute> for pb::HeaderRoute {
    fn from(r: &SetHeaderRoute) -> Self {
        Self {
            name: r.name.clone(),
            matches: r
                .matches
                .iter()
                .map(|m| pb::HeaderMatch {
                    header_name: m.header_name.clone(),
                    header_value: Some((&m.header_value).into()),
                })
                .collect(),
        }
    }
}

impl From<pb::HeaderRoute> for SetHeaderRoute {
    fn from(r: pb::HeaderRoute) -> Self {
        Self {
            name: r.name,
            matches: r
                .matches
                .into_iter()
                .map(|m| HeaderMatch {
                    header_name: m.header_name,
                    // Absent is what an empty match encodes to.
                    header_value: m.header_value.map(Into::into).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

impl From<&SetMirrorRoute> for pb::MirrorRoute {
    fn from(r: &SetMirrorRoute) -> Self {
        Self {
            name: r.name.clone(),
            matches: r
                .matches
                .iter()
                .map(|m| pb::MirrorMatch {
                    method: m.method.as_ref().map(Into::into),
                    path: m.path.as_ref().map(Into::into),
                    headers: m
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.into()))
                        .collect(),
                })
                .collect(),
            percentage: r.percentage,
        }
    }
}

impl From<pb::MirrorRoute> for SetMirrorRoute {
    fn from(r: pb::MirrorRoute) -> Self {
        Self {
            name: r.name,
            matches: r
                .matches
                .into_iter()
                .map(|m| MirrorMatch {
                    method: m.method.map(Into::into),
                    path: m.path.map(Into::into),
                    headers: m.headers.into_iter().map(|(k, v)| (k, v.into())).collect(),
                })
                .collect(),
            percentage: r.percentage,
        }
    }
}

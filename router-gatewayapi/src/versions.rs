//! Which version of each route kind the API server serves.
//!
//! Gateway API moves kinds between versions: since v1.5 the standard
//! channel serves TCPRoute and TLSRoute only as `v1` (`v1alpha2` no longer
//! served), while clusters with older CRDs serve them only as `v1alpha2`.
//! The router asks the API server (discovery of `gateway.networking.k8s.io`)
//! at start and again whenever a request for a route comes back 404, and
//! uses each kind's most stable served version. Until the first discovery
//! every kind is assumed at `v1`. A discovery that moves a kind to another
//! version says which resources are no longer used, so that the router
//! stops the applier's watches of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::api::ApiResource;
use router_kube::client::request_error;

use crate::config::RouteKind;

/// The Gateway API group.
pub(crate) const GROUP: &str = "gateway.networking.k8s.io";

const KINDS: [RouteKind; 4] = [
    RouteKind::Http,
    RouteKind::Grpc,
    RouteKind::Tcp,
    RouteKind::Tls,
];

/// What discovery found for one kind.
#[derive(Debug, Clone, PartialEq)]
enum Served {
    At(ApiResource),
    Nowhere,
}

/// The served version of each route kind, and whether the served HTTPRoute
/// has `spec.rules[].sessionPersistence` (unknown until first asked),
/// shared by every clone of a router.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServedVersions(
    Arc<RwLock<HashMap<RouteKind, Served>>>,
    Arc<RwLock<Option<bool>>>,
);

/// `kind` at `version` in the Gateway API group.
pub(crate) fn at_version(kind: RouteKind, version: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: version.into(),
        api_version: format!("{GROUP}/{version}"),
        kind: kind.kind().into(),
        plural: format!("{}s", kind.kind().to_lowercase()),
    }
}

impl ServedVersions {
    /// The resource to use for `kind`: as discovered, else `v1`.
    ///
    /// # Errors
    ///
    /// When discovery found that the API server serves the kind in no version.
    pub(crate) fn resource(&self, kind: RouteKind) -> Result<ApiResource, crate::Error> {
        let known = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&kind)
            .cloned();
        match known {
            Some(Served::At(resource)) => Ok(resource),
            None => Ok(at_version(kind, "v1")),
            Some(Served::Nowhere) => Err(crate::Error::Route {
                route: kind.kind().to_owned(),
                message: format!(
                    "the API server serves {}s.{GROUP} in no version (install Gateway API CRDs \
                     that include {})",
                    kind.kind().to_lowercase(),
                    kind.kind()
                ),
            }),
        }
    }

    /// Asks the API server which version of each route kind it serves (its
    /// most stable one) and remembers it; returns the resources used until
    /// now that are not any more (a kind at its previous version).
    pub(crate) async fn discover(
        &self,
        client: &kube::Client,
    ) -> Result<Vec<ApiResource>, router_core::Error> {
        let group = match kube::discovery::group(client, GROUP).await {
            Ok(group) => Some(group),
            Err(kube::Error::Discovery(_)) => None,
            Err(e) => return Err(request_error(format!("discovery of {GROUP}"), &e)),
        };
        let found = group
            .map(|g| g.resources_by_stability())
            .unwrap_or_default();
        let mut served = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut retired = Vec::new();
        for kind in KINDS {
            let resource = found
                .iter()
                .find(|(r, _)| r.kind == kind.kind())
                .map(|(r, _)| r.clone());
            let entry = resource.map_or(Served::Nowhere, Served::At);
            if served.get(&kind) != Some(&entry) {
                tracing::info!(kind = kind.kind(), served = ?entry_version(&entry), "Gateway API version");
            }
            // Before any discovery the kind was used at v1.
            let used = match served.insert(kind, entry.clone()) {
                Some(Served::At(resource)) => Some(resource),
                Some(Served::Nowhere) => None,
                None => Some(at_version(kind, "v1")),
            };
            if let Some(used) = used
                && entry != Served::At(used.clone())
            {
                retired.push(used);
            }
        }
        Ok(retired)
    }

    /// After a 404 for `kind`: discovers again. Says whether the version to
    /// use for `kind` changed (the request is worth sending again), and
    /// which resources are no longer used.
    pub(crate) async fn rediscover_after_not_found(
        &self,
        client: &kube::Client,
        kind: RouteKind,
    ) -> Result<Rediscovered, router_core::Error> {
        let before = self.resource(kind).ok();
        let retired = self.discover(client).await?;
        let now = self.resource(kind).ok();
        if kind == RouteKind::Http && now != before {
            self.forget_session_persistence();
        }
        Ok(Rediscovered {
            changed: now.is_some() && now != before,
            retired,
        })
    }
}

impl ServedVersions {
    /// Whether the HTTPRoute the API server serves has
    /// `spec.rules[].sessionPersistence` (Gateway API's experimental
    /// channel CRDs have it, the standard channel's do not, and an API
    /// server drops fields its schema lacks). Read once from the group's
    /// OpenAPI v3 document (`/openapi/v3/apis/gateway.networking.k8s.io/<version>`,
    /// readable by every authenticated client), then remembered until a
    /// discovery after a 404 finds HTTPRoute at another version.
    ///
    /// # Errors
    ///
    /// When the document cannot be read.
    pub(crate) async fn session_persistence(
        &self,
        client: &kube::Client,
    ) -> Result<bool, router_core::Error> {
        let known = *self
            .1
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = known {
            return Ok(known);
        }
        let version = self.resource(RouteKind::Http)?.version;
        let what = format!("the OpenAPI schema of {GROUP}/{version}");
        let request = http::Request::get(format!("/openapi/v3/apis/{GROUP}/{version}"))
            .body(Vec::new())
            .map_err(|e| {
                router_core::Error::new(router_core::ErrorKind::Internal, format!("{what}: {e}"))
            })?;
        let text = client
            .request_text(request)
            .await
            .map_err(|e| request_error(what.clone(), &e))?;
        let document: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            router_core::Error::new(
                router_core::ErrorKind::Internal,
                format!("{what}: not JSON: {e}"),
            )
        })?;
        let served = rules_have_session_persistence(&document);
        tracing::info!(served, "HTTPRoute spec.rules[].sessionPersistence");
        *self
            .1
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(served);
        Ok(served)
    }

    /// Forgets what [`session_persistence`](Self::session_persistence) found.
    fn forget_session_persistence(&self) {
        *self
            .1
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// Whether an OpenAPI v3 document's HTTPRoute schema has
/// `spec.rules[].sessionPersistence`.
fn rules_have_session_persistence(document: &serde_json::Value) -> bool {
    let schemas = document["components"]["schemas"].as_object();
    schemas.into_iter().flatten().any(|(_, schema)| {
        let http_route = schema["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|gvk| gvk["group"] == GROUP && gvk["kind"] == RouteKind::Http.kind());
        http_route
            && schema["properties"]["spec"]["properties"]["rules"]["items"]["properties"]
                ["sessionPersistence"]
                .is_object()
    })
}

/// What a discovery after a 404 found.
#[derive(Debug)]
pub(crate) struct Rediscovered {
    /// The kind asked about is served at another version now.
    pub(crate) changed: bool,
    /// Resources used until now and not any more.
    pub(crate) retired: Vec<ApiResource>,
}

fn entry_version(entry: &Served) -> Option<&str> {
    match entry {
        Served::At(r) => Some(&r.version),
        Served::Nowhere => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_persistence_is_read_from_the_http_route_schema() {
        let document = |rule: serde_json::Value| {
            serde_json::json!({"components": {"schemas": {
                "io.k8s.networking.gateway.v1.HTTPRoute": {
                    "x-kubernetes-group-version-kind": [
                        {"group": GROUP, "kind": "HTTPRoute", "version": "v1"}],
                    "properties": {"spec": {"properties": {"rules": {"items": {
                        "properties": rule}}}}}}}}})
        };
        let experimental = document(serde_json::json!({"sessionPersistence": {"type": "object"}}));
        assert!(rules_have_session_persistence(&experimental));
        let standard = document(serde_json::json!({"timeouts": {"type": "object"}}));
        assert!(!rules_have_session_persistence(&standard));
        assert!(!rules_have_session_persistence(&serde_json::json!({})));
    }

    #[test]
    fn every_kind_is_v1_until_discovered() {
        let versions = ServedVersions::default();
        let tcp = versions.resource(RouteKind::Tcp).unwrap();
        assert_eq!(tcp.api_version, "gateway.networking.k8s.io/v1");
        assert_eq!(tcp.plural, "tcproutes");
    }
}

//! Every request a Kubernetes client sends, counted by resource, namespace,
//! name, verb and status code, as Argo's controller counts them
//! (argoproj/pkg's `kubeclientmetrics`): rollgate-controller's
//! `controller_clientset_k8s_request_total` and the plugins'
//! `rollgate_plugin_k8s_request_total`.
//!
//! The count is a tower layer on the kube client ([`CountRequests`]); the
//! labels come from the request's method and path ([`RequestLabels::of`]).
//! A request that gets no answer (the connection failed) is not counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// The labels of one request, with Argo's label names and values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The resource (plural, as in the path: `rollouts`, `replicasets`).
    pub kind: String,
    /// The namespace, empty for a cluster-scoped resource.
    pub namespace: String,
    /// The object's name; `N/A` for a list or watch and for Events and
    /// ReplicaSets (Argo's rule, which keeps the series few).
    pub name: String,
    /// `Get`, `List`, `Watch`, `Create`, `Update`, `Patch`, `Delete` or `Unknown`.
    pub verb: String,
    /// The answer's HTTP status code.
    pub status_code: String,
}

impl RequestLabels {
    /// The labels of a request by method, path and query, before its status
    /// code is known (empty until [`RequestLabels::answered`]).
    ///
    /// ```
    /// use http::Method;
    /// use router_kube::metrics::requests::RequestLabels;
    /// let l = RequestLabels::of(&Method::PATCH, "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status", None);
    /// assert_eq!((l.kind.as_str(), l.namespace.as_str(), l.name.as_str(), l.verb.as_str()),
    ///            ("rollouts", "shop", "web", "Patch"));
    /// let l = RequestLabels::of(&Method::GET, "/apis/apps/v1/replicasets", Some("watch=true&resourceVersion=5"));
    /// assert_eq!((l.kind.as_str(), l.name.as_str(), l.verb.as_str()), ("replicasets", "N/A", "Watch"));
    /// ```
    pub fn of(method: &Method, path: &str, query: Option<&str>) -> Self {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        // /api/v1/... or /apis/<group>/<version>/...
        let rest = match parts.as_slice() {
            ["api", _version, rest @ ..] => Some(rest),
            ["apis", _group, _version, rest @ ..] => Some(rest),
            _ => None,
        };
        let (namespace, kind, name) = match rest {
            Some(["namespaces", ns, kind, name, ..]) => (*ns, *kind, Some(*name)),
            Some(["namespaces", ns, kind]) => (*ns, *kind, None),
            Some([kind, name, ..]) => ("", *kind, Some(*name)),
            Some([kind]) => ("", *kind, None),
            _ => ("", "", None),
        };
        let watch =
            query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        let verb = match (method, name.is_some(), rest.is_some() && !kind.is_empty()) {
            (_, _, false) => "Unknown",
            (&Method::GET, _, _) if watch => "Watch",
            (&Method::GET, true, _) => "Get",
            (&Method::GET, false, _) => "List",
            (&Method::POST, _, _) => "Create",
            (&Method::PUT, _, _) => "Update",
            (&Method::PATCH, _, _) => "Patch",
            (&Method::DELETE, _, _) => "Delete",
            _ => "Unknown",
        };
        if verb == "Unknown" {
            return Self {
                kind: "Unknown".into(),
                namespace: "Unknown".into(),
                name: "Unknown".into(),
                verb: verb.into(),
                status_code: String::new(),
            };
        }
        let name = match name {
            Some(name)
                if !matches!(verb, "List" | "Watch")
                    && kind != "events"
                    && kind != "replicasets" =>
            {
                name.to_owned()
            }
            _ => "N/A".to_owned(),
        };
        Self {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name,
            verb: verb.to_owned(),
            status_code: String::new(),
        }
    }

    /// The labels with the answer's status code.
    pub fn answered(self, status: http::StatusCode) -> Self {
        Self {
            status_code: status.as_u16().to_string(),
            ..self
        }
    }
}

/// The counter family, shared by the layer and the registry.
pub type RequestCounts = Family<RequestLabels, Counter>;

/// A tower layer counting every answered request into a [`RequestCounts`].
#[derive(Debug, Clone)]
pub struct CountRequests(pub Arc<RequestCounts>);

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counts: self.0.clone(),
        }
    }
}

/// The service [`CountRequests`] makes.
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    counts: Arc<RequestCounts>,
}

impl<S, B, R> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let labels = RequestLabels::of(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        );
        let counts = self.counts.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            counts
                .get_or_create(&labels.answered(response.status()))
                .inc();
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verb(method: Method, path: &str, query: Option<&str>) -> String {
        RequestLabels::of(&method, path, query).verb
    }

    #[test]
    fn verbs_as_argo_resolves_them() {
        assert_eq!(
            verb(Method::GET, "/api/v1/namespaces/default/pods", None),
            "List"
        );
        assert_eq!(verb(Method::GET, "/api/v1/pods", None), "List");
        assert_eq!(
            verb(Method::GET, "/api/v1/namespaces/default/pods/p-1", None),
            "Get"
        );
        assert_eq!(verb(Method::GET, "/api/v1/namespaces", None), "List");
        assert_eq!(verb(Method::GET, "/api/v1/namespaces/default", None), "Get");
        assert_eq!(verb(Method::GET, "/apis/apps/v1/replicasets", None), "List");
        assert_eq!(
            verb(
                Method::GET,
                "/apis/argoproj.io/v1alpha1/namespaces/a/rollouts/my.name.with.dots",
                None
            ),
            "Get"
        );
        assert_eq!(
            verb(
                Method::GET,
                "/api/v1/namespaces",
                Some("fieldSelector=metadata.name%3Ddefault&watch=true")
            ),
            "Watch"
        );
        assert_eq!(verb(Method::POST, "/api/v1/namespaces", None), "Create");
        assert_eq!(
            verb(Method::DELETE, "/api/v1/namespaces/test", None),
            "Delete"
        );
        assert_eq!(
            verb(Method::PATCH, "/api/v1/namespaces/test", None),
            "Patch"
        );
        assert_eq!(verb(Method::PUT, "/api/v1/namespaces/test", None), "Update");
    }

    #[test]
    fn names_of_lists_events_and_replica_sets_are_not_labels() {
        let of = |method, path| RequestLabels::of(&method, path, None);
        assert_eq!(
            of(Method::POST, "/apis/events.k8s.io/v1/namespaces/a/events").name,
            "N/A"
        );
        assert_eq!(
            of(
                Method::PATCH,
                "/apis/apps/v1/namespaces/a/replicasets/web-1"
            )
            .name,
            "N/A"
        );
        let lease = of(
            Method::PUT,
            "/apis/coordination.k8s.io/v1/namespaces/ops/leases/rollgate-controller-lock",
        );
        assert_eq!(
            (
                lease.kind.as_str(),
                lease.namespace.as_str(),
                lease.name.as_str()
            ),
            ("leases", "ops", "rollgate-controller-lock")
        );
    }

    #[test]
    fn an_unrecognised_path_is_unknown_throughout() {
        let l = RequestLabels::of(&Method::GET, "/version", None);
        assert_eq!(
            (
                l.kind.as_str(),
                l.namespace.as_str(),
                l.name.as_str(),
                l.verb.as_str()
            ),
            ("Unknown", "Unknown", "Unknown", "Unknown")
        );
    }

    #[tokio::test]
    async fn the_layer_counts_answers_by_status_code() {
        use tower::{Layer, ServiceExt};
        let counts = Arc::new(RequestCounts::default());
        let service =
            CountRequests(counts.clone()).layer(tower::service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::builder().status(404).body(()).unwrap())
            }));
        let request = Request::get("/apis/argoproj.io/v1alpha1/namespaces/a/rollouts/web")
            .body(())
            .unwrap();
        service.oneshot(request).await.unwrap();
        let labels = RequestLabels::of(
            &Method::GET,
            "/apis/argoproj.io/v1alpha1/namespaces/a/rollouts/web",
            None,
        )
        .answered(http::StatusCode::NOT_FOUND);
        assert_eq!(counts.get_or_create(&labels).get(), 1);
    }
}

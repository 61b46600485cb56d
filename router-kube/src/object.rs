//! Naming one Kubernetes object, and what the applier keeps of one.

use kube::api::ApiResource;
use serde_json::Value;

/// One object of the API: its resource (group, version, kind, plural), its
/// namespace (empty for a cluster-scoped resource) and its name.
///
/// ```
/// use kube::api::ApiResource;
/// use router_kube::ObjectRef;
/// let routes = ApiResource {
///     group: "gateway.networking.k8s.io".into(),
///     version: "v1".into(),
///     api_version: "gateway.networking.k8s.io/v1".into(),
///     kind: "HTTPRoute".into(),
///     plural: "httproutes".into(),
/// };
/// let web = ObjectRef::new(&routes, "shop", "web");
/// assert_eq!(web.label(), "HTTPRoute shop/web");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// The object's resource.
    pub resource: ApiResource,
    /// Its namespace; empty when the resource is cluster-scoped.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// The object `name` of `resource` in `namespace`.
    pub fn new(resource: &ApiResource, namespace: &str, name: &str) -> Self {
        Self {
            resource: resource.clone(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// How errors and logs name it: `<Kind> <namespace>/<name>`, or
    /// `<Kind> <name>` when cluster-scoped.
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.resource.kind, self.name)
        } else {
            format!("{} {}/{}", self.resource.kind, self.namespace, self.name)
        }
    }

    /// The namespace as kube's request builders take it.
    pub(crate) fn namespace(&self) -> Option<&str> {
        Some(self.namespace.as_str()).filter(|n| !n.is_empty())
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// An object of `resource` as the applier hands it to plans: without
/// `metadata.managedFields` (which no plan reads, and which is often larger
/// than the rest of the object), and with `apiVersion` and `kind` (which
/// the items of a list response lack).
pub(crate) fn normalize(resource: &ApiResource, object: &mut Value) {
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    if let Some(metadata) = fields.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    fields
        .entry("apiVersion")
        .or_insert_with(|| Value::from(resource.api_version.as_str()));
    fields
        .entry("kind")
        .or_insert_with(|| Value::from(resource.kind.as_str()));
}

/// `metadata.resourceVersion`, if the object has one.
pub(crate) fn resource_version(object: &Value) -> Option<&str> {
    object["metadata"]["resourceVersion"].as_str()
}

//! Objects kept compactly in memory, for every watch cache of Rollgate:
//! [`CompressedJson`], a value's JSON text compressed with LZ4, and
//! [`Packed`], a Kubernetes object whose metadata stays readable while the
//! rest of it is kept as [`CompressedJson`], in the form a kube-runtime
//! reflector store can hold.
//!
//! Parsed, an object costs about ten times its JSON text (every map is a
//! tree of nodes, every string an allocation of its own); its text,
//! compressed, about half of the text (BENCHMARKS.md, "The applier's watch
//! cache" and the controller's settled runs). Reading one back parses it
//! again, so a cache of packed objects trades CPU on each read for memory.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use kube::Resource;
use kube::api::ObjectMeta;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// Kubernetes and Argo Rollouts JSON as serialized here (a Rollout, a
/// ReplicaSet, a Deployment, a Service, an AnalysisRun and the routers'
/// objects, compact, keys sorted), the dictionary every [`CompressedJson`]
/// is compressed against: a small object alone gives LZ4 little to refer
/// back to, while most of its keys and many of its values (field names,
/// `apps/v1`, `IfNotPresent`, condition reasons...) are in here. Only held
/// in memory, so it may change between versions freely.
const DICTIONARY: &[u8] = include_bytes!("packed_dictionary.json");

/// A value's JSON text, LZ4-compressed against a dictionary of Kubernetes
/// and Argo Rollouts JSON (its length first).
///
/// ```
/// use router_kube::CompressedJson;
/// use serde_json::json;
/// let text = CompressedJson::from_value(&json!({"data": {"weight": "30"}}));
/// let back: serde_json::Value = text.decode("ConfigMap shop/web").unwrap();
/// assert_eq!(back["data"]["weight"], "30");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CompressedJson(Box<[u8]>);

impl CompressedJson {
    /// `value` as compressed JSON text.
    ///
    /// # Errors
    ///
    /// `value` does not serialize as JSON (a map with keys that are not
    /// strings, or a type whose `Serialize` fails).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(|text| Self::compress(&text))
    }

    /// A JSON value as compressed text (a [`Value`] always serializes).
    pub fn from_value(value: &Value) -> Self {
        Self::compress(&serde_json::to_vec(value).unwrap_or_default())
    }

    fn compress(text: &[u8]) -> Self {
        Self(lz4_flex::block::compress_prepend_size_with_dict(text, DICTIONARY).into_boxed_slice())
    }

    /// The value, decompressed and parsed again as a `T`; `what` names it
    /// in the error.
    ///
    /// # Errors
    ///
    /// [`Error::Unpack`] if the text does not decompress or does not read
    /// as a `T`.
    pub fn decode<T: DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        let unpack = |message: String| Error::Unpack {
            object: what.to_owned(),
            message,
        };
        let text = lz4_flex::block::decompress_size_prepended_with_dict(&self.0, DICTIONARY)
            .map_err(|e| unpack(format!("does not decompress: {e}")))?;
        serde_json::from_slice(&text).map_err(|e| unpack(format!("does not read back: {e}")))
    }

    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds nothing (never: even empty text has its length).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for CompressedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompressedJson({} bytes)", self.0.len())
    }
}

/// A Kubernetes object of type `K` held compactly: the parts of its
/// metadata that caches look objects up by (see [`Packed::meta`]), parsed,
/// and everything else (the rest of the metadata, `spec`, `status`,
/// `data`, ...) as [`CompressedJson`]. It is a [`Resource`] of `K`'s kind,
/// and it reads from JSON as a `K` does (the object is read as a `K`, then
/// packed), so a kube-runtime watcher and reflector can keep `Packed<K>` in
/// place of `K`: what selects, keys and maps objects by names, labels,
/// owner references or versions works unchanged, and [`Packed::unpack`]
/// gives the whole object back.
///
/// Two things are dropped when packing, as no cache reads them and either
/// can be most of a small object's size: `managedFields` and the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation.
///
/// ```
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kube::ResourceExt;
/// use router_kube::Packed;
/// let packed: Packed<ConfigMap> = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
///                  "annotations": {"team": "shop"},
///                  "managedFields": [{"manager": "kubectl"}]},
///     "data": {"weight": "30"}})).unwrap();
/// assert_eq!(packed.labels()["app"], "web");
/// // Annotations are packed: not in the parsed metadata, back on unpack.
/// assert!(packed.annotations().is_empty());
/// let config_map = packed.unpack().unwrap();
/// assert_eq!(config_map.data.unwrap()["weight"], "30");
/// assert_eq!(config_map.metadata.name.as_deref(), Some("web"));
/// assert_eq!(config_map.metadata.annotations.unwrap()["team"], "shop");
/// assert_eq!(config_map.metadata.managed_fields, None);
/// ```
pub struct Packed<K> {
    /// The lookup fields of the metadata ([`Packed::meta`]).
    metadata: ObjectMeta,
    /// The object without those fields: its other metadata (under
    /// `metadata`, when there is any) and everything else.
    rest: CompressedJson,
    kind: PhantomData<fn() -> K>,
}

/// `kubectl apply`'s copy of the object as last applied, dropped when
/// packing.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Moves the metadata that lookups do not read out of `metadata` (which
/// keeps name, namespace, uid, resourceVersion, generation, labels, owner
/// references and deletionTimestamp): annotations (without
/// [`LAST_APPLIED_ANNOTATION`]), creationTimestamp, deletionGracePeriodSeconds,
/// finalizers, generateName and selfLink. Managed fields are dropped.
fn split_metadata(metadata: &mut ObjectMeta) -> ObjectMeta {
    metadata.managed_fields = None;
    let mut annotations = metadata.annotations.take();
    if let Some(map) = annotations.as_mut() {
        map.remove(LAST_APPLIED_ANNOTATION);
    }
    ObjectMeta {
        annotations: annotations.filter(|map| !map.is_empty()),
        creation_timestamp: metadata.creation_timestamp.take(),
        deletion_grace_period_seconds: metadata.deletion_grace_period_seconds.take(),
        finalizers: metadata.finalizers.take(),
        generate_name: metadata.generate_name.take(),
        self_link: metadata.self_link.take(),
        ..ObjectMeta::default()
    }
}

impl<K: Resource + Serialize + DeserializeOwned> Packed<K> {
    /// `object`, packed (its managed fields and [`LAST_APPLIED_ANNOTATION`] dropped).
    ///
    /// # Errors
    ///
    /// `object` does not serialize as JSON.
    pub fn new(object: &K) -> Result<Self, serde_json::Error> {
        let mut value = serde_json::to_value(object)?;
        let mut metadata = object.meta().clone();
        let other = serde_json::to_value(split_metadata(&mut metadata))?;
        if let Some(fields) = value.as_object_mut() {
            match other {
                Value::Object(map) if !map.is_empty() => {
                    fields.insert("metadata".into(), Value::Object(map));
                }
                _ => {
                    fields.remove("metadata");
                }
            }
        }
        Ok(Self {
            metadata,
            rest: CompressedJson::from_value(&value),
            kind: PhantomData,
        })
    }

    /// The whole object again: the lookup fields of the metadata as they
    /// are now (with any change made through
    /// [`meta_mut`](Resource::meta_mut)), the packed metadata, and the rest,
    /// decompressed and read. A packed field set through `meta_mut` (say,
    /// annotations) replaces the packed one.
    ///
    /// # Errors
    ///
    /// [`Error::Unpack`], naming the object, if the packed text does not
    /// read back as a `K` (it always does: it was written from one).
    pub fn unpack(&self) -> Result<K, Error> {
        let what = self.label();
        let mut value: Value = self.rest.decode(&what)?;
        let parsed = serde_json::to_value(&self.metadata).map_err(|e| Error::Unpack {
            object: what.clone(),
            message: format!("its metadata does not serialize: {e}"),
        })?;
        if let Some(fields) = value.as_object_mut() {
            let mut metadata = match fields.remove("metadata") {
                Some(Value::Object(packed)) => packed,
                _ => serde_json::Map::new(),
            };
            if let Value::Object(parsed) = parsed {
                metadata.extend(parsed);
            }
            fields.insert("metadata".into(), Value::Object(metadata));
        }
        serde_json::from_value(value).map_err(|e| Error::Unpack {
            object: what,
            message: format!("does not read back: {e}"),
        })
    }

    /// How many bytes the compressed part holds.
    pub fn packed_len(&self) -> usize {
        self.rest.len()
    }

    /// `<namespace>/<name>` (or `<name>`), as errors name it.
    fn label(&self) -> String {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        match self.metadata.namespace.as_deref() {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.to_owned(),
        }
    }
}

impl<K: Resource> Resource for Packed<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn api_version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::api_version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    /// The metadata that lookups read: name, namespace, uid,
    /// resourceVersion, generation, labels, owner references and
    /// deletionTimestamp. The rest of it (annotations, finalizers,
    /// creationTimestamp, ...) is packed: [`Packed::unpack`] has it.
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<'de, K: Resource + Serialize + DeserializeOwned> Deserialize<'de> for Packed<K> {
    /// Reads a `K` (so that what a `K` refuses is refused here too) and
    /// packs it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = K::deserialize(deserializer)?;
        Self::new(&object).map_err(serde::de::Error::custom)
    }
}

impl<K> Clone for Packed<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            rest: self.rest.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Packed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packed")
            .field("metadata", &self.metadata)
            .field("rest", &self.rest)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    use serde_json::json;

    fn replica_set() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "namespace": "shop", "uid": "rs-1",
                "resourceVersion": "42", "generation": 3,
                "labels": {"app": "web", "rollouts-pod-template-hash": "abc"},
                "annotations": {"rollout.argoproj.io/revision": "2"},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "name": "web", "uid": "r-1", "controller": true, "blockOwnerDeletion": true}],
                "managedFields": [{"manager": "rollgate-controller", "operation": "Update"}]},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "example.com/web:2",
                        "resources": {"limits": {"cpu": "500m"}}, "ports": [{"containerPort": 8080}]}]}}},
            "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2}
        })
    }

    #[test]
    fn a_typed_object_comes_back_whole_but_its_managed_fields() {
        let packed: Packed<ReplicaSet> = serde_json::from_value(replica_set()).unwrap();
        assert_eq!(packed.meta().managed_fields, None);
        assert_eq!(
            packed.meta().owner_references.as_ref().unwrap()[0].uid,
            "r-1"
        );
        let mut expected = replica_set();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let back = serde_json::to_value(packed.unpack().unwrap()).unwrap();
        assert_eq!(back, expected);
    }

    #[test]
    fn a_dynamic_object_comes_back_whole() {
        let resource =
            ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"));
        let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop", "generation": 2},
            "spec": {"replicas": 5, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
            "status": {"phase": "Paused", "currentStepIndex": 1}});
        let packed: Packed<DynamicObject> = serde_json::from_value(rollout.clone()).unwrap();
        assert_eq!(<Packed<DynamicObject>>::kind(&resource), "Rollout");
        assert_eq!(<Packed<DynamicObject>>::plural(&resource), "rollouts");
        let back = serde_json::to_value(packed.unpack().unwrap()).unwrap();
        assert_eq!(back, rollout);
    }

    #[test]
    fn only_the_lookup_fields_stay_parsed_and_the_rest_comes_back() {
        let mut rs = replica_set();
        rs["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = json!("{\"kind\":\"ReplicaSet\"}");
        rs["metadata"]["creationTimestamp"] = json!("2026-12-02T03:55:12Z");
        rs["metadata"]["finalizers"] = json!(["example.com/keep"]);
        rs["metadata"]["deletionTimestamp"] = json!("2026-12-02T04:00:00Z");
        let packed: Packed<ReplicaSet> = serde_json::from_value(rs).unwrap();
        let meta = serde_json::to_value(packed.meta()).unwrap();
        let mut parsed: Vec<&str> = meta
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        parsed.sort_unstable();
        assert_eq!(
            parsed,
            [
                "deletionTimestamp",
                "generation",
                "labels",
                "name",
                "namespace",
                "ownerReferences",
                "resourceVersion",
                "uid"
            ]
        );
        let back = packed.unpack().unwrap().metadata;
        assert_eq!(
            serde_json::to_value(&back.annotations).unwrap(),
            json!({"rollout.argoproj.io/revision": "2"}),
            "the last applied configuration is dropped, the other annotations come back"
        );
        assert_eq!(back.finalizers.unwrap(), ["example.com/keep"]);
        assert!(back.creation_timestamp.is_some() && back.deletion_timestamp.is_some());
        assert_eq!(back.managed_fields, None);
    }

    #[test]
    fn an_object_with_no_other_metadata_packs_none() {
        let packed: Packed<ReplicaSet> = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "shop",
                "annotations": {LAST_APPLIED_ANNOTATION: "{}"}},
            "spec": {"selector": {}}}))
        .unwrap();
        let rest: Value = packed.rest.decode("ReplicaSet shop/web-abc").unwrap();
        assert_eq!(
            rest,
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"selector": {}}})
        );
        let back = packed.unpack().unwrap();
        assert_eq!(back.metadata.annotations, None);
        assert_eq!(back.metadata.name.as_deref(), Some("web-abc"));
    }

    #[test]
    fn a_change_to_the_metadata_is_in_the_object_unpacked() {
        let mut packed: Packed<ReplicaSet> = serde_json::from_value(replica_set()).unwrap();
        packed.meta_mut().labels = None;
        packed.meta_mut().annotations =
            Some([("rollout.argoproj.io/revision".to_owned(), "3".to_owned())].into());
        let back = packed.unpack().unwrap();
        assert_eq!(back.metadata.labels, None);
        assert_eq!(
            back.metadata.annotations.unwrap()["rollout.argoproj.io/revision"],
            "3"
        );
        assert_eq!(back.spec.unwrap().replicas, Some(3));
    }

    #[test]
    fn what_the_type_refuses_does_not_pack() {
        let mut rs = replica_set();
        rs["spec"]["replicas"] = json!("three");
        let error = serde_json::from_value::<Packed<ReplicaSet>>(rs).unwrap_err();
        assert!(error.to_string().contains("invalid type"), "{error}");
    }

    #[test]
    fn the_dictionary_makes_a_small_object_smaller_and_it_reads_back() {
        let text = serde_json::to_vec(&replica_set()).unwrap();
        let alone = lz4_flex::block::compress_prepend_size(&text).len();
        let packed = CompressedJson::compress(&text);
        assert!(
            packed.len() * 4 < alone * 3,
            "{} bytes against the dictionary, {alone} alone",
            packed.len()
        );
        let back: Value = packed.decode("ReplicaSet shop/web-abc").unwrap();
        assert_eq!(back, replica_set());
    }

    #[test]
    fn text_that_does_not_decompress_names_the_object() {
        let broken = CompressedJson(vec![200, 0, 0, 0, 1, 2, 3].into_boxed_slice());
        let error = broken
            .decode::<Value>("ReplicaSet shop/web-abc")
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("ReplicaSet shop/web-abc: does not decompress"),
            "{error}"
        );
    }
}

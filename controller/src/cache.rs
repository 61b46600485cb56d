//! The controller's watch caches: kube-runtime reflector stores that keep
//! each object packed ([`router_kube::Packed`]: the metadata that lookups
//! read parsed — names, uid, resourceVersion, generation, labels, owner
//! references, deletionTimestamp — and the rest, annotations included,
//! LZ4-compressed JSON). What selects and maps objects by those fields
//! reads them as they are; a reconcile unpacks only the objects it works
//! on (the Rollout, its own ReplicaSets, its Services, its runs), each time
//! it needs them, and what needs an annotation (a Service's managed-by)
//! unpacks too.
//!
//! A settled Rollout held parsed costs about 22 KB (a `serde_json::Value`
//! tree is about ten times its JSON text), its ReplicaSet 7.5 KB; packed,
//! about 2 KB each, most of it the store's entry and the parsed lookup
//! fields (the `cache_footprint` bench, BENCHMARKS.md). Reading one back
//! parses it again, which reconciles pay only for their own objects.
//!
//! Managed fields and `kubectl apply`'s last applied configuration are not
//! kept at all ([`Packed::new`]).

use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use router_kube::Packed;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// A watch cache of `K`: a reflector store of packed objects.
pub type Cache<K> = Store<Packed<K>>;

/// The object under `key`, unpacked (`None` when the cache has none).
///
/// # Errors
///
/// [`Error::Cache`] if the cached copy does not read back (it always does:
/// it was packed from a `K`).
pub fn get<K>(cache: &Cache<K>, key: &ObjectRef<Packed<K>>) -> Result<Option<K>, Error>
where
    K: Resource + Serialize + DeserializeOwned + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    cache.get(key).map(|packed| unpack(&packed)).transpose()
}

/// The objects of `cache` whose metadata `keep` accepts, unpacked; the
/// others are not read.
///
/// # Errors
///
/// [`Error::Cache`] if a kept object does not read back.
pub fn select<K>(
    cache: &Cache<K>,
    keep: impl Fn(&kube::api::ObjectMeta) -> bool,
) -> Result<Vec<K>, Error>
where
    K: Resource + Serialize + DeserializeOwned + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    cache
        .state()
        .iter()
        .filter(|packed| keep(packed.meta()))
        .map(|packed| unpack(packed))
        .collect()
}

/// One cached object, unpacked.
///
/// # Errors
///
/// [`Error::Cache`] if it does not read back.
pub fn unpack<K>(packed: &Packed<K>) -> Result<K, Error>
where
    K: Resource + Serialize + DeserializeOwned,
{
    packed.unpack().map_err(|e| Error::Cache(Box::new(e)))
}

/// Unpacks `packed` for a caller that cannot fail (a watch's mapping of
/// changed objects to the Rollouts they wake): `None`, with a warning, when
/// it does not read back.
pub(crate) fn unpack_or_warn<K>(packed: &Packed<K>) -> Option<K>
where
    K: Resource + Serialize + DeserializeOwned,
{
    packed
        .unpack()
        .map_err(|error| tracing::warn!(%error, "a cached object does not read back; skipped"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher;
    use serde_json::json;

    fn packed(name: &str, owner: &str) -> Packed<ReplicaSet> {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                "rollout.argoproj.io/revision": "2"},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "name": owner, "uid": owner, "controller": true}],
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}
        }))
        .unwrap()
    }

    #[test]
    fn the_caches_keep_all_but_managed_fields_and_the_last_applied_configuration() {
        let packed = packed("web-abc", "web");
        assert_eq!(packed.meta().annotations, None, "annotations are packed");
        let rs = packed.unpack().unwrap();
        assert_eq!(rs.metadata.managed_fields, None);
        assert_eq!(
            serde_json::to_value(&rs.metadata.annotations).unwrap(),
            json!({"rollout.argoproj.io/revision": "2"})
        );
        assert_eq!(rs.spec.unwrap().replicas, Some(3));
    }

    #[test]
    fn reads_unpack_what_they_select_by_metadata() {
        let mut writer: Writer<Packed<ReplicaSet>> = Writer::default();
        for (name, owner) in [("web-abc", "web"), ("api-def", "api"), ("web-ghi", "web")] {
            writer.apply_watcher_event(&watcher::Event::Apply(packed(name, owner)));
        }
        let cache = writer.as_reader();
        let mut web: Vec<String> = select(&cache, |meta| {
            meta.owner_references
                .iter()
                .flatten()
                .any(|o| o.name == "web")
        })
        .unwrap()
        .into_iter()
        .map(|rs| rs.metadata.name.unwrap())
        .collect();
        web.sort();
        assert_eq!(web, ["web-abc", "web-ghi"]);
        let key = ObjectRef::new("api-def").within("shop");
        let api = get(&cache, &key).unwrap().unwrap();
        assert_eq!(api.spec.unwrap().replicas, Some(3));
        assert!(
            get(&cache, &ObjectRef::new("gone").within("shop"))
                .unwrap()
                .is_none()
        );
    }
}

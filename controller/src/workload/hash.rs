//! The pod template hash: the `rollouts-pod-template-hash` label value and
//! the suffix of a ReplicaSet's name.
//!
//! The algorithm has the shape of Argo's `ComputePodTemplateHash`: FNV-1a
//! (32 bits) over the template's JSON, then over the collision count (four
//! little-endian bytes and four zero bytes, as Argo writes it into an
//! eight-byte buffer), and the decimal digits of the sum mapped onto
//! Kubernetes' "safe" alphabet (`SafeEncodeString`: no vowels, no `0`, `1`
//! or `3`, so no words).
//!
//! The JSON is ours, not Go's: keys sorted at every level, no spaces, the
//! template exactly as read from the Rollout. Go marshals the typed
//! `PodTemplateSpec` in struct field order with its own zero values, so the
//! hash differs from the one Argo's controller computes for the same
//! template. That is deliberate and harmless: the hash only has to be stable
//! for one template, and a ReplicaSet Argo created is found by template
//! equality instead (see [`super::matching`]).

use serde_json::Value;

/// Kubernetes' `SafeEncodeString` alphabet (`k8s.io/apimachinery/pkg/util/rand`).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// The pod template hash of `template` with the Rollout's
/// `status.collisionCount` (`None` when unset).
///
/// ```
/// use rollgate_controller::workload::pod_template_hash;
/// let template = serde_json::json!({"metadata": {"labels": {"app": "web"}},
///     "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}});
/// let hash = pod_template_hash(&template, None);
/// assert_eq!(hash, pod_template_hash(&template, None));
/// assert_ne!(hash, pod_template_hash(&template, Some(1)));
/// assert!(hash.bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
/// ```
pub fn pod_template_hash(template: &Value, collision_count: Option<i32>) -> String {
    let mut json = String::new();
    canonical_json(template, &mut json);
    let mut hash = fnv1a32(FNV32_OFFSET, json.as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        // Go's `uint32(*collisionCount)`: the bits as they are.
        bytes[..4].copy_from_slice(&count.to_le_bytes());
        hash = fnv1a32(hash, &bytes);
    }
    safe_encode(&hash.to_string())
}

fn fnv1a32(mut hash: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(FNV32_PRIME);
    }
    hash
}

/// Kubernetes' `SafeEncodeString`: every character replaced by the
/// alphabet's character at its code modulo the alphabet's length.
fn safe_encode(s: &str) -> String {
    s.chars()
        .map(|c| char::from(SAFE_ALPHABET[(c as usize) % SAFE_ALPHABET.len()]))
        .collect()
}

/// `value` as JSON with object keys sorted at every level and no spaces,
/// whatever order the object was read in.
pub(crate) fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        // FNV-1a 32-bit: "" -> 0x811c9dc5, "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968.
        assert_eq!(fnv1a32(FNV32_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(FNV32_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(FNV32_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_onto_the_alphabet() {
        // '0' is 48: 48 % 27 = 21 -> '4'; '9' is 57: 57 % 27 = 3 -> 'f'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn the_hash_ignores_key_order_and_is_stable() {
        let a = json!({"metadata": {"labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        let b: Value = serde_json::from_str(
            r#"{"spec":{"containers":[{"image":"nginx","name":"web"}]},
                "metadata":{"labels":{"tier":"front","app":"web"}}}"#,
        )
        .unwrap();
        assert_eq!(pod_template_hash(&a, None), pod_template_hash(&b, None));
        // A fixed value: the hash of a template must not change between releases,
        // or every Rollout would redeploy on upgrade.
        assert_eq!(pod_template_hash(&a, None), "55d569cc9d");
    }

    #[test]
    fn the_collision_count_and_the_template_change_the_hash() {
        let a = json!({"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}});
        let b = json!({"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}});
        assert_ne!(pod_template_hash(&a, None), pod_template_hash(&b, None));
        assert_ne!(pod_template_hash(&a, Some(0)), pod_template_hash(&a, None));
        assert_ne!(
            pod_template_hash(&a, Some(1)),
            pod_template_hash(&a, Some(2))
        );
    }
}

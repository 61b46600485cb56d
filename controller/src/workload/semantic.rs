//! Semantic equality of two pod templates as the API server returns them,
//! in the spirit of Kubernetes' `apiequality.Semantic.DeepEqual`: an absent
//! field, `null`, an empty map and an empty list are the same, and resource
//! quantities compare by value (`1000m` equals `1`, `1Gi` equals `1024Mi`).
//!
//! A map holding only empty values counts as empty too, which Go's equality
//! does not do for a pointer to an empty struct (`securityContext: {}`
//! against none). Both templates compared here come back from the API
//! server, which fills in the same empty structs on both sides, so this only
//! spares a redeploy over a difference that is not one.

use serde_json::Value;

/// Whether `a` and `b` are the same template.
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    eq(a, b, false)
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.values().all(|v| is_empty(Some(v))),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// Keys whose values (or, for maps, whose entries) are resource quantities.
fn holds_quantities(key: &str) -> bool {
    matches!(key, "limits" | "requests" | "overhead" | "sizeLimit")
}

fn eq(a: &Value, b: &Value, quantities: bool) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).all(|k| {
            let (va, vb) = (x.get(k), y.get(k));
            if is_empty(va) && is_empty(vb) {
                return true;
            }
            match (va, vb) {
                (Some(va), Some(vb)) => eq(va, vb, quantities || holds_quantities(k)),
                _ => false,
            }
        }),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq(p, q, false))
        }
        (Value::String(x), Value::String(y)) if quantities && x != y => {
            match (quantity(x), quantity(y)) {
                (Some(p), Some(q)) => (p - q).abs() <= f64::EPSILON * p.abs().max(q.abs()) * 4.0,
                _ => false,
            }
        }
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x))
            if quantities =>
        {
            matches!((x.as_f64(), quantity(y)), (Some(p), Some(q)) if p == q)
        }
        _ => a == b,
    }
}

/// The value of a Kubernetes quantity such as `250m`, `1.5Gi` or `1e3`.
fn quantity(s: &str) -> Option<f64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_and_absent_are_equal() {
        assert!(equal(
            &json!({"metadata": {"labels": {}}, "spec": {"volumes": [], "x": null}}),
            &json!({"spec": {}})
        ));
        assert!(!equal(&json!({"spec": {"a": 1}}), &json!({"spec": {}})));
        assert!(!equal(&json!({"spec": {"a": false}}), &json!({"spec": {}})));
    }

    #[test]
    fn quantities_compare_by_value_only_where_they_are_quantities() {
        let a = json!({"resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}}});
        let b = json!({"resources": {"limits": {"cpu": "1", "memory": "1024Mi"}}});
        assert!(equal(&a, &b));
        let c = json!({"resources": {"limits": {"cpu": "2"}}});
        assert!(!equal(&json!({"resources": {"limits": {"cpu": "1"}}}), &c));
        // An environment variable is text, not a quantity.
        let env = |v: &str| json!({"env": [{"name": "N", "value": v}]});
        assert!(!equal(&env("1000m"), &env("1")));
    }

    #[test]
    fn reads_quantities() {
        assert_eq!(quantity("250m"), Some(0.25));
        assert_eq!(quantity("2Ki"), Some(2048.0));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("lots"), None);
    }
}

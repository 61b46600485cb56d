//! A web metric's `jsonPath`, written as Kubernetes writes JSONPath
//! (`{$.data.ok}`, `{.data.ok}`), evaluated with `jsonpath-rust` (RFC 9535)
//! once its braces are taken off, as kube's client reads kubeconfig paths.

use jsonpath_rust::JsonPath as _;
use serde_json::Value;

use crate::error::Failure;

/// A parsed `jsonPath`: one `{...}` expression. Kubernetes templates with
/// text around the braces, several expressions or `range`/`end` are
/// refused: a condition reads one value. Where RFC 9535 and Kubernetes'
/// dialect differ (member names with `-` need `['a-b']` here), the path is
/// refused with the parser's reason rather than read differently.
///
/// ```
/// use rollgate_providers::KubeJsonPath;
/// use serde_json::json;
///
/// let path = KubeJsonPath::parse("{$.data.ok}").unwrap();
/// assert_eq!(path.first(&json!({"data": {"ok": true}})), Some(&json!(true)));
/// assert!(KubeJsonPath::parse("ok: {.data.ok}").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeJsonPath {
    written: String,
    rfc9535: String,
}

impl KubeJsonPath {
    /// Argo's default when `jsonPath` is not set: the whole document.
    pub const WHOLE_DOCUMENT: &'static str = "{$}";

    /// Parses `{EXPRESSION}`; `EXPRESSION` may start with `$`, `.` or `[`.
    pub fn parse(written: &str) -> Result<Self, Failure> {
        let invalid = |problem: &str| Failure::JsonPath {
            path: written.to_owned(),
            problem: problem.to_owned(),
        };
        let trimmed = written.trim();
        let inner = trimmed
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
            .ok_or_else(|| invalid("expected one expression in braces"))?
            .trim();
        if inner.contains('{') || inner.contains('}') {
            return Err(invalid("expected one expression in braces"));
        }
        if inner == "range" || inner.starts_with("range ") || inner == "end" {
            return Err(invalid(
                "range/end templates are not supported: a condition reads one value",
            ));
        }
        let rfc9535 = if inner.is_empty() || inner == "$" {
            "$".to_owned()
        } else if inner.starts_with('$') {
            inner.to_owned()
        } else if inner.starts_with('.') || inner.starts_with('[') {
            format!("${inner}")
        } else {
            return Err(invalid("expected the expression to start with $, . or ["));
        };
        // Parse once now, so that a bad path fails before any request.
        Value::Null
            .query(&rfc9535)
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            written: written.to_owned(),
            rfc9535,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The first value the path finds in `document` (Argo reads the first
    /// of Kubernetes' results), or `None`.
    pub fn first<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        document
            .query(&self.rfc9535)
            .ok()
            .and_then(|found| found.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kubernetes_forms_read_as_argo_documents_them() {
        let doc = json!({"data": {"ok": true, "items": [{"v": 1}, {"v": 2}]}});
        for (path, expected) in [
            ("{$.data.ok}", json!(true)),
            ("{.data.ok}", json!(true)),
            (" { $.data.items[1].v } ", json!(2)),
            ("{$.data.items[*].v}", json!(1)),
            ("{.data.items[?(@.v==2)].v}", json!(2)),
            ("{$}", doc.clone()),
        ] {
            let parsed = KubeJsonPath::parse(path).unwrap();
            assert_eq!(parsed.first(&doc), Some(&expected), "{path}");
        }
    }

    #[test]
    fn a_missing_member_finds_nothing() {
        let parsed = KubeJsonPath::parse("{$.data.missing}").unwrap();
        assert_eq!(parsed.first(&json!({"data": {}})), None);
    }

    #[test]
    fn templates_a_condition_cannot_read_are_refused() {
        for path in [
            "$.data",
            "{.a} {.b}",
            "ok={.a}",
            "{range .items[*]}",
            "{data}",
        ] {
            let error = KubeJsonPath::parse(path).unwrap_err().to_string();
            assert!(
                error.starts_with("provider.web.jsonPath: "),
                "{path}: {error}"
            );
        }
    }
}

//! A web metric's `jsonPath`, written as Kubernetes writes JSONPath
//! (`{$.data.ok}`, `{.data.ok}`), evaluated with `jsonpath-rust` (RFC 9535)
//! once its braces are taken off, as kube's client reads kubeconfig paths.

use jsonpath_rust::JsonPath as _;
use rollgate_analysis::brackets::Brackets;
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

/// The longest `jsonPath` parsed, in bytes: 1 KiB. Argo sets no limit; a
/// metric's path is a line of a template.
pub const MAX_JSON_PATH_BYTES: usize = 1024;

/// The deepest nesting of brackets and parentheses a `jsonPath` may hold:
/// 8. The JSONPath parser backtracks over unclosed nesting, its time
/// doubling with each level (a path of 26 unclosed filters ran for over
/// 30 s); a real path nests two or three deep (`[?(@.name == 'x')]`).
pub const MAX_JSON_PATH_NESTING: usize = 8;

/// Whether the brackets and parentheses of `path` (outside quoted
/// strings) match and nest at most [`MAX_JSON_PATH_NESTING`] deep; the
/// problem otherwise.
fn check_nesting(path: &str) -> Result<(), String> {
    let mut brackets = Brackets::new(&['\'', '"']);
    path.chars().for_each(|c| brackets.read(c));
    match brackets.finish()? {
        deepest if deepest > MAX_JSON_PATH_NESTING => Err(format!(
            "brackets and parentheses nest {deepest} deep, more than {MAX_JSON_PATH_NESTING}"
        )),
        _ => Ok(()),
    }
}

impl KubeJsonPath {
    /// Argo's default when `jsonPath` is not set: the whole document.
    pub const WHOLE_DOCUMENT: &'static str = "{$}";

    /// Parses `{EXPRESSION}`; `EXPRESSION` may start with `$`, `.` or `[`.
    /// A path over [`MAX_JSON_PATH_BYTES`] or nesting deeper than
    /// [`MAX_JSON_PATH_NESTING`] is refused before it is parsed.
    pub fn parse(written: &str) -> Result<Self, Failure> {
        let invalid = |problem: &str| Failure::JsonPath {
            path: written.chars().take(200).collect(),
            problem: problem.to_owned(),
        };
        if written.len() > MAX_JSON_PATH_BYTES {
            return Err(invalid(&format!(
                "{} bytes, over the limit of {MAX_JSON_PATH_BYTES}",
                written.len()
            )));
        }
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
        check_nesting(&rfc9535).map_err(|problem| invalid(&problem))?;
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
    fn nesting_past_the_limit_and_unmatched_brackets_are_refused_unparsed() {
        // Found by the web_answer fuzz target: unclosed filters nested 26
        // deep kept the parser busy for over 30 s.
        let deep = format!("{{.a{}}}", "[?nin(@.a".repeat(26));
        let error = KubeJsonPath::parse(&deep).unwrap_err().to_string();
        assert!(error.contains("'(' that is not closed"), "{error}");
        let closed = format!("{{.a{}0{}}}", "[".repeat(9), "]".repeat(9));
        let error = KubeJsonPath::parse(&closed).unwrap_err().to_string();
        assert!(error.contains("nest 9 deep, more than 8"), "{error}");
        for (path, problem) in [
            ("{.a[0)}", "closes nothing"),
            ("{.a[0]]}", "closes nothing"),
            ("{.a[?(@.b == 'x']}", "closes nothing"),
            ("{.a['b}", "not closed"),
        ] {
            let error = KubeJsonPath::parse(path).unwrap_err().to_string();
            assert!(error.contains(problem), "{path}: {error}");
        }
        let long = format!("{{.{}}}", "a".repeat(MAX_JSON_PATH_BYTES));
        let error = KubeJsonPath::parse(&long).unwrap_err().to_string();
        assert!(error.contains("over the limit of 1024"), "{error}");
        // Brackets inside quoted names do not count, and real filters nest
        // within the limit.
        let path = KubeJsonPath::parse("{$.items[?(@['a[(b'] == ')]')].v}").unwrap();
        assert_eq!(
            path.first(&json!({"items": [{"a[(b": ")]", "v": 1}]})),
            Some(&json!(1))
        );
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

//! Kubernetes' name syntaxes: label names (qualified names), label values,
//! DNS-1123 labels and subdomains. Each check returns what is wrong, in
//! words, or `None` when the name is valid.

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters; `what`
/// names the part in messages.
fn name_part(s: &str, what: &str) -> Option<String> {
    if s.len() > 63 {
        return Some(format!("{what} is longer than 63 characters"));
    }
    let ends_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    let chars_ok = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !chars_ok || !ends_ok(s.as_bytes().first()) || !ends_ok(s.as_bytes().last()) {
        return Some(format!(
            "{what} must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    None
}

/// A label value: empty, or a name part.
pub(super) fn label_value(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        name_part(s, "a label value")
    }
}

/// A label (or annotation) name: `[prefix/]name`, the prefix a DNS subdomain.
pub(super) fn qualified_name(s: &str) -> Option<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("the prefix before '/' is empty".to_owned());
        }
        if let Some(e) = dns1123_subdomain(p) {
            return Some(format!("the prefix before '/': {e}"));
        }
    }
    if name.is_empty() {
        return Some("the name is empty".to_owned());
    }
    name_part(name, "the name")
}

/// A DNS-1123 label: lowercase letters, digits and '-', at most 63 characters.
pub(super) fn dns1123_label(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("is longer than 63 characters".to_owned());
    }
    dns_segment(s)
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub(super) fn dns1123_subdomain(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some("is longer than 253 characters".to_owned());
    }
    s.split('.').find_map(dns_segment)
}

fn dns_segment(s: &str) -> Option<String> {
    let lower_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = s.bytes().all(|b| lower_alnum(&b) || b == b'-')
        && s.as_bytes().first().is_some_and(lower_alnum)
        && s.as_bytes().last().is_some_and(lower_alnum);
    (!ok).then(|| {
        format!(
            "{s:?} must be lowercase letters, digits and '-' (and '.' between parts), \
             starting and ending with a letter or digit"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names() {
        for ok in ["app", "app.kubernetes.io/name", "A_b-c.d", "x"] {
            assert_eq!(qualified_name(ok), None, "{ok}");
        }
        for bad in [
            "",
            "-app",
            "app-",
            "a/b/c",
            "/x",
            "Example.com/x",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(qualified_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn label_values() {
        assert_eq!(label_value(""), None);
        assert_eq!(label_value("v1.2_3"), None);
        assert!(label_value("v1/2").is_some());
        assert!(label_value("-v").is_some());
    }

    #[test]
    fn dns_names() {
        assert_eq!(dns1123_label("web-1"), None);
        assert!(dns1123_label("Web").is_some());
        assert!(dns1123_label("web.1").is_some());
        assert_eq!(dns1123_subdomain("web.example-1.com"), None);
        assert!(dns1123_subdomain("web..com").is_some());
        assert!(dns1123_subdomain("").is_some());
    }
}

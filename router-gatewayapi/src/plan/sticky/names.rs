//! The names of a rollout's sticky cookie rules, and the token naming the
//! rollout in them and in the record of its sticky session.
//!
//! Several rollouts may be sticky on one route (see "Shared routes" in the
//! README), and Gateway API wants every rule name of a route unique, so the
//! names carry the rollout: `rollgate-sticky-<namespace>.<name>-canary` and
//! `…-stable` (`-<n>` for the copies of the rollout's next rules). They are
//! valid Gateway API rule names (`SectionName`: a lowercase DNS-1123
//! subdomain of at most 253 characters).

use xxhash_rust::xxh3::xxh3_64;

/// What every sticky cookie rule name starts with.
pub const RULE_PREFIX: &str = "rollgate-sticky-";

/// The fixed names earlier versions gave the cookie rules, whichever the
/// rollout: still recognised as the router's own on every route, so that
/// their rules are removed (or renamed) at the next weight change; written
/// only for a plan that names no rollout ([`super::super::Routing::rollout`]
/// empty).
pub const LEGACY_RULES: [&str; 2] = ["rollgate-sticky-canary", "rollgate-sticky-stable"];

/// The longest token: the name part of an annotation key (63 characters).
const MAX_TOKEN: usize = 63;
/// The hexadecimal digits of the hash a shortened token ends with.
const HASH_DIGITS: usize = 10;

/// The rollout `<namespace>/<name>` as one name part: `<namespace>.<name>`
/// when that is a lowercase DNS-1123 subdomain of at most 63 characters
/// (as Kubernetes names are, unless long), else its first letters, digits
/// and dashes and a hash of the whole, as one DNS-1123 label of at most 63.
/// Deterministic; two rollouts never share one (a shortened token has no
/// dot, a plain one has).
///
/// ```
/// use router_gatewayapi::plan::sticky::token;
/// assert_eq!(token("shop/web"), "shop.web");
/// let long = token(&format!("shop/{}", "w".repeat(80)));
/// assert_eq!(long.len(), 63);
/// assert!(long.starts_with("shop-www") && !long.contains('.'));
/// ```
pub fn token(rollout: &str) -> String {
    let plain = rollout.replacen('/', ".", 1);
    if plain.len() <= MAX_TOKEN && is_subdomain(&plain) {
        return plain;
    }
    let hash = format!("{:016x}", xxh3_64(rollout.as_bytes()));
    let head: String = plain
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .take(MAX_TOKEN - HASH_DIGITS - 1)
        .collect();
    let head = head.trim_matches('-');
    let hash = &hash[..HASH_DIGITS];
    if head.is_empty() {
        hash.to_owned()
    } else {
        format!("{head}-{hash}")
    }
}

/// The names of the rollout's two cookie rules, canary first:
/// `rollgate-sticky-<token>-canary` and `rollgate-sticky-<token>-stable`
/// (see [`token`]); [`LEGACY_RULES`] when `rollout` is empty.
///
/// ```
/// use router_gatewayapi::plan::sticky::rule_names;
/// assert_eq!(
///     rule_names("shop/web"),
///     ["rollgate-sticky-shop.web-canary", "rollgate-sticky-shop.web-stable"]
/// );
/// ```
pub fn rule_names(rollout: &str) -> [String; 2] {
    if rollout.is_empty() {
        return LEGACY_RULES.map(str::to_owned);
    }
    let token = token(rollout);
    ["canary", "stable"].map(|version| format!("{RULE_PREFIX}{token}-{version}"))
}

/// Whether `name` is a lowercase DNS-1123 subdomain (dot-separated labels
/// of letters, digits and dashes, each starting and ending with a letter or
/// a digit).
fn is_subdomain(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    name.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes.iter().all(|&b| alnum(b) || b == b'-')
            && alnum(bytes[0])
            && alnum(bytes[bytes.len() - 1])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gateway API's `SectionName` pattern and length.
    fn is_section_name(name: &str) -> bool {
        name.len() <= 253 && is_subdomain(name)
    }

    #[test]
    fn names_are_per_rollout_and_valid_rule_names() {
        let web = rule_names("shop/web");
        let api = rule_names("shop/api");
        assert_ne!(web, api);
        assert_ne!(rule_names("shop/web"), rule_names("other/web"));
        assert_eq!(rule_names("shop/web"), web, "deterministic");
        for rollout in [
            "shop/web",
            "a/b.c-d",
            &format!("{}/{}", "n".repeat(63), "r".repeat(253)),
            "Shop/Web_1",
            "-/.",
        ] {
            for name in rule_names(rollout) {
                assert!(is_section_name(&name), "{rollout}: {name}");
                assert!(name.starts_with(RULE_PREFIX), "{name}");
                // The copies for the rollout's next rules, and a companion.
                assert!(is_section_name(&format!("{name}-15")), "{name}");
                assert!(is_section_name(&format!("beta--{name}")), "{name}");
            }
            assert!(token(rollout).len() <= MAX_TOKEN, "{rollout}");
        }
    }

    #[test]
    fn long_names_are_shortened_apart() {
        let a = format!("shop/{}-a", "w".repeat(100));
        let b = format!("shop/{}-b", "w".repeat(100));
        assert_ne!(token(&a), token(&b), "the hash keeps them apart");
        assert_eq!(token(&a).len(), MAX_TOKEN);
        assert_eq!(token(&a), token(&a));
    }

    #[test]
    fn no_name_of_one_rollout_is_a_copy_of_another() {
        // `-<n>` names the copies of a rollout's next rules.
        let copies = |rollout: &str| rule_names(rollout).map(|n| format!("{n}-1"));
        for (a, b) in [("ns/web", "ns/web-canary"), ("ns/web-1", "ns/web")] {
            for name in rule_names(b).iter().chain(&copies(b)) {
                assert!(
                    !rule_names(a)
                        .iter()
                        .any(|own| crate::plan::view::is_named(name, own)),
                    "{a} would own {name}"
                );
            }
        }
        for name in rule_names("canary/web") {
            assert!(
                !LEGACY_RULES
                    .iter()
                    .any(|l| crate::plan::view::is_named(&name, l)),
                "{name}"
            );
        }
    }
}

//! The canary Ingress's name.

/// The canary Ingress's name for a stable Ingress: `<rollout>-<stable>-canary`,
/// with `<rollout>-<stable>` cut to 246 bytes so that the name fits in 253
/// (Argo Rollouts' rule; an empty stable name gives an empty name).
///
/// ```
/// use router_nginx::plan::canary_ingress_name;
/// assert_eq!(canary_ingress_name("web", "web-ingress"), "web-web-ingress-canary");
/// assert_eq!(canary_ingress_name(&"r".repeat(200), &"s".repeat(100)).len(), 253);
/// ```
pub fn canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    const LIMIT: usize = 253;
    const SUFFIX: &str = "-canary";
    if stable_ingress.is_empty() {
        return String::new();
    }
    let mut prefix = format!("{rollout}-{stable_ingress}");
    let mut cut = LIMIT - SUFFIX.len();
    if prefix.len() > cut {
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    prefix + SUFFIX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_on_character_boundaries() {
        let name = canary_ingress_name(&"é".repeat(200), "stable");
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.ends_with("-canary"));
        assert_eq!(canary_ingress_name("web", ""), "");
    }
}

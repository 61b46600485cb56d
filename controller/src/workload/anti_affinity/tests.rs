use super::*;
use serde_json::json;

fn rollout(anti: Value, own_affinity: Option<Value>, stable: Option<&str>) -> Rollout {
    let mut template = json!({"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}});
    if let Some(a) = own_affinity {
        template["spec"]["affinity"] = a;
    }
    let mut value = json!({"metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template,
                 "strategy": {"canary": {"antiAffinity": anti}}}});
    if let Some(s) = stable {
        value["status"] = json!({"stableRS": s});
    }
    Rollout::from_value(value, "web").unwrap()
}

fn preferred(weight: i32) -> Value {
    json!({"preferredDuringSchedulingIgnoredDuringExecution": {"weight": weight}})
}

fn required() -> Value {
    json!({"requiredDuringSchedulingIgnoredDuringExecution": {}})
}

fn term(stable: &str) -> Value {
    json!({"labelSelector": {"matchExpressions": [
               {"key": "rollouts-pod-template-hash", "operator": "In", "values": [stable]}]},
           "namespaces": ["shop"], "topologyKey": "kubernetes.io/hostname"})
}

#[test]
fn a_preferred_term_carries_the_weight_and_names_the_stable_hash() {
    let r = rollout(preferred(40), None, Some("stable1"));
    assert_eq!(
        affinity(&r, "canary1"),
        Some(
            json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 40, "podAffinityTerm": term("stable1")}]}})
        )
    );
}

#[test]
fn a_required_term_is_appended_to_the_templates_own_affinity() {
    let own = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}},
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}]}});
    let r = rollout(required(), Some(own.clone()), Some("stable1"));
    let mut expected = own.clone();
    expected["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array_mut()
        .unwrap()
        .push(term("stable1"));
    assert_eq!(affinity(&r, "canary1"), Some(expected));
}

#[test]
fn no_term_without_another_stable_replica_set() {
    let own = json!({"nodeAffinity": {}});
    // First deploy: no stable ReplicaSet yet.
    assert_eq!(affinity(&rollout(preferred(10), None, None), "h"), None);
    assert_eq!(
        affinity(&rollout(preferred(10), Some(own.clone()), None), "h"),
        Some(own.clone())
    );
    // The stable ReplicaSet is the one being created.
    assert_eq!(affinity(&rollout(required(), None, Some("h")), "h"), None);
    // No antiAffinity asked for, or an empty one.
    let r = rollout(json!({}), None, Some("stable1"));
    assert_eq!(affinity(&r, "h"), None);
}

#[test]
fn the_term_does_not_change_the_hash_and_comes_out_again() {
    let r = rollout(preferred(40), None, Some("stable1"));
    let template = r.spec.template.clone().unwrap();
    let hash = crate::workload::pod_template_hash(&template, None);
    let mut injected = template.clone();
    inject(&mut injected, &r, &hash);
    assert_ne!(injected, template);
    // The hash is of the Rollout's template, computed before the injection.
    assert_eq!(crate::workload::pod_template_hash(&template, None), hash);
    remove(&mut injected, strategy(&r));
    assert_eq!(injected, template);

    // With an affinity of the template's own, only the injected term goes.
    let own = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}]}});
    let r = rollout(required(), Some(own.clone()), Some("stable1"));
    let template = r.spec.template.clone().unwrap();
    let mut injected = template.clone();
    inject(&mut injected, &r, "canary1");
    assert_eq!(
        injected["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    remove(&mut injected, strategy(&r));
    assert_eq!(injected, template);
}

#[test]
fn a_term_naming_an_old_stable_needs_an_update() {
    let old = rollout(preferred(40), None, Some("stable1"));
    let mut template = old.spec.template.clone().unwrap();
    inject(&mut template, &old, "canary1");
    assert!(!needs_update(&template, &old, "canary1"));
    // The stable ReplicaSet moved on while this one still names the old one.
    let moved = rollout(preferred(40), None, Some("stable2"));
    assert!(needs_update(&template, &moved, "canary1"));
    assert_eq!(
        affinity(&moved, "canary1").unwrap()["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"],
        term("stable2")
    );
    // Once this ReplicaSet is the stable one, its term is left alone.
    let promoted = rollout(preferred(40), None, Some("canary1"));
    assert!(!needs_update(&template, &promoted, "canary1"));
    // No term at all: nothing to update.
    let bare = old.spec.template.clone().unwrap();
    assert!(!needs_update(&bare, &moved, "canary1"));
}

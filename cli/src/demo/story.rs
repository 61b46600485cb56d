//! The user's side of the demo: their Rollout, the workload it runs (its
//! own pod template, or the object its `workloadRef` names), and the
//! command they would type to release a new image.

use anyhow::{anyhow, bail};
use rollout_core::Rollout;
use serde_json::{Value, json};

use crate::load;

/// The kinds of object a `workloadRef` may name (as Argo Rollouts resolves them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefKind {
    Deployment,
    ReplicaSet,
    PodTemplate,
}

impl RefKind {
    fn parse(kind: &str) -> Option<Self> {
        [Self::Deployment, Self::ReplicaSet, Self::PodTemplate]
            .into_iter()
            .find(|k| k.as_str() == kind)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::ReplicaSet => "ReplicaSet",
            Self::PodTemplate => "PodTemplate",
        }
    }

    /// Where the object keeps its pod template, as a JSON pointer and a field path.
    fn template_at(self) -> (&'static str, &'static str) {
        match self {
            Self::PodTemplate => ("/template", "template"),
            _ => ("/spec/template", "spec.template"),
        }
    }
}

/// Where the Rollout's pods come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Workload {
    /// The Rollout's own `spec.template`.
    Template,
    /// `spec.workloadRef`; `found` when the object is in the same file.
    Reference {
        kind: RefKind,
        name: String,
        found: bool,
    },
}

/// The user's Rollout and the workload it runs.
#[derive(Debug, Clone)]
pub(crate) struct Story {
    /// Where it came from (`web.yaml`, `the built-in example`).
    pub(crate) source: String,
    pub(crate) rollout: Rollout,
    pub(crate) workload: Workload,
    /// The pod template of the first release.
    pub(crate) template: Value,
    /// `(name, image)` of each container; the first one gets the new images.
    pub(crate) containers: Vec<(String, String)>,
}

impl Story {
    /// Reads the first Rollout of `text` and its pod template: its own, or
    /// that of the Deployment, ReplicaSet or PodTemplate its `workloadRef`
    /// names when that object is in `text` too. A referenced object not in
    /// `text` gets one container named after it; the narration says so.
    pub(crate) fn parse(text: &str, source: &str) -> anyhow::Result<Self> {
        let documents: Vec<Value> = rollout_core::manifest::read(text, source)?
            .into_iter()
            .map(|o| o.value)
            .collect();
        let rollout = load::rollouts_from_str(text, source)?.remove(0);
        rollout_core::check(&rollout).map_err(|e| anyhow!("{source}: {e}"))?;
        let who = format!("{source}: rollout {}", rollout.object_name());
        if rollout.canary().is_none() && rollout.blue_green().is_none() {
            bail!("{who}: spec.strategy: the demo runs canary and blue-green rollouts");
        }
        let own = rollout.spec.template.clone().filter(|t| !t.is_null());
        let (workload, template, containers) = match (&rollout.spec.workload_ref, own) {
            (Some(_), Some(_)) => {
                bail!("{who}: spec.template: must be empty when spec.workloadRef is set")
            }
            (None, None) => {
                bail!("{who}: spec.template: a pod template (or spec.workloadRef) is required")
            }
            (None, Some(t)) => {
                let containers = containers(&t, &who, "spec.template")?;
                (Workload::Template, t, containers)
            }
            (Some(w), None) => {
                let kind_name = w.kind.as_deref().unwrap_or_default();
                let kind = RefKind::parse(kind_name).ok_or_else(|| {
                    anyhow!("{who}: spec.workloadRef.kind: {kind_name:?} is not supported; expected Deployment, ReplicaSet or PodTemplate")
                })?;
                let name = w.name.clone().filter(|n| !n.is_empty());
                let name =
                    name.ok_or_else(|| anyhow!("{who}: spec.workloadRef.name: is required"))?;
                let namespace = rollout.metadata.namespace.as_deref();
                let object = documents.iter().find(|d| {
                    let ns = d.pointer("/metadata/namespace").and_then(Value::as_str);
                    d.get("kind").and_then(Value::as_str) == Some(kind.as_str())
                        && d.pointer("/metadata/name").and_then(Value::as_str) == Some(&name)
                        && (ns.is_none() || namespace.is_none() || ns == namespace)
                });
                let (pointer, path) = kind.template_at();
                let template = match object {
                    Some(o) => o.pointer(pointer).cloned().unwrap_or(Value::Null),
                    None => {
                        json!({"spec": {"containers": [{"name": name, "image": format!("{name}:1.0.0")}]}})
                    }
                };
                let owner = format!("{source}: {} {name}", kind.as_str());
                let containers = containers(&template, &owner, path)?;
                let found = object.is_some();
                (
                    Workload::Reference { kind, name, found },
                    template,
                    containers,
                )
            }
        };
        Ok(Self {
            source: source.to_owned(),
            rollout,
            workload,
            template,
            containers,
        })
    }

    /// The first container, which the demo's releases change.
    pub(crate) fn container(&self) -> &str {
        &self.containers[0].0
    }

    /// ` -n <namespace>` unless the Rollout is in `default` or names none.
    pub(crate) fn namespace_flag(&self) -> String {
        match self.rollout.metadata.namespace.as_deref() {
            Some(ns) if ns != "default" => format!(" -n {ns}"),
            _ => String::new(),
        }
    }

    /// The command that gives the first container `image`, and what it prints:
    /// `kubectl argo rollouts set image` for a Rollout with its own template,
    /// `kubectl set image` (or, for a PodTemplate, `kubectl patch`) on the
    /// object a `workloadRef` names.
    pub(crate) fn update_command(&self, image: &str) -> (String, String) {
        let (ns, c) = (self.namespace_flag(), self.container());
        match &self.workload {
            Workload::Template => {
                let name = &self.rollout.metadata.name;
                (
                    format!("kubectl argo rollouts set image {name} {c}={image}{ns}"),
                    format!("rollout \"{name}\" image updated"),
                )
            }
            Workload::Reference {
                kind: RefKind::PodTemplate,
                name,
                ..
            } => (
                format!(
                    "kubectl patch podtemplate {name}{ns} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/template/spec/containers/0/image\",\"value\":\"{image}\"}}]'"
                ),
                format!("podtemplate/{name} patched"),
            ),
            Workload::Reference { kind, name, .. } => {
                let lower = kind.as_str().to_lowercase();
                (
                    format!("kubectl set image {lower}/{name} {c}={image}{ns}"),
                    format!("{lower}.apps/{name} image updated"),
                )
            }
        }
    }

    /// One line on where the pods come from.
    pub(crate) fn workload_line(&self) -> String {
        let list = self
            .containers
            .iter()
            .map(|(n, i)| format!("{n} ({i})"))
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if self.containers.len() == 1 {
            "container"
        } else {
            "containers"
        };
        match &self.workload {
            Workload::Template => {
                format!("Workload: the Rollout's own pod template; {noun} {list}")
            }
            Workload::Reference {
                kind,
                name,
                found: true,
            } => format!(
                "Workload: spec.workloadRef to {} {name}, found in {}; {noun} {list}",
                kind.as_str(),
                self.source
            ),
            Workload::Reference {
                kind,
                name,
                found: false,
            } => format!(
                "Workload: spec.workloadRef to {} {name}, which is not in {}: the demo gives it one container, {list}",
                kind.as_str(),
                self.source
            ),
        }
    }
}

/// Checks a pod template's containers and returns `(name, image)` of each.
fn containers(template: &Value, who: &str, path: &str) -> anyhow::Result<Vec<(String, String)>> {
    let list = template
        .pointer("/spec/containers")
        .and_then(Value::as_array);
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        bail!("{who}: {path}.spec.containers: expected a list of at least one container");
    };
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let field = |f: &str, what: &str| {
                c.get(f)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        anyhow!("{who}: {path}.spec.containers[{i}].{f}: expected {what}")
                    })
            };
            Ok((
                field("name", "a container name")?,
                field("image", "an image such as nginx:1.27")?,
            ))
        })
        .collect()
}

/// The image of the next release: a tag ending in a number counts up
/// (`web:1.4.0` → `web:1.4.1`, `app:v9` → `app:v10`), another tag gets
/// `-2` (`app:blue` → `app:blue-2`), no tag becomes `:2`. A digest is dropped.
pub(crate) fn next_image(image: &str) -> String {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let Some((repo, tag)) = name[slash..]
        .rsplit_once(':')
        .map(|(r, t)| (&name[..slash + r.len()], t))
    else {
        return format!("{name}:2");
    };
    let digits = tag.len() - tag.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return format!("{repo}:{tag}-2");
    }
    let (head, number) = tag.split_at(tag.len() - digits);
    let next = number.parse::<u128>().map_or(1, |n| n + 1);
    format!("{repo}:{head}{next:0digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str =
        "  strategy:\n    canary:\n      steps:\n      - setWeight: 50\n      - pause: {}\n";

    fn template_rollout(namespace: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: shop\n{namespace}spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: shop}}\n  template:\n    spec:\n      containers:\n      - name: api\n        image: ghcr.io/acme/api:3.9\n      - name: envoy\n        image: envoyproxy/envoy:v1.30.1\n{CANARY}"
        )
    }

    fn ref_rollout(kind: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: shop\nspec:\n  replicas: 2\n  workloadRef:\n    apiVersion: apps/v1\n    kind: {kind}\n    name: shop-api\n{CANARY}"
        )
    }

    const DEPLOYMENT: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop-api\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: ghcr.io/acme/api:3.9\n";

    #[test]
    fn a_template_rollout_is_updated_with_set_image_on_its_first_container() {
        let story = Story::parse(&template_rollout(""), "shop.yaml").unwrap();
        assert_eq!(story.workload, Workload::Template);
        assert_eq!(
            story.workload_line(),
            "Workload: the Rollout's own pod template; containers api (ghcr.io/acme/api:3.9), envoy (envoyproxy/envoy:v1.30.1)"
        );
        let (cmd, reply) = story.update_command("ghcr.io/acme/api:3.10");
        assert_eq!(
            cmd,
            "kubectl argo rollouts set image shop api=ghcr.io/acme/api:3.10"
        );
        assert_eq!(reply, "rollout \"shop\" image updated");
    }

    #[test]
    fn commands_name_a_namespace_other_than_default() {
        let text = template_rollout("  namespace: prod\n");
        let story = Story::parse(&text, "shop.yaml").unwrap();
        let (cmd, _) = story.update_command("x:2");
        assert_eq!(cmd, "kubectl argo rollouts set image shop api=x:2 -n prod");
        let text = template_rollout("  namespace: default\n");
        let (cmd, _) = Story::parse(&text, "s.yaml").unwrap().update_command("x:2");
        assert_eq!(cmd, "kubectl argo rollouts set image shop api=x:2");
    }

    #[test]
    fn a_workload_ref_takes_the_deployment_from_the_same_file() {
        let text = ref_rollout("Deployment") + DEPLOYMENT;
        let story = Story::parse(&text, "shop.yaml").unwrap();
        assert_eq!(
            story.containers,
            [("api".to_owned(), "ghcr.io/acme/api:3.9".to_owned())]
        );
        assert_eq!(
            story.workload_line(),
            "Workload: spec.workloadRef to Deployment shop-api, found in shop.yaml; container api (ghcr.io/acme/api:3.9)"
        );
        let (cmd, reply) = story.update_command("ghcr.io/acme/api:3.10");
        assert_eq!(
            cmd,
            "kubectl set image deployment/shop-api api=ghcr.io/acme/api:3.10"
        );
        assert_eq!(reply, "deployment.apps/shop-api image updated");
    }

    #[test]
    fn a_workload_ref_to_an_object_elsewhere_gets_a_container_named_after_it() {
        let story = Story::parse(&ref_rollout("Deployment"), "shop.yaml").unwrap();
        assert_eq!(
            story.workload_line(),
            "Workload: spec.workloadRef to Deployment shop-api, which is not in shop.yaml: the demo gives it one container, shop-api (shop-api:1.0.0)"
        );
        let (cmd, _) = story.update_command("shop-api:1.0.1");
        assert_eq!(
            cmd,
            "kubectl set image deployment/shop-api shop-api=shop-api:1.0.1"
        );
    }

    #[test]
    fn other_workload_kinds_get_their_own_command() {
        let story = Story::parse(&ref_rollout("ReplicaSet"), "s.yaml").unwrap();
        let (cmd, reply) = story.update_command("a:2");
        assert_eq!(cmd, "kubectl set image replicaset/shop-api shop-api=a:2");
        assert_eq!(reply, "replicaset.apps/shop-api image updated");
        let text = ref_rollout("PodTemplate")
            + "---\nkind: PodTemplate\napiVersion: v1\nmetadata: {name: shop-api}\ntemplate:\n  spec:\n    containers: [{name: api, image: 'a:1'}]\n";
        let story = Story::parse(&text, "s.yaml").unwrap();
        assert_eq!(story.containers[0].1, "a:1");
        let (cmd, reply) = story.update_command("a:2");
        assert_eq!(
            cmd,
            r#"kubectl patch podtemplate shop-api --type=json -p '[{"op":"replace","path":"/template/spec/containers/0/image","value":"a:2"}]'"#
        );
        assert_eq!(reply, "podtemplate/shop-api patched");
    }

    fn error(text: &str) -> String {
        format!("{:#}", Story::parse(text, "shop.yaml").unwrap_err())
    }

    #[test]
    fn a_workload_it_cannot_run_is_a_clear_error() {
        let e = error(&ref_rollout("StatefulSet"));
        assert_eq!(
            e,
            "shop.yaml: rollout default/shop: spec.workloadRef.kind: \"StatefulSet\" is not supported; expected Deployment, ReplicaSet or PodTemplate"
        );
        let both = template_rollout("").replace(
            "  template:",
            "  workloadRef: {kind: Deployment, name: x}\n  template:",
        );
        assert_eq!(
            error(&both),
            "shop.yaml: rollout default/shop: spec.template: must be empty when spec.workloadRef is set"
        );
        let no_image = ref_rollout("Deployment")
            + &DEPLOYMENT.replace("        image: ghcr.io/acme/api:3.9\n", "");
        assert_eq!(
            error(&no_image),
            "shop.yaml: Deployment shop-api: spec.template.spec.containers[0].image: expected an image such as nginx:1.27"
        );
        let text = template_rollout("");
        let (head, tail) = text.split_once("  template:").unwrap();
        let none = format!("{head}{}", &tail[tail.find("  strategy:").unwrap()..]);
        assert!(
            error(&none)
                .starts_with("shop.yaml: rollout default/shop: spec.template: a pod template"),
            "{}",
            error(&none)
        );
    }

    #[test]
    fn the_next_image_counts_up_the_tag() {
        let cases = [
            ("web:1.4.0", "web:1.4.1"),
            ("web:1.4.9", "web:1.4.10"),
            ("app:v9", "app:v10"),
            ("app:build-007", "app:build-008"),
            (
                "argoproj/rollouts-demo:blue",
                "argoproj/rollouts-demo:blue-2",
            ),
            (
                "argoproj/rollouts-demo:blue-2",
                "argoproj/rollouts-demo:blue-3",
            ),
            ("nginx", "nginx:2"),
            ("localhost:5000/web", "localhost:5000/web:2"),
            ("localhost:5000/web:1", "localhost:5000/web:2"),
            ("web:1.0@sha256:abcdef", "web:1.1"),
        ];
        for (image, next) in cases {
            assert_eq!(next_image(image), next, "{image}");
        }
    }
}

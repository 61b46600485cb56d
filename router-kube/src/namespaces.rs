//! [`RouteNamespaces`]: which namespaces a router may touch for a rollout,
//! beside the rollout's own.
//!
//! A router's config can name objects in another namespace (the Gateway
//! API router's `namespace`, an Istio `virtualService` written
//! `name.namespace`). Whoever runs the router (the operator, with a
//! plugin binary's or rollgate-controller's `--route-namespaces`) decides
//! whether a Rollout may do so; a config naming a namespace not allowed is
//! refused before anything is read or written.

use std::collections::BTreeSet;
use std::fmt;

use router_core::{Error, RolloutContext};

/// The namespaces a router may touch for a rollout besides its own.
///
/// The default is [`RouteNamespaces::Any`], what Argo Rollouts' routers
/// do, so that configs written for them keep working; an operator narrows
/// it with `--route-namespaces`.
///
/// ```
/// use router_kube::RouteNamespaces;
/// assert_eq!(RouteNamespaces::default(), RouteNamespaces::Any);
/// assert_eq!("*".parse::<RouteNamespaces>().unwrap(), RouteNamespaces::Any);
/// let own = "".parse::<RouteNamespaces>().unwrap();
/// assert!(own.allows("shop", "shop") && !own.allows("shop", "gateways"));
/// let listed = "gateways, edge".parse::<RouteNamespaces>().unwrap();
/// assert!(listed.allows("shop", "edge") && !listed.allows("shop", "kube-system"));
/// assert_eq!(listed.to_string(), "edge,gateways");
/// assert!("a,*".parse::<RouteNamespaces>().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RouteNamespaces {
    /// Any namespace (`*`).
    #[default]
    Any,
    /// The rollout's own namespace and these (none: the own one only).
    Listed(BTreeSet<String>),
}

impl RouteNamespaces {
    /// Whether a rollout in `own` may touch objects in `namespace`.
    pub fn allows(&self, own: &str, namespace: &str) -> bool {
        namespace == own
            || match self {
                Self::Any => true,
                Self::Listed(listed) => listed.contains(namespace),
            }
    }

    /// Refuses `namespace`, named by the router config's `field` (a path
    /// inside the router's block, e.g. `namespace`), unless the rollout of
    /// `ctx` may touch it.
    ///
    /// # Errors
    ///
    /// A [`router_core::ErrorKind::Config`] error naming the rollout, the
    /// field under `spec.strategy.canary.trafficRouting`, the namespace and
    /// those allowed.
    ///
    /// ```
    /// use router_core::{ErrorKind, RolloutContext};
    /// use router_kube::RouteNamespaces;
    /// let ctx = RolloutContext {
    ///     name: "web".into(), namespace: "shop".into(),
    ///     plugin_name: "argoproj-labs/gatewayAPI".into(), ..Default::default()
    /// };
    /// let own: RouteNamespaces = "".parse().unwrap();
    /// assert!(own.check(&ctx, "namespace", "shop").is_ok());
    /// let err = own.check(&ctx, "namespace", "gateways").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// assert_eq!(err.to_string(), "rollout shop/web: spec.strategy.canary.trafficRouting.plugins[\"argoproj-labs/gatewayAPI\"].namespace: \
    ///     namespace \"gateways\" is not allowed: this router may touch only the rollout's own namespace \"shop\" \
    ///     (the operator allows others with --route-namespaces)");
    /// ```
    pub fn check(&self, ctx: &RolloutContext, field: &str, namespace: &str) -> Result<(), Error> {
        if self.allows(&ctx.namespace, namespace) {
            return Ok(());
        }
        let others = match self {
            Self::Listed(listed) if !listed.is_empty() => format!(" and {self}"),
            _ => String::new(),
        };
        Err(Error::rollout_config(
            &ctx.object_name(),
            format!(
                "{}.{field}: namespace {namespace:?} is not allowed: this router may touch only \
                 the rollout's own namespace {:?}{others} (the operator allows others with \
                 --route-namespaces)",
                router_field(ctx),
                ctx.namespace,
            ),
        ))
    }
}

/// Where a router's block sits in the Rollout:
/// `trafficRouting.plugins["<name>"]`.
fn router_field(ctx: &RolloutContext) -> String {
    format!(
        "spec.strategy.canary.trafficRouting.plugins[{:?}]",
        ctx.plugin_name
    )
}

impl std::str::FromStr for RouteNamespaces {
    type Err = String;

    /// `*` for any namespace; otherwise a comma-separated list (empty: the
    /// rollout's own only).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim() == "*" {
            return Ok(Self::Any);
        }
        let mut listed = BTreeSet::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let valid = name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !name.starts_with('-')
                && !name.ends_with('-');
            if !valid {
                return Err(format!(
                    "expected * or comma-separated namespace names (lowercase letters, digits and '-', \
                     at most 63), found {name:?}"
                ));
            }
            listed.insert(name.to_owned());
        }
        Ok(Self::Listed(listed))
    }
}

impl fmt::Display for RouteNamespaces {
    /// As `--route-namespaces` takes it: `*`, or the names joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Listed(listed) => {
                let names: Vec<&str> = listed.iter().map(String::as_str).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

//! Workloads (Deployment, StatefulSet, DaemonSet, bare ReplicaSet) seen through their pod
//! template: what they run, where they may be scheduled, and how they spread.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Container, PodAntiAffinity, PodSpec, PodTemplateSpec, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::object::ObjectRef;
use crate::policy::Policy;
use crate::snapshot::Snapshot;

pub(crate) const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
pub(crate) use crate::facts::UNSCHEDULABLE_TAINT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
}

/// How a workload replaces its pods.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rollout {
    /// RollingUpdate with the given surge and unavailability (raw, as written; None = default).
    Rolling {
        max_surge: Option<String>,
        max_unavailable: Option<String>,
    },
    Recreate,
    /// DaemonSets and StatefulSets replace pods in place.
    InPlace,
}

#[derive(Debug, Clone)]
pub(crate) struct Workload<'a> {
    pub kind: Kind,
    pub object: ObjectRef,
    pub meta: &'a ObjectMeta,
    pub template: Option<&'a PodTemplateSpec>,
    /// Desired replicas; `None` for a DaemonSet (one per eligible node).
    pub replicas: Option<i32>,
    pub rollout: Rollout,
}

impl<'a> Workload<'a> {
    /// One Deployment as the checks see it; the planner classifies Deployments through this too.
    pub(crate) fn of_deployment(d: &'a Deployment) -> Self {
        let spec = d.spec.as_ref();
        let strategy = spec.and_then(|s| s.strategy.as_ref());
        let rollout = match strategy.and_then(|s| s.type_.as_deref()) {
            Some("Recreate") => Rollout::Recreate,
            _ => {
                let ru = strategy.and_then(|s| s.rolling_update.as_ref());
                Rollout::Rolling {
                    max_surge: ru.and_then(|r| r.max_surge.as_ref()).map(int_or_string),
                    max_unavailable: ru
                        .and_then(|r| r.max_unavailable.as_ref())
                        .map(int_or_string),
                }
            }
        };
        Workload {
            kind: Kind::Deployment,
            object: ObjectRef::of(d),
            meta: &d.metadata,
            template: spec.map(|s| &s.template),
            replicas: Some(spec.and_then(|s| s.replicas).unwrap_or(1)),
            rollout,
        }
    }
}

/// Every workload in the snapshot; ReplicaSets only when no Deployment owns them.
pub(crate) fn all(snap: &Snapshot) -> Vec<Workload<'_>> {
    let mut out = Vec::new();
    for d in &snap.deployments {
        out.push(Workload::of_deployment(d));
    }
    for s in &snap.stateful_sets {
        let spec = s.spec.as_ref();
        out.push(Workload {
            kind: Kind::StatefulSet,
            object: ObjectRef::of(s),
            meta: &s.metadata,
            template: spec.map(|s| &s.template),
            replicas: Some(spec.and_then(|s| s.replicas).unwrap_or(1)),
            rollout: Rollout::InPlace,
        });
    }
    for d in &snap.daemon_sets {
        out.push(Workload {
            kind: Kind::DaemonSet,
            object: ObjectRef::of(d),
            meta: &d.metadata,
            template: d.spec.as_ref().map(|s| &s.template),
            replicas: None,
            rollout: Rollout::InPlace,
        });
    }
    for r in &snap.replica_sets {
        let owned = r
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o.kind == "Deployment"));
        if owned {
            continue;
        }
        let spec = r.spec.as_ref();
        out.push(Workload {
            kind: Kind::ReplicaSet,
            object: ObjectRef::of(r),
            meta: &r.metadata,
            template: spec.and_then(|s| s.template.as_ref()),
            replicas: Some(spec.and_then(|s| s.replicas).unwrap_or(1)),
            rollout: Rollout::InPlace,
        });
    }
    out
}

fn int_or_string(v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    match v {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    }
}

/// Resolves an int-or-percent value against `total`, rounding up (surge) or down (unavailable)
/// as the Deployment controller does.
pub(crate) fn resolve_count(raw: &str, total: i32, round_up: bool) -> Option<i32> {
    match raw.strip_suffix('%') {
        Some(pct) => {
            let pct: f64 = pct.trim().parse().ok()?;
            let exact = pct * f64::from(total) / 100.0;
            let value = if round_up {
                exact.ceil()
            } else {
                exact.floor()
            };
            Some(value as i32)
        }
        None => raw.trim().parse().ok(),
    }
}

impl<'a> Workload<'a> {
    pub fn name(&self) -> &str {
        &self.object.name
    }

    pub fn namespace(&self) -> &str {
        self.object.namespace.as_deref().unwrap_or_default()
    }

    pub fn pod_spec(&self) -> Option<&'a PodSpec> {
        self.template.and_then(|t| t.spec.as_ref())
    }

    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        self.template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.meta.labels.clone().unwrap_or_default()
    }

    pub fn containers(&self) -> &'a [Container] {
        self.pod_spec()
            .map(|s| s.containers.as_slice())
            .unwrap_or_default()
    }

    pub fn images(&self) -> Vec<&'a str> {
        self.containers()
            .iter()
            .filter_map(|c| c.image.as_deref())
            .collect()
    }

    /// Field path prefix of the pod spec, for evidence.
    pub fn spec_path(&self) -> &'static str {
        "spec.template.spec"
    }

    pub fn tolerates_unschedulable(&self) -> bool {
        self.pod_spec()
            .and_then(|s| s.tolerations.as_ref())
            .is_some_and(|ts| {
                ts.iter().any(|t| {
                    let key_ok = match t.key.as_deref() {
                        None | Some("") => t.operator.as_deref() == Some("Exists"),
                        Some(k) => k == UNSCHEDULABLE_TAINT,
                    };
                    let effect_ok =
                        matches!(t.effect.as_deref(), None | Some("") | Some("NoSchedule"));
                    key_ok && effect_ok
                })
            })
    }

    /// The pod template's anti-affinity, as the checks read it and as evidence shows it.
    pub fn pod_anti_affinity(&self) -> Option<&'a PodAntiAffinity> {
        self.pod_spec()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.pod_anti_affinity.as_ref())
    }

    /// Required pod anti-affinity terms spreading over `key`.
    pub fn required_anti_affinity_on(&self, key: &str) -> bool {
        self.pod_anti_affinity()
            .and_then(|p| {
                p.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some_and(|terms| terms.iter().any(|t| t.topology_key == key))
    }

    /// Preferred (or required, which is stronger) pod anti-affinity over `key`.
    pub fn any_anti_affinity_on(&self, key: &str) -> bool {
        let preferred = self
            .pod_anti_affinity()
            .and_then(|p| {
                p.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some_and(|terms| {
                terms
                    .iter()
                    .any(|t| t.pod_affinity_term.topology_key == key)
            });
        preferred || self.required_anti_affinity_on(key)
    }

    pub fn spread_constraints(&self) -> &'a [TopologySpreadConstraint] {
        self.pod_spec()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or_default()
    }

    /// The spread constraint over `key`, if any.
    pub fn spread_on(&self, key: &str) -> Option<&'a TopologySpreadConstraint> {
        self.spread_constraints()
            .iter()
            .find(|c| c.topology_key == key)
    }
}

/// Known ingress controllers, by image repository or `app.kubernetes.io/name`.
const INGRESS_IMAGES: &[&str] = &[
    "haproxytech/kubernetes-ingress",
    "jcmoraisjr/haproxy-ingress",
    "ingress-nginx/controller",
    "traefik",
];
const INGRESS_NAMES: &[&str] = &[
    "kubernetes-ingress",
    "haproxy-ingress",
    "ingress-nginx",
    "traefik",
];

/// The image repository without registry host and tag, e.g. `haproxytech/kubernetes-ingress`.
pub(crate) fn image_repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let without_tag = match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    };
    match without_tag.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => without_tag,
    }
}

/// Called for every container of every workload: compares in place, allocating nothing.
fn image_is(image: &str, known: &str) -> bool {
    let repo = image_repository(image);
    if known.contains('/') {
        return repo == known
            || ends_with_after(repo, known, b'/')
            || ends_with_flattened(repo, known);
    }
    let last = repo.rsplit('/').next().unwrap_or(repo);
    last == known || ends_with_after(last, known, b'-')
}

/// `text` ends with `separator` followed by `suffix`.
fn ends_with_after(text: &str, suffix: &str, separator: u8) -> bool {
    text.strip_suffix(suffix)
        .is_some_and(|rest| rest.as_bytes().last() == Some(&separator))
}

/// `text` ends with `-` and `suffix` with its `/` written as `-` (a mirror's flattened name,
/// `rancher/mirrored-library-traefik` for `library/traefik`).
fn ends_with_flattened(text: &str, suffix: &str) -> bool {
    let (text, suffix) = (text.as_bytes(), suffix.as_bytes());
    let Some(start) = text.len().checked_sub(suffix.len() + 1) else {
        return false;
    };
    text[start] == b'-'
        && text[start + 1..]
            .iter()
            .zip(suffix)
            .all(|(&t, &s)| t == if s == b'/' { b'-' } else { s })
}

/// True when `image` is a known ingress controller image.
pub(crate) fn is_ingress_image(image: &str) -> bool {
    INGRESS_IMAGES.iter().any(|known| image_is(image, known))
}

pub(crate) fn is_ingress_controller(w: &Workload<'_>, policy: &Policy) -> bool {
    if !matches!(w.kind, Kind::Deployment | Kind::DaemonSet) {
        return false;
    }
    if let Some(named) = &policy.ingress.controller {
        return named.namespace == w.namespace() && named.name == w.name();
    }
    let by_image = w.images().iter().any(|img| is_ingress_image(img));
    let by_label = [w.labels(), w.pod_labels()].iter().any(|labels| {
        labels
            .get("app.kubernetes.io/name")
            .is_some_and(|n| INGRESS_NAMES.contains(&n.as_str()))
            || labels.get("run").is_some_and(|n| n == "haproxy-ingress")
    });
    // Charts label admission webhooks and default backends with the same name; only the
    // controller component runs the controller image, so a label match needs no other image.
    by_image
        || (by_label
            && !w
                .images()
                .iter()
                .any(|i| i.contains("webhook") || i.contains("defaultbackend")))
}

pub(crate) fn is_coredns(w: &Workload<'_>) -> bool {
    if w.kind != Kind::Deployment || w.namespace() != "kube-system" {
        return false;
    }
    let labelled = [w.labels(), w.pod_labels()]
        .iter()
        .any(|l| l.get("k8s-app").is_some_and(|v| v == "kube-dns"));
    labelled || w.images().iter().any(|i| is_coredns_image(i))
}

/// CoreDNS by image, whoever installed it (k3s's manifest, the Helm chart, a mirror).
pub(crate) fn is_coredns_image(image: &str) -> bool {
    image_repository(image).contains("coredns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_images_are_known_under_mirrors_and_registries() {
        for image in [
            "haproxytech/kubernetes-ingress:3.1",
            "docker.io/haproxytech/kubernetes-ingress:3.1",
            "registry.example:5000/mirror/haproxytech/kubernetes-ingress",
            "mirror.example/library/mirrored-haproxytech-kubernetes-ingress:3.1",
            "registry.k8s.io/ingress-nginx/controller:v1.11.3@sha256:abc",
            "rancher/mirrored-library-traefik:2.11.2",
            "traefik:3.0",
        ] {
            assert!(is_ingress_image(image), "{image}");
        }
        for image in [
            "nginx:1.27",
            "haproxy:2.9",
            "example/controller:1",
            "kubernetes-ingress-extra/thing",
            "traefikx:1",
        ] {
            assert!(!is_ingress_image(image), "{image}");
        }
    }

    /// The rule as first written, with a `format!` per comparison: the in-place one must agree.
    fn image_is_by_allocation(image: &str, known: &str) -> bool {
        let repo = image_repository(image);
        if known.contains('/') {
            return repo == known
                || repo.ends_with(&format!("/{known}"))
                || repo.ends_with(&format!("-{}", known.replace('/', "-")));
        }
        let last = repo.rsplit('/').next().unwrap_or(repo);
        last == known || last.ends_with(&format!("-{known}"))
    }

    #[test]
    fn the_in_place_comparison_agrees_with_the_allocating_one() {
        let images = [
            "haproxytech/kubernetes-ingress",
            "x/haproxytech/kubernetes-ingress:1",
            "x/a-haproxytech-kubernetes-ingress",
            "haproxytech-kubernetes-ingress",
            "-",
            "/",
            "a/-",
            "traefik",
            "x/mirrored-traefik",
            "x/traefik-mirrored",
            "coredns/coredns:1.11",
            "rancher/mirrored-coredns-coredns:1.12",
            "ingress-nginx/controller",
            "q.io/y/ingress-nginx-controller",
            "",
        ];
        let known = INGRESS_IMAGES
            .iter()
            .chain(&["coredns/coredns", "coredns", "a/b", "b", "-"]);
        for k in known {
            for image in images {
                assert_eq!(
                    image_is(image, k),
                    image_is_by_allocation(image, k),
                    "{image} vs {k}"
                );
            }
        }
    }

    #[test]
    fn image_repository_strips_registry_and_tag() {
        assert_eq!(
            image_repository("docker.io/haproxytech/kubernetes-ingress:3.1"),
            "haproxytech/kubernetes-ingress"
        );
        assert_eq!(
            image_repository("quay.io/jcmoraisjr/haproxy-ingress:v0.14"),
            "jcmoraisjr/haproxy-ingress"
        );
        assert_eq!(image_repository("traefik:v3"), "traefik");
        assert_eq!(image_repository("localhost:5000/x/y:1"), "x/y");
        assert!(image_is(
            "registry.k8s.io/ingress-nginx/controller:v1.11.3@sha256:abc",
            "ingress-nginx/controller"
        ));
        assert!(image_is("rancher/mirrored-library-traefik:2.11", "traefik"));
        assert!(!image_is("nginx:1.27", "ingress-nginx/controller"));
    }

    #[test]
    fn percentages_resolve_like_the_deployment_controller() {
        assert_eq!(resolve_count("25%", 2, true), Some(1));
        assert_eq!(resolve_count("25%", 2, false), Some(0));
        assert_eq!(resolve_count("1", 2, false), Some(1));
        assert_eq!(resolve_count("x", 2, false), None);
    }
}

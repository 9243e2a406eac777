//! The scheduler's filters over typed objects: readiness, the cordon, taints, node selector and
//! required node affinity, volume node affinity, required pod anti-affinity, DoNotSchedule
//! topology spread and resource requests. Every filter that turns a node down is reported, not
//! only the first as kube-scheduler does, because a person fixing a drill wants all of them.

mod inter_pod;
mod node;
mod resources;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PodSpec};

use super::pods::{Owner, PodView};
use super::types::{Filter, Rejection};
use crate::object::ObjectRef;
use crate::report::Evidence;
use crate::snapshot::Snapshot;
use crate::topology::node_name;
use node::{cordon_and_taints, node_affinity, readiness};
use resources::{allocatable, requests};

/// A pod to place: a workload's pod template, and the claims the pod mounts.
pub(super) struct Candidate<'a> {
    pub namespace: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub spec: &'a PodSpec,
    pub claims: &'a [String],
    /// DaemonSet pods get the tolerations the DaemonSet controller adds.
    pub daemon: bool,
    /// The object whose template the spec is, for evidence.
    pub source: &'a ObjectRef,
    pub spec_path: &'static str,
}

/// Why a DaemonSet's pod template does not run on `node`: its node selector or required node
/// affinity leaves the node out, or a taint on it is not tolerated (the DaemonSet controller's
/// own tolerations, the cordon's among them, count). Empty when the node runs one.
pub(crate) fn daemon_rejections(
    source: &ObjectRef,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    spec: &PodSpec,
    node: &Node,
) -> Vec<Rejection> {
    let candidate = Candidate {
        namespace,
        labels,
        spec,
        claims: &[],
        daemon: true,
        source,
        spec_path: "spec.template.spec",
    };
    let mut out = Vec::new();
    node_affinity(&candidate, node, &mut out);
    cordon_and_taints(&candidate, node, &mut out);
    out
}

/// The cluster as scheduling sees it: every node (a lost one still counts as a topology domain,
/// as its Node object stays), the nodes pods may go to, and the pods already placed.
pub(super) struct Cluster<'s, 'p> {
    pub snapshot: &'s Snapshot,
    pub nodes: Vec<&'s Node>,
    pub lost: Option<&'s str>,
    pub pods: &'p [PodView<'s>],
}

impl<'s> Cluster<'s, '_> {
    /// Nodes a pod may be placed on: all but the lost one.
    pub fn targets(&self) -> impl Iterator<Item = &'s Node> + '_ {
        self.nodes
            .iter()
            .copied()
            .filter(move |n| Some(node_name(n)) != self.lost)
    }

    fn node(&self, name: &str) -> Option<&'s Node> {
        self.nodes.iter().copied().find(|n| node_name(n) == name)
    }

    /// Pods on `node`, those being deleted included.
    fn on<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a PodView<'s>> + 'a {
        self.pods
            .iter()
            .filter(move |p| p.node.as_deref() == Some(node))
    }

    /// Every filter that keeps `c` off `node`.
    pub fn rejections(&self, c: &Candidate<'_>, node: &Node) -> Vec<Rejection> {
        let mut out = Vec::new();
        readiness(c, node, &mut out);
        cordon_and_taints(c, node, &mut out);
        node_affinity(c, node, &mut out);
        self.volume_binding(c, node, &mut out);
        self.anti_affinity(c, node, &mut out);
        self.spread(c, node, &mut out);
        self.resources(c, node, &mut out);
        out
    }

    /// The node among `feasible` a pod goes to when several would take it: the one with the
    /// fewest pods of the same owner (the default spreading of a workload's pods), then the most
    /// free CPU and memory, then by name. On two nodes with one lost this choice never matters.
    pub fn choose(
        &self,
        owner: &Owner,
        c: &Candidate<'_>,
        feasible: &[&'s Node],
    ) -> Option<&'s Node> {
        let siblings = |n: &Node| {
            self.on(node_name(n))
                .filter(|p| !p.terminating && &p.owner == owner && *owner != Owner::Bare)
                .count()
        };
        let free = |n: &Node| -> i64 {
            let (cpu, memory) = requests(c.spec);
            let (used_cpu, used_memory) = self.used(node_name(n));
            let share = |cap: Option<f64>, used: f64, ask: f64| {
                cap.filter(|c| *c > 0.0)
                    .map_or(1.0, |cap| ((cap - used - ask) / cap).clamp(0.0, 1.0))
            };
            let score = share(allocatable(n, "cpu"), used_cpu, cpu)
                + share(allocatable(n, "memory"), used_memory, memory);
            (score * 1e6) as i64
        };
        feasible
            .iter()
            .copied()
            .min_by_key(|n| (siblings(n), -free(n), node_name(n).to_owned()))
    }
}

fn rejection(node: &Node, filter: Filter, detail: String, evidence: Evidence) -> Rejection {
    Rejection {
        node: node_name(node).to_owned(),
        filter,
        detail,
        evidence,
    }
}

fn label<'n>(node: &'n Node, key: &str) -> Option<&'n String> {
    node.metadata.labels.as_ref()?.get(key)
}

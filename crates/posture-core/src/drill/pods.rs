//! Where the pods are: the snapshot's own list when it has one, else each workload's pods
//! placed as the scheduler would place them on the nodes as they are. A scenario file or a
//! snapshot taken without the right to list pods still gets an answer, marked as inferred.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};

use super::schedule::{Candidate, Cluster};
use super::types::PodSource;
use crate::checks::context::Ctx;
use crate::facts::pod_ready;
use crate::object::ObjectRef;
use crate::workload::{Kind, Workload};

/// Who recreates a pod once it is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Owner {
    /// The workload at this index of [`Ctx::workloads`].
    Workload(usize),
    /// A static pod's mirror: it belongs to its node.
    Mirror,
    /// No controller: a pod deleted or lost stays gone.
    Bare,
    /// A controller posture does not model, as `Kind name`.
    Other(String),
}

/// One pod, listed or inferred, as every part of the what-if reads it.
#[derive(Debug, Clone)]
pub(super) struct PodView<'a> {
    /// `None` for a pod inferred from its workload.
    pub name: Option<String>,
    pub namespace: String,
    /// `None` while it is not scheduled.
    pub node: Option<String>,
    pub ready: bool,
    /// In phase Pending: the eviction API lets such a pod go whatever its budget says.
    pub pending: bool,
    /// Being deleted, or lost with its node: still there for anti-affinity, no longer for
    /// topology spread.
    pub terminating: bool,
    pub labels: BTreeMap<String, String>,
    pub spec: Option<&'a PodSpec>,
    pub claims: Vec<String>,
    pub owner: Owner,
    /// The workload (or the pod itself) evidence about this pod points at.
    pub object: ObjectRef,
}

impl PodView<'_> {
    /// `pod apps/web-1`, or `a pod of Deployment apps/web` when inferred.
    pub fn describe_short(&self) -> String {
        match &self.name {
            Some(name) => format!("pod {}/{name}", self.namespace),
            None => format!("a pod of {}", self.object),
        }
    }

    pub fn daemon(&self, ctx: &Ctx<'_>) -> bool {
        matches!(self.owner, Owner::Workload(i) if ctx.workloads[i].kind == Kind::DaemonSet)
    }
}

/// The snapshot's pods, or inferred ones when it lists none.
pub(super) fn gather<'a>(ctx: &Ctx<'a>) -> (Vec<PodView<'a>>, PodSource) {
    if !ctx.snap.pods.is_empty() {
        let pods = ctx
            .snap
            .pods
            .iter()
            .filter(|p| !terminal(p))
            .map(|p| listed(ctx, p))
            .collect();
        return (pods, PodSource::Listed);
    }
    let reason = match ctx.snap.unreadable("pods") {
        Some(why) => format!("pods could not be read ({why})"),
        None => "the snapshot lists no pods".to_owned(),
    };
    (infer(ctx), PodSource::Inferred { reason })
}

fn terminal(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

fn listed<'a>(ctx: &Ctx<'a>, pod: &'a Pod) -> PodView<'a> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let owner = owner_of(ctx, pod);
    let object = match &owner {
        Owner::Workload(i) => ctx.workloads[*i].object.clone(),
        _ => ObjectRef::of(pod),
    };
    let spec = pod.spec.as_ref();
    PodView {
        name: pod.metadata.name.clone(),
        node: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        ready: pod_ready(pod),
        pending: pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"),
        terminating: pod.metadata.deletion_timestamp.is_some(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        claims: claims_of(spec),
        spec,
        owner,
        object,
        namespace,
    }
}

fn owner_of(ctx: &Ctx<'_>, pod: &Pod) -> Owner {
    let mirror = (pod.metadata.annotations.as_ref())
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let owners = pod.metadata.owner_references.as_deref().unwrap_or_default();
    let controller = owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or(owners.first());
    if mirror || controller.is_some_and(|o| o.kind == "Node") {
        return Owner::Mirror;
    }
    let Some(controller) = controller else {
        return Owner::Bare;
    };
    match ctx.workload_of_pod(pod) {
        Some(w) => ctx
            .workloads
            .iter()
            .position(|x| x.object == w.object)
            .map_or(Owner::Bare, Owner::Workload),
        None => Owner::Other(format!("{} {}", controller.kind, controller.name)),
    }
}

/// Claims a pod spec mounts.
pub(super) fn claims_of(spec: Option<&PodSpec>) -> Vec<String> {
    (spec.and_then(|s| s.volumes.as_deref()))
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone())
        .collect()
}

/// Each workload's pods placed one by one on the nodes as they are: DaemonSets first (one per
/// node that admits them), then the others in the snapshot's order, each replica seeing the
/// ones placed before it.
fn infer<'a>(ctx: &Ctx<'a>) -> Vec<PodView<'a>> {
    let nodes: Vec<&Node> = ctx.snap.nodes.iter().collect();
    let mut pods: Vec<PodView<'a>> = Vec::new();
    let order = (ctx.workloads.iter().enumerate())
        .filter(|(_, w)| w.kind == Kind::DaemonSet)
        .chain(
            ctx.workloads
                .iter()
                .enumerate()
                .filter(|(_, w)| w.kind != Kind::DaemonSet),
        );
    for (index, w) in order {
        let Some(spec) = w.pod_spec() else { continue };
        let labels = w.pod_labels();
        for ordinal in 0..w.replicas.unwrap_or(0).max(0) {
            let claims = template_claims(ctx, w, spec, ordinal);
            let node = place(
                ctx,
                &nodes,
                &pods,
                index,
                &candidate(w, spec, &labels, &claims),
            );
            pods.push(inferred(w, index, spec, &labels, claims, node));
        }
        if w.kind == Kind::DaemonSet {
            for node in &nodes {
                let claims = claims_of(Some(spec));
                let candidate = candidate(w, spec, &labels, &claims);
                let cluster = Cluster {
                    snapshot: ctx.snap,
                    nodes: nodes.clone(),
                    lost: None,
                    pods: &pods,
                };
                if cluster.rejections(&candidate, node).is_empty() {
                    let name = crate::topology::node_name(node).to_owned();
                    pods.push(inferred(w, index, spec, &labels, claims, Some(name)));
                }
            }
        }
    }
    pods
}

fn place(
    ctx: &Ctx<'_>,
    nodes: &[&Node],
    pods: &[PodView<'_>],
    index: usize,
    candidate: &Candidate<'_>,
) -> Option<String> {
    let cluster = Cluster {
        snapshot: ctx.snap,
        nodes: nodes.to_vec(),
        lost: None,
        pods,
    };
    let feasible: Vec<&Node> = (cluster.targets())
        .filter(|n| cluster.rejections(candidate, n).is_empty())
        .collect();
    let chosen = cluster.choose(&Owner::Workload(index), candidate, &feasible)?;
    Some(crate::topology::node_name(chosen).to_owned())
}

pub(super) fn candidate<'a>(
    w: &'a Workload<'_>,
    spec: &'a PodSpec,
    labels: &'a BTreeMap<String, String>,
    claims: &'a [String],
) -> Candidate<'a> {
    Candidate {
        namespace: w.namespace(),
        labels,
        spec,
        claims,
        daemon: w.kind == Kind::DaemonSet,
        source: &w.object,
        spec_path: w.spec_path(),
    }
}

fn inferred<'a>(
    w: &Workload<'a>,
    index: usize,
    spec: &'a PodSpec,
    labels: &BTreeMap<String, String>,
    claims: Vec<String>,
    node: Option<String>,
) -> PodView<'a> {
    PodView {
        name: None,
        namespace: w.namespace().to_owned(),
        ready: node.is_some(),
        pending: node.is_none(),
        node,
        terminating: false,
        labels: labels.clone(),
        spec: Some(spec),
        claims,
        owner: Owner::Workload(index),
        object: w.object.clone(),
    }
}

/// The claims pod `ordinal` of a workload mounts: its template's, and for a StatefulSet those
/// its claim templates make (`<template>-<set>-<ordinal>`).
fn template_claims(ctx: &Ctx<'_>, w: &Workload<'_>, spec: &PodSpec, ordinal: i32) -> Vec<String> {
    let mut claims = claims_of(Some(spec));
    if w.kind != Kind::StatefulSet {
        return claims;
    }
    let set = (ctx.snap.stateful_sets.iter()).find(|s| ObjectRef::of(*s) == w.object);
    let templates = set
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or_default();
    for t in templates {
        let template = t.metadata.name.as_deref().unwrap_or_default();
        claims.push(format!("{template}-{}-{ordinal}", w.name()));
    }
    claims
}

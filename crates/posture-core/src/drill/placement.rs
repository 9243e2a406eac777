//! Where each pod lost with the node comes back: its controller makes a replacement from the
//! pod template, and the scheduler tries every surviving node. Replacements are placed one
//! after another, so each sees the resources and the anti-affinity of those placed before it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::pods::{Owner, PodView, candidate};
use super::schedule::Cluster;
use super::types::{
    Placement, UnmanagedPod, VolumeFate, VolumeOutcome, WorkloadOutcome, WorkloadStatus,
};
use crate::checks::context::Ctx;
use crate::workload::{Kind, Workload};

const LONGHORN_DRIVER: &str = "driver.longhorn.io";

/// The cluster after the node is gone.
pub(super) struct Loss<'a> {
    pub workloads: Vec<WorkloadOutcome>,
    /// Where each pod on the node (by its index in the pods) comes back; absent for pods no
    /// controller recreates elsewhere (DaemonSet, mirror and unmanaged pods).
    pub comes_back: BTreeMap<usize, Placement>,
    /// Every pod as it is then: the node's pods marked as going, replacements appended.
    pub after: Vec<PodView<'a>>,
    pub unmanaged: Vec<UnmanagedPod>,
}

impl Loss<'_> {
    /// The replacements, as pods.
    pub fn replacements(&self, before: usize) -> &[PodView<'_>] {
        &self.after[before..]
    }
}

pub(super) fn simulate<'a>(
    ctx: &Ctx<'a>,
    pods: &[PodView<'a>],
    node: &str,
    volumes: &[VolumeOutcome],
) -> Loss<'a> {
    let on_node = |p: &PodView<'_>| p.node.as_deref() == Some(node) && !p.terminating;
    let mut after: Vec<PodView<'a>> = pods.to_vec();
    for p in after.iter_mut().filter(|p| p.node.as_deref() == Some(node)) {
        p.terminating = true;
    }
    let mut scheduler = Scheduler {
        ctx,
        nodes: ctx.snap.nodes.iter().collect(),
        node,
        volumes,
        after,
    };
    let mut comes_back = BTreeMap::new();
    let mut workloads = Vec::new();
    for (index, w) in ctx.workloads.iter().enumerate() {
        let mine = |p: &&PodView<'_>| p.owner == Owner::Workload(index);
        let lost: Vec<usize> = (pods.iter().enumerate())
            .filter(|(_, p)| mine(p) && on_node(p))
            .map(|(i, _)| i)
            .collect();
        if lost.is_empty() {
            continue;
        }
        let ready_elsewhere = (pods.iter().filter(mine))
            .filter(|p| p.ready && !p.terminating && p.node.as_deref() != Some(node))
            .count();
        let mut replacements = Vec::new();
        if w.kind != Kind::DaemonSet {
            for &i in &lost {
                let Some(placement) = scheduler.replace(index, w, &pods[i]) else {
                    continue;
                };
                comes_back.insert(i, placement.clone());
                replacements.push(placement);
            }
        }
        workloads.push(outcome(w, lost.len(), ready_elsewhere, replacements));
    }
    let unmanaged = (pods.iter().filter(|p| on_node(p)))
        .filter_map(|p| {
            let owner = match &p.owner {
                Owner::Bare => None,
                Owner::Other(owner) => Some(owner.clone()),
                Owner::Workload(_) | Owner::Mirror => return None,
            };
            Some(UnmanagedPod {
                pod: p.object.clone(),
                owner,
            })
        })
        .collect();
    Loss {
        workloads,
        comes_back,
        after: scheduler.after,
        unmanaged,
    }
}

/// Places replacements on the cluster without the node, one after another.
struct Scheduler<'a, 'c> {
    ctx: &'c Ctx<'a>,
    nodes: Vec<&'a Node>,
    node: &'c str,
    volumes: &'c [VolumeOutcome],
    after: Vec<PodView<'a>>,
}

impl<'a> Scheduler<'a, '_> {
    /// Where the replacement of `lost`, a pod of workload `index`, goes; `None` when the
    /// workload has no pod template to make one from. A replacement that is scheduled joins the
    /// cluster, ready only if it can start.
    fn replace(&mut self, index: usize, w: &Workload<'a>, lost: &PodView<'a>) -> Option<Placement> {
        let spec = w.pod_spec()?;
        let labels = w.pod_labels();
        let c = candidate(w, spec, &labels, &lost.claims);
        let cluster = Cluster {
            snapshot: self.ctx.snap,
            nodes: self.nodes.clone(),
            lost: Some(self.node),
            pods: &self.after,
        };
        let mut rejections = Vec::new();
        let mut feasible = Vec::new();
        for target in cluster.targets() {
            let why = cluster.rejections(&c, target);
            if why.is_empty() {
                feasible.push(target);
            }
            rejections.extend(why);
        }
        let Some(target) = cluster.choose(&Owner::Workload(index), &c, &feasible) else {
            return Some(Placement::Pending { rejections });
        };
        let name = crate::topology::node_name(target).to_owned();
        let placement = match faulted_claim(self.ctx, &lost.namespace, &lost.claims, self.volumes) {
            Some(reason) => Placement::Stuck {
                node: name.clone(),
                reason,
            },
            None => Placement::Lands { node: name.clone() },
        };
        let replacement = PodView {
            name: None,
            node: Some(name),
            ready: placement.starts(),
            pending: false,
            terminating: false,
            labels,
            spec: Some(spec),
            ..lost.clone()
        };
        self.after.push(replacement);
        Some(placement)
    }
}

fn outcome(
    w: &Workload<'_>,
    on_node: usize,
    ready_elsewhere: usize,
    replacements: Vec<Placement>,
) -> WorkloadOutcome {
    let (kind, replicas) = (w.kind, w.replicas);
    let ready_after = ready_elsewhere + replacements.iter().filter(|p| p.starts()).count();
    let desired = replicas.map_or(0, |r| usize::try_from(r).unwrap_or(0));
    let status = if kind == Kind::DaemonSet {
        WorkloadStatus::NodeLocal
    } else if ready_after == 0 {
        WorkloadStatus::Down
    } else if ready_after < desired {
        WorkloadStatus::Degraded
    } else if ready_elsewhere == 0 {
        WorkloadStatus::Restarts
    } else {
        WorkloadStatus::Moves
    };
    WorkloadOutcome {
        workload: w.object.clone(),
        replicas: replicas.filter(|_| kind != Kind::DaemonSet),
        on_node,
        ready_elsewhere,
        replacements,
        ready_after,
        status,
    }
}

/// Why a pod mounting `claims` cannot start: one of them is a Longhorn volume left without a
/// healthy replica.
fn faulted_claim(
    ctx: &Ctx<'_>,
    namespace: &str,
    claims: &[String],
    volumes: &[VolumeOutcome],
) -> Option<String> {
    claims.iter().find_map(|claim| {
        let pvc = ctx.snap.persistent_volume_claims.iter().find(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.metadata.name.as_deref() == Some(claim.as_str())
        })?;
        let pv_name = pvc.spec.as_ref()?.volume_name.as_deref()?;
        let pv = (ctx.snap.persistent_volumes.iter())
            .find(|pv| pv.metadata.name.as_deref() == Some(pv_name));
        let handle = match pv.and_then(|pv| pv.spec.as_ref()?.csi.as_ref()) {
            Some(csi) if csi.driver == LONGHORN_DRIVER => csi.volume_handle.as_str(),
            Some(_) => return None,
            // Longhorn names its volume after the PersistentVolume.
            None => pv_name,
        };
        let volume = volumes.iter().find(|v| v.volume.name == handle)?;
        matches!(
            volume.fate,
            VolumeFate::Faulted | VolumeFate::AlreadyFaulted
        )
        .then(|| {
            format!(
                "its claim {claim} is Longhorn volume {handle}, which has no healthy replica left"
            )
        })
    })
}

//! The restore gate: what still keeps the cluster from being as it was before the drill. This is
//! the Longhorn-health gate around node maintenance: the node Ready and exactly as cordoned and
//! tainted as before, every volume that kept a replica on it has a healthy one there again, and
//! no rebuild is running. (That the cluster is also quiet for the settle period is the
//! detectors' part, judged by the shell.)

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Node;
use serde::{Deserialize, Serialize};

use crate::ObjectRef;
use crate::checks::context::Ctx;
use crate::facts::{node_ready, pod_ready};
use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// A taint as its identity: key, value and effect (its `timeAdded` is not part of it).
pub type TaintKey = (String, Option<String>, String);

/// What the node and its volumes looked like before the drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Before {
    pub unschedulable: bool,
    pub taints: BTreeSet<TaintKey>,
    /// Volumes with a healthy replica on the node.
    pub volumes_on_node: BTreeSet<String>,
}

fn find<'a>(snapshot: &'a Snapshot, node: &str) -> Option<&'a Node> {
    (snapshot.nodes.iter()).find(|n| n.metadata.name.as_deref() == Some(node))
}

fn taints(node: &Node) -> BTreeSet<TaintKey> {
    (node.spec.as_ref().and_then(|s| s.taints.as_deref()))
        .unwrap_or_default()
        .iter()
        .map(|t| (t.key.clone(), t.value.clone(), t.effect.clone()))
        .collect()
}

fn unschedulable(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
}

fn healthy_replicas_on(snapshot: &Snapshot, node: &str) -> BTreeSet<String> {
    let Some(longhorn) = &snapshot.longhorn else {
        return BTreeSet::new();
    };
    let rebuilding: BTreeSet<&str> = (longhorn.engines.iter())
        .flat_map(|e| e.status.replica_mode_map.iter())
        .filter(|(_, mode)| mode.as_str() != "RW")
        .map(|(replica, _)| replica.as_str())
        .collect();
    (longhorn.replicas.iter())
        .filter(|r| r.node_id() == Some(node) && !r.is_failed())
        .filter(|r| r.status.current_state.as_deref() == Some("running"))
        .filter(|r| !rebuilding.contains(r.name()))
        .filter_map(|r| r.volume_name().map(str::to_owned))
        .collect()
}

/// The node as it is now, to compare with after the drill; `None` if it is not in the
/// snapshot.
pub fn before(snapshot: &Snapshot, node: &str) -> Option<Before> {
    let found = find(snapshot, node)?;
    Some(Before {
        unschedulable: unschedulable(found),
        taints: taints(found),
        volumes_on_node: healthy_replicas_on(snapshot, node),
    })
}

fn describe_taints(taints: &BTreeSet<TaintKey>) -> String {
    if taints.is_empty() {
        return "none".into();
    }
    let all: Vec<String> = taints
        .iter()
        .map(|(key, value, effect)| match value {
            Some(value) => format!("{key}={value}:{effect}"),
            None => format!("{key}:{effect}"),
        })
        .collect();
    all.join(", ")
}

/// What keeps the cluster from being as it was; empty when the gate is open.
pub fn unmet(snapshot: &Snapshot, node: &str, before: &Before) -> Vec<String> {
    let mut unmet = Vec::new();
    let Some(found) = find(snapshot, node) else {
        return vec![format!("node {node} is gone from the cluster")];
    };
    if node_ready(found) != Some(true) {
        unmet.push(format!("node {node} is not Ready"));
    }
    if unschedulable(found) != before.unschedulable {
        unmet.push(format!(
            "node {node} spec.unschedulable is {}, was {}",
            unschedulable(found),
            before.unschedulable
        ));
    }
    let now = taints(found);
    if now != before.taints {
        unmet.push(format!(
            "node {node} taints are [{}], were [{}]",
            describe_taints(&now),
            describe_taints(&before.taints)
        ));
    }
    let healthy = healthy_replicas_on(snapshot, node);
    let missing: Vec<&str> = (before.volumes_on_node.iter())
        .filter(|v| !healthy.contains(*v))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        unmet.push(format!(
            "{} volume(s) have no healthy replica on {node} yet: {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    if let Some(longhorn) = &snapshot.longhorn {
        let mut unhealthy: Vec<String> = (longhorn.volumes.iter())
            .filter(|v| v.status.state.as_deref() == Some("attached"))
            .filter(|v| v.status.robustness.as_deref() != Some("healthy"))
            .map(|v| {
                format!(
                    "{} ({})",
                    v.name(),
                    v.status.robustness.as_deref().unwrap_or("unknown")
                )
            })
            .collect();
        unhealthy.sort();
        if !unhealthy.is_empty() {
            unmet.push(format!(
                "{} attached volume(s) are not healthy: {}",
                unhealthy.len(),
                unhealthy.join(", ")
            ));
        }
        let rebuilding = (longhorn.engines.iter())
            .flat_map(|e| e.status.replica_mode_map.values())
            .filter(|mode| mode.as_str() == "WO")
            .count();
        if rebuilding > 0 {
            unmet.push(format!("{rebuilding} replica rebuild(s) still running"));
        }
    }
    unmet
}

/// Pods to evict, one per workload, so the scheduler spreads back onto `node` what the drill
/// moved off it: workloads that had a pod on the node before and now run every pod, all ready,
/// on other nodes, with at least two on one of them. Evicting one of those lets its spreading
/// rules (anti-affinity, topology spread) place the replacement on the node again. A workload
/// still short of ready pods is left alone: evicting then would cost serving capacity.
pub fn respread(before: &Snapshot, now: &Snapshot, node: &str, policy: &Policy) -> Vec<ObjectRef> {
    let was_on_node: BTreeSet<ObjectRef> = {
        let ctx = Ctx::new(before, policy);
        (before.pods.iter())
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
            .filter_map(|p| ctx.workload_of_pod(p).map(|w| w.object.clone()))
            .filter(|w| w.kind != "DaemonSet")
            .collect()
    };
    let ctx = Ctx::new(now, policy);
    let mut by_workload: BTreeMap<ObjectRef, Vec<&k8s_openapi::api::core::v1::Pod>> =
        BTreeMap::new();
    for pod in &now.pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(workload) = ctx.workload_of_pod(pod)
            && was_on_node.contains(&workload.object)
        {
            by_workload
                .entry(workload.object.clone())
                .or_default()
                .push(pod);
        }
    }
    let mut evict = Vec::new();
    for pods in by_workload.values() {
        let node_of = |p: &&k8s_openapi::api::core::v1::Pod| {
            p.spec.as_ref().and_then(|s| s.node_name.clone())
        };
        if pods.iter().any(|p| !pod_ready(p))
            || pods.iter().any(|p| node_of(p).as_deref() == Some(node))
        {
            continue;
        }
        let mut per_node: BTreeMap<String, Vec<&k8s_openapi::api::core::v1::Pod>> = BTreeMap::new();
        for pod in pods {
            if let Some(n) = node_of(pod) {
                per_node.entry(n).or_default().push(pod);
            }
        }
        if let Some(crowded) = per_node.values().find(|p| p.len() >= 2)
            && let Some(pod) = crowded.iter().max_by_key(|p| p.metadata.name.clone())
        {
            evict.push(ObjectRef::of(*pod));
        }
    }
    evict
}

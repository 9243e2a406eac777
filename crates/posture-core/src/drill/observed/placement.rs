//! Where pods and Longhorn replicas are, per node: the report's before / during / after picture.
//! DaemonSet pods run on every node by design and are left out; so are finished pods.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::PhasePlacement;
use crate::facts::{node_ready, pod_ready};
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePlacement {
    pub node: String,
    pub ready: Option<bool>,
    pub unschedulable: bool,
    /// `namespace/name`, with `(not ready)` or `(terminating)` when it is not serving.
    pub pods: Vec<String>,
    /// Longhorn volumes with a replica here, by PVC (`namespace/claim`) when bound, with
    /// `(failed)` or `(rebuilding)` when the replica is not a healthy one.
    pub replicas: Vec<String>,
}

/// The picture of `snapshot` at one phase.
pub fn phase(name: &str, snapshot: &Snapshot) -> PhasePlacement {
    let mut nodes: BTreeMap<String, NodePlacement> = snapshot
        .nodes
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            Some((
                name.clone(),
                NodePlacement {
                    node: name,
                    ready: node_ready(n),
                    unschedulable: n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true),
                    pods: Vec::new(),
                    replicas: Vec::new(),
                },
            ))
        })
        .collect();
    let mut pending = Vec::new();
    for pod in &snapshot.pods {
        let daemon = (pod.metadata.owner_references.as_deref().unwrap_or_default())
            .iter()
            .any(|o| o.kind == "DaemonSet");
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if daemon || matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let mut label = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        if pod.metadata.deletion_timestamp.is_some() {
            label.push_str(" (terminating)");
        } else if !pod_ready(pod) && phase != Some("Pending") {
            label.push_str(" (not ready)");
        }
        match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(node) => {
                if let Some(entry) = nodes.get_mut(node) {
                    entry.pods.push(label);
                }
            }
            None => pending.push(label),
        }
    }
    if let Some(longhorn) = &snapshot.longhorn {
        let claim_of: BTreeMap<&str, String> = (longhorn.volumes.iter())
            .filter_map(|v| {
                let k8s = v.status.kubernetes_status.as_ref()?;
                let claim = format!("{}/{}", k8s.namespace.as_deref()?, k8s.pvc_name.as_deref()?);
                Some((v.name(), claim))
            })
            .collect();
        let rebuilding: Vec<&str> = (longhorn.engines.iter())
            .flat_map(|e| e.status.replica_mode_map.iter())
            .filter(|(_, mode)| mode.as_str() == "WO")
            .map(|(replica, _)| replica.as_str())
            .collect();
        for replica in &longhorn.replicas {
            let (Some(node), Some(volume)) = (replica.node_id(), replica.volume_name()) else {
                continue;
            };
            let mut label = claim_of
                .get(volume)
                .cloned()
                .unwrap_or_else(|| volume.to_owned());
            if replica.is_failed() {
                label.push_str(" (failed)");
            } else if rebuilding.contains(&replica.name()) {
                label.push_str(" (rebuilding)");
            }
            if let Some(entry) = nodes.get_mut(node) {
                entry.replicas.push(label);
            }
        }
    }
    let mut nodes: Vec<NodePlacement> = nodes.into_values().collect();
    for node in &mut nodes {
        node.pods.sort();
        node.replicas.sort();
    }
    pending.sort();
    PhasePlacement {
        phase: name.to_owned(),
        at: snapshot.observed_at(),
        nodes,
        pending,
    }
}

//! The simulation's side of fault injection: what is broken right now.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::Value;

use super::Simulation;
use super::util::{controller_owner, rt};
use crate::fault::Fault;
use crate::store::{ObjectKey, Store};

#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Nodes whose kubelet (and everything on them) is down.
    pub stopped: BTreeSet<String>,
    /// Nodes cut off from the control plane; their workloads keep running.
    pub partitioned: BTreeSet<String>,
    /// Crash-looping pods, keyed by their controller's uid (or "namespace/name" if unowned).
    pub crash_loops: BTreeSet<String>,
    /// Readiness-flapping pods (same keys) and their period in seconds.
    pub flapping: BTreeMap<String, u32>,
    /// Leases whose holder changes every period (seconds).
    pub lease_thrash: BTreeMap<(String, String), u32>,
    /// Rebuild failures: `Some(None)` fails every volume's rebuilds.
    pub fail_rebuilds: Option<Option<BTreeSet<String>>>,
    /// Rebuilds take this many times as long (1 = normal).
    pub slow_factor: u32,
}

impl Faults {
    /// Whether the node's status reaches the control plane.
    pub fn silent(&self, node: &str) -> bool {
        self.stopped.contains(node) || self.partitioned.contains(node)
    }

    /// Whether any pod-level fault is active (kubelets must look at pods every step).
    pub fn pod_faults(&self) -> bool {
        !self.crash_loops.is_empty() || !self.flapping.is_empty()
    }

    pub fn rebuilds_fail(&self, volume: &str) -> bool {
        match &self.fail_rebuilds {
            Some(None) => true,
            Some(Some(volumes)) => volumes.contains(volume),
            None => false,
        }
    }

    pub fn rebuild_slowdown(&self) -> u64 {
        u64::from(self.slow_factor.max(1))
    }
}

/// The key by which pod faults follow a pod's replacements.
pub(crate) fn pod_fault_key(pod: &Value) -> String {
    match controller_owner(pod) {
        Some((_, _, owner_uid)) if !owner_uid.is_empty() => owner_uid.to_owned(),
        _ => format!("{}/{}", super::util::namespace(pod), super::util::name(pod)),
    }
}

pub(super) fn inject(sim: &mut Simulation, store: &mut Store, fault: &Fault, now: Timestamp) {
    if matches!(
        fault,
        Fault::StartNode { .. } | Fault::HealNode { .. } | Fault::ClearAll
    ) {
        sim.kubelet.wake();
    }
    let faults = &mut sim.faults;
    let pod_key = |namespace: &str, pod: &str| {
        store
            .get(&ObjectKey::new(rt("", "pods"), namespace, pod))
            .map(pod_fault_key)
            .unwrap_or_else(|| format!("{namespace}/{pod}"))
    };
    match fault {
        Fault::StopNode { node } => {
            faults.stopped.insert(node.clone());
            sim.nodes.silenced_at.entry(node.clone()).or_insert(now);
        }
        Fault::StartNode { node } => {
            faults.stopped.remove(node);
            if !faults.partitioned.contains(node) {
                sim.nodes.silenced_at.remove(node);
            }
        }
        Fault::PartitionNode { node } => {
            faults.partitioned.insert(node.clone());
            sim.nodes.silenced_at.entry(node.clone()).or_insert(now);
        }
        Fault::HealNode { node } => {
            faults.partitioned.remove(node);
            if !faults.stopped.contains(node) {
                sim.nodes.silenced_at.remove(node);
            }
        }
        Fault::CrashLoop { namespace, pod } => {
            faults.crash_loops.insert(pod_key(namespace, pod));
        }
        Fault::FlapReadiness {
            namespace,
            pod,
            period_seconds,
        } => {
            faults
                .flapping
                .insert(pod_key(namespace, pod), (*period_seconds).max(1));
        }
        Fault::LeaseThrash {
            namespace,
            name,
            period_seconds,
        } => {
            faults
                .lease_thrash
                .insert((namespace.clone(), name.clone()), (*period_seconds).max(1));
        }
        Fault::FailRebuilds { volume } => {
            faults.fail_rebuilds = Some(match (volume, faults.fail_rebuilds.take()) {
                (None, _) | (_, Some(None)) => None,
                (Some(v), Some(Some(mut set))) => {
                    set.insert(v.clone());
                    Some(set)
                }
                (Some(v), None) => Some(BTreeSet::from([v.clone()])),
            });
        }
        Fault::SlowRebuilds { factor } => faults.slow_factor = *factor,
        Fault::ClearAll => {
            let silenced: Vec<String> = faults
                .stopped
                .iter()
                .chain(&faults.partitioned)
                .cloned()
                .collect();
            *faults = Faults::default();
            for node in silenced {
                sim.nodes.silenced_at.remove(&node);
            }
        }
        Fault::ApiErrors { .. }
        | Fault::ApiTimeouts { .. }
        | Fault::LostReplies { .. }
        | Fault::RestartApi
        | Fault::Compact => {}
    }
}

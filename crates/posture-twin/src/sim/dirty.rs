//! Change tracking so store-driven controllers only run when one of their inputs changed.
//! Node heartbeats (which only touch timestamps) do not count as node changes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::util::{fnv, text};
use crate::store::{ChangeType, Store};

/// Controllers that depend only on the store, never on the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Gate {
    Workloads,
    Scheduler,
    Statuses,
    Endpoints,
    Budgets,
    /// The Longhorn manager also runs whenever it has timers or rebuilds going.
    Longhorn,
    /// Kubelets also run while any pod is starting, terminating or faulty.
    Kubelets,
}

const ALL: [Gate; 7] = [
    Gate::Kubelets,
    Gate::Workloads,
    Gate::Scheduler,
    Gate::Statuses,
    Gate::Endpoints,
    Gate::Budgets,
    Gate::Longhorn,
];

impl Gate {
    fn inputs(self) -> &'static [&'static str] {
        match self {
            Gate::Workloads => &[
                "pods",
                "replicasets",
                "deployments",
                "statefulsets",
                "daemonsets",
                "nodes",
                "services",
                "controllerrevisions",
            ],
            Gate::Scheduler => &["pods", "nodes"],
            Gate::Statuses => &[
                "pods",
                "replicasets",
                "deployments",
                "statefulsets",
                "daemonsets",
                "nodes",
            ],
            Gate::Endpoints => &["pods", "services", "endpointslices"],
            Gate::Budgets => &["pods", "poddisruptionbudgets"],
            Gate::Kubelets => &["pods", "nodes"],
            Gate::Longhorn => &[
                "volumes",
                "replicas",
                "engines",
                "settings",
                "nodes",
                "configmaps",
                "storageclasses",
            ],
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Dirty {
    started: bool,
    seen: u64,
    pending: BTreeSet<Gate>,
    node_fingerprints: BTreeMap<String, u64>,
}

impl Dirty {
    /// Folds the changes committed since the last look into each gate's pending set.
    pub fn observe(&mut self, store: &Store) {
        if !self.started {
            self.started = true;
            self.pending.extend(ALL);
            self.seen = store.resource_version();
            return;
        }
        let changes = match store.changes_since(self.seen) {
            Ok(changes) => changes,
            Err(_) => {
                self.pending.extend(ALL);
                self.seen = store.resource_version();
                return;
            }
        };
        let mut kinds: BTreeSet<&'static str> = BTreeSet::new();
        for change in changes {
            let plural = change.key.plural;
            // Core nodes only; Longhorn nodes share the plural but no gate reads them.
            if plural == "nodes" && change.key.group.is_empty() {
                let print = if change.change == ChangeType::Deleted {
                    0
                } else {
                    node_fingerprint(&change.object)
                };
                if self
                    .node_fingerprints
                    .insert(change.key.name.clone(), print)
                    == Some(print)
                {
                    continue;
                }
            }
            kinds.insert(plural);
        }
        self.seen = store.resource_version();
        for gate in ALL {
            if gate.inputs().iter().any(|k| kinds.contains(k)) {
                self.pending.insert(gate);
            }
        }
    }

    /// Whether the gate must run now; clears it.
    pub fn take(&mut self, gate: Gate) -> bool {
        self.pending.remove(&gate)
    }
}

/// What of a node matters to scheduling and workload controllers.
fn node_fingerprint(node: &Value) -> u64 {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| text(c, "/type") == "Ready"))
        .map(|c| text(c, "/status"))
        .unwrap_or("");
    fnv(&json!([
        node.pointer("/metadata/labels"),
        node.get("spec"),
        node.pointer("/status/allocatable"),
        ready,
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_do_not_count_as_node_changes() {
        let node = json!({"metadata": {"labels": {"a": "b"}}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}]}});
        let mut beat = node.clone();
        beat["status"]["conditions"][0]["lastHeartbeatTime"] = json!("t2");
        assert_eq!(node_fingerprint(&node), node_fingerprint(&beat));
        let mut cordoned = node.clone();
        cordoned["spec"]["unschedulable"] = json!(true);
        assert_ne!(node_fingerprint(&node), node_fingerprint(&cordoned));
    }
}

//! Workload controllers: garbage collection, the pod index they share, and the status
//! conditions they write. Deployments/ReplicaSets and StatefulSets/DaemonSets live in the
//! submodules.

mod deployments;
mod sets;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::kubelet::pod_ready;
use super::util::{controller_owner, is_terminating, labels, rt, text, uid};
use crate::clock::rfc3339;
use crate::store::{ObjectKey, Store, short_suffix};

pub(super) use deployments::{deployments, replica_sets};
pub(super) use sets::{daemon_sets, stateful_sets};

#[derive(Debug, Default)]
pub(crate) struct WorkloadMemory {
    names: u64,
}

impl WorkloadMemory {
    /// A fresh `prefix-xxxxx` name not in use.
    fn pod_name(&mut self, store: &Store, namespace: &str, prefix: &str) -> String {
        loop {
            self.names += 1;
            let candidate = format!(
                "{prefix}-{}",
                short_suffix(super::util::fnv_str(prefix) ^ self.names)
            );
            if store
                .get(&ObjectKey::new(rt("", "pods"), namespace, &candidate))
                .is_none()
            {
                return candidate;
            }
        }
    }
}

/// What controllers need to know about one pod.
#[derive(Debug, Clone)]
pub(crate) struct PodInfo {
    pub key: ObjectKey,
    pub ready: bool,
    pub terminating: bool,
    pub scheduled: bool,
    pub node: String,
    pub uid: String,
    pub revision_hash: String,
}

/// Pods by their controller's uid.
pub(crate) fn pods_by_owner(store: &Store) -> BTreeMap<String, Vec<PodInfo>> {
    let mut index: BTreeMap<String, Vec<PodInfo>> = BTreeMap::new();
    for (key, pod) in store.list(rt("", "pods"), None) {
        let Some((_, _, owner)) = controller_owner(pod) else {
            continue;
        };
        let label = |k: &str| {
            labels(pod)
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        index.entry(owner.to_owned()).or_default().push(PodInfo {
            key: key.clone(),
            ready: pod_ready(pod),
            terminating: is_terminating(pod),
            scheduled: !text(pod, "/spec/nodeName").is_empty(),
            node: text(pod, "/spec/nodeName").to_owned(),
            uid: uid(pod).to_owned(),
            revision_hash: label("controller-revision-hash"),
        });
    }
    index
}

/// Deletes objects whose controller owner no longer exists (background propagation; pods go
/// through graceful deletion).
pub(super) fn collect_garbage(store: &mut Store, now: Timestamp) {
    let owner_kinds = [
        ("Deployment", rt("apps", "deployments")),
        ("ReplicaSet", rt("apps", "replicasets")),
        ("StatefulSet", rt("apps", "statefulsets")),
        ("DaemonSet", rt("apps", "daemonsets")),
        ("Service", rt("", "services")),
        ("Node", rt("", "nodes")),
    ];
    let mut uids: BTreeSet<&str> = BTreeSet::new();
    for (_, owner_rt) in owner_kinds {
        uids.extend(store.list(owner_rt, None).map(|(_, o)| uid(o)));
    }
    let dependents = [
        rt("", "pods"),
        rt("apps", "replicasets"),
        rt("discovery.k8s.io", "endpointslices"),
        rt("coordination.k8s.io", "leases"),
        rt("apps", "controllerrevisions"),
    ];
    let mut orphans = Vec::new();
    for dependent_rt in dependents {
        for (key, object) in store.list(dependent_rt, None) {
            let owner = object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|refs| refs.first());
            let Some(owner) = owner else {
                continue;
            };
            let known_kind = owner_kinds.iter().any(|(k, _)| *k == text(owner, "/kind"));
            if known_kind && !uids.contains(text(owner, "/uid")) {
                orphans.push((key.clone(), dependent_rt.plural == "pods"));
            }
        }
    }
    for (key, graceful) in orphans {
        if graceful {
            store.mark_for_deletion(&key, now);
        } else {
            let _ = store.delete(&key, false);
        }
    }
}

/// A status condition, keeping its transition time while the status stays the same.
pub(crate) fn condition(
    previous: &Value,
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Value {
    let status = if status { "True" } else { "False" };
    let prior = previous
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| text(c, "/type") == kind));
    let (transition, update) = match prior {
        Some(c) if text(c, "/status") == status => (
            text(c, "/lastTransitionTime").to_owned(),
            if text(c, "/reason") == reason {
                text(c, "/lastUpdateTime").to_owned()
            } else {
                rfc3339(now)
            },
        ),
        _ => (rfc3339(now), rfc3339(now)),
    };
    json!({"type": kind, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": transition, "lastUpdateTime": update})
}

pub(crate) fn observed_generation(object: &Value) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Every workload's status from its pods.
pub(super) fn statuses(store: &mut Store, now: Timestamp) {
    deployments::statuses(store, now);
    sets::statuses(store);
}

//! Node heartbeats (status and `kube-node-lease` renewals) and the node lifecycle controller:
//! silent nodes go NotReady (Unknown) after the grace period, get the unreachable taints, and
//! their pods are evicted once their toleration runs out.

use crate::sim::util::slot;
use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::Simulation;
use super::events::{self, EventSpec};
use super::util::{at, is_terminating, name, namespace, rt, text};
use crate::clock::{rfc3339, rfc3339_micros};
use crate::store::{ObjectKey, Store};

pub(crate) const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub(crate) const NOT_READY: &str = "node.kubernetes.io/not-ready";
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Debug, Default)]
pub(crate) struct NodeMemory {
    last_heartbeat: BTreeMap<String, Timestamp>,
    /// When a node stopped reporting (stop or partition).
    pub silenced_at: BTreeMap<String, Timestamp>,
}

pub(crate) fn node_ready(node: &Value) -> bool {
    condition_status(node, "Ready") == Some("True")
}

fn condition_status<'a>(node: &'a Value, kind: &str) -> Option<&'a str> {
    super::util::at(node, "/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| text(c, "/type") == kind)
        .map(|c| text(c, "/status"))
}

pub(super) fn reconcile(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let nodes_rt = rt("", "nodes");
    let nodes: Vec<(String, bool)> = store
        .list(nodes_rt, None)
        .map(|(_, n)| (name(n).to_owned(), node_ready(n)))
        .collect();
    for (node, ready) in nodes {
        let key = ObjectKey::new(nodes_rt, "", &node);
        if sim.faults.silent(&node) {
            let silent_since = sim.nodes.last_heartbeat.get(&node).copied().unwrap_or(now);
            if ready && now.duration_since(silent_since) >= sim.config.node_monitor_grace {
                mark_unknown(sim, store, &key, now);
            }
            continue;
        }
        let due = sim
            .nodes
            .last_heartbeat
            .get(&node)
            .is_none_or(|last| now.duration_since(*last) >= sim.config.heartbeat_interval);
        if due || !ready {
            heartbeat(sim, store, &key, ready, now);
        }
    }
    sync_cordon_taints(store, now);
    evict_from_tainted_nodes(sim, store, now);
}

const CORDON: &str = "node.kubernetes.io/unschedulable";

/// Like the node lifecycle controller: a cordoned node (`spec.unschedulable`) carries the
/// unschedulable NoSchedule taint, an uncordoned one does not.
fn sync_cordon_taints(store: &mut Store, now: Timestamp) {
    let nodes_rt = rt("", "nodes");
    let mismatched: Vec<(ObjectKey, bool)> = store
        .list(nodes_rt, None)
        .filter_map(|(key, n)| {
            let cordoned = at(n, "/spec/unschedulable").and_then(Value::as_bool) == Some(true);
            let tainted = at(n, "/spec/taints")
                .and_then(Value::as_array)
                .is_some_and(|ts| ts.iter().any(|t| text(t, "/key") == CORDON));
            (cordoned != tainted).then(|| (key.clone(), cordoned))
        })
        .collect();
    let stamp = rfc3339(now);
    for (key, cordoned) in mismatched {
        store.modify(&key, |node| {
            if !node.get("spec").is_some_and(Value::is_object) {
                *slot(node, &["spec"]) = json!({});
            }
            let spec = node["spec"].as_object_mut().expect("made an object above");
            let taints = spec.entry("taints").or_insert_with(|| json!([]));
            if let Some(list) = taints.as_array_mut() {
                list.retain(|t| text(t, "/key") != CORDON);
                if cordoned {
                    list.push(json!({"key": CORDON, "effect": "NoSchedule", "timeAdded": stamp}));
                }
                if list.is_empty() {
                    spec.remove("taints");
                }
            }
        });
    }
}

fn heartbeat(
    sim: &mut Simulation,
    store: &mut Store,
    key: &ObjectKey,
    was_ready: bool,
    now: Timestamp,
) {
    sim.nodes.last_heartbeat.insert(key.name.clone(), now);
    let stamp = rfc3339(now);
    store.modify(key, |node| {
        if let Some(conditions) = node
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        {
            for c in conditions.iter_mut() {
                let kind = text(c, "/type").to_owned();
                *slot(c, &["lastHeartbeatTime"]) = json!(stamp);
                if !was_ready {
                    let (status, reason, message) = healthy_condition(&kind);
                    *slot(c, &["status"]) = json!(status);
                    *slot(c, &["reason"]) = json!(reason);
                    *slot(c, &["message"]) = json!(message);
                    *slot(c, &["lastTransitionTime"]) = json!(stamp);
                }
            }
        }
        if let Some(taints) = node
            .pointer_mut("/spec/taints")
            .and_then(Value::as_array_mut)
        {
            taints.retain(|t| {
                let key = text(t, "/key");
                key != UNREACHABLE && key != NOT_READY
            });
            if taints.is_empty()
                && let Some(spec) = node.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.remove("taints");
            }
        }
    });
    if !was_ready
        && !sim.bootstrapping
        && let Some(node) = store.get(key).cloned()
    {
        events::record(
            &mut sim.events,
            store,
            &node,
            EventSpec {
                reason: "NodeReady",
                message: format!("Node {} status is now: NodeReady", key.name),
                warning: false,
                component: "kubelet",
                host: Some(&key.name),
            },
            now,
        );
    }
    renew_node_lease(store, key, now);
}

fn healthy_condition(kind: &str) -> (&'static str, &'static str, &'static str) {
    match kind {
        "Ready" => ("True", "KubeletReady", "kubelet is posting ready status"),
        "MemoryPressure" => (
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        "DiskPressure" => (
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        "PIDPressure" => (
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        _ => ("False", "", ""),
    }
}

fn renew_node_lease(store: &mut Store, node_key: &ObjectKey, now: Timestamp) {
    let leases = rt("coordination.k8s.io", "leases");
    let key = ObjectKey::new(leases, NODE_LEASE_NAMESPACE, &node_key.name);
    let renew = rfc3339_micros(now);
    if store.get(&key).is_some() {
        store.modify(&key, |lease| {
            *slot(lease, &["spec", "renewTime"]) = json!(renew)
        });
        return;
    }
    let Some(node) = store.get(node_key) else {
        return;
    };
    let lease = json!({
        "metadata": {
            "name": node_key.name,
            "namespace": NODE_LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node_key.name,
                "uid": super::util::uid(node)}],
        },
        "spec": {"holderIdentity": node_key.name, "leaseDurationSeconds": 40, "renewTime": renew},
    });
    let _ = store.create(leases, lease, now, false);
}

fn mark_unknown(sim: &mut Simulation, store: &mut Store, key: &ObjectKey, now: Timestamp) {
    let stamp = rfc3339(now);
    store.modify(key, |node| {
        if let Some(conditions) = node
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        {
            for c in conditions.iter_mut() {
                *slot(c, &["status"]) = json!("Unknown");
                *slot(c, &["reason"]) = json!("NodeStatusUnknown");
                *slot(c, &["message"]) = json!("Kubelet stopped posting node status.");
                *slot(c, &["lastTransitionTime"]) = json!(stamp);
            }
        }
        let spec = &mut node["spec"];
        if !spec.is_object() {
            *spec = json!({});
        }
        let taints = spec
            .as_object_mut()
            .expect("made an object above")
            .entry("taints")
            .or_insert_with(|| json!([]));
        if let Some(taints) = taints.as_array_mut() {
            for effect in ["NoSchedule", "NoExecute"] {
                taints.push(json!({"key": UNREACHABLE, "effect": effect, "timeAdded": stamp}));
            }
        }
    });
    if let Some(node) = store.get(key).cloned() {
        events::record(
            &mut sim.events,
            store,
            &node,
            EventSpec {
                reason: "NodeNotReady",
                message: format!("Node {} status is now: NodeNotReady", key.name),
                warning: false,
                component: "node-controller",
                host: None,
            },
            now,
        );
    }
}

/// A NoExecute taint as (key, value, effect, added).
struct Taint {
    key: String,
    value: String,
    added: Option<Timestamp>,
}

/// Marks pods NotReady on NotReady nodes and evicts pods whose toleration of a NoExecute taint
/// has run out.
fn evict_from_tainted_nodes(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let mut tainted: BTreeMap<String, (bool, Vec<Taint>)> = BTreeMap::new();
    for (_, node) in store.list(rt("", "nodes"), None) {
        let taints: Vec<Taint> = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .map(|ts| {
                ts.iter()
                    .filter(|t| text(t, "/effect") == "NoExecute")
                    .map(|t| Taint {
                        key: text(t, "/key").to_owned(),
                        value: text(t, "/value").to_owned(),
                        added: text(t, "/timeAdded").parse().ok(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ready = node_ready(node);
        if !taints.is_empty() || !ready {
            tainted.insert(name(node).to_owned(), (ready, taints));
        }
    }
    if tainted.is_empty() {
        return;
    }
    let pods_rt = rt("", "pods");
    let mut not_ready = Vec::new();
    let mut evict = Vec::new();
    for (key, pod) in store.list(pods_rt, None) {
        let Some((ready, taints)) = tainted.get(text(pod, "/spec/nodeName")) else {
            continue;
        };
        if !ready && super::kubelet::pod_ready(pod) {
            not_ready.push((key.clone(), super::util::uid(pod).to_owned()));
        }
        if is_terminating(pod) {
            continue;
        }
        let tolerations = pod.pointer("/spec/tolerations").and_then(Value::as_array);
        let deadline = taints
            .iter()
            .map(|t| eviction_deadline(t, tolerations))
            .min();
        if let Some(Some(deadline)) = deadline
            && deadline <= now
        {
            evict.push(key.clone());
        }
    }
    for (key, pod_uid) in not_ready {
        sim.kubelet.unsettle(&pod_uid);
        let stamp = rfc3339(now);
        store.modify(&key, |pod| super::kubelet::set_ready(pod, false, &stamp));
    }
    for key in evict {
        if store.mark_for_deletion(&key, now)
            && let Some(pod) = store.get(&key).cloned()
        {
            events::record(
                &mut sim.events,
                store,
                &pod,
                EventSpec {
                    reason: "TaintManagerEviction",
                    message: format!(
                        "Marking for deletion Pod {}/{}",
                        namespace(&pod),
                        name(&pod)
                    ),
                    warning: false,
                    component: "taint-eviction-controller",
                    host: None,
                },
                now,
            );
        }
    }
}

/// When a pod must go because of `taint`: never (None) when tolerated forever.
fn eviction_deadline(taint: &Taint, tolerations: Option<&Vec<Value>>) -> Option<Timestamp> {
    let added = taint.added.unwrap_or(Timestamp::UNIX_EPOCH);
    let matching = tolerations.into_iter().flatten().find(|t| {
        let effect = text(t, "/effect");
        let key = text(t, "/key");
        (effect.is_empty() || effect == "NoExecute")
            && (key.is_empty() && text(t, "/operator") == "Exists"
                || key == taint.key
                    && (text(t, "/operator") == "Exists" || text(t, "/value") == taint.value))
    });
    match matching {
        None => Some(added),
        Some(t) => t
            .get("tolerationSeconds")
            .and_then(Value::as_i64)
            .and_then(|s| added.checked_add(SignedDuration::from_secs(s.max(0))).ok()),
    }
}

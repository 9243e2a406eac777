//! The scheduler: filters nodes by selector, required node affinity, taints, required pod
//! anti-affinity, topology spread (DoNotSchedule) and resources, then scores the rest as
//! kube-scheduler's default plugins do (`score.rs`). Unschedulable pods stay Pending with a
//! FailedScheduling event.

mod score;

use crate::sim::util::slot;
use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::Simulation;
use super::events::{self, EventSpec};
use super::pods::requests;
use super::util::{
    bytes, cpu_millis, expression_matches, int, is_terminating, labels, name, namespace, rt,
    selector_matches, text,
};
use crate::clock::rfc3339;
use crate::store::{ObjectKey, Store};

struct NodeInfo {
    name: String,
    labels: Map<String, Value>,
    taints: Vec<Value>,
    unschedulable: bool,
    cpu: i64,
    memory: i64,
    pods: i64,
    used_cpu: i64,
    used_memory: i64,
    used_pods: i64,
    /// The pods placed here.
    placed: Vec<Placed>,
    /// How many of them have required anti-affinity terms: only those nodes are searched for
    /// terms that could keep an incoming pod away.
    placed_with_anti: usize,
}

/// A pod on a node, as scheduling sees it.
struct Placed {
    namespace: String,
    labels: Map<String, Value>,
    /// Being deleted: still there for inter-pod (anti-)affinity, no longer counted by topology
    /// spread, as in kube-scheduler.
    terminating: bool,
    /// Its required anti-affinity terms: they keep matching pods off its topology domain too
    /// (kube-scheduler's InterPodAffinity filter checks existing pods' terms as well).
    anti: Vec<Value>,
}

/// The required pod anti-affinity terms of a pod.
fn required_anti_affinity(pod: &Value) -> Vec<Value> {
    pod.pointer("/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(super) fn schedule(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let pods_rt = rt("", "pods");
    let pending: Vec<ObjectKey> = store
        .list(pods_rt, None)
        .filter(|(_, p)| {
            text(p, "/spec/nodeName").is_empty()
                && !is_terminating(p)
                && matches!(text(p, "/spec/schedulerName"), "" | "default-scheduler")
        })
        .map(|(k, _)| k.clone())
        .collect();
    let still_pending: std::collections::HashSet<(&str, &str)> = pending
        .iter()
        .map(|k| (k.namespace.as_str(), k.name.as_str()))
        .collect();
    sim.scheduling_messages
        .retain(|(ns, name), _| still_pending.contains(&(ns.as_str(), name.as_str())));
    if pending.is_empty() {
        return;
    }
    let mut nodes = node_infos(store);
    for key in pending {
        let Some(pod) = store.get(&key).cloned() else {
            continue;
        };
        match place(&pod, &nodes) {
            Ok(index) => {
                let node = &mut nodes[index];
                let (cpu, mem) = requests(&pod);
                node.used_cpu = node.used_cpu.saturating_add(cpu);
                node.used_memory = node.used_memory.saturating_add(mem);
                node.used_pods += 1;
                let anti = required_anti_affinity(&pod);
                node.placed_with_anti += usize::from(!anti.is_empty());
                node.placed.push(Placed {
                    namespace: namespace(&pod).to_owned(),
                    labels: labels(&pod).cloned().unwrap_or_default(),
                    terminating: false,
                    anti,
                });
                let node_name = node.name.clone();
                sim.scheduling_messages
                    .remove(&(key.namespace.clone(), key.name.clone()));
                let stamp = rfc3339(now);
                store.modify(&key, |p| {
                    *slot(p, &["spec", "nodeName"]) = json!(node_name);
                    *slot(p, &["status", "conditions"]) = json!([{"type": "PodScheduled", "status": "True",
                        "lastProbeTime": null, "lastTransitionTime": stamp}]);
                });
                if !sim.bootstrapping {
                    events::record(
                        &mut sim.events,
                        store,
                        &pod,
                        EventSpec {
                            reason: "Scheduled",
                            message: format!(
                                "Successfully assigned {}/{} to {node_name}",
                                key.namespace, key.name
                            ),
                            warning: false,
                            component: "default-scheduler",
                            host: None,
                        },
                        now,
                    );
                }
            }
            Err(message) => {
                let id = (key.namespace.clone(), key.name.clone());
                if sim.scheduling_messages.get(&id) == Some(&message) {
                    continue;
                }
                sim.scheduling_messages.insert(id, message.clone());
                let stamp = rfc3339(now);
                let condition_message = message.clone();
                store.modify(&key, |p| {
                    *slot(p, &["status", "phase"]) = json!("Pending");
                    *slot(p, &["status", "conditions"]) = json!([{"type": "PodScheduled", "status": "False",
                        "reason": "Unschedulable", "message": condition_message,
                        "lastProbeTime": null, "lastTransitionTime": stamp}]);
                });
                events::record(
                    &mut sim.events,
                    store,
                    &pod,
                    EventSpec {
                        reason: "FailedScheduling",
                        message,
                        warning: true,
                        component: "default-scheduler",
                        host: None,
                    },
                    now,
                );
            }
        }
    }
}

fn node_infos(store: &Store) -> Vec<NodeInfo> {
    let mut nodes: Vec<NodeInfo> = store
        .list(rt("", "nodes"), None)
        .map(|(_, n)| {
            let alloc = |field: &str| n.pointer(&format!("/status/allocatable/{field}"));
            NodeInfo {
                name: name(n).to_owned(),
                labels: labels(n).cloned().unwrap_or_default(),
                taints: n
                    .pointer("/spec/taints")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                unschedulable: n.pointer("/spec/unschedulable").and_then(Value::as_bool)
                    == Some(true),
                cpu: alloc("cpu").map_or(i64::MAX, cpu_millis),
                memory: alloc("memory").map_or(i64::MAX, bytes),
                pods: alloc("pods").map_or(110, |p| int(p, "").unwrap_or(110)),
                used_cpu: 0,
                used_memory: 0,
                used_pods: 0,
                placed: Vec::new(),
                placed_with_anti: 0,
            }
        })
        .collect();
    let index: BTreeMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    for (_, pod) in store.list(rt("", "pods"), None) {
        let Some(&i) = index.get(text(pod, "/spec/nodeName")) else {
            continue;
        };
        if matches!(text(pod, "/status/phase"), "Succeeded" | "Failed") {
            continue;
        }
        let (cpu, mem) = requests(pod);
        let node = &mut nodes[i];
        node.used_cpu = node.used_cpu.saturating_add(cpu);
        node.used_memory = node.used_memory.saturating_add(mem);
        node.used_pods += 1;
        let anti = required_anti_affinity(pod);
        node.placed_with_anti += usize::from(!anti.is_empty());
        node.placed.push(Placed {
            namespace: namespace(pod).to_owned(),
            labels: labels(pod).cloned().unwrap_or_default(),
            terminating: is_terminating(pod),
            anti,
        });
    }
    nodes
}

/// Whether a pod's tolerations cover a taint.
pub(crate) fn tolerated(tolerations: &[Value], taint: &Value) -> bool {
    tolerations.iter().any(|t| {
        let key = text(t, "/key");
        let effect = text(t, "/effect");
        let exists = text(t, "/operator") == "Exists";
        (effect.is_empty() || effect == text(taint, "/effect"))
            && (key.is_empty() && exists
                || key == text(taint, "/key")
                    && (exists || text(t, "/value") == text(taint, "/value")))
    })
}

/// Node selector and required node affinity.
pub(crate) fn node_matches(pod: &Value, node_labels: &Map<String, Value>) -> bool {
    NodeAffinity::of(pod).admits(node_labels)
}

/// A pod's node selector and required node affinity terms, read from the pod once and then
/// matched against many nodes.
pub(crate) struct NodeAffinity<'p> {
    selector: Option<&'p Map<String, Value>>,
    terms: Option<&'p Vec<Value>>,
}

impl<'p> NodeAffinity<'p> {
    pub(crate) fn of(pod: &'p Value) -> Self {
        Self {
            selector: pod.pointer("/spec/nodeSelector").and_then(Value::as_object),
            terms: pod
                .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
                .and_then(Value::as_array),
        }
    }

    pub(crate) fn admits(&self, node_labels: &Map<String, Value>) -> bool {
        let selector_ok = self
            .selector
            .is_none_or(|sel| sel.iter().all(|(k, v)| node_labels.get(k) == Some(v)));
        selector_ok && affinity_admits(self.terms, node_labels)
    }
}

fn affinity_admits(terms: Option<&Vec<Value>>, node_labels: &Map<String, Value>) -> bool {
    terms.is_none_or(|terms| {
        terms.iter().any(|term| {
            term.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(|exprs| {
                    exprs.iter().all(|e| {
                        expression_matches(
                            e,
                            node_labels.get(text(e, "/key")).and_then(Value::as_str),
                        )
                    })
                })
        })
    })
}

/// NoSchedule/NoExecute taints the pod does not tolerate, ignoring the cordon taint
/// (reported as "unschedulable" instead).
fn untolerated_taint<'a>(tolerations: &[Value], taints: &'a [Value]) -> Option<&'a Value> {
    taints.iter().find(|t| {
        matches!(text(t, "/effect"), "NoSchedule" | "NoExecute")
            && text(t, "/key") != "node.kubernetes.io/unschedulable"
            && !tolerated(tolerations, t)
    })
}

fn place(pod: &Value, nodes: &[NodeInfo]) -> Result<usize, String> {
    let tolerations = pod
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let cordon = json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
    let ns = namespace(pod);
    let (cpu, mem) = requests(pod);
    let anti: Vec<&Value> = pod
        .pointer("/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    // Each DoNotSchedule constraint's matching pods per domain: counted once per pod.
    let spread: Vec<SpreadCounts<'_>> = pod
        .pointer("/spec/topologySpreadConstraints")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|c| text(c, "/whenUnsatisfiable") != "ScheduleAnyway")
                .map(|c| spread_counts(c, pod, ns, nodes))
                .collect()
        })
        .unwrap_or_default();
    // Nodes holding a pod whose own required anti-affinity might refuse this one: found once
    // per pod, not once per candidate node.
    let anti_holders: Vec<&NodeInfo> = nodes.iter().filter(|n| n.placed_with_anti > 0).collect();
    let affinity = NodeAffinity::of(pod);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let failure = if node.unschedulable && !tolerated(&tolerations, &cordon) {
            Some("node(s) were unschedulable".to_owned())
        } else if let Some(t) = untolerated_taint(&tolerations, &node.taints) {
            Some(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                text(t, "/key"),
                text(t, "/value")
            ))
        } else if !affinity.admits(&node.labels) {
            Some("node(s) didn't match Pod's node affinity/selector".to_owned())
        } else if anti
            .iter()
            .any(|term| anti_affinity_violated(term, ns, node, nodes))
            || existing_anti_affinity_violated(pod, ns, node, &anti_holders)
        {
            Some("node(s) didn't match pod anti-affinity rules".to_owned())
        } else if spread.iter().any(|c| c.violated_by(node)) {
            Some("node(s) didn't match pod topology spread constraints".to_owned())
        } else if node.used_pods.saturating_add(1) > node.pods {
            Some("Too many pods".to_owned())
        } else if node.used_cpu.saturating_add(cpu) > node.cpu {
            Some("Insufficient cpu".to_owned())
        } else if node.used_memory.saturating_add(mem) > node.memory {
            Some("Insufficient memory".to_owned())
        } else {
            None
        };
        match failure {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => feasible.push(i),
        }
    }
    match score::best(pod, (cpu, mem), &feasible, nodes) {
        Some(i) => Ok(i),
        None => {
            let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            Err(format!(
                "0/{} nodes are available: {}. preemption: 0/{} nodes are available: {} Preemption is not helpful for scheduling.",
                nodes.len(),
                parts.join(", "),
                nodes.len(),
                nodes.len()
            ))
        }
    }
}

fn term_namespaces<'a>(term: &'a Value, own: &'a str) -> Vec<&'a str> {
    match term.get("namespaces").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![own],
    }
}

/// Pods in `node`'s topology domain that an inter-pod (anti-)affinity `term` of a pod in `ns`
/// selects; none when the node lacks the term's topology key.
fn term_matches<'n>(
    term: &'n Value,
    ns: &'n str,
    node: &'n NodeInfo,
    nodes: &'n [NodeInfo],
) -> impl Iterator<Item = &'n Placed> + 'n {
    let key = text(term, "/topologyKey");
    let domain = node.labels.get(key);
    let namespaces = term_namespaces(term, ns);
    nodes
        .iter()
        .filter(move |n| domain.is_some() && n.labels.get(key) == domain)
        .flat_map(|n| &n.placed)
        .filter(move |p| {
            namespaces.contains(&p.namespace.as_str())
                && selector_matches(term.get("labelSelector"), Some(&p.labels))
        })
}

/// Required anti-affinity: no matching pod in the node's topology domain.
fn anti_affinity_violated(term: &Value, ns: &str, node: &NodeInfo, nodes: &[NodeInfo]) -> bool {
    term_matches(term, ns, node, nodes).next().is_some()
}

/// An existing pod's required anti-affinity selects the incoming pod and the existing pod is in
/// `node`'s domain for that term's topology key: the incoming pod may not go there.
fn existing_anti_affinity_violated(
    pod: &Value,
    ns: &str,
    node: &NodeInfo,
    anti_holders: &[&NodeInfo],
) -> bool {
    let own = labels(pod);
    anti_holders.iter().any(|other| {
        other.placed.iter().any(|placed| {
            placed.anti.iter().any(|term| {
                let key = text(term, "/topologyKey");
                let domain = node.labels.get(key);
                domain.is_some()
                    && other.labels.get(key) == domain
                    && term_namespaces(term, &placed.namespace).contains(&ns)
                    && selector_matches(term.get("labelSelector"), own)
            })
        })
    })
}

/// `matchLabelKeys`: only pods whose values of these labels equal the incoming pod's count
/// (with `pod-template-hash`, a rollout's new revision is spread on its own).
fn same_match_label_keys(constraint: &Value, pod: &Value, labels: &Map<String, Value>) -> bool {
    let Some(keys) = constraint.get("matchLabelKeys").and_then(Value::as_array) else {
        return true;
    };
    keys.iter().filter_map(Value::as_str).all(|key| {
        let own = pod
            .pointer("/metadata/labels")
            .and_then(|l| l.get(key))
            .and_then(Value::as_str);
        own.is_some() && labels.get(key).and_then(Value::as_str) == own
    })
}

/// A DoNotSchedule topology spread constraint's matching pods per domain, over the nodes the
/// pod's node affinity admits.
struct SpreadCounts<'c> {
    key: &'c str,
    max_skew: i64,
    counts: BTreeMap<String, i64>,
}

fn spread_counts<'c>(
    constraint: &'c Value,
    pod: &Value,
    ns: &str,
    nodes: &[NodeInfo],
) -> SpreadCounts<'c> {
    let key = text(constraint, "/topologyKey");
    let affinity = NodeAffinity::of(pod);
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for n in nodes.iter().filter(|n| affinity.admits(&n.labels)) {
        let Some(d) = n.labels.get(key) else {
            continue;
        };
        let matching = n
            .placed
            .iter()
            .filter(|p| {
                !p.terminating
                    && p.namespace == ns
                    && selector_matches(constraint.get("labelSelector"), Some(&p.labels))
                    && same_match_label_keys(constraint, pod, &p.labels)
            })
            .count() as i64;
        *counts.entry(d.to_string()).or_default() += matching;
    }
    SpreadCounts {
        key,
        max_skew: int(constraint, "/maxSkew").unwrap_or(1),
        counts,
    }
}

impl SpreadCounts<'_> {
    /// Placing the pod on `node` would take its domain more than maxSkew above the emptiest.
    fn violated_by(&self, node: &NodeInfo) -> bool {
        let Some(domain) = node.labels.get(self.key) else {
            return true;
        };
        let min = self.counts.values().copied().min().unwrap_or(0);
        let here = self.counts.get(&domain.to_string()).copied().unwrap_or(0);
        here + 1 - min > self.max_skew
    }
}

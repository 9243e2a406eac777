//! Scoring of the nodes a pod fits on, weighted as kube-scheduler's default profile weighs its
//! score plugins: least allocated resources (weight 1), preferred inter-pod affinity and
//! anti-affinity (weight 2), and ScheduleAnyway topology spread (weight 2), each normalised to
//! the same range over the feasible nodes. Ties go to the first node (kube-scheduler picks one at
//! random), which keeps the twin deterministic.
//!
//! This is what decides where a rollout's new pods land when nothing is required: with preferred
//! anti-affinity alone a surge pod can join its sibling on the emptier node, which is why the
//! runbook's CoreDNS change rolls out without a surge.

use serde_json::Value;

use super::{NodeInfo, node_matches, term_matches};
use crate::sim::util::{int, namespace, selector_matches, text};

const RESOURCES_WEIGHT: i64 = 1;
const INTER_POD_WEIGHT: i64 = 2;
const SPREAD_WEIGHT: i64 = 2;
/// A plugin's best score (kube-scheduler's 100, in finer steps so small differences in
/// allocation still order nodes instead of tying).
const MAX_SCORE: i64 = 10_000;

/// The best of `feasible` (indexes into `nodes`), or `None` if there is none.
/// `requests` is the pod's (CPU, memory), read once by the caller.
pub(super) fn best(
    pod: &Value,
    requests: (i64, i64),
    feasible: &[usize],
    nodes: &[NodeInfo],
) -> Option<usize> {
    let resources: Vec<i64> = feasible
        .iter()
        .map(|&i| least_allocated(requests, &nodes[i]))
        .collect();
    // The preferred terms and soft constraints, read from the pod once; most pods have none,
    // and then no node needs looking at for them.
    let terms = |path: &str| -> &[Value] {
        pod.pointer(path)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    };
    let preferred = Preferred {
        affinity: terms(
            "/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution",
        ),
        anti: terms(
            "/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution",
        ),
    };
    let soft: Vec<&Value> = terms("/spec/topologySpreadConstraints")
        .iter()
        .filter(|c| text(c, "/whenUnsatisfiable") == "ScheduleAnyway")
        .collect();
    let per_node = |wanted: bool, score: &dyn Fn(&NodeInfo) -> i64| -> Vec<i64> {
        if wanted {
            feasible.iter().map(|&i| score(&nodes[i])).collect()
        } else {
            vec![0; feasible.len()]
        }
    };
    let inter_pod = normalise_higher_better(&per_node(!preferred.is_empty(), &|node| {
        inter_pod_preference(pod, &preferred, node, nodes)
    }));
    let spread = normalise_lower_better(&per_node(!soft.is_empty(), &|node| {
        soft_spread_count(pod, &soft, node, nodes)
    }));
    let mut best: Option<(i64, usize)> = None;
    for (k, &i) in feasible.iter().enumerate() {
        let total = RESOURCES_WEIGHT * resources[k]
            + INTER_POD_WEIGHT * inter_pod[k]
            + SPREAD_WEIGHT * spread[k];
        if best.is_none_or(|(b, _)| total > b) {
            best = Some((total, i));
        }
    }
    best.map(|(_, i)| i)
}

/// NodeResourcesFit's LeastAllocated: the share of CPU, memory and pod slots left after placing
/// the pod.
fn least_allocated((cpu, memory): (i64, i64), node: &NodeInfo) -> i64 {
    let free = |used: i64, request: i64, capacity: i64| -> i64 {
        let capacity = i128::from(capacity.max(1));
        let left = capacity - i128::from(used) - i128::from(request.max(0));
        i64::try_from((left * i128::from(MAX_SCORE) / capacity).clamp(0, i128::from(MAX_SCORE)))
            .unwrap_or(0)
    };
    // Pods count too: kube-scheduler scores pods without requests as if they asked for a
    // little, which spreads them; counting pods is the twin's simpler stand-in.
    (free(node.used_cpu, cpu, node.cpu)
        + free(node.used_memory, memory, node.memory)
        + free(node.used_pods, 1, node.pods))
        / 3
}

/// A pod's preferred inter-pod affinity and anti-affinity terms.
struct Preferred<'p> {
    affinity: &'p [Value],
    anti: &'p [Value],
}

impl Preferred<'_> {
    fn is_empty(&self) -> bool {
        self.affinity.is_empty() && self.anti.is_empty()
    }
}

/// InterPodAffinity's preferred terms: + weight for every matching pod in the node's domain for
/// affinity, − weight for anti-affinity. Pods being deleted still count, as they do upstream.
fn inter_pod_preference(
    pod: &Value,
    preferred: &Preferred<'_>,
    node: &NodeInfo,
    nodes: &[NodeInfo],
) -> i64 {
    let ns = namespace(pod);
    let matching = |weighted: &Value| -> i64 {
        let term = weighted.get("podAffinityTerm").unwrap_or(&Value::Null);
        let count = term_matches(term, ns, node, nodes).count();
        int(weighted, "/weight")
            .unwrap_or(0)
            .saturating_mul(i64::try_from(count).unwrap_or(i64::MAX))
    };
    let affinity: i64 = preferred.affinity.iter().map(matching).sum();
    let anti: i64 = preferred.anti.iter().map(matching).sum();
    affinity.saturating_sub(anti)
}

/// PodTopologySpread's ScheduleAnyway constraints: matching pods, not being deleted, already in
/// the node's domain (fewer is better).
fn soft_spread_count(pod: &Value, soft: &[&Value], node: &NodeInfo, nodes: &[NodeInfo]) -> i64 {
    let ns = namespace(pod);
    soft.iter()
        .map(|c| {
            let key = text(c, "/topologyKey");
            let Some(domain) = node.labels.get(key) else {
                return 0;
            };
            let count = nodes
                .iter()
                .filter(|n| n.labels.get(key) == Some(domain) && node_matches(pod, &n.labels))
                .flat_map(|n| &n.placed)
                .filter(|p| {
                    !p.terminating
                        && p.namespace == ns
                        && selector_matches(c.get("labelSelector"), Some(&p.labels))
                })
                .count();
            i64::try_from(count).unwrap_or(i64::MAX)
        })
        .sum()
}

fn normalise_higher_better(raw: &[i64]) -> Vec<i64> {
    let (Some(&min), Some(&max)) = (raw.iter().min(), raw.iter().max()) else {
        return Vec::new();
    };
    raw.iter()
        .map(|&r| {
            if max == min {
                0
            } else {
                (r - min).saturating_mul(MAX_SCORE) / (max - min)
            }
        })
        .collect()
}

fn normalise_lower_better(raw: &[i64]) -> Vec<i64> {
    normalise_higher_better(&raw.iter().map(|r| -r).collect::<Vec<_>>())
}

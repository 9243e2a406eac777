//! StatefulSets (ordered `name-N` pods) and DaemonSets (one pod per eligible node).

use crate::sim::util::slot;
use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{PodInfo, observed_generation, pods_by_owner};
use crate::sim::Simulation;
use crate::sim::pods::{self, NewPod};
use crate::sim::scheduler::{node_matches, tolerated};
use crate::sim::util::{
    int, is_terminating, labels, name, namespace, rt, template_hash, text, uid,
};
use crate::store::{ObjectKey, Store};

fn revision(set: &Value) -> String {
    format!(
        "{}-{}",
        name(set),
        template_hash(set.pointer("/spec/template").unwrap_or(&Value::Null))
    )
}

pub(in crate::sim) fn stateful_sets(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let pods = pods_by_owner(store);
    let sets: Vec<Value> = store
        .list(rt("apps", "statefulsets"), None)
        .filter(|(_, s)| !is_terminating(s))
        .map(|(_, s)| s.clone())
        .collect();
    for set in sets {
        let owned: BTreeMap<i64, &PodInfo> = pods
            .get(uid(&set))
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let ordinal = p.key.name.rsplit('-').next()?.parse().ok()?;
                Some((ordinal, p))
            })
            .collect();
        let desired = int(&set, "/spec/replicas").unwrap_or(1);
        let parallel = text(&set, "/spec/podManagementPolicy") == "Parallel" || sim.bootstrapping;
        let update_revision = revision(&set);
        let all_ready = owned.values().all(|p| p.ready && !p.terminating);
        let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
        // Create missing ordinals in order.
        let mut created = false;
        for ordinal in 0..desired {
            if owned.contains_key(&ordinal) {
                continue;
            }
            let lower_ready = owned
                .range(..ordinal)
                .all(|(_, p)| p.ready && !p.terminating);
            if !parallel && (created || !lower_ready) {
                break;
            }
            let pod_name = format!("{}-{ordinal}", name(&set));
            let mut pod = pods::build(NewPod {
                owner: &set,
                template: &template,
                name: pod_name.clone(),
                extra_labels: vec![
                    ("controller-revision-hash", update_revision.clone()),
                    ("statefulset.kubernetes.io/pod-name", pod_name),
                    ("apps.kubernetes.io/pod-index", ordinal.to_string()),
                ],
                daemon_node: None,
            });
            *slot(&mut pod, &["spec", "hostname"]) = json!(format!("{}-{ordinal}", name(&set)));
            if let Some(service) = set.pointer("/spec/serviceName") {
                *slot(&mut pod, &["spec", "subdomain"]) = service.clone();
            }
            let _ = store.create(rt("", "pods"), pod, now, false);
            created = true;
        }
        if created {
            continue;
        }
        // Scale down from the highest ordinal, one at a time.
        if let Some((_, extra)) = owned.range(desired..).next_back() {
            if !extra.terminating && (parallel || all_ready || owned.len() as i64 > desired) {
                store.mark_for_deletion(&extra.key, now);
            }
            continue;
        }
        // Rolling update: replace the highest outdated pod once all are ready.
        let on_delete = text(&set, "/spec/updateStrategy/type") == "OnDelete";
        if !on_delete
            && all_ready
            && let Some((_, outdated)) = owned
                .iter()
                .rev()
                .find(|(_, p)| p.revision_hash != update_revision)
        {
            store.mark_for_deletion(&outdated.key, now);
        }
    }
}

/// The tolerations, selector and affinity a DaemonSet's pods get.
fn daemon_pod_template(set: &Value) -> Value {
    pods::build(NewPod {
        owner: set,
        template: set.pointer("/spec/template").unwrap_or(&Value::Null),
        name: String::new(),
        extra_labels: vec![],
        daemon_node: Some(String::new()),
    })
}

fn node_eligible(
    pod: &Value,
    node_labels: &Map<String, Value>,
    taints: &[Value],
    running: bool,
) -> bool {
    let tolerations = pod
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    node_matches(pod, node_labels)
        && taints.iter().all(|t| {
            let effect = text(t, "/effect");
            // Already running pods only leave for NoExecute taints.
            (running && effect != "NoExecute")
                || effect == "PreferNoSchedule"
                || tolerated(&tolerations, t)
        })
}

pub(in crate::sim) fn daemon_sets(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let pods = pods_by_owner(store);
    let nodes: Vec<(String, Map<String, Value>, Vec<Value>)> = store
        .list(rt("", "nodes"), None)
        .map(|(_, n)| {
            (
                name(n).to_owned(),
                labels(n).cloned().unwrap_or_default(),
                n.pointer("/spec/taints")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    let sets: Vec<Value> = store
        .list(rt("apps", "daemonsets"), None)
        .filter(|(_, s)| !is_terminating(s))
        .map(|(_, s)| s.clone())
        .collect();
    for set in sets {
        let sample = daemon_pod_template(&set);
        let update_revision = template_hash(set.pointer("/spec/template").unwrap_or(&Value::Null));
        let owned: Vec<&PodInfo> = pods.get(uid(&set)).into_iter().flatten().collect();
        let all_ready = owned.iter().all(|p| p.ready && !p.terminating);
        let mut replaced_one = false;
        for (node, node_labels, taints) in &nodes {
            let here: Vec<&&PodInfo> = owned
                .iter()
                .filter(|p| &p.node == node && !p.terminating)
                .collect();
            let eligible = node_eligible(&sample, node_labels, taints, !here.is_empty());
            if !eligible {
                for pod in here {
                    store.mark_for_deletion(&pod.key, now);
                }
                continue;
            }
            if here.is_empty() {
                if owned.iter().any(|p| &p.node == node) {
                    continue; // the old pod is still terminating
                }
                let pod_name = sim.workloads.pod_name(store, namespace(&set), name(&set));
                let pod = pods::build(NewPod {
                    owner: &set,
                    template: set.pointer("/spec/template").unwrap_or(&Value::Null),
                    name: pod_name,
                    extra_labels: vec![
                        ("controller-revision-hash", update_revision.clone()),
                        (
                            "pod-template-generation",
                            observed_generation(&set).to_string(),
                        ),
                    ],
                    daemon_node: Some(node.clone()),
                });
                let _ = store.create(rt("", "pods"), pod, now, false);
            } else if !replaced_one
                && all_ready
                && text(&set, "/spec/updateStrategy/type") != "OnDelete"
                && here[0].revision_hash != update_revision
            {
                store.mark_for_deletion(&here[0].key, now);
                replaced_one = true;
            }
        }
    }
}

/// StatefulSet and DaemonSet statuses from their pods.
pub(in crate::sim) fn statuses(store: &mut Store) {
    let pods = pods_by_owner(store);
    let mut updates: Vec<(ObjectKey, Value)> = Vec::new();
    for (key, set) in store.list(rt("apps", "statefulsets"), None) {
        let owned: Vec<&PodInfo> = pods
            .get(uid(set))
            .into_iter()
            .flatten()
            .filter(|p| !p.terminating)
            .collect();
        let update_revision = revision(set);
        let ready = owned.iter().filter(|p| p.ready).count();
        let updated = owned
            .iter()
            .filter(|p| p.revision_hash == update_revision)
            .count();
        let current_revision = if updated == owned.len() {
            update_revision.clone()
        } else {
            owned
                .iter()
                .find(|p| p.revision_hash != update_revision)
                .map(|p| p.revision_hash.clone())
                .unwrap_or_default()
        };
        let status = json!({
            "observedGeneration": observed_generation(set),
            "replicas": owned.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": if current_revision == update_revision { updated } else { owned.len() - updated },
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": 0,
        });
        if set.get("status") != Some(&status) {
            updates.push((key.clone(), status));
        }
    }
    let nodes: Vec<(Map<String, Value>, Vec<Value>)> = store
        .list(rt("", "nodes"), None)
        .map(|(_, n)| {
            (
                labels(n).cloned().unwrap_or_default(),
                n.pointer("/spec/taints")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    for (key, set) in store.list(rt("apps", "daemonsets"), None) {
        let owned: Vec<&PodInfo> = pods
            .get(uid(set))
            .into_iter()
            .flatten()
            .filter(|p| !p.terminating)
            .collect();
        let sample = daemon_pod_template(set);
        let desired = nodes
            .iter()
            .filter(|(l, t)| node_eligible(&sample, l, t, false))
            .count();
        let revision = template_hash(set.pointer("/spec/template").unwrap_or(&Value::Null));
        let ready = owned.iter().filter(|p| p.ready).count();
        let status = json!({
            "observedGeneration": observed_generation(set),
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": owned.len(),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": desired.saturating_sub(ready),
            "updatedNumberScheduled": owned.iter().filter(|p| p.revision_hash == revision).count(),
        });
        if set.get("status") != Some(&status) {
            updates.push((key.clone(), status));
        }
    }
    for (key, status) in updates {
        store.modify(&key, |s| *slot(s, &["status"]) = status);
    }
}

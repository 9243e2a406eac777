//! Deployments (rolling update with maxSurge/maxUnavailable, Recreate) and ReplicaSets.

use crate::sim::util::slot;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{PodInfo, condition, observed_generation, pods_by_owner};
use crate::sim::Simulation;
use crate::sim::pods::{self, NewPod};
use crate::sim::util::{
    int, name, namespace, owner_reference, rt, scaled, template_hash, text, uid,
};
use crate::store::{ObjectKey, Store};

const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";

struct OwnedSet {
    key: ObjectKey,
    hash: String,
    replicas: i64,
    revision: i64,
    available: i64,
    /// Including terminating ones: Recreate waits for these to be gone.
    all_pods: i64,
}

pub(in crate::sim) fn deployments(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let rs_rt = rt("apps", "replicasets");
    let pods = pods_by_owner(store);
    let deployments: Vec<Value> = store
        .list(rt("apps", "deployments"), None)
        .map(|(_, d)| d.clone())
        .collect();
    let mut sets_by_owner: std::collections::BTreeMap<String, Vec<OwnedSet>> = Default::default();
    for (key, rs) in store.list(rs_rt, None) {
        let Some((_, _, owner)) = crate::sim::util::controller_owner(rs) else {
            continue;
        };
        let owned_pods = pods.get(uid(rs)).map(Vec::as_slice).unwrap_or_default();
        sets_by_owner
            .entry(owner.to_owned())
            .or_default()
            .push(OwnedSet {
                key: key.clone(),
                hash: text(rs, "/metadata/labels/pod-template-hash").to_owned(),
                replicas: int(rs, "/spec/replicas").unwrap_or(1),
                revision: int(
                    rs,
                    &format!("/metadata/annotations/{}", REVISION.replace('/', "~1")),
                )
                .unwrap_or(0),
                available: owned_pods
                    .iter()
                    .filter(|p| p.ready && !p.terminating)
                    .count() as i64,
                all_pods: owned_pods.len() as i64,
            });
    }
    for deployment in deployments {
        if crate::sim::util::is_terminating(&deployment) {
            continue;
        }
        let mut sets = sets_by_owner.remove(uid(&deployment)).unwrap_or_default();
        sets.sort_by_key(|s| s.revision);
        let template = deployment
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(json!({}));
        let hash = template_hash(&template);
        let desired = int(&deployment, "/spec/replicas").unwrap_or(1);
        let new_index = match sets.iter().position(|s| s.hash == hash) {
            Some(i) => i,
            None => {
                let revision = sets.iter().map(|s| s.revision).max().unwrap_or(0) + 1;
                let key = create_replica_set(store, &deployment, &template, &hash, revision, now);
                sets.push(OwnedSet {
                    key,
                    hash: hash.clone(),
                    replicas: 0,
                    revision,
                    available: 0,
                    all_pods: 0,
                });
                sets.len() - 1
            }
        };
        let plan = if sim.bootstrapping {
            sets.iter()
                .enumerate()
                .map(|(i, _)| if i == new_index { desired } else { 0 })
                .collect()
        } else if text(&deployment, "/spec/strategy/type") == "Recreate" {
            recreate(&sets, new_index, desired)
        } else {
            rolling(&deployment, &sets, new_index, desired)
        };
        for (set, replicas) in sets.iter().zip(plan) {
            if set.replicas != replicas {
                store.modify(&set.key, |rs| {
                    *slot(rs, &["spec", "replicas"]) = json!(replicas)
                });
            }
        }
        let limit = int(&deployment, "/spec/revisionHistoryLimit")
            .unwrap_or(10)
            .max(0) as usize;
        let old_empty: Vec<&OwnedSet> = sets
            .iter()
            .enumerate()
            .filter(|(i, s)| *i != new_index && s.replicas == 0 && s.all_pods == 0)
            .map(|(_, s)| s)
            .collect();
        for set in old_empty.iter().take(old_empty.len().saturating_sub(limit)) {
            let _ = store.delete(&set.key, false);
        }
    }
}

fn recreate(sets: &[OwnedSet], new_index: usize, desired: i64) -> Vec<i64> {
    let old_pods: i64 = sets
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != new_index)
        .map(|(_, s)| s.all_pods.max(s.replicas))
        .sum();
    sets.iter()
        .enumerate()
        .map(|(i, s)| match (i == new_index, old_pods > 0) {
            (true, true) => s.replicas.min(0),
            (true, false) => desired,
            (false, _) => 0,
        })
        .collect()
}

fn rolling(deployment: &Value, sets: &[OwnedSet], new_index: usize, desired: i64) -> Vec<i64> {
    let params = deployment.pointer("/spec/strategy/rollingUpdate");
    let surge = scaled(
        params
            .and_then(|p| p.get("maxSurge"))
            .or(Some(&json!("25%"))),
        desired,
        true,
        1,
    );
    let mut unavailable = scaled(
        params
            .and_then(|p| p.get("maxUnavailable"))
            .or(Some(&json!("25%"))),
        desired,
        false,
        0,
    );
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    let mut plan: Vec<i64> = sets.iter().map(|s| s.replicas).collect();
    let old_active = sets
        .iter()
        .enumerate()
        .any(|(i, s)| i != new_index && s.replicas > 0);
    if !old_active {
        plan[new_index] = desired;
        return plan;
    }
    let total: i64 = plan.iter().sum();
    if plan[new_index] < desired {
        let up = (desired + surge - total)
            .min(desired - plan[new_index])
            .max(0);
        plan[new_index] += up;
    } else if plan[new_index] > desired {
        plan[new_index] = desired;
    }
    let new = &sets[new_index];
    let new_unavailable = (new.replicas - new.available).max(0);
    let total: i64 = sets.iter().map(|s| s.replicas).sum();
    let mut room = total - (desired - unavailable) - new_unavailable;
    for (i, set) in sets.iter().enumerate() {
        if i == new_index || room <= 0 {
            continue;
        }
        let down = set.replicas.min(room);
        plan[i] -= down;
        room -= down;
    }
    plan
}

fn create_replica_set(
    store: &mut Store,
    deployment: &Value,
    template: &Value,
    hash: &str,
    revision: i64,
    now: Timestamp,
) -> ObjectKey {
    let rs_rt = rt("apps", "replicasets");
    let rs_name = format!("{}-{hash}", name(deployment));
    let mut template = template.clone();
    *slot(&mut template, &["metadata", "labels", HASH_LABEL]) = json!(hash);
    let mut selector = deployment
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or(json!({}));
    *slot(&mut selector, &["matchLabels", HASH_LABEL]) = json!(hash);
    let mut labels = template["metadata"]["labels"].clone();
    *slot(&mut labels, &[HASH_LABEL]) = json!(hash);
    let rs = json!({
        "metadata": {
            "name": rs_name,
            "namespace": namespace(deployment),
            "labels": labels,
            "annotations": {REVISION: revision.to_string(),
                "deployment.kubernetes.io/desired-replicas": int(deployment, "/spec/replicas").unwrap_or(1).to_string()},
            "ownerReferences": owner_reference(deployment),
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
    });
    let _ = store.create(rs_rt, rs, now, false);
    ObjectKey::new(rs_rt, namespace(deployment), &rs_name)
}

pub(in crate::sim) fn replica_sets(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let pods = pods_by_owner(store);
    let sets: Vec<Value> = store
        .list(rt("apps", "replicasets"), None)
        .map(|(_, rs)| rs.clone())
        .collect();
    for rs in sets {
        let owned: Vec<&PodInfo> = pods
            .get(uid(&rs))
            .map(|v| v.iter().filter(|p| !p.terminating).collect())
            .unwrap_or_default();
        let desired = int(&rs, "/spec/replicas").unwrap_or(1);
        let active = owned.len() as i64;
        if active < desired {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in active..desired {
                let pod_name = sim.workloads.pod_name(store, namespace(&rs), name(&rs));
                let pod = pods::build(NewPod {
                    owner: &rs,
                    template: &template,
                    name: pod_name,
                    extra_labels: vec![],
                    daemon_node: None,
                });
                let _ = store.create(rt("", "pods"), pod, now, false);
            }
        } else if active > desired {
            let mut victims = owned.clone();
            victims.sort_by(|a, b| {
                (a.scheduled, a.ready, std::cmp::Reverse(&a.uid)).cmp(&(
                    b.scheduled,
                    b.ready,
                    std::cmp::Reverse(&b.uid),
                ))
            });
            for victim in victims.iter().take((active - desired) as usize) {
                store.mark_for_deletion(&victim.key, now);
            }
        }
    }
}

/// ReplicaSet and Deployment statuses from their pods.
pub(in crate::sim) fn statuses(store: &mut Store, now: Timestamp) {
    let pods = pods_by_owner(store);
    let rs_rt = rt("apps", "replicasets");
    let mut per_deployment: std::collections::BTreeMap<String, Vec<(String, i64, i64, i64)>> =
        Default::default();
    let mut updates = Vec::new();
    for (key, rs) in store.list(rs_rt, None) {
        let owned: Vec<&PodInfo> = pods
            .get(uid(rs))
            .map(|v| v.iter().filter(|p| !p.terminating).collect())
            .unwrap_or_default();
        let replicas = owned.len() as i64;
        let ready = owned.iter().filter(|p| p.ready).count() as i64;
        let status = json!({"replicas": replicas, "fullyLabeledReplicas": replicas,
            "readyReplicas": ready, "availableReplicas": ready,
            "observedGeneration": observed_generation(rs)});
        if rs.get("status") != Some(&status) {
            updates.push((key.clone(), status));
        }
        if let Some((_, _, owner)) = crate::sim::util::controller_owner(rs) {
            per_deployment.entry(owner.to_owned()).or_default().push((
                text(rs, "/metadata/labels/pod-template-hash").to_owned(),
                replicas,
                ready,
                int(rs, "/spec/replicas").unwrap_or(0),
            ));
        }
    }
    for (key, status) in updates {
        store.modify(&key, |rs| *slot(rs, &["status"]) = status);
    }
    let mut updates = Vec::new();
    for (key, deployment) in store.list(rt("apps", "deployments"), None) {
        let hash = template_hash(deployment.pointer("/spec/template").unwrap_or(&Value::Null));
        let sets = per_deployment
            .get(uid(deployment))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let desired = int(deployment, "/spec/replicas").unwrap_or(1);
        let replicas: i64 = sets.iter().map(|s| s.1).sum();
        let ready: i64 = sets.iter().map(|s| s.2).sum();
        let updated: i64 = sets.iter().filter(|s| s.0 == hash).map(|s| s.1).sum();
        let max_unavailable = scaled(
            deployment
                .pointer("/spec/strategy/rollingUpdate/maxUnavailable")
                .or(Some(&json!("25%"))),
            desired,
            false,
            0,
        );
        let available_ok = ready >= desired - max_unavailable;
        let complete = updated == desired && replicas == desired && ready == desired;
        let status = json!({
            "observedGeneration": observed_generation(deployment),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": (desired - ready).max(0),
            "conditions": [
                condition(deployment, "Available", available_ok,
                    if available_ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                    if available_ok { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }, now),
                condition(deployment, "Progressing", true,
                    if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
                    &format!("ReplicaSet \"{}-{hash}\" {}", name(deployment),
                        if complete { "has successfully progressed." } else { "is progressing." }), now),
            ],
        });
        if deployment.get("status") != Some(&status) {
            updates.push((key.clone(), status));
        }
    }
    for (key, status) in updates {
        store.modify(&key, |d| *slot(d, &["status"]) = status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, replicas: i64, available: i64, revision: i64) -> OwnedSet {
        OwnedSet {
            key: ObjectKey::new(rt("apps", "replicasets"), "n", name),
            hash: name.to_owned(),
            replicas,
            revision,
            available,
            all_pods: replicas,
        }
    }

    fn strategy(surge: i64, unavailable: i64) -> Value {
        json!({"spec": {"strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}})
    }

    #[test]
    fn surge_first_then_wait_for_availability() {
        let sets = [set("old", 2, 2, 1), set("new", 0, 0, 2)];
        assert_eq!(rolling(&strategy(1, 0), &sets, 1, 2), vec![2, 1]);
        let sets = [set("old", 2, 2, 1), set("new", 1, 0, 2)];
        assert_eq!(
            rolling(&strategy(1, 0), &sets, 1, 2),
            vec![2, 1],
            "no scale-down while the surge pod is unavailable"
        );
        let sets = [set("old", 2, 2, 1), set("new", 1, 1, 2)];
        assert_eq!(rolling(&strategy(1, 0), &sets, 1, 2), vec![1, 1]);
    }

    #[test]
    fn unavailable_budget_scales_down_first() {
        let sets = [set("old", 2, 2, 1), set("new", 0, 0, 2)];
        assert_eq!(rolling(&strategy(0, 1), &sets, 1, 2), vec![1, 0]);
        let sets = [set("old", 1, 1, 1), set("new", 0, 0, 2)];
        assert_eq!(rolling(&strategy(0, 1), &sets, 1, 2), vec![1, 1]);
    }

    #[test]
    fn recreate_waits_for_old_pods() {
        let sets = [set("old", 1, 1, 1), set("new", 0, 0, 2)];
        assert_eq!(recreate(&sets, 1, 1), vec![0, 0]);
        let sets = [set("old", 0, 0, 1), set("new", 0, 0, 2)];
        assert_eq!(recreate(&sets, 1, 1), vec![0, 1]);
    }
}

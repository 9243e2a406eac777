//! Judges a post-condition from the objects the watches have seen: pure, so the engine's waits
//! and the tests judge alike, and the I/O layer only watches and feeds objects in.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::ObjectRef;
use crate::plan::{Placement, PostCondition};

/// What the watches have seen, per resource plural and `namespace/name` (an empty namespace
/// for cluster-scoped objects).
#[derive(Debug, Default)]
pub struct Seen {
    pub objects: HashMap<String, BTreeMap<String, Value>>,
}

impl Seen {
    pub fn of(&self, plural: &str) -> impl Iterator<Item = &Value> {
        self.objects
            .get(plural)
            .into_iter()
            .flat_map(|m| m.values())
    }

    pub fn get(&self, object: &ObjectRef) -> Option<&Value> {
        self.objects
            .get(&object.plural())?
            .get(&Self::key(object.namespace.as_deref(), &object.name))
    }

    /// The key an object is kept under within its plural.
    pub fn key(namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", namespace.unwrap_or_default())
    }
}

/// Whether the pods of `placement` are where it says.
pub fn placement_holds(placement: &Placement, ready_nodes: &[String]) -> bool {
    match placement {
        Placement::Anywhere => true,
        Placement::AllOn { node } => ready_nodes.iter().all(|n| n == node),
        Placement::OnePerNode { nodes } => {
            ready_nodes.len() == nodes.len()
                && nodes
                    .iter()
                    .all(|n| ready_nodes.iter().filter(|r| *r == n).count() == 1)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Met,
    /// Not yet: how far along (percent, for rebuilds) and what is missing.
    Waiting {
        percent: Option<u64>,
        what: String,
    },
}

fn waiting(what: impl Into<String>) -> Verdict {
    Verdict::Waiting {
        percent: None,
        what: what.into(),
    }
}

fn int(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'v>(v: &'v Value, path: &str) -> &'v str {
    v.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

pub fn evaluate(condition: &PostCondition, seen: &Seen) -> Verdict {
    match condition {
        PostCondition::RolloutComplete {
            workload,
            replicas,
            placement,
        } => rollout(seen, workload, i64::from(*replicas), placement),
        PostCondition::ObjectExists { object } => match seen.get(object) {
            Some(_) => Verdict::Met,
            None => waiting(format!("{object} to exist")),
        },
        PostCondition::SettingApplied { setting, value } => match seen.get(setting) {
            Some(s) if text(s, "/value") == value => Verdict::Met,
            _ => waiting(format!("{setting} to read {value}")),
        },
        PostCondition::StorageClassParameter {
            storage_class,
            parameter,
            value,
        } => {
            let holds = seen.of("storageclasses").any(|sc| {
                text(sc, "/metadata/name") == storage_class
                    && sc
                        .pointer(&format!("/parameters/{parameter}"))
                        .and_then(Value::as_str)
                        == Some(value)
            });
            if holds {
                Verdict::Met
            } else {
                waiting(format!("StorageClass {storage_class} {parameter}={value}"))
            }
        }
        PostCondition::VolumeReplicas {
            volume,
            number_of_replicas,
            healthy_on,
        } => volume_state(seen, volume, *number_of_replicas, healthy_on, false),
        PostCondition::VolumeHealthy {
            volume,
            number_of_replicas,
            one_replica_per_node,
        } => volume_state(
            seen,
            volume,
            *number_of_replicas,
            one_replica_per_node,
            true,
        ),
    }
}

fn rollout(seen: &Seen, workload: &ObjectRef, replicas: i64, placement: &Placement) -> Verdict {
    let Some(w) = seen.get(workload) else {
        return waiting(format!("{workload} to exist"));
    };
    let observed = int(w, "/status/observedGeneration") >= int(w, "/metadata/generation");
    let settled = if workload.kind == "DaemonSet" {
        let desired = int(w, "/status/desiredNumberScheduled");
        desired == replicas
            && int(w, "/status/numberReady") == desired
            && int(w, "/status/updatedNumberScheduled") == desired
    } else {
        int(w, "/spec/replicas") == replicas
            && int(w, "/status/replicas") == replicas
            && int(w, "/status/updatedReplicas") == replicas
            && int(w, "/status/readyReplicas") == replicas
            && int(w, "/status/availableReplicas") == replicas
    };
    if !(observed && settled) {
        return waiting(format!("{workload} to roll out {replicas} ready replicas"));
    }
    let ready_nodes: Vec<String> = pods_of(seen, w, &workload.kind)
        .filter(|p| is_ready(p))
        .map(|p| text(p, "/spec/nodeName").to_owned())
        .collect();
    if ready_nodes.len() as i64 == replicas && placement_holds(placement, &ready_nodes) {
        Verdict::Met
    } else {
        waiting(format!("{workload}'s pods to be placed as planned"))
    }
}

/// The live pods a workload controls: selected by its `matchLabels` and controlled by it (a
/// Deployment through its ReplicaSet, named after the pod's template hash). Selection alone is
/// not enough: while a DaemonSet replaces a Deployment, both select the same pods.
fn pods_of<'s>(seen: &'s Seen, workload: &Value, kind: &str) -> impl Iterator<Item = &'s Value> {
    let namespace = text(workload, "/metadata/namespace").to_owned();
    let labels: BTreeMap<String, String> = workload
        .pointer("/spec/selector/matchLabels")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    let kind = kind.to_owned();
    let name = text(workload, "/metadata/name").to_owned();
    seen.of("pods").filter(move |p| {
        text(p, "/metadata/namespace") == namespace
            && p.pointer("/metadata/deletionTimestamp").is_none()
            && !labels.is_empty()
            && labels.iter().all(|(k, v)| {
                p.pointer(&format!("/metadata/labels/{k}"))
                    .and_then(Value::as_str)
                    == Some(v)
            })
            && controlled_by(p, &kind, &name)
    })
}

/// Whether `pod`'s controller is the workload `kind`/`name` (for another kind of workload, any
/// controller will do).
fn controlled_by(pod: &Value, kind: &str, name: &str) -> bool {
    let Some(controller) = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        })
    else {
        return false;
    };
    let (owner_kind, owner_name) = (text(controller, "/kind"), text(controller, "/name"));
    match kind {
        "Deployment" => {
            let hash = text(pod, "/metadata/labels/pod-template-hash");
            owner_kind == "ReplicaSet" && !hash.is_empty() && owner_name == format!("{name}-{hash}")
        }
        "DaemonSet" | "StatefulSet" => owner_kind == kind && owner_name == name,
        _ => true,
    }
}

use crate::facts::ready as is_ready;

fn belongs_to(object: &Value, volume: &str) -> bool {
    crate::facts::longhorn_volume_of(object) == volume
}

/// Replica name to mode (`RW`, `WO`, `ERR`) over the volume's engines.
fn modes<'s>(seen: &'s Seen, volume: &str) -> BTreeMap<&'s str, &'s str> {
    seen.of("engines")
        .filter(|e| belongs_to(e, volume))
        .filter_map(|e| {
            e.pointer("/status/replicaModeMap")
                .and_then(Value::as_object)
        })
        .flat_map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
        })
        .collect()
}

fn rebuild_percent(seen: &Seen, volume: &str) -> Option<u64> {
    let progress: Vec<u64> = seen
        .of("engines")
        .filter(|e| belongs_to(e, volume))
        .filter_map(|e| {
            e.pointer("/status/rebuildStatus")
                .and_then(Value::as_object)
        })
        .flat_map(|m| m.values())
        .filter(|s| {
            s.get("isRebuilding")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        })
        .filter_map(|s| s.get("progress").and_then(Value::as_u64))
        .collect();
    progress.iter().min().copied()
}

fn volume_state(
    seen: &Seen,
    volume: &ObjectRef,
    number_of_replicas: i64,
    nodes: &[String],
    exactly_one: bool,
) -> Verdict {
    let Some(v) = seen.get(volume) else {
        return waiting(format!("{volume} to exist"));
    };
    let detached = text(v, "/status/state") == "detached";
    let modes = modes(seen, &volume.name);
    let healthy_nodes: Vec<&str> = seen
        .of("replicas")
        .filter(|r| belongs_to(r, &volume.name))
        .filter(|r| {
            let failed =
                !text(r, "/spec/failedAt").is_empty() || text(r, "/status/currentState") == "error";
            let name = text(r, "/metadata/name");
            !failed
                && (detached
                    || (text(r, "/status/currentState") == "running"
                        && modes.get(name) == Some(&"RW")))
        })
        .map(|r| text(r, "/spec/nodeID"))
        .collect();
    let count = |n: &String| healthy_nodes.iter().filter(|h| **h == n.as_str()).count();
    let placed = if exactly_one {
        nodes.iter().all(|n| count(n) == 1)
            && healthy_nodes.len() == nodes.len()
            && text(v, "/status/robustness") == "healthy"
    } else {
        nodes.iter().all(|n| count(n) >= 1)
    };
    if int(v, "/spec/numberOfReplicas") == number_of_replicas && placed {
        Verdict::Met
    } else {
        Verdict::Waiting {
            percent: rebuild_percent(seen, &volume.name),
            what: format!("{volume}: healthy replica on {}", nodes.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seen(objects: &[(&str, Value)]) -> Seen {
        let mut seen = Seen::default();
        for (plural, object) in objects {
            let key = format!(
                "{}/{}",
                text(object, "/metadata/namespace"),
                text(object, "/metadata/name")
            );
            seen.objects
                .entry((*plural).to_owned())
                .or_default()
                .insert(key, object.clone());
        }
        seen
    }

    fn deployment(ready: i64) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "a", "generation": 2},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
               "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                          "readyReplicas": ready, "availableReplicas": ready}})
    }

    fn pod(name: &str, node: &str, restarts: i64) -> Value {
        json!({"metadata": {"name": name, "namespace": "a",
                            "labels": {"app": "web", "pod-template-hash": "5d8f"},
                            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d8f",
                                                 "controller": true}]},
               "spec": {"nodeName": node},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                          "containerStatuses": [{"restartCount": restarts}]}})
    }

    fn rollout() -> PostCondition {
        PostCondition::RolloutComplete {
            workload: ObjectRef::new("apps/v1", "Deployment", Some("a"), "web"),
            replicas: 2,
            placement: Placement::OnePerNode {
                nodes: vec!["n1".into(), "n2".into()],
            },
        }
    }

    #[test]
    fn a_rollout_is_met_only_with_ready_pods_placed_as_planned() {
        let condition = rollout();
        let unready = seen(&[("deployments", deployment(1))]);
        assert!(matches!(
            evaluate(&condition, &unready),
            Verdict::Waiting { .. }
        ));
        let same_node = seen(&[
            ("deployments", deployment(2)),
            ("pods", pod("p1", "n1", 0)),
            ("pods", pod("p2", "n1", 0)),
        ]);
        assert!(matches!(
            evaluate(&condition, &same_node),
            Verdict::Waiting { .. }
        ));
        let spread = seen(&[
            ("deployments", deployment(2)),
            ("pods", pod("p1", "n1", 0)),
            ("pods", pod("p2", "n2", 0)),
        ]);
        assert_eq!(evaluate(&condition, &spread), Verdict::Met);
    }

    #[test]
    fn a_daemon_set_is_judged_on_its_own_pods_not_a_deployments_it_replaces() {
        let daemon_set = json!({"kind": "DaemonSet",
            "metadata": {"name": "web", "namespace": "a", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 2,
                       "numberReady": 2, "updatedNumberScheduled": 2}});
        let daemon = |name: &str, node: &str| {
            let mut p = pod(name, node, 0);
            p["metadata"]["ownerReferences"] =
                json!([{"kind": "DaemonSet", "name": "web", "controller": true}]);
            p
        };
        let condition = PostCondition::RolloutComplete {
            workload: ObjectRef::new("apps/v1", "DaemonSet", Some("a"), "web"),
            replicas: 2,
            placement: Placement::OnePerNode {
                nodes: vec!["n1".into(), "n2".into()],
            },
        };
        // The Deployment's pod on n1 still runs beside the DaemonSet's two.
        let both = seen(&[
            ("daemonsets", daemon_set),
            ("pods", pod("old", "n1", 0)),
            ("pods", daemon("d1", "n1")),
            ("pods", daemon("d2", "n2")),
        ]);
        assert_eq!(evaluate(&condition, &both), Verdict::Met);
    }

    #[test]
    fn a_volume_is_healthy_with_one_rw_replica_per_node() {
        let volume_ref = ObjectRef::new("longhorn.io/v1beta2", "Volume", Some("lh"), "v");
        let condition = PostCondition::VolumeHealthy {
            volume: volume_ref,
            number_of_replicas: 2,
            one_replica_per_node: vec!["n1".into(), "n2".into()],
        };
        let volume = json!({"metadata": {"name": "v", "namespace": "lh"},
            "spec": {"numberOfReplicas": 2},
            "status": {"state": "attached", "robustness": "healthy"}});
        let replica = |name: &str, node: &str| {
            json!({"metadata": {"name": name, "namespace": "lh"},
                   "spec": {"volumeName": "v", "nodeID": node},
                   "status": {"currentState": "running"}})
        };
        let engine = |second: &str| {
            json!({"metadata": {"name": "v-e-0", "namespace": "lh"}, "spec": {"volumeName": "v"},
                   "status": {"replicaModeMap": {"r1": "RW", "r2": second},
                              "rebuildStatus": {"tcp://r2": {"isRebuilding": second == "WO", "progress": 40}}}})
        };
        let rebuilding = seen(&[
            ("volumes", volume.clone()),
            ("replicas", replica("r1", "n1")),
            ("replicas", replica("r2", "n2")),
            ("engines", engine("WO")),
        ]);
        assert_eq!(
            evaluate(&condition, &rebuilding),
            Verdict::Waiting {
                percent: Some(40),
                what: "Volume lh/v: healthy replica on n1, n2".into()
            }
        );
        let done = seen(&[
            ("volumes", volume),
            ("replicas", replica("r1", "n1")),
            ("replicas", replica("r2", "n2")),
            ("engines", engine("RW")),
        ]);
        assert_eq!(evaluate(&condition, &done), Verdict::Met);
    }
}

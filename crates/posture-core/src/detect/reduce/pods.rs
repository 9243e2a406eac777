//! Pods and pod Events: restarts, CrashLoopBackOff, creation, deletion and eviction.

use crate::checks::workload::image_repository;
use serde_json::Value;

use super::{Out, Reducer, at_path, key, label, name, str_at};
use crate::detect::reduce::Change;
use crate::detect::signal::SignalKind;

#[derive(Debug)]
pub(super) struct PodMemo {
    workload: String,
    /// kube-dns or an ingress controller: losing it hurts every app.
    critical: bool,
    /// Runs an ingress controller image, so Services selecting it are important.
    pub(super) ingress: bool,
    evicted: bool,
    containers: Vec<ContainerMemo>,
}

#[derive(Debug)]
struct ContainerMemo {
    name: String,
    restarts: i64,
    backoff: bool,
}

/// Event reasons that mean a pod was pushed off its node.
const EVICTION_REASONS: [&str; 3] = ["Evicted", "Preempted", "TaintManagerEviction"];

impl Reducer {
    pub(super) fn pod(&mut self, change: Change, object: &Value, out: &mut Out) {
        let pod = key(object);
        if change == Change::Deleted {
            if let Some(memo) = self.pods.remove(&pod) {
                for c in memo.containers.iter().filter(|c| c.backoff) {
                    out.push(SignalKind::CrashLoopBackOff {
                        pod: pod.clone(),
                        workload: memo.workload.clone(),
                        container: c.name.clone(),
                        active: false,
                    });
                }
                if !memo.evicted {
                    out.push(SignalKind::PodDeleted {
                        pod,
                        workload: memo.workload,
                        critical: memo.critical,
                    });
                }
            }
            return;
        }
        let eviction = eviction_reason(object);
        let statuses = container_statuses(object);
        let Some(memo) = self.pods.get_mut(&pod) else {
            let workload = workload_of(object);
            let ingress = runs_ingress_controller(object);
            let critical = ingress || label(object, "k8s-app") == Some("kube-dns");
            let mut memo = PodMemo {
                workload: workload.clone(),
                critical,
                ingress,
                evicted: eviction.is_some(),
                containers: Vec::new(),
            };
            out.push(SignalKind::PodCreated {
                pod: pod.clone(),
                workload: workload.clone(),
            });
            for (container, restarts, backoff) in statuses {
                if backoff {
                    out.push(SignalKind::CrashLoopBackOff {
                        pod: pod.clone(),
                        workload: workload.clone(),
                        container: container.to_owned(),
                        active: true,
                    });
                }
                memo.containers.push(ContainerMemo {
                    name: container.to_owned(),
                    restarts,
                    backoff,
                });
            }
            self.pods.insert(pod, memo);
            return;
        };
        for (container, restarts, backoff) in statuses {
            let index = match memo.containers.iter().position(|c| c.name == container) {
                Some(i) => i,
                None => {
                    memo.containers.push(ContainerMemo {
                        name: container.to_owned(),
                        restarts,
                        backoff: false,
                    });
                    memo.containers.len() - 1
                }
            };
            let c = &mut memo.containers[index];
            if restarts > c.restarts {
                out.push(SignalKind::ContainerRestarted {
                    pod: pod.clone(),
                    workload: memo.workload.clone(),
                    container: container.to_owned(),
                    restart_count: restarts,
                });
            }
            c.restarts = restarts;
            if backoff != c.backoff {
                c.backoff = backoff;
                out.push(SignalKind::CrashLoopBackOff {
                    pod: pod.clone(),
                    workload: memo.workload.clone(),
                    container: container.to_owned(),
                    active: backoff,
                });
            }
        }
        if let Some(reason) = eviction
            && !memo.evicted
        {
            memo.evicted = true;
            out.push(SignalKind::PodEvicted {
                pod,
                workload: memo.workload.clone(),
                reason: reason.to_owned(),
                critical: memo.critical,
            });
        }
    }

    /// Eviction Events name pods the pod watch may show only as a plain deletion (API-initiated
    /// evictions delete the pod at once).
    pub(super) fn event(&mut self, object: &Value, out: &mut Out) {
        let Some(reason) = str_at(object, &["reason"]) else {
            return;
        };
        if !EVICTION_REASONS.contains(&reason)
            || str_at(object, &["involvedObject", "kind"]) != Some("Pod")
        {
            return;
        }
        let pod = match (
            str_at(object, &["involvedObject", "namespace"]),
            str_at(object, &["involvedObject", "name"]),
        ) {
            (Some(ns), Some(name)) => format!("{ns}/{name}"),
            _ => return,
        };
        if let Some(memo) = self.pods.get_mut(&pod)
            && !memo.evicted
        {
            memo.evicted = true;
            out.push(SignalKind::PodEvicted {
                pod,
                workload: memo.workload.clone(),
                reason: reason.to_owned(),
                critical: memo.critical,
            });
        }
    }

    pub(super) fn pod_is_ingress(&self, pod: &str) -> bool {
        self.pods.get(pod).is_some_and(|m| m.ingress)
    }
}

/// `(container, restartCount, in CrashLoopBackOff)` for init and app containers.
fn container_statuses(object: &Value) -> impl Iterator<Item = (&str, i64, bool)> {
    ["initContainerStatuses", "containerStatuses"]
        .into_iter()
        .filter_map(|field| at_path(object, &["status", field]).and_then(Value::as_array))
        .flatten()
        .map(|status| {
            let name = str_at(status, &["name"]).unwrap_or_default();
            let restarts = status
                .get("restartCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let backoff =
                str_at(status, &["state", "waiting", "reason"]) == Some("CrashLoopBackOff");
            (name, restarts, backoff)
        })
}

/// Kubelet evictions set `status.reason`; API evictions, preemption and the taint manager set
/// a `DisruptionTarget` condition.
fn eviction_reason(object: &Value) -> Option<&str> {
    if let Some(reason) = str_at(object, &["status", "reason"])
        && reason == "Evicted"
    {
        return Some(reason);
    }
    at_path(object, &["status", "conditions"])
        .and_then(Value::as_array)?
        .iter()
        .find(|c| {
            str_at(c, &["type"]) == Some("DisruptionTarget")
                && str_at(c, &["status"]) == Some("True")
        })
        .map(|c| str_at(c, &["reason"]).unwrap_or("DisruptionTarget"))
}

/// The pod's top-level owner as `namespace/name`: a ReplicaSet's name loses its
/// pod-template-hash so all pods of a Deployment share one workload across rollouts.
fn workload_of(object: &Value) -> String {
    let namespace = str_at(object, &["metadata", "namespace"]).unwrap_or_default();
    let owner = at_path(object, &["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .or_else(|| refs.first())
        });
    let Some(owner) = owner else {
        return format!("{namespace}/{}", name(object));
    };
    let owner_name = str_at(owner, &["name"]).unwrap_or_default();
    let name = match (str_at(owner, &["kind"]), label(object, "pod-template-hash")) {
        (Some("ReplicaSet"), Some(hash)) => owner_name
            .strip_suffix(hash)
            .and_then(|n| n.strip_suffix('-'))
            .unwrap_or(owner_name),
        _ => owner_name,
    };
    format!("{namespace}/{name}")
}

/// Ingress controllers are recognised by image (HAProxy's kubernetes-ingress, ingress-nginx,
/// Traefik as k3s ships it), never by the names a particular cluster chose.
fn runs_ingress_controller(object: &Value) -> bool {
    at_path(object, &["spec", "containers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| str_at(c, &["image"]))
        .any(|image| {
            let repository = image_repository(image);
            repository.contains("ingress") || repository.contains("traefik")
        })
}

#[cfg(test)]
mod tests {
    use super::runs_ingress_controller;
    use serde_json::json;

    fn pod(image: &str) -> serde_json::Value {
        json!({"spec": {"containers": [{"name": "c", "image": image}]}})
    }

    #[test]
    fn ingress_images_are_recognised_behind_a_registry_with_a_port() {
        assert!(runs_ingress_controller(&pod(
            "haproxytech/kubernetes-ingress:3.1.4"
        )));
        assert!(runs_ingress_controller(&pod(
            "registry.lan:5000/haproxytech/kubernetes-ingress:3.1.4"
        )));
        assert!(runs_ingress_controller(&pod(
            "rancher/mirrored-library-traefik:2.11"
        )));
        assert!(!runs_ingress_controller(&pod(
            "registry.lan:5000/library/nginx:1.27"
        )));
    }
}

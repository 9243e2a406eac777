//! Pods and pod Events: restarts, CrashLoopBackOff, creation, deletion and eviction.

use crate::workload::{is_coredns_image, is_ingress_image};

use super::{Fields, Out, Reducer, join_key};
use crate::detect::reduce::EventType;
use crate::detect::signal::SignalKind;

#[derive(Debug)]
pub(super) struct PodMemo {
    workload: String,
    /// The pod's revision of its workload; empty when its controller sets none.
    revision: String,
    /// kube-dns or an ingress controller: losing it hurts every app.
    critical: bool,
    /// Runs an ingress controller or CoreDNS, so Services selecting it are important.
    pub(super) serves_critical: bool,
    evicted: bool,
    containers: Vec<ContainerMemo>,
}

#[derive(Debug)]
struct ContainerMemo {
    name: String,
    restarts: i64,
    backoff: bool,
}

impl PodMemo {
    pub(super) fn heap_bytes(&self) -> usize {
        self.workload.capacity()
            + self.revision.capacity()
            + self.containers.capacity() * size_of::<ContainerMemo>()
            + self
                .containers
                .iter()
                .map(|c| c.name.capacity())
                .sum::<usize>()
    }
}

/// Event reasons that mean a pod was pushed off its node.
const EVICTION_REASONS: [&str; 3] = ["Evicted", "Preempted", "TaintManagerEviction"];

impl Reducer {
    pub(super) fn pod(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let pod = object.key();
        if change == EventType::Deleted {
            if let Some(memo) = self.pods.remove(&pod) {
                let replaced = self.forget_revision(&memo);
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
                        replaced,
                    });
                }
            }
            return;
        }
        let eviction = eviction_reason(object);
        let statuses = container_statuses(object);
        let Some(memo) = self.pods.get_mut(&pod) else {
            let workload = workload_of(object);
            let serves_critical = runs_ingress_controller(object) || runs_cluster_dns(object);
            let critical = serves_critical || object.labels().k8s_app.get() == Some("kube-dns");
            let labels = object.labels();
            let revision = (labels.pod_template_hash.get())
                .or(labels.controller_revision_hash.get())
                .unwrap_or_default()
                .to_owned();
            *(self.revisions.entry(workload.clone()).or_default())
                .entry(revision.clone())
                .or_default() += 1;
            let mut memo = PodMemo {
                workload: workload.clone(),
                revision,
                critical,
                serves_critical,
                evicted: eviction.is_some(),
                containers: Vec::new(),
            };
            out.push(SignalKind::PodCreated {
                pod: pod.clone(),
                workload: workload.clone(),
            });
            for (container, restarts, backoff, last_exit) in statuses {
                if backoff {
                    out.push(SignalKind::CrashLoopBackOff {
                        pod: pod.clone(),
                        workload: workload.clone(),
                        container: container.to_owned(),
                        active: true,
                    });
                } else if restarts > 0
                    && let Some(last_exit) = last_exit.and_then(|t| t.parse().ok())
                {
                    out.push(SignalKind::ContainerHistory {
                        pod: pod.clone(),
                        workload: workload.clone(),
                        container: container.to_owned(),
                        restart_count: restarts,
                        last_exit,
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
        for (container, restarts, backoff, _) in statuses {
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
    pub(super) fn event(&mut self, object: &Fields<'_>, out: &mut Out) {
        let Some(reason) = object.reason.get() else {
            return;
        };
        let involved = &object.involved_object;
        if !EVICTION_REASONS.contains(&reason) || involved.kind.get() != Some("Pod") {
            return;
        }
        let pod = match (involved.namespace.get(), involved.name.get()) {
            (Some(ns), Some(name)) => join_key(ns, name),
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

    /// Whether `pod` runs an ingress controller or CoreDNS: a Service in front of it is
    /// important whatever its labels say (one rule with `check`'s: Service → pods → images).
    pub(super) fn pod_serves_critical(&self, pod: &str) -> bool {
        self.pods.get(pod).is_some_and(|m| m.serves_critical)
    }
}

/// `(container, restartCount, in CrashLoopBackOff)` for init and app containers.
fn container_statuses<'o>(
    object: &'o Fields<'_>,
) -> impl Iterator<Item = (&'o str, i64, bool, Option<&'o str>)> {
    let status = &object.status;
    (status.init_container_statuses.iter())
        .chain(status.container_statuses.iter())
        .map(|status| {
            let name = status.name.get().unwrap_or_default();
            let restarts = status.restart_count.0.unwrap_or(0);
            let backoff = status.state.waiting.reason.get() == Some("CrashLoopBackOff");
            let last_exit = status.last_state.terminated.finished_at.get();
            (name, restarts, backoff, last_exit)
        })
}

/// Kubelet evictions set `status.reason`; API evictions, preemption and the taint manager set
/// a `DisruptionTarget` condition.
fn eviction_reason<'o>(object: &'o Fields<'_>) -> Option<&'o str> {
    if let Some(reason) = object.status.reason.get()
        && reason == "Evicted"
    {
        return Some(reason);
    }
    (object.status.conditions.iter())
        .find(|c| c.type_.get() == Some("DisruptionTarget") && c.status.get() == Some("True"))
        .map(|c| c.reason.get().unwrap_or("DisruptionTarget"))
}

impl Reducer {
    /// Forgets a deleted pod's revision; true when pods of another revision of its workload
    /// still run (a rollout is replacing it).
    fn forget_revision(&mut self, memo: &PodMemo) -> bool {
        let Some(revisions) = self.revisions.get_mut(&memo.workload) else {
            return false;
        };
        if let Some(count) = revisions.get_mut(&memo.revision) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                revisions.remove(&memo.revision);
            }
        }
        let replaced = !memo.revision.is_empty() && revisions.keys().any(|r| *r != memo.revision);
        if revisions.is_empty() {
            self.revisions.remove(&memo.workload);
        }
        replaced
    }
}

/// The pod's top-level owner as `namespace/name`: a ReplicaSet's name loses its
/// pod-template-hash so all pods of a Deployment share one workload across rollouts.
fn workload_of(object: &Fields<'_>) -> String {
    let namespace = object.namespace().unwrap_or_default();
    let refs = &object.metadata.owner_references;
    let owner = (refs.iter())
        .find(|r| r.controller.0 == Some(true))
        .or_else(|| refs.first());
    let Some(owner) = owner else {
        return join_key(namespace, object.name());
    };
    let owner_name = owner.name.get().unwrap_or_default();
    let name = match (owner.kind.get(), object.labels().pod_template_hash.get()) {
        (Some("ReplicaSet"), Some(hash)) => owner_name
            .strip_suffix(hash)
            .and_then(|n| n.strip_suffix('-'))
            .unwrap_or(owner_name),
        _ => owner_name,
    };
    join_key(namespace, name)
}

/// Ingress controllers are recognised by image (HAProxy's kubernetes-ingress, ingress-nginx,
/// Traefik as k3s ships it), by the rule `check` uses, never by the names a cluster chose.
fn runs_ingress_controller(object: &Fields<'_>) -> bool {
    (object.spec.containers.iter())
        .filter_map(|c| c.image.get())
        .any(is_ingress_image)
}

/// CoreDNS is recognised by image, as `check` recognises it: the Helm chart labels its pods
/// `k8s-app: coredns`, not `kube-dns`.
fn runs_cluster_dns(object: &Fields<'_>) -> bool {
    (object.spec.containers.iter())
        .filter_map(|c| c.image.get())
        .any(is_coredns_image)
}

#[cfg(test)]
mod tests {
    use super::super::WatchedObject;
    use serde_json::json;

    fn runs_ingress_controller(pod: &serde_json::Value) -> bool {
        super::runs_ingress_controller(WatchedObject::from_value(pod).fields())
    }

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
        // ingress-nginx's admission webhook job carries the name but serves no traffic.
        assert!(!runs_ingress_controller(&pod(
            "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.4"
        )));
        assert!(runs_ingress_controller(&pod(
            "registry.k8s.io/ingress-nginx/controller:v1.11.3"
        )));
    }
}

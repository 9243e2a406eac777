//! The typed picture of a cluster that every check, plan and detector reads.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use serde::{Deserialize, Serialize};

use crate::longhorn;

/// Everything the runbook inspects, as one consistent read.
///
/// A resource that could not be read is recorded in [`Snapshot::unreadable`] instead of being left
/// silently empty, so checks can say "unknown" rather than "fine".
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub info: SnapshotInfo,
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
    pub daemon_sets: Vec<DaemonSet>,
    pub stateful_sets: Vec<StatefulSet>,
    pub replica_sets: Vec<ReplicaSet>,
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub leases: Vec<Lease>,
    pub storage_classes: Vec<StorageClass>,
    pub persistent_volumes: Vec<PersistentVolume>,
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    pub config_maps: Vec<ConfigMap>,
    pub events: Vec<Event>,
    /// Autoscalers: one on a runbook component fights every replica count posture sets.
    pub horizontal_pod_autoscalers: Vec<HorizontalPodAutoscaler>,
    /// `None` when Longhorn's CRDs are absent: the cluster does not run Longhorn.
    pub longhorn: Option<Longhorn>,
    /// Argo CD, Flux and KEDA objects, each empty when its CRD is not installed.
    pub gitops: GitOps,
    pub readyz: Option<HealthReport>,
    pub healthz: Option<HealthReport>,
    pub unreadable: Vec<Unreadable>,
    /// What servers' own files say (`posture host`), merged in with `--host-facts`.
    pub host_facts: Vec<crate::host::HostFacts>,
}

/// Longhorn's objects (longhorn.io/v1beta2).
#[derive(Debug, Clone, Default)]
pub struct Longhorn {
    pub settings: Vec<longhorn::Setting>,
    pub volumes: Vec<longhorn::Volume>,
    pub replicas: Vec<longhorn::Replica>,
    pub engines: Vec<longhorn::LonghornEngine>,
    pub nodes: Vec<longhorn::LonghornNode>,
}

/// What owns or scales the runbook's objects besides Kubernetes itself, read as the API serves
/// them (with `apiVersion` and `kind`): only a few fields of each are read, and their schemas
/// differ between versions.
#[derive(Debug, Clone, Default)]
pub struct GitOps {
    /// `argoproj.io` Applications.
    pub applications: Vec<serde_json::Value>,
    /// Flux Kustomizations and HelmReleases.
    pub flux: Vec<serde_json::Value>,
    /// `keda.sh` ScaledObjects.
    pub scaled_objects: Vec<serde_json::Value>,
}

/// Where a snapshot came from and when. Written into saved snapshots as a `SnapshotInfo` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInfo {
    /// A file path, or the API server URL.
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// When the snapshot was read. Checks judge freshness (lease renewals, recent restarts)
    /// against this instant, never against the wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<jiff::Timestamp>,
}

/// The answer of `/readyz?verbose` or `/healthz?verbose`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// Endpoint path, e.g. `/readyz`.
    pub endpoint: String,
    /// The verbose body as the API server returned it.
    pub body: String,
}

impl HealthReport {
    /// Parses `[+]name ok` / `[-]name failed: reason` lines into (check, passed).
    pub fn checks(&self) -> Vec<(String, bool)> {
        self.body
            .lines()
            .filter_map(|line| {
                let line = line.trim();
                let (ok, rest) = if let Some(rest) = line.strip_prefix("[+]") {
                    (true, rest)
                } else if let Some(rest) = line.strip_prefix("[-]") {
                    (false, rest)
                } else {
                    return None;
                };
                let name = rest.split_whitespace().next().unwrap_or(rest);
                Some((name.to_owned(), ok))
            })
            .collect()
    }

    /// True when the server reported overall success.
    pub fn passed(&self) -> bool {
        let checks = self.checks();
        let tail_ok = self
            .body
            .lines()
            .any(|l| l.trim().ends_with("check passed") || l.trim() == "ok");
        checks.iter().all(|(_, ok)| *ok) && (tail_ok || !checks.is_empty())
    }
}

/// A resource the credentials could not read (or that failed to list), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// Resource as kubectl names it, e.g. `pods`, `volumes.longhorn.io`.
    pub resource: String,
    /// Short reason such as `forbidden`.
    pub reason: String,
}

impl Snapshot {
    /// The Deployment that owns ReplicaSet `namespace/name`, if the snapshot shows one.
    pub fn deployment_of_replica_set(&self, namespace: &str, name: &str) -> Option<&str> {
        self.replica_sets
            .iter()
            .find(|rs| {
                rs.metadata.namespace.as_deref() == Some(namespace)
                    && rs.metadata.name.as_deref() == Some(name)
            })?
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "Deployment")
            .map(|o| o.name.as_str())
    }

    /// Moves every object of `part` into this snapshot, after the ones it holds. Collection reads
    /// each resource into a part of its own, page by page, so a list that has to start over
    /// drops only its own objects; `part`'s provenance and health reports are not taken.
    pub fn append(&mut self, part: Snapshot) {
        let Snapshot {
            info: _,
            namespaces,
            nodes,
            pods,
            deployments,
            daemon_sets,
            stateful_sets,
            replica_sets,
            pod_disruption_budgets,
            services,
            endpoint_slices,
            leases,
            storage_classes,
            persistent_volumes,
            persistent_volume_claims,
            config_maps,
            events,
            horizontal_pod_autoscalers,
            longhorn,
            gitops,
            readyz: _,
            healthz: _,
            unreadable,
            host_facts: _,
        } = part;
        move_after(&mut self.namespaces, namespaces);
        move_after(&mut self.nodes, nodes);
        move_after(&mut self.pods, pods);
        move_after(&mut self.deployments, deployments);
        move_after(&mut self.daemon_sets, daemon_sets);
        move_after(&mut self.stateful_sets, stateful_sets);
        move_after(&mut self.replica_sets, replica_sets);
        move_after(&mut self.pod_disruption_budgets, pod_disruption_budgets);
        move_after(&mut self.services, services);
        move_after(&mut self.endpoint_slices, endpoint_slices);
        move_after(&mut self.leases, leases);
        move_after(&mut self.storage_classes, storage_classes);
        move_after(&mut self.persistent_volumes, persistent_volumes);
        move_after(&mut self.persistent_volume_claims, persistent_volume_claims);
        move_after(&mut self.config_maps, config_maps);
        move_after(&mut self.events, events);
        move_after(
            &mut self.horizontal_pod_autoscalers,
            horizontal_pod_autoscalers,
        );
        if let Some(part) = longhorn {
            let mine = self.longhorn.get_or_insert_with(Longhorn::default);
            move_after(&mut mine.settings, part.settings);
            move_after(&mut mine.volumes, part.volumes);
            move_after(&mut mine.replicas, part.replicas);
            move_after(&mut mine.engines, part.engines);
            move_after(&mut mine.nodes, part.nodes);
        }
        move_after(&mut self.gitops.applications, gitops.applications);
        move_after(&mut self.gitops.flux, gitops.flux);
        move_after(&mut self.gitops.scaled_objects, gitops.scaled_objects);
        move_after(&mut self.unreadable, unreadable);
    }

    /// Forgets every object's `metadata.managedFields`: the server's write bookkeeping, often the
    /// largest part of an object, which no check reads.
    pub fn drop_managed_fields(&mut self) {
        macro_rules! clear {
            ($($list:expr),* $(,)?) => {
                $(for object in $list.iter_mut() {
                    object.metadata.managed_fields = None;
                })*
            };
        }
        clear!(
            self.namespaces,
            self.nodes,
            self.pods,
            self.deployments,
            self.daemon_sets,
            self.stateful_sets,
            self.replica_sets,
            self.pod_disruption_budgets,
            self.services,
            self.endpoint_slices,
            self.leases,
            self.storage_classes,
            self.persistent_volumes,
            self.persistent_volume_claims,
            self.config_maps,
            self.events,
            self.horizontal_pod_autoscalers,
        );
        if let Some(lh) = self.longhorn.as_mut() {
            clear!(lh.settings, lh.volumes, lh.replicas, lh.engines, lh.nodes);
        }
        let gitops = &mut self.gitops;
        for object in gitops
            .applications
            .iter_mut()
            .chain(gitops.flux.iter_mut())
            .chain(gitops.scaled_objects.iter_mut())
        {
            if let Some(metadata) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                metadata.remove("managedFields");
            }
        }
    }

    /// The reason a resource could not be read, if it could not.
    pub fn unreadable(&self, resource: &str) -> Option<&str> {
        self.unreadable
            .iter()
            .find(|u| u.resource == resource)
            .map(|u| u.reason.as_str())
    }

    /// The instant checks judge freshness against: the collection time, else the newest time the
    /// snapshot itself records (lease renewals and event times), so a saved snapshot is judged as
    /// of the moment it describes.
    pub fn observed_at(&self) -> Option<jiff::Timestamp> {
        if let Some(at) = self.info.collected_at {
            return Some(at);
        }
        let leases = self
            .leases
            .iter()
            .filter_map(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
        let events = self.events.iter().filter_map(|e| {
            e.last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or_else(|| e.event_time.as_ref().map(|t| t.0))
        });
        leases.chain(events).max()
    }
}

/// Moves `items` after the objects `list` holds: when it holds none, the vector itself, so a
/// resource's objects (tens of megabytes for 10,000 pods) are never held twice.
fn move_after<T>(list: &mut Vec<T>, mut items: Vec<T>) {
    if list.is_empty() {
        *list = items;
    } else {
        list.append(&mut items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_report_parses_verbose_output() {
        let ok = HealthReport {
            endpoint: "/readyz".into(),
            body: "[+]ping ok\n[+]etcd ok\nreadyz check passed\n".into(),
        };
        assert_eq!(
            ok.checks(),
            vec![("ping".into(), true), ("etcd".into(), true)]
        );
        assert!(ok.passed());
        let bad = HealthReport {
            endpoint: "/readyz".into(),
            body: "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n".into(),
        };
        assert_eq!(bad.checks()[1], ("etcd".into(), false));
        assert!(!bad.passed());
    }
}

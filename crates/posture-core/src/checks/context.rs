//! What every section shares: the snapshot, the policy, the inferred topology, the instant the
//! snapshot describes, and the system workloads found once (ingress controller, CoreDNS).

use std::collections::HashMap;

use jiff::Timestamp;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use super::record::{CheckDef, Verdict};
use super::selectors;
use crate::policy::Policy;
use crate::report::{Evidence, Finding, Severity};
use crate::snapshot::Snapshot;
use crate::topology::{self, Topology};
use crate::workload::{self, Workload};
use crate::workload::{Kind, UNSCHEDULABLE_TAINT};

pub(crate) struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub policy: &'a Policy,
    pub topology: Topology,
    pub observed_at: Option<Timestamp>,
    /// Deployments, StatefulSets, DaemonSets and bare ReplicaSets.
    pub workloads: Vec<Workload<'a>>,
    /// Workloads by kind, namespace and name (index into `workloads`), and each ReplicaSet's
    /// Deployment by namespace and name: a pod's owner is looked up for every pod, so once per
    /// run rather than by scanning.
    by_name: Index<usize>,
    deployment_of: Index<&'a str>,
    /// The ingress controllers and CoreDNS among `workloads`, judged once: checks ask for them
    /// for every workload they look at.
    ingress: Vec<usize>,
    coredns: Vec<usize>,
    /// The nodes' zone labels ("" for a node without one): every volume is judged against them.
    pub zones: std::collections::BTreeSet<String>,
    /// The nodes that can hold a Longhorn replica: Longhorn's nodes, or every node when the
    /// snapshot has none of Longhorn's. Every volume's placement is judged against them.
    pub storage_nodes: std::collections::BTreeSet<&'a str>,
}

/// Kind (or namespace) -> namespace (or name) -> name (or nothing) -> value, looked up by `&str`
/// without building a key.
type Index<V> = HashMap<String, HashMap<String, HashMap<String, V>>>;

fn index_workloads(workloads: &[Workload<'_>]) -> Index<usize> {
    let mut index: Index<usize> = HashMap::new();
    for (i, w) in workloads.iter().enumerate() {
        index
            .entry(w.object.kind.clone())
            .or_default()
            .entry(w.namespace().to_owned())
            .or_default()
            .entry(w.name().to_owned())
            .or_insert(i);
    }
    index
}

fn index_replica_sets(snap: &Snapshot) -> Index<&str> {
    let mut by_namespace: HashMap<String, HashMap<String, &str>> = HashMap::new();
    for rs in &snap.replica_sets {
        let deployment = (rs.metadata.owner_references.iter().flatten())
            .find(|o| o.kind == "Deployment")
            .map(|o| o.name.as_str());
        if let (Some(deployment), Some(name)) = (deployment, rs.metadata.name.as_ref()) {
            by_namespace
                .entry(rs.metadata.namespace.clone().unwrap_or_default())
                .or_default()
                .entry(name.clone())
                .or_insert(deployment);
        }
    }
    HashMap::from([("ReplicaSet".to_owned(), by_namespace)])
}

impl<'a> Ctx<'a> {
    pub fn new(snap: &'a Snapshot, policy: &'a Policy) -> Self {
        let workloads = workload::all(snap);
        let which = |is: &dyn Fn(&Workload<'_>) -> bool| -> Vec<usize> {
            (workloads.iter().enumerate())
                .filter(|(_, w)| is(w))
                .map(|(i, _)| i)
                .collect()
        };
        let ingress = which(&|w| workload::is_ingress_controller(w, policy));
        let coredns = which(&workload::is_coredns);
        Self {
            ingress,
            coredns,
            snap,
            policy,
            topology: topology::infer(snap, policy),
            observed_at: snap.observed_at(),
            by_name: index_workloads(&workloads),
            deployment_of: index_replica_sets(snap),
            workloads,
            zones: (snap.nodes.iter())
                .map(|n| {
                    (n.metadata.labels.as_ref())
                        .and_then(|l| l.get(crate::checks::longhorn_volumes::ZONE_LABEL))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect(),
            storage_nodes: match snap.longhorn.as_ref().map(|l| &l.nodes) {
                Some(nodes) if !nodes.is_empty() => nodes.iter().map(|n| n.name()).collect(),
                _ => snap.nodes.iter().map(topology::node_name).collect(),
            },
        }
    }

    /// `Unknown` naming the first of `resources` the snapshot could not read, if any.
    ///
    /// A resource matches its plain name (`deployments`) and its group-qualified name
    /// (`deployments.apps`), but `nodes` never matches `nodes.longhorn.io`.
    pub fn unreadable(&self, resources: &[&str]) -> Option<Verdict> {
        resources.iter().find_map(|wanted| {
            self.snap.unreadable.iter().find_map(|u| {
                let qualified = u
                    .resource
                    .strip_prefix(wanted)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|group| !wanted.contains('.') && is_builtin_group(group));
                (u.resource == *wanted || qualified)
                    .then(|| Verdict::Unknown(format!("unknown: {} {}", u.resource, u.reason)))
            })
        })
    }

    /// Workloads the ingress check treats as ingress controllers.
    pub fn ingress_controllers(&self) -> Vec<&Workload<'a>> {
        self.ingress.iter().map(|&i| &self.workloads[i]).collect()
    }

    /// CoreDNS Deployments, found by `k8s-app: kube-dns` or the coredns image in kube-system.
    pub fn coredns(&self) -> Vec<&Workload<'a>> {
        self.coredns.iter().map(|&i| &self.workloads[i]).collect()
    }
}

impl<'a> Ctx<'a> {
    /// The workload that owns `pod`, following a ReplicaSet up to its Deployment.
    pub fn workload_of_pod(&self, pod: &k8s_openapi::api::core::v1::Pod) -> Option<&Workload<'a>> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let owners = pod.metadata.owner_references.as_deref()?;
        let owner = owners
            .iter()
            .find(|o| o.controller == Some(true))
            .or_else(|| owners.first())?;
        let (kind, name) = if owner.kind == "ReplicaSet" {
            let deployment = (self.deployment_of.get("ReplicaSet"))
                .and_then(|by_ns| by_ns.get(namespace))
                .and_then(|by_name| by_name.get(owner.name.as_str()));
            match deployment {
                Some(deployment) => ("Deployment", *deployment),
                None => ("ReplicaSet", owner.name.as_str()),
            }
        } else {
            (owner.kind.as_str(), owner.name.as_str())
        };
        let i = *(self.by_name.get(kind))?.get(namespace)?.get(name)?;
        self.workloads.get(i)
    }

    /// The first PodDisruptionBudget in the workload's namespace that selects its pods.
    pub fn pdb_for(&self, w: &Workload<'_>) -> Option<&'a PodDisruptionBudget> {
        let labels = w.pod_labels();
        self.snap.pod_disruption_budgets.iter().find(|p| {
            p.metadata.namespace.as_deref() == Some(w.namespace())
                && p.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| selectors::selects(sel, &labels))
        })
    }

    /// Secondaries that are cordoned: only pods tolerating the unschedulable taint run there.
    pub fn cordoned_secondaries(&self) -> Vec<&'a str> {
        self.snap
            .nodes
            .iter()
            .filter(|n| {
                self.topology
                    .secondaries
                    .iter()
                    .any(|s| s == crate::topology::node_name(n))
            })
            .filter(|n| {
                n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
            })
            .map(crate::topology::node_name)
            .collect()
    }

    /// A finding when a Deployment meant to run on every node cannot reach a cordoned
    /// secondary. DaemonSet pods tolerate the cordon automatically.
    pub fn cordon_blocks(&self, def: &CheckDef, w: &Workload<'_>, what: &str) -> Option<Finding> {
        let cordoned = self.cordoned_secondaries();
        if w.kind == Kind::DaemonSet || w.tolerates_unschedulable() || cordoned.is_empty() {
            return None;
        }
        let value = serde_json::to_value(w.pod_spec().and_then(|s| s.tolerations.as_ref()))
            .unwrap_or_default();
        Some(
            def.finding(
                Severity::Warning,
                &w.object,
                format!(
                    "{what} {} does not tolerate the cordon on {}: no replica can run there, so losing the primary takes all of them",
                    w.object,
                    cordoned.join(", ")
                ),
            )
            .with_evidence(Evidence::field(&w.object, "spec.template.spec.tolerations", value))
            .with_remediation(format!(
                "add the toleration {{key: {UNSCHEDULABLE_TAINT}, operator: Exists, effect: NoSchedule}} so one replica runs on the cordoned secondary while apps stay off it"
            )),
        )
    }

    /// Services in the workload's namespace whose selector picks its pods.
    pub fn services_for(&self, w: &Workload<'_>) -> Vec<&'a Service> {
        let labels = w.pod_labels();
        self.snap
            .services
            .iter()
            .filter(|s| {
                s.metadata.namespace.as_deref() == Some(w.namespace())
                    && s.spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .is_some_and(|sel| selectors::map_selects(sel, &labels))
            })
            .collect()
    }
}

fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "apps"
            | "policy"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "storage.k8s.io"
            | "events.k8s.io"
    )
}

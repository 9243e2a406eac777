//! Step 1, and the readings of a snapshot the later steps reuse: node status as kubectl prints
//! it, where pods run, volume health and ready endpoints per Service.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use posture_core::Snapshot;
use posture_core::topology::{self, Topology};

use super::DemoContext;
use crate::error::CliError;

pub(super) fn show(ctx: &mut DemoContext) -> Result<(), CliError> {
    let snapshot = ctx.collect()?;
    let topology = topology::infer(&snapshot, &ctx.policy);
    ctx.out.explain(
        "Two nodes: a k3s server that runs everything today, and a second node being brought \
         into service. The runbook spreads ingress, DNS and storage over both, so losing either \
         node no longer takes the cluster down.",
    );
    ctx.out.command("kubectl get nodes -o wide");
    ctx.out.fact(format!(
        "{:<16} {:<28} {:<22} {:<16} {}",
        "NAME", "STATUS", "ROLES", "INTERNAL-IP", "VERSION"
    ));
    for node in &snapshot.nodes {
        ctx.out.fact(format!(
            "{:<16} {:<28} {:<22} {:<16} {}",
            topology::node_name(node),
            node_status(node),
            roles(node),
            internal_ip(node),
            node.status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map_or("", |i| i.kubelet_version.as_str()),
        ));
    }
    ctx.out
        .command("kubectl get pods -A -o wide   # counted by node and namespace");
    for (node, namespaces) in pods_by_node(&snapshot) {
        let total: usize = namespaces.values().sum();
        let spread: Vec<String> = namespaces
            .iter()
            .map(|(ns, n)| format!("{ns} {n}"))
            .collect();
        ctx.out
            .fact(format!("{node}: {total} pods ({})", spread.join(", ")));
    }
    describe_topology(ctx, &topology);
    Ok(())
}

fn describe_topology(ctx: &mut DemoContext, topology: &Topology) {
    ctx.out.explain(format!(
        "posture infers the roles from what the API says, never from names: primary {} ({}); \
         secondary {}.",
        topology.primary.as_deref().unwrap_or("unknown"),
        topology.reason,
        topology.secondary().unwrap_or("unknown"),
    ));
}

/// `Ready`, `NotReady` or `Unknown`, plus `SchedulingDisabled` when cordoned, as kubectl shows it.
pub(super) fn node_status(node: &Node) -> String {
    let mut status = match posture_core::facts::node_ready(node) {
        Some(true) => "Ready".to_owned(),
        Some(false) => "NotReady".to_owned(),
        None => "Unknown".to_owned(),
    };
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn roles(node: &Node) -> String {
    let roles: Vec<&str> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.join(",")
    }
}

fn internal_ip(node: &Node) -> &str {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map_or("<none>", |a| a.address.as_str())
}

/// Pod counts per node, then per namespace; unscheduled pods count under `<pending>`.
fn pods_by_node(snapshot: &Snapshot) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for pod in &snapshot.pods {
        let node = pod_node(pod).unwrap_or("<pending>").to_owned();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        *counts
            .entry(node)
            .or_default()
            .entry(namespace)
            .or_default() += 1;
    }
    counts
}

pub(super) fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

pub(super) use posture_core::facts::pod_ready;

/// Longhorn volume (with its claim, when bound) to robustness (`healthy`, `degraded`, ...).
pub(super) fn volume_robustness(snapshot: &Snapshot) -> BTreeMap<String, String> {
    snapshot
        .longhorn
        .iter()
        .flat_map(|l| &l.volumes)
        .map(|v| {
            let name = v.metadata.name.clone().unwrap_or_default();
            let claim = v.status.kubernetes_status.as_ref().and_then(|k| {
                Some(format!(
                    "{}/{}",
                    k.namespace.as_deref()?,
                    k.pvc_name.as_deref()?
                ))
            });
            (
                match claim {
                    Some(claim) => format!("{name} ({claim})"),
                    None => name,
                },
                v.status
                    .robustness
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            )
        })
        .collect()
}

/// `namespace/service` to its count of ready endpoints, from the EndpointSlices.
pub(super) fn ready_endpoints(snapshot: &Snapshot) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for slice in &snapshot.endpoint_slices {
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
        else {
            continue;
        };
        let key = format!(
            "{}/{service}",
            slice.metadata.namespace.as_deref().unwrap_or_default()
        );
        let ready = slice
            .endpoints
            .iter()
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .count();
        *counts.entry(key).or_default() += ready;
    }
    counts
}

//! Who uses a Longhorn volume: its claim, the pods mounting the claim, and the Deployments and
//! StatefulSets behind them, read from a snapshot.

use crate::ObjectRef;
use crate::longhorn::Volume;
use crate::snapshot::Snapshot;
use k8s_openapi::api::core::v1::Pod;

use super::WorkloadUse;

/// `(namespace, name)` of the volume's claim: from Longhorn's status, else the PV's claimRef.
pub(super) fn claim_of(
    snapshot: &Snapshot,
    volume: &Volume,
    pv: Option<&str>,
) -> Option<(String, String)> {
    if let Some(k8s) = &volume.status.kubernetes_status
        && let (Some(ns), Some(pvc)) = (&k8s.namespace, &k8s.pvc_name)
        && !ns.is_empty()
        && !pvc.is_empty()
    {
        return Some((ns.clone(), pvc.clone()));
    }
    let pv = snapshot
        .persistent_volumes
        .iter()
        .find(|p| p.metadata.name.as_deref() == pv)?;
    let claim = pv.spec.as_ref()?.claim_ref.as_ref()?;
    Some((claim.namespace.clone()?, claim.name.clone()?))
}

pub(super) fn pods_using<'s>(snapshot: &'s Snapshot, namespace: &str, claim: &str) -> Vec<&'s Pod> {
    snapshot
        .pods
        .iter()
        .filter(|pod| pod.metadata.namespace.as_deref() == Some(namespace))
        .filter(|pod| {
            pod.spec.as_ref().is_some_and(|spec| {
                spec.volumes.iter().flatten().any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| c.claim_name == claim)
                })
            })
        })
        .collect()
}

/// The Deployments and StatefulSets that mount the claim: by their pod template, by a
/// StatefulSet's claim template (`<template>-<set>-<ordinal>`), or as owners of the pods using it.
pub(super) fn workloads_using(
    snapshot: &Snapshot,
    namespace: &str,
    claim: &str,
    pods: &[&Pod],
) -> Vec<WorkloadUse> {
    let mounts = |spec: Option<&k8s_openapi::api::core::v1::PodSpec>| {
        spec.is_some_and(|s| {
            s.volumes.iter().flatten().any(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name == claim)
            })
        })
    };
    let owned_by = |kind: &str, name: &str| {
        pods.iter().any(|pod| {
            pod.metadata.owner_references.iter().flatten().any(|o| {
                (o.kind == kind && o.name == name)
                    || (kind == "Deployment"
                        && o.kind == "ReplicaSet"
                        && snapshot.deployment_of_replica_set(namespace, &o.name) == Some(name))
            })
        })
    };
    let mut found = Vec::new();
    for deployment in &snapshot.deployments {
        if deployment.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let name = deployment.metadata.name.as_deref().unwrap_or_default();
        let spec = deployment.spec.as_ref();
        if mounts(spec.and_then(|s| s.template.spec.as_ref())) || owned_by("Deployment", name) {
            found.push(WorkloadUse {
                object: ObjectRef::of(deployment),
                replicas: Some(spec.and_then(|s| s.replicas).unwrap_or(1)),
            });
        }
    }
    for set in &snapshot.stateful_sets {
        if set.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let name = set.metadata.name.as_deref().unwrap_or_default();
        let spec = set.spec.as_ref();
        let templated = spec
            .and_then(|s| s.volume_claim_templates.as_ref())
            .is_some_and(|templates| {
                templates.iter().any(|t| {
                    let prefix = format!("{}-{name}-", t.metadata.name.as_deref().unwrap_or(""));
                    claim
                        .strip_prefix(&prefix)
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
            });
        if templated
            || mounts(spec.and_then(|s| s.template.spec.as_ref()))
            || owned_by("StatefulSet", name)
        {
            found.push(WorkloadUse {
                object: ObjectRef::of(set),
                replicas: Some(spec.and_then(|s| s.replicas).unwrap_or(1)),
            });
        }
    }
    found
}

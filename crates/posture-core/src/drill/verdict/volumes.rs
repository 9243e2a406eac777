//! Blockers and degradations of Longhorn volumes: faulted ones one by one, with what the drain
//! policy does to them; degraded ones together, as one line a person reads at a glance.

use crate::drill::types::{Blocker, Degradation, DrainEffect, VolumeFate, VolumeOutcome, WhatIf};
use crate::object::ObjectRef;
use crate::report::Evidence;

/// The replicas on the node, and the listing that shows every replica of the volume with its
/// node and state.
fn replica_evidence(v: &VolumeOutcome, node: &str) -> Vec<Evidence> {
    let namespace = v.volume.namespace.as_deref();
    let listing = format!(
        "kubectl get replicas.longhorn.io -n {} -l longhornvolume={} -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeID,STATE:.status.currentState,FAILED:.spec.failedAt",
        namespace.unwrap_or("longhorn-system"),
        v.volume.name
    );
    let mut evidence: Vec<Evidence> = (v.healthy_on_node.iter())
        .map(|r| {
            let replica = ObjectRef::new(
                crate::longhorn::API_VERSION,
                "Replica",
                namespace,
                r.clone(),
            );
            Evidence::with_command(&replica, "spec.nodeID", node, listing.clone())
        })
        .collect();
    evidence.push(Evidence::field(
        &v.volume,
        "spec.numberOfReplicas",
        v.number_of_replicas,
    ));
    evidence
}

fn volume_name(v: &VolumeOutcome) -> String {
    match &v.claim {
        Some(claim) => format!("volume {} (claim {claim})", v.volume.name),
        None => format!("volume {}", v.volume.name),
    }
}

pub(super) fn faulted(node: &str, v: &VolumeOutcome, what: &WhatIf) -> Option<Blocker> {
    if v.fate != VolumeFate::Faulted {
        return None;
    }
    let drain = match &v.drain {
        Some(DrainEffect::Blocks { policy, why }) => {
            format!("; a drain waits for good ({policy}: {why})")
        }
        Some(DrainEffect::EvictsFirst { policy, to }) => {
            format!("; a drain first copies it to {} ({policy})", to.join(", "))
        }
        Some(DrainEffect::Allows { policy }) => format!("; a drain lets it stop ({policy})"),
        None => String::new(),
    };
    let mut evidence = replica_evidence(v, node);
    evidence.extend(policy_evidence(v, what));
    Some(Blocker {
        id: "drill.volume.faulted".into(),
        object: v.volume.clone(),
        message: format!(
            "{} faults: its only healthy replica{} ({}) {} on {node}, so its data is unreachable until {node} returns{drain}",
            volume_name(v),
            if v.healthy_on_node.len() == 1 {
                ""
            } else {
                "s"
            },
            v.healthy_on_node.join(", "),
            if v.healthy_on_node.len() == 1 {
                "is"
            } else {
                "are"
            },
        ),
        evidence,
    })
}

fn policy_evidence(v: &VolumeOutcome, what: &WhatIf) -> Option<Evidence> {
    v.drain.as_ref()?;
    let p = what.drain_policy.as_ref()?;
    Some(Evidence::field(&p.setting, "value", p.value.clone()))
}

pub(super) fn drain_blocked(v: &VolumeOutcome, what: &WhatIf) -> Option<Blocker> {
    let Some(DrainEffect::Blocks { policy, why }) = &v.drain else {
        return None;
    };
    if v.fate == VolumeFate::Faulted {
        return None;
    }
    Some(Blocker {
        id: "drill.longhorn.drain-blocked".into(),
        object: v.volume.clone(),
        message: format!(
            "a drain of {} waits for good on {}: {policy}, and {why}",
            what.node,
            volume_name(v)
        ),
        evidence: policy_evidence(v, what).into_iter().collect(),
    })
}

pub(super) fn degraded_volumes(node: &str, volumes: &[VolumeOutcome]) -> Option<Degradation> {
    let degraded: Vec<&VolumeOutcome> = volumes
        .iter()
        .filter(|v| v.fate == VolumeFate::Degraded)
        .collect();
    let first = degraded.first()?;
    let faulted = volumes
        .iter()
        .filter(|v| v.fate == VolumeFate::Faulted)
        .count();
    let names: Vec<String> = degraded.iter().map(|v| volume_name(v)).collect();
    Some(Degradation {
        id: "drill.volume.degraded".into(),
        object: first.volume.clone(),
        message: format!(
            "{} volume{} degraded, {faulted} faulted: {} keep{} a healthy replica off {node} and lose the one{} on it",
            degraded.len(),
            if degraded.len() == 1 { "" } else { "s" },
            names.join(", "),
            if degraded.len() == 1 { "s" } else { "" },
            if degraded.len() == 1 { "" } else { "s" },
        ),
        evidence: degraded
            .iter()
            .flat_map(|v| replica_evidence(v, node))
            .collect(),
    })
}

//! From the parts of the what-if to one verdict: anything that takes something down (or keeps a
//! drain from finishing) is a blocker and makes it `unsafe`; anything that only leaves less to
//! spare is a degradation, and makes it `safe-degraded` when nothing blocks.

mod volumes;
mod workloads;

use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

use super::types::{Blocker, BudgetOutcome, Degradation, Verdict, WhatIf, WorkloadStatus};
use crate::checks::context::Ctx;
use crate::object::ObjectRef;
use crate::report::Evidence;
use crate::topology::{NODE_ARGS_ANNOTATION, has_role_label};
use volumes::{degraded_volumes, drain_blocked, faulted};
use workloads::{down, no_endpoints, partial, restarts, serves_critical};

/// Fills in the blockers, the degradations and the verdict of `what`.
pub(super) fn judge(ctx: &Ctx<'_>, node: &Node, what: &mut WhatIf) {
    let mut blockers = Vec::new();
    let mut degradations = Vec::new();
    if let Some(cp) = &what.control_plane {
        blockers.push(Blocker {
            id: "drill.control-plane.api".into(),
            object: ObjectRef::of(node),
            message: cp.message.clone(),
            evidence: control_plane_evidence(node, what),
        });
    }
    blockers.extend(what.disruption_budgets.iter().filter_map(budget));
    for v in &what.volumes {
        blockers.extend(faulted(&what.node, v, what));
        blockers.extend(drain_blocked(v, what));
    }
    for w in &what.workloads {
        match w.status {
            WorkloadStatus::Down => blockers.push(down(&what.node, w)),
            WorkloadStatus::Degraded => degradations.push(partial(w)),
            WorkloadStatus::Restarts if !serves_critical(ctx, w, &what.services) => {
                degradations.push(restarts(w))
            }
            _ => {}
        }
    }
    blockers.extend(
        what.services
            .iter()
            .filter_map(|s| no_endpoints(&what.node, s)),
    );
    degradations.extend(degraded_volumes(&what.node, &what.volumes));
    degradations.extend(what.unmanaged_pods.iter().filter(|p| p.owner.is_none()).map(|p| {
        Degradation {
            id: "drill.pod.unmanaged".into(),
            object: p.pod.clone(),
            message: format!(
                "{} has no controller: a drain deletes it for good (kubectl drain --force) and losing {} loses it",
                p.pod, what.node
            ),
            evidence: vec![Evidence::field(&p.pod, "metadata.ownerReferences", Value::Null)],
        }
    }));
    what.verdict = if !blockers.is_empty() {
        Verdict::Unsafe
    } else if !degradations.is_empty() {
        Verdict::SafeDegraded
    } else {
        Verdict::Safe
    };
    what.blockers = blockers;
    what.degradations = degradations;
}

fn control_plane_evidence(node: &Node, what: &WhatIf) -> Vec<Evidence> {
    let obj = ObjectRef::of(node);
    let mut evidence = Vec::new();
    for role in ["control-plane", "master"] {
        if has_role_label(node, role) {
            evidence.push(Evidence::field(
                &obj,
                &format!("metadata.labels.node-role\\.kubernetes\\.io/{role}"),
                "true",
            ));
        }
    }
    if let Some(args) = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(NODE_ARGS_ANNOTATION))
    {
        evidence.push(Evidence::field(
            &obj,
            "metadata.annotations.k3s\\.io/node-args",
            args.clone(),
        ));
    }
    for lease in what
        .leases
        .iter()
        .filter(|l| l.lease.namespace.as_deref() == Some("kube-system"))
    {
        evidence.push(Evidence::field(
            &lease.lease,
            "spec.holderIdentity",
            lease.holder.clone(),
        ));
    }
    evidence
}

fn budget(b: &BudgetOutcome) -> Option<Blocker> {
    if b.blocked.is_empty() {
        return None;
    }
    let refused: Vec<String> = b
        .blocked
        .iter()
        .map(|e| format!("{} ({})", e.pod, e.why))
        .collect();
    Some(Blocker {
        id: "drill.pdb.blocks-eviction".into(),
        object: b.budget.clone(),
        message: format!(
            "{} refuses the eviction of {}: a drain would wait on it for good",
            b.budget,
            refused.join(", ")
        ),
        evidence: vec![Evidence::field(
            &b.budget,
            "status.disruptionsAllowed",
            b.disruptions_allowed,
        )],
    })
}

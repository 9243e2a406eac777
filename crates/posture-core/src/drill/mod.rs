//! `posture drill NODE`, read only: what losing one node would do, worked out from a snapshot
//! before anyone drains it. The runbook's final validation (2.5) is a drain of the secondary;
//! this says beforehand which apps would go Pending and why, which Services would lose their
//! last endpoint, which Longhorn volumes would fault or degrade, which leases move, and which
//! disruption budgets would hold the drain, each with the evidence a person can check.
//!
//! Nothing here reads the cluster: the same snapshot gives the same answer. The server's own
//! answer to a dry-run drain is `posture_kube::drill::server_dry_run`.

mod control_plane;
mod endpoints;
mod leases;
pub mod observed;
mod pdb;
mod placement;
mod pods;
pub(crate) mod schedule;
mod types;
mod verdict;
mod volumes;

#[cfg(test)]
mod tests;

pub use types::*;

use crate::checks::context::Ctx;
use crate::policy::Policy;
use crate::snapshot::Snapshot;
use crate::topology::node_name;

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("node {node} is not in the snapshot (its nodes: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownNode { node: String, known: Vec<String> },
    #[error("failed to judge node {node}: the snapshot could not read nodes ({reason})")]
    NodesUnreadable { node: String, reason: String },
}

/// What losing `node` would do to the cluster `snapshot` describes, judged against `policy`
/// (which names the ingress controller when images and labels do not).
pub fn what_if(snapshot: &Snapshot, node: &str, policy: &Policy) -> Result<WhatIf, DrillError> {
    let Some(target) = snapshot.nodes.iter().find(|n| node_name(n) == node) else {
        if let Some(reason) = snapshot.unreadable("nodes") {
            return Err(DrillError::NodesUnreadable {
                node: node.to_owned(),
                reason: reason.to_owned(),
            });
        }
        return Err(DrillError::UnknownNode {
            node: node.to_owned(),
            known: snapshot
                .nodes
                .iter()
                .map(|n| node_name(n).to_owned())
                .collect(),
        });
    };
    let ctx = Ctx::new(snapshot, policy);
    let (pods, source) = pods::gather(&ctx);
    let (volumes, drain_policy) = volumes::judge(&ctx, node);
    let loss = placement::simulate(&ctx, &pods, node, &volumes);
    let services = endpoints::judge(&ctx, &pods, loss.replacements(pods.len()), node);
    let disruption_budgets = pdb::judge(&ctx, &pods, &loss, node);
    let leases = leases::judge(&ctx, &pods, node);
    let control_plane = control_plane::judge(&ctx, target, &loss, &volumes);
    let mut what = WhatIf {
        schema: WHAT_IF_SCHEMA.to_owned(),
        source: snapshot.info.source.clone(),
        node: node.to_owned(),
        verdict: Verdict::Safe,
        blockers: Vec::new(),
        degradations: Vec::new(),
        pods: source,
        control_plane,
        workloads: loss.workloads,
        unmanaged_pods: loss.unmanaged,
        services,
        volumes,
        drain_policy,
        leases,
        disruption_budgets,
        server: None,
    };
    verdict::judge(&ctx, target, &mut what);
    Ok(what)
}

/// Adds the API server's answer to a dry-run drain of the node: each eviction it refuses is a
/// blocker, quoted, whatever the analysis predicted (the server knows budgets and admission the
/// snapshot may not show).
pub fn with_server_answers(mut what: WhatIf, answers: Vec<EvictionAnswer>) -> WhatIf {
    let command = format!(
        "kubectl drain {} --ignore-daemonsets --delete-emptydir-data --dry-run=server",
        what.node
    );
    for answer in &answers {
        let ServerAnswer::Refuses {
            code,
            reason,
            message,
            causes,
        } = &answer.answer
        else {
            continue;
        };
        let mut said = format!("{code} {reason}: {message}");
        for cause in causes {
            said.push_str("; ");
            said.push_str(cause);
        }
        what.blockers.push(Blocker {
            id: "drill.server.refuses".into(),
            object: answer.pod.clone(),
            message: format!(
                "the API server refuses to evict {} in a dry-run drain of {}: {said}",
                answer.pod, what.node
            ),
            evidence: vec![crate::report::Evidence {
                object: answer.pod.clone(),
                field: "eviction".into(),
                value: serde_json::Value::String(said.clone()),
                command: command.clone(),
            }],
        });
    }
    if !what.blockers.is_empty() {
        what.verdict = Verdict::Unsafe;
    }
    what.server = Some(answers);
    what
}

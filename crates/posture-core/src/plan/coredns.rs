//! 2.3 CoreDNS: two replicas spread across nodes, the runbook's resources and probes, a PDB.

use serde_json::json;

use super::patch::{Edit, path, to_json};
use super::workloads::{
    HOSTNAME_KEY, container_index, container_path, is_coredns, match_labels, pdb_change, pod_spec,
    spread, tolerations_with_cordon, unpin_edits,
};
use super::{Action, ChangeDraft, Context, Placement, PlanError, PostCondition, StageDraft};
use crate::object::ObjectRef;
use crate::ownership::owner_of;
use crate::report::Section;

/// 2.3 CoreDNS: two replicas, preferred anti-affinity and a ScheduleAnyway spread (DNS must
/// come up even when only one node is available), the runbook's resources and health endpoints,
/// and a PDB.
///
/// The rollout replaces one pod at a time without a surge: a surge pod is placed while the old
/// pod still runs, so with only preferred rules both new pods can land on the emptier node and
/// stay there. Without a surge the second new pod is placed once the old one is going, and the
/// spread puts it on the other node. One replica stays up throughout (maxUnavailable 1 of 2).
pub(crate) fn coredns(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let Some(d) = cx.snapshot.deployments.iter().find(|d| is_coredns(d)) else {
        cx.notes
            .push("no CoreDNS Deployment found; CoreDNS not planned".into());
        return Ok(Vec::new());
    };
    let Some(spec) = pod_spec(d) else {
        return Ok(Vec::new());
    };
    let policy = &cx.policy.coredns;
    let object = ObjectRef::of(d);
    let labels = match_labels(d);
    let index = container_index(spec, "coredns");
    let mut edits = vec![
        Edit::Pin(container_path(index, &["name"])),
        Edit::Set(path(&["spec", "replicas"]), json!(policy.replicas)),
        Edit::Set(
            path(&["spec", "strategy"]),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
        ),
        Edit::Set(
            path(&["spec", "template", "spec", "affinity", "podAntiAffinity"]),
            json!({"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {"labelSelector": {"matchLabels": labels}, "topologyKey": HOSTNAME_KEY},
            }]}),
        ),
        Edit::Set(
            path(&["spec", "template", "spec", "topologySpreadConstraints"]),
            spread(&labels, "ScheduleAnyway"),
        ),
        Edit::Set(
            container_path(index, &["resources"]),
            json!({
                "requests": {"cpu": policy.requests.cpu, "memory": policy.requests.memory},
                "limits": {"cpu": policy.limits.cpu, "memory": policy.limits.memory},
            }),
        ),
        Edit::Set(
            container_path(index, &["readinessProbe", "httpGet", "path"]),
            json!(policy.readiness_path),
        ),
        Edit::Set(
            container_path(index, &["readinessProbe", "httpGet", "port"]),
            json!(policy.readiness_port),
        ),
        Edit::Set(
            container_path(index, &["livenessProbe", "httpGet", "path"]),
            json!(policy.liveness_path),
        ),
        Edit::Set(
            container_path(index, &["livenessProbe", "httpGet", "port"]),
            json!(policy.liveness_port),
        ),
    ];
    edits.extend(unpin_edits(spec));
    if let Some(tolerations) = tolerations_with_cordon(spec) {
        edits.push(Edit::Set(
            path(&["spec", "template", "spec", "tolerations"]),
            tolerations,
        ));
    }
    let mut changes = Vec::new();
    if let Some(built) = super::patch_change(&object, &to_json(d), &edits)? {
        changes.push(ChangeDraft {
            summary: format!(
                "{} replicas spread over the nodes; runbook resources and probes",
                policy.replicas
            ),
            post_condition: PostCondition::RolloutComplete {
                workload: object.clone(),
                replicas: policy.replicas,
                placement: Placement::OnePerNode {
                    nodes: cx.nodes.clone(),
                },
            },
            object: object.clone(),
            resource_version: d.metadata.resource_version.clone(),
            owner: owner_of(&d.metadata),
            action: Action::Patch {
                forward: built.forward,
                inverse: built.inverse,
            },
        });
    }
    let name = d.metadata.name.clone().unwrap_or_default();
    changes.extend(pdb_change(cx, d, &name, policy.replicas)?);
    Ok(vec![StageDraft {
        id: "coredns".into(),
        section: Section::Coredns,
        title: "2.3 CoreDNS: two replicas spread across nodes".into(),
        approval: false,
        rationale: "Cluster DNS must survive the loss of either node. The spread is \
                    ScheduleAnyway because DNS must still start when only one node can take it."
            .into(),
        changes,
    }])
}

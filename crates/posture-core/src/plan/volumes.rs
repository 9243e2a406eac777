//! 2.4 Per-volume stages: exactly one healthy replica per node, without ever lowering
//! redundancy on the way.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::patch::{Edit, path, to_json};
use super::{Action, ChangeDraft, Context, PlanError, PostCondition, StageDraft};
use crate::longhorn::Volume;
use crate::ownership::owner_of;
use crate::report::Section;

/// What the planner knows about one volume's replicas.
struct VolumeView<'a> {
    volume: &'a Volume,
    /// Healthy replica names per node (every node of the topology present, maybe empty).
    healthy: BTreeMap<String, Vec<String>>,
    failed: Vec<String>,
    spec_replicas: i64,
    degraded: bool,
}

impl VolumeView<'_> {
    fn healthy_count(&self) -> usize {
        self.healthy.values().map(Vec::len).sum()
    }
    /// Nodes holding at least one healthy replica: the volume's redundancy.
    fn covered_nodes(&self) -> usize {
        self.healthy.values().filter(|r| !r.is_empty()).count()
    }
    fn missing_nodes(&self) -> Vec<String> {
        self.healthy
            .iter()
            .filter(|(_, r)| r.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }
    /// Risk rank: single-replica volumes first (they have no redundancy, and adding a replica
    /// never lowers it), then healthy before degraded, then smaller before larger (less data to
    /// rebuild, so a mistake shows up sooner and costs less).
    fn order_key(&self) -> (bool, bool, u64, String) {
        (
            self.healthy_count() > 1,
            self.degraded,
            self.volume.size_bytes().unwrap_or(u64::MAX),
            self.volume.name().to_owned(),
        )
    }
}

/// One stage per volume that is not at exactly one healthy replica per node with
/// `numberOfReplicas` at the target and no per-volume override defeating anti-affinity.
///
/// A node lacking a replica is always filled before anything is removed, so redundancy never
/// drops: the first change raises `numberOfReplicas` by the number of missing nodes (with hard
/// anti-affinity, set by the settings stage, each new replica can only land on a node without
/// one) and waits until they are healthy; the second sets the target, and Longhorn removes the
/// surplus — a failed replica first, else one from the node holding two, exactly the replica the
/// post-condition then expects gone. Deleting a chosen Replica object instead would pick the
/// victim precisely, but a deletion has no inverse (the data is gone), so posture only ever
/// changes `numberOfReplicas`, which the journal can always put back.
pub(crate) fn volumes(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let Some(lh) = cx.snapshot.longhorn.as_ref() else {
        return Ok(Vec::new());
    };
    let target = cx.policy.longhorn.replicas_per_volume;
    if target < cx.nodes.len() as i64 {
        // Only an explained `allowFewerReplicas` gets here: it is for new volumes. Existing ones
        // keep their redundancy; lowering it is a decision to take by hand, volume by volume.
        cx.notes.push(format!(
            "longhorn.replicasPerVolume is {target}, fewer than the {} nodes: existing volumes \
             keep their replicas (posture never lowers a volume's redundancy)",
            cx.nodes.len()
        ));
        return Ok(Vec::new());
    }
    let pods = crate::longhorn_room::LonghornPods::of(cx.snapshot);
    let needs = crate::longhorn_room::NeededOn::of(lh);
    for node in cx.nodes.iter().skip(1) {
        let needed = needs.on(node);
        let problems = crate::longhorn_room::problems_with(cx.snapshot, &pods, node, needed);
        if !problems.is_empty() {
            let why: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
            cx.notes.push(format!(
                "volume stages not planned: {node} cannot take the replicas they would put there \
                 ({}); see the check longhorn.secondary.room",
                why.join("; ")
            ));
            return Ok(Vec::new());
        }
    }
    let mut views: Vec<VolumeView> = lh
        .volumes
        .iter()
        .map(|volume| {
            let mut healthy: BTreeMap<String, Vec<String>> =
                cx.nodes.iter().map(|n| (n.clone(), Vec::new())).collect();
            let mut failed = Vec::new();
            for r in lh
                .replicas
                .iter()
                .filter(|r| r.volume_name() == Some(volume.name()))
            {
                if r.is_failed() {
                    failed.push(r.name().to_owned());
                } else if let Some(node) = r.node_id() {
                    healthy
                        .entry(node.to_owned())
                        .or_default()
                        .push(r.name().to_owned());
                }
            }
            VolumeView {
                volume,
                healthy,
                failed,
                spec_replicas: volume.spec.number_of_replicas.unwrap_or(0),
                degraded: volume.status.robustness.as_deref() != Some("healthy"),
            }
        })
        .collect();
    views.sort_by_key(VolumeView::order_key);
    let mut stages = Vec::new();
    for view in views {
        if let Some(stage) = volume_stage(cx, &view, target)? {
            stages.push(stage);
        }
    }
    Ok(stages)
}

fn override_edits(volume: &Volume) -> Vec<Edit> {
    let mut edits = Vec::new();
    if volume.spec.replica_soft_anti_affinity.as_deref() == Some("enabled") {
        edits.push(Edit::Set(
            path(&["spec", "replicaSoftAntiAffinity"]),
            json!("ignored"),
        ));
    }
    if let Some(v) = volume.spec.replica_auto_balance.as_deref()
        && v != "ignored"
        && v != "disabled"
    {
        edits.push(Edit::Set(
            path(&["spec", "replicaAutoBalance"]),
            json!("ignored"),
        ));
    }
    edits
}

fn volume_stage(
    cx: &mut Context,
    view: &VolumeView,
    target: i64,
) -> Result<Option<StageDraft>, PlanError> {
    let volume = view.volume;
    let name = volume.name();
    let object = volume.object_ref();
    let overrides = override_edits(volume);
    let one_per_node = view.healthy.values().all(|r| r.len() == 1);
    if one_per_node
        && view.spec_replicas == target
        && overrides.is_empty()
        && view.failed.is_empty()
    {
        return Ok(None);
    }
    if (view.covered_nodes() as i64) > target {
        cx.notes.push(format!(
            "volume {name} has healthy replicas on {} nodes, more than the target {target}; \
             posture never lowers a volume's redundancy, so it leaves it alone",
            view.covered_nodes()
        ));
        return Ok(None);
    }
    if view.healthy_count() == 0 {
        cx.notes.push(format!(
            "volume {name} has no healthy replica; posture leaves it alone (restore it first)"
        ));
        return Ok(None);
    }
    let nodes: Vec<String> = cx.nodes.clone();
    let missing = view.missing_nodes();
    let observed = to_json(volume);
    let rv = volume.metadata.resource_version.clone();
    let mut changes = Vec::new();
    let mut current = observed;
    let final_post = PostCondition::VolumeHealthy {
        volume: object.clone(),
        number_of_replicas: target,
        one_replica_per_node: nodes.clone(),
    };
    let mut first_edits = overrides;
    if !missing.is_empty() {
        // Fill the missing nodes first: raise the count over what is healthy now.
        let raised = view.healthy_count() as i64 + missing.len() as i64;
        first_edits.insert(
            0,
            Edit::Set(path(&["spec", "numberOfReplicas"]), json!(raised)),
        );
        if let Some(built) = super::patch_change(&object, &current, &first_edits)? {
            let post = if raised == target {
                final_post.clone()
            } else {
                PostCondition::VolumeReplicas {
                    volume: object.clone(),
                    number_of_replicas: raised,
                    healthy_on: nodes.clone(),
                }
            };
            changes.push(ChangeDraft {
                summary: format!(
                    "numberOfReplicas {} -> {raised}: add a replica on {}",
                    view.spec_replicas,
                    missing.join(", ")
                ),
                object: object.clone(),
                resource_version: rv.clone(),
                owner: owner_of(&volume.metadata),
                action: Action::Patch {
                    forward: built.forward,
                    inverse: built.inverse,
                },
                post_condition: post,
            });
            current = built.after;
        }
        first_edits = Vec::new();
    }
    first_edits.insert(
        0,
        Edit::Set(path(&["spec", "numberOfReplicas"]), json!(target)),
    );
    if let Some(built) = super::patch_change(&object, &current, &first_edits)? {
        let expected_gone = expected_removals(view);
        let from = current
            .pointer("/spec/numberOfReplicas")
            .cloned()
            .unwrap_or(Value::Null);
        changes.push(ChangeDraft {
            summary: format!(
                "numberOfReplicas {from} -> {target}{}",
                if expected_gone.is_empty() {
                    String::new()
                } else {
                    format!("; Longhorn removes {expected_gone}")
                }
            ),
            object: object.clone(),
            resource_version: rv,
            owner: owner_of(&volume.metadata),
            action: Action::Patch {
                forward: built.forward,
                inverse: built.inverse,
            },
            post_condition: final_post,
        });
    }
    let pvc = volume.status.kubernetes_status.as_ref().and_then(|k| {
        Some(format!(
            "{}/{}",
            k.namespace.as_deref()?,
            k.pvc_name.as_deref()?
        ))
    });
    Ok(Some(StageDraft {
        id: format!("volume/{name}"),
        section: Section::Longhorn,
        title: match &pvc {
            Some(pvc) => format!("2.4 Volume {name} ({pvc}): one replica per node"),
            None => format!("2.4 Volume {name}: one replica per node"),
        },
        approval: true,
        rationale: volume_rationale(view, &missing),
        changes,
    }))
}

/// Which replica the final scale-down is expected to remove: failed ones first, else one from
/// a node holding more than one.
fn expected_removals(view: &VolumeView) -> String {
    if !view.failed.is_empty() {
        return format!("the failed replica {}", view.failed.join(", "));
    }
    view.healthy
        .iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(node, r)| format!("one of {} on {node}", r.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn volume_rationale(view: &VolumeView, missing: &[String]) -> String {
    let healthy = view.healthy_count();
    if healthy == 1 {
        format!(
            "Single replica: it gains its second on {} before anything else touches it.",
            missing.join(", ")
        )
    } else if !missing.is_empty() {
        format!(
            "Replicas share a node: add one on {} first and wait until it is healthy, then \
             remove the surplus, so redundancy never drops.",
            missing.join(", ")
        )
    } else {
        "Replicas already cover every node: lower numberOfReplicas to the target and let \
         Longhorn remove the extra."
            .to_owned()
    }
}

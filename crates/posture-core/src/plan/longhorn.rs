//! Longhorn stages: global settings, the StorageClass default for new volumes, then one stage
//! per volume.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::patch::{Edit, path, to_json};
use super::{Action, ChangeDraft, Context, PlanError, PostCondition, StageDraft};
use crate::longhorn::{SettingValue, Volume};
use crate::object::ObjectRef;
use crate::ownership::owner_of;
use crate::report::Section;

/// The runbook's order for the settings it names; any other policy setting follows by name.
const RUNBOOK_SETTING_ORDER: [&str; 5] = [
    "default-replica-count",
    "replica-soft-anti-affinity",
    "replica-auto-balance",
    "replica-replenishment-wait-interval",
    "concurrent-replica-rebuild-per-node-limit",
];

/// Embedded StorageClass manifest in Longhorn's ConfigMap.
const STORAGECLASS_KEY: &str = "storageclass.yaml";
const LAST_APPLIED_CONFIGMAP: &str = "longhorn.io/last-applied-configmap";

pub(crate) fn settings(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let Some(lh) = cx.snapshot.longhorn.as_ref() else {
        return Ok(Vec::new());
    };
    let mut names: Vec<&String> = cx.policy.longhorn.settings.keys().collect();
    names.sort_by_key(|n| {
        (
            RUNBOOK_SETTING_ORDER
                .iter()
                .position(|r| r == n)
                .unwrap_or(usize::MAX),
            n.as_str(),
        )
    });
    let mut changes = Vec::new();
    for name in names {
        let target = &cx.policy.longhorn.settings[name];
        let Some(setting) = lh.settings.iter().find(|s| s.name() == name) else {
            cx.notes.push(format!(
                "Longhorn setting {name} is not in the snapshot; set it to {target} by hand"
            ));
            continue;
        };
        let current = setting
            .parsed()
            .unwrap_or_else(|| SettingValue::Plain(String::new()));
        if current.all(|v| v == target) {
            continue;
        }
        // Keep the cluster's format: per-engine values stay per-engine.
        let wanted = current.with_value(target).to_raw();
        let object = setting.object_ref();
        let edits = [Edit::Set(path(&["value"]), json!(wanted))];
        if let Some(built) = super::patch_change(&object, &to_json(setting), &edits)? {
            changes.push(ChangeDraft {
                summary: format!("{name}: {} -> {wanted}", current.to_raw()),
                post_condition: PostCondition::SettingApplied {
                    setting: object.clone(),
                    value: wanted,
                },
                object,
                resource_version: setting.metadata.resource_version.clone(),
                owner: owner_of(&setting.metadata),
                action: Action::Patch {
                    forward: built.forward,
                    inverse: built.inverse,
                },
            });
        }
    }
    Ok(vec![StageDraft {
        id: "longhorn-settings".into(),
        section: Section::Longhorn,
        title: "2.4 Longhorn global defaults".into(),
        approval: true,
        rationale: "Hard anti-affinity before any volume changes, so every new replica can only \
                    land on the node that lacks one; auto-balance off and one rebuild per node \
                    so the migration cannot start a rebuild storm."
            .into(),
        changes,
    }])
}

fn longhorn_namespace(cx: &Context) -> Option<String> {
    let lh = cx.snapshot.longhorn.as_ref()?;
    lh.settings
        .iter()
        .map(|s| &s.metadata)
        .chain(lh.volumes.iter().map(|v| &v.metadata))
        .find_map(|m| m.namespace.clone())
}

/// Rewrites `numberOfReplicas:` inside the embedded manifest's `parameters`, keeping every other
/// byte (comments, quoting) as it was. `None` when the line is missing or already right.
fn rewrite_replicas(manifest: &str, replicas: i64) -> Option<String> {
    let mut in_parameters = false;
    let mut changed = false;
    let mut out: Vec<String> = Vec::new();
    for line in manifest.split('\n') {
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if !indented && !line.trim().is_empty() {
            in_parameters = line.trim_end() == "parameters:";
        }
        let trimmed = line.trim_start();
        if in_parameters && indented && trimmed.starts_with("numberOfReplicas:") {
            let indent = &line[..line.len() - trimmed.len()];
            let raw = trimmed["numberOfReplicas:".len()..].trim();
            let quote = if raw.starts_with('"') {
                "\""
            } else if raw.starts_with('\'') {
                "'"
            } else {
                ""
            };
            let value = raw.trim_matches(|c| c == '"' || c == '\'');
            if value != replicas.to_string() {
                out.push(format!(
                    "{indent}numberOfReplicas: {quote}{replicas}{quote}"
                ));
                changed = true;
                continue;
            }
        }
        out.push(line.to_owned());
    }
    changed.then(|| out.join("\n"))
}

/// The replica count the embedded manifest asks for, if it parses.
fn embedded_replicas(manifest: &str) -> Option<String> {
    let value: Value = serde_norway::from_str(manifest).ok()?;
    match value.pointer("/parameters/numberOfReplicas")? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// New volumes take their replica count from the Longhorn StorageClass, which Longhorn recreates
/// from its `longhorn-storageclass` ConfigMap: patching the StorageClass itself would be undone
/// (and its parameters are immutable), so the ConfigMap is what changes.
pub(crate) fn storage_class(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let Some(ns) = longhorn_namespace(cx) else {
        return Ok(Vec::new());
    };
    let replicas = cx.policy.longhorn.replicas_per_volume;
    let class = cx
        .snapshot
        .storage_classes
        .iter()
        .find(|sc| sc.provisioner == "driver.longhorn.io" && configmap_name(sc).is_some());
    let cm_name = class
        .and_then(configmap_name)
        .unwrap_or_else(|| "longhorn-storageclass".to_owned());
    let Some(cm) = cx.snapshot.config_maps.iter().find(|c| {
        c.metadata.name.as_deref() == Some(cm_name.as_str())
            && c.metadata.namespace.as_deref() == Some(ns.as_str())
    }) else {
        if class.is_some() {
            cx.notes.push(format!(
                "ConfigMap {ns}/{cm_name} not in the snapshot; set numberOfReplicas {replicas} in Longhorn's StorageClass settings by hand"
            ));
        }
        return Ok(Vec::new());
    };
    let Some(manifest) = cm.data.as_ref().and_then(|d| d.get(STORAGECLASS_KEY)) else {
        return Ok(Vec::new());
    };
    let mut changes = Vec::new();
    if let Some(rewritten) = rewrite_replicas(manifest, replicas)
        && embedded_replicas(&rewritten) == Some(replicas.to_string())
    {
        let object = ObjectRef::of(cm);
        let edits = [Edit::Set(
            path(&["data", STORAGECLASS_KEY]),
            json!(rewritten),
        )];
        if let Some(built) = super::patch_change(&object, &to_json(cm), &edits)? {
            let sc_name = class
                .and_then(|c| c.metadata.name.clone())
                .or_else(|| {
                    let v: Value = serde_norway::from_str(manifest).ok()?;
                    v.pointer("/metadata/name")?.as_str().map(str::to_owned)
                })
                .unwrap_or_else(|| "longhorn".to_owned());
            changes.push(ChangeDraft {
                summary: format!(
                    "StorageClass {sc_name}: numberOfReplicas {} -> {replicas} for new volumes",
                    embedded_replicas(manifest).unwrap_or_default()
                ),
                post_condition: PostCondition::StorageClassParameter {
                    storage_class: sc_name,
                    parameter: "numberOfReplicas".into(),
                    value: replicas.to_string(),
                },
                object,
                resource_version: cm.metadata.resource_version.clone(),
                owner: owner_of(&cm.metadata),
                action: Action::Patch {
                    forward: built.forward,
                    inverse: built.inverse,
                },
            });
        }
    }
    Ok(vec![StageDraft {
        id: "longhorn-storageclass".into(),
        section: Section::Longhorn,
        title: "2.4 Longhorn StorageClass: two replicas for new volumes".into(),
        approval: true,
        rationale: "Volumes created from now on start with one replica per node. Existing \
                    volumes keep their count until their own stage."
            .into(),
        changes,
    }])
}

fn configmap_name(sc: &k8s_openapi::api::storage::v1::StorageClass) -> Option<String> {
    sc.metadata
        .annotations
        .as_ref()?
        .get(LAST_APPLIED_CONFIGMAP)
        .cloned()
}

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
    if view.healthy_count() == 0 {
        cx.notes.push(format!(
            "volume {name} has no healthy replica; posture leaves it alone (restore it first)"
        ));
        return Ok(None);
    }
    let nodes: Vec<String> = view.healthy.keys().cloned().collect();
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
                    "{name}: numberOfReplicas {} -> {raised}: add a replica on {}",
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
                "{name}: numberOfReplicas {from} -> {target}{}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_parameter_line() {
        let manifest = "kind: StorageClass\nmetadata:\n  name: longhorn\nparameters:\n  numberOfReplicas: \"3\"\n  fsType: \"ext4\"\n";
        let out = rewrite_replicas(manifest, 2).expect("changed");
        assert_eq!(out, manifest.replace("\"3\"", "\"2\""));
        assert_eq!(embedded_replicas(&out).as_deref(), Some("2"));
        assert!(rewrite_replicas(&out, 2).is_none());
    }
}

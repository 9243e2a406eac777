//! 2.4 The Longhorn StorageClass: new volumes get one replica per node.

use serde_json::{Value, json};

use super::longhorn::longhorn_namespace;
use super::patch::{Edit, path, to_json};
use super::{Action, ChangeDraft, Context, PlanError, PostCondition, StageDraft};
use crate::object::ObjectRef;
use crate::ownership::owner_of;
use crate::report::Section;

/// Embedded StorageClass manifest in Longhorn's ConfigMap.
const STORAGECLASS_KEY: &str = "storageclass.yaml";
const LAST_APPLIED_CONFIGMAP: &str = "longhorn.io/last-applied-configmap";

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

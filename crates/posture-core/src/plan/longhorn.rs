//! 2.4 Longhorn global settings, written in whichever value format the cluster uses.

use serde_json::json;

use super::patch::{Edit, path, to_json};
use super::{Action, ChangeDraft, Context, PlanError, PostCondition, StageDraft};
use crate::longhorn::SettingValue;
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
                summary: format!("{} -> {wanted}", current.to_raw()),
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

pub(super) fn longhorn_namespace(cx: &Context) -> Option<String> {
    let lh = cx.snapshot.longhorn.as_ref()?;
    lh.settings
        .iter()
        .map(|s| &s.metadata)
        .chain(lh.volumes.iter().map(|v| &v.metadata))
        .find_map(|m| m.namespace.clone())
}

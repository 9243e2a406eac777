//! Changes to objects that Argo CD, Flux, Helm or k3s own: their owner would revert a live
//! patch (the flapping the runbook warns about), so by default the change becomes a file for the
//! owner's source instead.

use json_patch::Patch;
use serde_json::{Value, json};

use super::patch::without_tests;
use super::{Action, ChangeDraft, Delivery, PlanOptions};
use crate::object::ObjectRef;
use crate::ownership::Owner;

/// Where k3s keeps the manifests of its packaged components.
const K3S_MANIFESTS: &str = "/var/lib/rancher/k3s/server/manifests";

pub(crate) fn delivery(change: &ChangeDraft, options: &PlanOptions) -> Delivery {
    let Some(owner) = &change.owner else {
        return Delivery::Live;
    };
    if options.allow_owned {
        return Delivery::Live;
    }
    let Action::Patch { forward, .. } = &change.action else {
        return Delivery::Live;
    };
    Delivery::SourceFile {
        file_name: file_name(&change.object),
        content: kustomize_patch(&change.object, owner, forward),
        instructions: instructions(owner),
    }
}

fn file_name(object: &ObjectRef) -> String {
    let ns = object
        .namespace
        .as_deref()
        .map(|n| format!("{n}-"))
        .unwrap_or_default();
    format!(
        "posture-{}-{ns}{}.patch.yaml",
        object.kind.to_ascii_lowercase(),
        object.name
    )
}

/// A kustomize `patches` entry carrying the JSON Patch without its `test`s: the source holds
/// the desired state, not the values posture happened to observe.
fn kustomize_patch(object: &ObjectRef, owner: &Owner, forward: &Patch) -> String {
    let (group, version) = match object.api_version.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), object.api_version.clone()),
    };
    let ops = serde_json::to_value(without_tests(forward)).unwrap_or(Value::Null);
    let ops_yaml = serde_norway::to_string(&ops).unwrap_or_default();
    let mut target = json!({"version": version, "kind": object.kind, "name": object.name});
    if !group.is_empty() {
        target["group"] = json!(group);
    }
    if let Some(ns) = &object.namespace {
        target["namespace"] = json!(ns);
    }
    let doc = json!({"patches": [{"target": target, "patch": ops_yaml}]});
    format!(
        "# {object} is managed by {}; a live patch would be reverted.\n# Add this to its source (kustomization.yaml, or the equivalent chart values).\n{}",
        owner.describe(),
        serde_norway::to_string(&doc).unwrap_or_default()
    )
}

fn instructions(owner: &Owner) -> Vec<String> {
    let mut lines = vec![format!(
        "{} owns this object and would revert a live patch; commit the patch file to its source (or rerun plan with --allow-owned to patch live anyway)",
        owner.describe()
    )];
    if let Owner::K3sAddon { name } = owner {
        lines.push(format!(
            "k3s re-applies {K3S_MANIFESTS}/{name}.yaml on every restart: to keep a change, create {K3S_MANIFESTS}/{name}.yaml.skip on each server, or start k3s with --disable {name} and manage {name} as your own manifest"
        ));
    }
    lines
}

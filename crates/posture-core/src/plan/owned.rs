//! Changes to objects that Argo CD, Flux, Helm or k3s own: their owner would revert a live
//! patch (the flapping the runbook warns about), so by default the change becomes a file for the
//! owner's source instead.

use json_patch::Patch;
use serde_json::{Value, json};

use super::patch::without_tests;
use super::{Action, ChangeDraft, Delivery, PlanOptions};
use crate::host::{HostFacts, HostRole};
use crate::object::ObjectRef;
use crate::ownership::Owner;
use crate::snapshot::{GitOps, Snapshot};

/// Where k3s keeps the manifests of its packaged components.
const K3S_MANIFESTS: &str = "/var/lib/rancher/k3s/server/manifests";

/// How `change` reaches the cluster. `host_facts` are what `posture host` read on the servers:
/// a k3s addon whose manifest every server skips is no longer re-applied, so a live change to
/// it stays and is delivered live (and said so in `notes`).
pub(crate) fn delivery(
    change: &ChangeDraft,
    options: &PlanOptions,
    snapshot: &Snapshot,
    notes: &mut Vec<String>,
) -> Delivery {
    let host_facts = snapshot.host_facts.as_slice();
    let Some(owner) = &change.owner else {
        return Delivery::Live;
    };
    if options.allow_owned {
        return Delivery::Live;
    }
    let Action::Patch { forward, .. } = &change.action else {
        return Delivery::Live;
    };
    let mut instructions = instructions(owner);
    if matches!(owner, Owner::ArgoCd { .. } | Owner::Flux { .. }) {
        instructions.extend(gitops_sources(owner, &snapshot.gitops));
    }
    if let Owner::K3sAddon { name } = owner {
        match skipped_on_servers(name, host_facts) {
            Skips::Everywhere(seen) => {
                notes.push(format!(
                    "{} is a k3s packaged addon, but k3s no longer applies its manifest (seen: {}): {} is changed live and stays",
                    change.object,
                    seen.join(", "),
                    change.summary
                ));
                return Delivery::Live;
            }
            Skips::Partly { skipped, not } => instructions.push(format!(
                "{name}.yaml.skip is on {} but not on {}: k3s on those servers would still put the change back",
                skipped.join(", "),
                not.join(", ")
            )),
            Skips::Nowhere(hosts) if !hosts.is_empty() => instructions.push(format!(
                "no {name}.yaml.skip on {} (read by `posture host`)",
                hosts.join(", ")
            )),
            Skips::Nowhere(_) => {}
        }
    }
    if let Owner::Helm { release, chart } = owner {
        return helm_delivery(&change.object, release, chart.as_deref(), forward);
    }
    Delivery::SourceFile {
        file_name: file_name(&change.object),
        content: kustomize_patch(&change.object, owner, forward),
        instructions,
    }
}

/// A Helm-managed object's change as the chart values that render it.
fn helm_delivery(
    object: &ObjectRef,
    release: &str,
    chart: Option<&str>,
    forward: &Patch,
) -> Delivery {
    let (values, unmapped) = super::helm_values::values_for(chart, &without_tests(forward));
    let name = file_name(object).replace(".patch.yaml", ".values.yaml");
    let namespace = object.namespace.as_deref().unwrap_or("default");
    let chart_words = chart.map(|c| format!(" (chart {c})")).unwrap_or_default();
    let chart_ref = chart.map(super::helm_values::chart_name).unwrap_or("CHART");
    let mut content = format!(
        "# {object} is rendered by Helm release {release}{chart_words}; a live patch is undone by the next helm upgrade.\n# helm upgrade {release} <repo>/{chart_ref} -n {namespace} --reuse-values -f {name}\n"
    );
    if values.as_object().is_some_and(|v| !v.is_empty()) {
        content.push_str(&serde_norway::to_string(&values).unwrap_or_default());
    }
    for field in &unmapped {
        content.push_str(&format!("# no known value of this chart sets {field}\n"));
    }
    let mut instructions = vec![format!(
        "Helm release {release}{chart_words} renders this object: set these values in the release (helm upgrade {release} <repo>/{chart_ref} -n {namespace} --reuse-values -f {name}), or in the values file the release is deployed from; `helm get values {release} -n {namespace}` shows what it sets now"
    )];
    if !unmapped.is_empty() {
        instructions.push(format!(
            "{} field(s) have no known value in this chart: find the value that sets them in `helm show values {chart_ref}`, or ask the chart for it: {}",
            unmapped.len(),
            unmapped.join("; ")
        ));
    }
    Delivery::SourceFile {
        file_name: name,
        content,
        instructions,
    }
}

/// Whether the servers whose files were read skip an addon's manifest.
enum Skips {
    /// Every server read skips it: the `.skip` files seen.
    Everywhere(Vec<String>),
    Partly {
        skipped: Vec<String>,
        not: Vec<String>,
    },
    /// No server read skips it (the hosts read; none when no facts were given).
    Nowhere(Vec<String>),
}

fn skipped_on_servers(addon: &str, host_facts: &[HostFacts]) -> Skips {
    let servers: Vec<&HostFacts> = host_facts
        .iter()
        .filter(|f| f.role != HostRole::Agent)
        .collect();
    let (skipped, not): (Vec<&HostFacts>, Vec<&HostFacts>) =
        servers.iter().partition(|f| f.addons.is_skipped(addon));
    let hosts = |facts: &[&HostFacts]| facts.iter().map(|f| f.host.clone()).collect::<Vec<_>>();
    match (skipped.is_empty(), not.is_empty()) {
        (false, true) => Skips::Everywhere(
            skipped
                .iter()
                .map(|f| format!("{}/{addon}.yaml.skip on {}", f.addons.manifests_dir, f.host))
                .collect(),
        ),
        (false, false) => Skips::Partly {
            skipped: hosts(&skipped),
            not: hosts(&not),
        },
        (true, _) => Skips::Nowhere(hosts(&not)),
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

/// Where an Argo CD or Flux owner takes the object from: the repository and path to commit the
/// patch to.
fn gitops_sources(owner: &Owner, gitops: &GitOps) -> Vec<String> {
    let found = crate::gitops::owned_by(&gitops.applications, &gitops.flux, owner);
    if found.is_empty() {
        return vec![format!(
            "{} is not among the objects the snapshot lists (not installed where posture can read it), so its repository and path are not known here",
            owner.describe()
        )];
    }
    found
        .into_iter()
        .map(|o| {
            format!(
                "source: {} (commit the patch file there)",
                crate::gitops::source_words(o)
            )
        })
        .collect()
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
        lines.push(
            "k3s puts back only the fields its manifest sets: one it leaves out (CoreDNS's replicas) survives a restart, but the spread, resources and probes it sets are put back, and more replicas without their spread may share one node, so the change goes whole (docs/k3s.md); with the .skip file on every server, `posture host` there and `plan --host-facts` deliver it live".to_owned(),
        );
    }
    lines
}

//! Workload stages: pin unguarded apps to the primary (preconditions), and the helpers the
//! ingress and CoreDNS stages share.

use std::collections::BTreeMap;

use crate::snapshot::Snapshot;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{NodeSelector, PodSpec};
use serde_json::{Value, json};

use super::patch::{Edit, path, to_json};
use super::{Action, ChangeDraft, Context, Placement, PlanError, PostCondition, StageDraft};
use crate::object::ObjectRef;
use crate::ownership::owner_of;
use crate::report::Section;
use crate::workload::{self, Workload};

pub(super) const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
/// The cordon taint. Platform pods that must run on both nodes tolerate it, as DaemonSets do;
/// apps do not, so the cordon keeps them on the primary as the runbook wants.
use crate::facts::UNSCHEDULABLE_TAINT;

/// The ingress controller as `posture check` recognises it (image, labels, or the one the
/// policy names), so the plan changes exactly the controller the check judged.
pub(super) fn is_ingress_controller(cx: &Context, d: &Deployment) -> bool {
    workload::is_ingress_controller(&Workload::of_deployment(d), cx.policy)
}

/// CoreDNS as `posture check` recognises it.
pub(super) fn is_coredns(d: &Deployment) -> bool {
    workload::is_coredns(&Workload::of_deployment(d))
}

pub(super) fn pod_spec(d: &Deployment) -> Option<&PodSpec> {
    d.spec.as_ref()?.template.spec.as_ref()
}

pub(super) fn namespace_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

/// Namespaces whose workloads are the platform, not apps: the Kubernetes system namespaces and
/// Longhorn's.
fn is_platform_namespace(cx: &Context, ns: &str) -> bool {
    let longhorn_ns = cx
        .snapshot
        .longhorn
        .as_ref()
        .and_then(|lh| lh.settings.first())
        .and_then(|s| s.metadata.namespace.as_deref());
    ns.starts_with("kube-") || Some(ns) == longhorn_ns
}

pub(super) fn tolerates_cordon(spec: &PodSpec) -> bool {
    spec.tolerations.as_ref().is_some_and(|ts| {
        ts.iter().any(|t| {
            t.key.as_deref() == Some(UNSCHEDULABLE_TAINT)
                || (t.key.is_none() && t.operator.as_deref() == Some("Exists"))
        })
    })
}

/// Edits that free a pod template from being pinned to one host: the hostname key of its
/// nodeSelector, and required node affinity that names hostnames only. A spread workload
/// must be allowed onto every node.
pub(super) fn unpin_edits(spec: &PodSpec) -> Vec<Edit> {
    let mut edits = vec![Edit::Remove(path(&[
        "spec",
        "template",
        "spec",
        "nodeSelector",
        HOSTNAME_KEY,
    ]))];
    let hostname_only = required_node_affinity(spec).is_some_and(|req| {
        req.node_selector_terms.iter().all(|term| {
            term.match_fields.as_ref().is_none_or(Vec::is_empty)
                && term
                    .match_expressions
                    .as_ref()
                    .is_some_and(|exprs| exprs.iter().all(|e| e.key == HOSTNAME_KEY))
        })
    });
    if hostname_only {
        edits.push(remove_required_node_affinity());
    }
    edits
}

/// The pod template's required node affinity, if it has one.
pub(super) fn required_node_affinity(spec: &PodSpec) -> Option<&NodeSelector> {
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
}

/// Removes the pod template's required node affinity.
pub(super) fn remove_required_node_affinity() -> Edit {
    Edit::Remove(path(&[
        "spec",
        "template",
        "spec",
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ]))
}

/// An app lacks guardrails when nothing in its pod template keeps it on one node.
fn lacks_guardrails(spec: &PodSpec) -> bool {
    let selector = spec
        .node_selector
        .as_ref()
        .is_some_and(|s| s.contains_key(HOSTNAME_KEY));
    !selector && required_node_affinity(spec).is_none()
}

/// Preconditions: apps without a placement guardrail are pinned to the primary before anything
/// opens the secondary to scheduling.
///
/// The guardrail is `nodeSelector: {kubernetes.io/hostname: <primary>}` rather than required
/// node affinity: a nodeSelector is ANDed with any affinity a chart adds later, so it can only
/// narrow placement; it is one key, so its `test` and its inverse (remove that key) touch
/// nothing else; and it is what the runbook's other apps already use.
pub(crate) fn preconditions(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let mut changes = Vec::new();
    let mut candidates: Vec<(ObjectRef, Value, Option<String>, i32, &PodSpec, _)> = Vec::new();
    for d in &cx.snapshot.deployments {
        if let Some(spec) = pod_spec(d)
            && !is_coredns(d)
            && !is_ingress_controller(cx, d)
        {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            candidates.push((
                ObjectRef::of(d),
                to_json(d),
                d.metadata.resource_version.clone(),
                replicas,
                spec,
                owner_of(&d.metadata),
            ));
        }
    }
    for s in &cx.snapshot.stateful_sets {
        if let Some(spec) = s.spec.as_ref().and_then(|sp| sp.template.spec.as_ref()) {
            let replicas = s.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1);
            candidates.push((
                ObjectRef::of(s),
                to_json(s),
                s.metadata.resource_version.clone(),
                replicas,
                spec,
                owner_of(&s.metadata),
            ));
        }
    }
    for (object, observed, rv, replicas, spec, owner) in candidates {
        let ns = object.namespace.as_deref().unwrap_or_default();
        if is_platform_namespace(cx, ns) || tolerates_cordon(spec) || !lacks_guardrails(spec) {
            continue;
        }
        let edits = [Edit::Set(
            path(&["spec", "template", "spec", "nodeSelector", HOSTNAME_KEY]),
            json!(cx.primary),
        )];
        if let Some(built) = super::patch_change(&object, &observed, &edits)? {
            changes.push(ChangeDraft {
                summary: format!(
                    "pin to {} with a nodeSelector (it has no placement guardrail)",
                    cx.primary
                ),
                post_condition: PostCondition::RolloutComplete {
                    workload: object.clone(),
                    replicas,
                    placement: Placement::AllOn {
                        node: cx.primary.clone(),
                    },
                },
                object,
                resource_version: rv,
                owner,
                action: Action::Patch {
                    forward: built.forward,
                    inverse: built.inverse,
                },
            });
        }
    }
    Ok(vec![StageDraft {
        id: "preconditions".into(),
        section: Section::Preconditions,
        title: "Pin apps without guardrails to the primary".into(),
        approval: false,
        rationale: "No surprise scheduling: every app stays on the primary until explicitly \
                    migrated, so apps that nothing keeps there are pinned before the secondary \
                    is opened to platform pods. Pinning rolls the app's pods once."
            .into(),
        changes,
    }])
}

pub(super) fn match_labels(d: &Deployment) -> BTreeMap<String, String> {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
}

/// Index of the container to edit: the one whose image matches, else the first.
pub(super) fn container_index(spec: &PodSpec, image_hint: &str) -> usize {
    spec.containers
        .iter()
        .position(|c| c.image.as_deref().unwrap_or_default().contains(image_hint))
        .unwrap_or(0)
}

pub(super) fn container_path(index: usize, rest: &[&str]) -> Vec<String> {
    let mut p = path(&["spec", "template", "spec", "containers"]);
    p.push(index.to_string());
    p.extend(rest.iter().map(|s| (*s).to_owned()));
    p
}

/// Tolerations with the cordon toleration appended, if missing.
pub(super) fn tolerations_with_cordon(spec: &PodSpec) -> Option<Value> {
    if tolerates_cordon(spec) {
        return None;
    }
    let mut list = match serde_json::to_value(spec.tolerations.clone().unwrap_or_default()) {
        Ok(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    list.push(json!({"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}));
    Some(Value::Array(list))
}

/// A PodDisruptionBudget letting one of the Deployment's pods go at a time: created when none
/// covers it, and an existing one that forbids every eviction (which would hold every drain for
/// good) changed to `maxUnavailable: 1`.
pub(super) fn pdb_change(
    cx: &Context,
    d: &Deployment,
    name: &str,
    replicas: i32,
) -> Result<Option<ChangeDraft>, PlanError> {
    let ns = namespace_of(&d.metadata);
    let labels = match_labels(d);
    let covering = cx.snapshot.pod_disruption_budgets.iter().find(|p| {
        p.metadata.namespace.as_deref() == Some(ns)
            && p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref())
                == Some(&labels)
    });
    if let Some(budget) = covering {
        let expected = budget
            .status
            .as_ref()
            .map(|s| s.expected_pods)
            .filter(|n| *n > 0)
            .map_or(replicas, |n| n.max(replicas));
        let Some((_, _, why)) =
            crate::checks::drain_budgets::forbids_every_eviction(budget, Some(expected))
        else {
            return Ok(None);
        };
        let object = ObjectRef::of(budget);
        let edits = [
            Edit::Remove(path(&["spec", "minAvailable"])),
            Edit::Set(path(&["spec", "maxUnavailable"]), json!(1)),
        ];
        let Some(built) = super::patch_change(&object, &to_json(budget), &edits)? else {
            return Ok(None);
        };
        return Ok(Some(ChangeDraft {
            summary: format!("at most one pod down at a time, so a drain can finish ({why})"),
            post_condition: PostCondition::ObjectExists {
                object: object.clone(),
            },
            resource_version: budget.metadata.resource_version.clone(),
            owner: crate::ownership::owner_of(&budget.metadata),
            action: Action::Patch {
                forward: built.forward,
                inverse: built.inverse,
            },
            object,
        }));
    }
    if labels.is_empty() {
        return Ok(None);
    }
    let object = ObjectRef::new("policy/v1", "PodDisruptionBudget", Some(ns), name);
    let (key, value) = super::MANAGED_BY_LABEL;
    Ok(Some(ChangeDraft {
        summary: "create: at most one pod down at a time".to_owned(),
        post_condition: PostCondition::ObjectExists {
            object: object.clone(),
        },
        resource_version: None,
        owner: None,
        action: Action::Create {
            manifest: json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": ns, "labels": {key: value}},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
            }),
        },
        object,
    }))
}

pub(super) fn spread(labels: &BTreeMap<String, String>, when: &str) -> Value {
    json!([{
        "maxSkew": 1,
        "topologyKey": HOSTNAME_KEY,
        "whenUnsatisfiable": when,
        "labelSelector": {"matchLabels": labels},
    }])
}

/// A hard spread for a Deployment, with `matchLabelKeys: [pod-template-hash]` where the control
/// plane supports it (1.27+), so a rolling update spreads the new revision's pods on their own
/// instead of counting the old ones it is replacing.
pub(super) fn hard_spread(labels: &BTreeMap<String, String>, snapshot: &Snapshot) -> Value {
    let mut constraints = spread(labels, "DoNotSchedule");
    if crate::facts::supports_match_label_keys(snapshot) == Some(true)
        && let Some(first) = constraints.get_mut(0)
    {
        first["matchLabelKeys"] = json!([POD_TEMPLATE_HASH]);
    }
    constraints
}

/// The label the Deployment controller puts on each revision's pods.
pub(crate) const POD_TEMPLATE_HASH: &str = "pod-template-hash";

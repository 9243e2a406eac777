//! 2.2 Ingress for a controller installed as a DaemonSet: it is one per node by construction,
//! but only on the nodes its template admits. A Helm chart's `nodeSelector` on the primary, a
//! required node affinity, or a taint it does not tolerate keeps it off the secondary, and
//! losing the primary then leaves the ingress Service without an endpoint. The plan removes
//! what pins it (the selector keys a node lacks, a required node affinity that leaves a node
//! out) and tolerates the taints that keep it off a node. A DaemonSet owned by a Helm release
//! or an Argo CD Application is changed through its owner, like any owned object.

use serde_json::{Value, json};

use super::patch::{Edit, path, to_json};
use super::{Action, ChangeDraft, Context, Placement, PlanError, PostCondition, StageDraft};
use crate::drill::observed::DRILL_TAINT_KEY;
use crate::drill::schedule::daemon_rejections;
use crate::drill::{Filter, Rejection};
use crate::object::ObjectRef;
use crate::ownership::owner_of;
use crate::report::Section;
use crate::workload::{self, Kind, Workload};

pub(super) fn plan(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let found = cx.snapshot.daemon_sets.iter().find(|ds| {
        let w = Workload {
            kind: Kind::DaemonSet,
            object: ObjectRef::of(*ds),
            meta: &ds.metadata,
            template: ds.spec.as_ref().map(|s| &s.template),
            replicas: None,
            rollout: workload::Rollout::InPlace,
        };
        workload::is_ingress_controller(&w, cx.policy)
    });
    let Some(ds) = found else {
        cx.notes.push(
            "no ingress controller Deployment or DaemonSet found; ingress not planned".into(),
        );
        return Ok(Vec::new());
    };
    let object = ObjectRef::of(ds);
    let Some(template) = ds.spec.as_ref().map(|s| &s.template) else {
        return Ok(Vec::new());
    };
    let Some(spec) = template.spec.as_ref() else {
        return Ok(Vec::new());
    };
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let namespace = object.namespace.clone().unwrap_or_default();
    // The nodes the plan spreads over, as the snapshot shows them.
    let planned: Vec<_> = (cx.snapshot.nodes.iter())
        .filter(|n| {
            n.metadata
                .name
                .as_ref()
                .is_some_and(|name| cx.nodes.contains(name))
        })
        .collect();
    let rejections: Vec<Rejection> = (planned.iter())
        .flat_map(|node| daemon_rejections(&object, &namespace, &labels, spec, node))
        .collect();
    if rejections.is_empty() {
        cx.notes.push(format!(
            "{object}: the ingress controller runs as a DaemonSet on every node; nothing to plan"
        ));
        return Ok(Vec::new());
    }
    let mut edits = Vec::new();
    if rejections.iter().any(|r| r.filter == Filter::NodeAffinity) {
        let selector = spec.node_selector.clone().unwrap_or_default();
        for (key, value) in &selector {
            let every_node_has_it = (planned.iter())
                .all(|n| n.metadata.labels.as_ref().and_then(|l| l.get(key)) == Some(value));
            if !every_node_has_it {
                edits.push(Edit::Remove(path(&[
                    "spec",
                    "template",
                    "spec",
                    "nodeSelector",
                    key,
                ])));
            }
        }
        if super::workloads::required_node_affinity(spec).is_some() {
            edits.push(super::workloads::remove_required_node_affinity());
        }
    }
    let untolerated: Vec<Value> = (cx.snapshot.nodes.iter())
        .filter(|n| {
            rejections
                .iter()
                .any(|r| r.filter == Filter::Taint && n.metadata.name.as_deref() == Some(&r.node))
        })
        .flat_map(|n| {
            n.spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default()
        })
        .filter(|t| {
            t.key != DRILL_TAINT_KEY && matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
        })
        .map(|t| {
            let mut toleration = json!({"key": t.key, "effect": t.effect});
            match t.value.as_deref().filter(|v| !v.is_empty()) {
                Some(value) => {
                    toleration["operator"] = json!("Equal");
                    toleration["value"] = json!(value);
                }
                None => toleration["operator"] = json!("Exists"),
            }
            toleration
        })
        .collect();
    if !untolerated.is_empty() {
        let mut tolerations: Vec<Value> = (spec.tolerations.as_deref().unwrap_or_default())
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
            .collect();
        for toleration in untolerated {
            if !tolerations.contains(&toleration) {
                tolerations.push(toleration);
            }
        }
        edits.push(Edit::Set(
            path(&["spec", "template", "spec", "tolerations"]),
            Value::Array(tolerations),
        ));
    }
    let observed = to_json(ds);
    let Some(built) = super::patch_change(&object, &observed, &edits)? else {
        cx.notes.push(format!(
            "{object}: the ingress controller DaemonSet is kept off a node by something posture does not change ({}); not planned",
            rejections.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>().join("; ")
        ));
        return Ok(Vec::new());
    };
    let why: Vec<String> = rejections
        .iter()
        .map(|r| format!("{}: {}", r.node, r.detail))
        .collect();
    Ok(vec![StageDraft {
        id: "ingress".into(),
        section: Section::Ingress,
        title: "2.2 Ingress: one controller per node".into(),
        approval: false,
        rationale: format!(
            "The ingress controller runs as a DaemonSet, but not on every node ({}). Freed of \
             what pins it, it runs one pod per node and keeps ingress up through the loss of \
             either node.",
            why.join("; ")
        ),
        changes: vec![ChangeDraft {
            summary: "run on every node: remove what pins it, tolerate what keeps it off".into(),
            post_condition: PostCondition::RolloutComplete {
                workload: object.clone(),
                replicas: cx.nodes.len() as i32,
                placement: Placement::OnePerNode {
                    nodes: cx.nodes.clone(),
                },
            },
            object: object.clone(),
            resource_version: ds.metadata.resource_version.clone(),
            owner: owner_of(&ds.metadata),
            action: Action::Patch {
                forward: built.forward,
                inverse: built.inverse,
            },
        }],
    }])
}

//! The runbook's "Act" during a storm as plans: each counter-move `posture watch --act` offers
//! becomes a one-stage [`Plan`] that the apply engine runs like any other, with the cluster
//! lock, a server dry-run, the journal, read-back of writes in doubt and retries. Only the flap
//! gate is off: a counter-move runs during the storm it answers.

use serde_json::{Value, json};

use crate::ObjectRef;
use crate::Section;
use crate::drill::observed::DRILL_TAINT_KEY;
pub use crate::facts::UNSCHEDULABLE_TAINT;
use crate::plan::patch::{Edit, PatchBuildError, PinnedPatch, build, path};
use crate::plan::{Change, ClusterIdentity, ObservedVersion, Plan, Stage};

/// An action a person may approve while watching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Cordon the secondary node again, so nothing new lands on the node that comes and goes.
    Cordon { node: String },
    /// Pin a workload that has storage but no placement of its own to the primary, so it stops
    /// following the secondary around.
    Pin { workload: ObjectRef, node: String },
    /// `concurrent-replica-rebuild-per-node-limit` to 0: no new rebuilds start.
    StopRebuilds,
    /// `replica-auto-balance` to `disabled`: Longhorn stops moving replicas around.
    DisableAutoBalance,
    /// A drain drill's cordon and its own NoSchedule taint
    /// ([`DRILL_TAINT_KEY`](crate::drill::observed::DRILL_TAINT_KEY)), so that pods which
    /// tolerate a cordon are not scheduled back onto the node being drained.
    DrillTaint { node: String },
}

/// The object an action edits, as far as it is known without reading the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Node(String),
    Workload(ObjectRef),
    /// A Longhorn Setting; its namespace is wherever Longhorn runs.
    Setting {
        name: &'static str,
        value: &'static str,
    },
}

impl Act {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cordon { .. } => "cordon-secondary",
            Self::Pin { .. } => "pin-to-primary",
            Self::StopRebuilds => "stop-rebuilds",
            Self::DisableAutoBalance => "disable-auto-balance",
            Self::DrillTaint { .. } => "drill-taint",
        }
    }

    /// What else the action stops, said before anyone approves it.
    pub fn caveat(&self) -> Option<&'static str> {
        match self {
            // Longhorn moves data only by rebuilding a replica somewhere new.
            Self::StopRebuilds => Some(
                "with the limit at 0 Longhorn starts no rebuild at all: replica eviction (a \
                 drain's, or a disk's or node's eviction request) and data locality stop too, and \
                 a degraded volume stays degraded until the limit is raised again (`posture \
                 rollback --journal FILE`)",
            ),
            Self::DisableAutoBalance => Some(
                "replicas stay where they are: a node that comes back, or a new one, gets no \
                 replica moved onto it until auto-balance is set again",
            ),
            Self::Cordon { .. } | Self::Pin { .. } | Self::DrillTaint { .. } => None,
        }
    }

    pub fn target(&self) -> Target {
        match self {
            Self::Cordon { node } | Self::DrillTaint { node } => Target::Node(node.clone()),
            Self::Pin { workload, .. } => Target::Workload(workload.clone()),
            Self::StopRebuilds => Target::Setting {
                name: "concurrent-replica-rebuild-per-node-limit",
                value: "0",
            },
            Self::DisableAutoBalance => Target::Setting {
                name: "replica-auto-balance",
                value: "disabled",
            },
        }
    }

    /// The edits, fitted to the object as observed (a cordon keeps the node's other taints).
    pub fn edits(&self, observed: &Value) -> Vec<Edit> {
        match self {
            Self::Cordon { .. } => cordon_edits(observed),
            Self::DrillTaint { .. } => drill_taint_edits(observed),
            Self::Pin { node, .. } => vec![Edit::Set(
                path(&[
                    "spec",
                    "template",
                    "spec",
                    "nodeSelector",
                    "kubernetes.io/hostname",
                ]),
                json!(node),
            )],
            Self::StopRebuilds | Self::DisableAutoBalance => match self.target() {
                Target::Setting { value, .. } => setting_edits(value),
                _ => Vec::new(),
            },
        }
    }
}

/// Cordoning edits: `spec.unschedulable` and the unschedulable NoSchedule taint the node
/// lifecycle controller would add anyway. Setting the taint here makes both the patch and its
/// inverse pin the node's taints, so a rollback never uncordons a node someone has since
/// re-cordoned or tainted differently (it stops on the conflict instead).
///
/// # Caveats
/// A taint the control plane adds meanwhile (a NotReady node's `unreachable`) also counts as a
/// change: the rollback then stops and shows the taints, and the person decides.
pub fn cordon_edits(node: &Value) -> Vec<Edit> {
    let mut taints = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !taints
        .iter()
        .any(|t| t["key"] == UNSCHEDULABLE_TAINT && t["effect"] == "NoSchedule")
    {
        taints.push(json!({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}));
    }
    vec![
        Edit::Set(path(&["spec", "unschedulable"]), json!(true)),
        Edit::Set(path(&["spec", "taints"]), Value::Array(taints)),
    ]
}

/// A cordon plus the drill's own taint, keeping the node's other taints.
fn drill_taint_edits(node: &Value) -> Vec<Edit> {
    let mut edits = cordon_edits(node);
    if let Some(Edit::Set(_, Value::Array(taints))) = edits.last_mut()
        && !taints.iter().any(|t| t["key"] == DRILL_TAINT_KEY)
    {
        taints.push(json!({"key": DRILL_TAINT_KEY, "effect": "NoSchedule"}));
    }
    edits
}

fn setting_edits(value: &str) -> Vec<Edit> {
    vec![Edit::Set(path(&["value"]), json!(value))]
}

/// The pinned patch setting a Longhorn Setting's value; `None` when it already holds it.
pub fn setting_patch(
    observed: &Value,
    value: &str,
) -> Result<Option<PinnedPatch>, PatchBuildError> {
    build(observed, &setting_edits(value))
}

/// The stage id an action's plan (and its journal records) use.
pub fn stage_id(act: &Act) -> String {
    format!("act-{}", act.name())
}

/// The one-stage plan that carries out `act` on `object`, observed as `observed`; `None` when
/// the object already looks the way the action wants.
///
/// The change is named after the object (`namespace/name`, or the name of a cluster-scoped
/// one), as `posture rollback` names it when it rebuilds the plan from an act journal.
pub fn plan(
    act: &Act,
    object: &ObjectRef,
    observed: &Value,
    cluster: ClusterIdentity,
) -> Result<Option<Plan>, PatchBuildError> {
    let Some(pinned) = build(observed, &act.edits(observed))? else {
        return Ok(None);
    };
    let resource_version = observed
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = match &object.namespace {
        Some(namespace) => format!("{namespace}/{}", object.name),
        None => object.name.clone(),
    };
    let stage = stage_id(act);
    let change = Change::live_patch(
        id,
        format!("{stage} on {object}"),
        object.clone(),
        resource_version.clone(),
        pinned.forward,
        pinned.inverse,
    );
    let plan = Plan::outside_planner(
        cluster,
        format!("watch --act {}", act.name()),
        vec![ObservedVersion {
            object: object.clone(),
            resource_version,
        }],
        vec![Stage {
            id: stage,
            section: Section::Risks,
            title: format!("watch --act {}", act.name()),
            runbook_approval_required: false,
            rationale: "the runbook's Act during a storm".into(),
            changes: vec![change],
        }],
    );
    Ok(Some(plan))
}

/// True when an alert subject names the object: `namespace/name` itself, or something under it
/// (`namespace/name/...`, a pod `namespace/name-...`); without a namespace, any path segment.
pub fn alert_names(alerts: &[String], namespace: Option<&str>, name: &str) -> bool {
    alerts.iter().any(|subject| match namespace {
        Some(ns) => {
            let own = format!("{ns}/{name}");
            subject == &own
                || subject.starts_with(&format!("{own}/"))
                || subject.starts_with(&format!("{own}-"))
        }
        None => subject.split('/').any(|segment| segment == name),
    })
}

pub mod argo;
pub mod restore;

#[cfg(test)]
mod tests;

//! `posture plan`: the runbook's changes as data, ordered the way the runbook orders them, each
//! with a pinned JSON Patch, its pinned inverse and the post-condition that says it worked.
//!
//! The planner is a pure function of a snapshot, a policy and [`PlanInputs`]. Running it on a
//! cluster that already meets the runbook yields a plan without stages.

pub mod arrival;
mod coredns;
mod file;
mod helm_values;
mod ingress;
mod ingress_daemon;
mod longhorn;
mod owned;
pub mod patch;
mod render;
mod storage_class;
mod volumes;
mod workloads;

use json_patch::Patch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::ObjectRef;
use crate::ownership::Owner;
use crate::policy::Policy;
use crate::report::Section;
use crate::snapshot::Snapshot;
use crate::topology;

pub use file::{PlanFileError, canonical_json};
pub use patch::{Edit, PatchBuildError, PinnedPatch};
pub use render::{DiffLine, Marker, render_diff, render_stage_diff};

pub const PLAN_SCHEMA: &str = "posture.dev/v1/plan";

/// The label posture puts on objects it creates, so a re-read can recognise them.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "posture");

/// Which cluster a plan was made for. Apply refuses to run a plan against any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIdentity {
    /// API server URL.
    pub server: String,
    /// uid of the kube-system Namespace: survives renaming contexts and changing URLs, and
    /// differs between clusters.
    pub kube_system_uid: String,
}

impl ClusterIdentity {
    /// The identity of the cluster a live snapshot was collected from; `None` when the
    /// snapshot has no kube-system Namespace with a uid.
    pub fn from_snapshot(snapshot: &Snapshot, server: &str) -> Option<Self> {
        let uid = snapshot
            .namespaces
            .iter()
            .find(|ns| ns.metadata.name.as_deref() == Some("kube-system"))?
            .metadata
            .uid
            .clone()?;
        Some(Self {
            server: server.to_owned(),
            kube_system_uid: uid,
        })
    }
}

/// Choices the operator makes on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptions {
    /// Sections to plan (`preconditions`, `ingress`, `coredns`, `longhorn`); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Section>,
    /// Live-patch objects that Argo CD, Flux, Helm or k3s own, although their owner may revert it.
    #[serde(default)]
    pub allow_owned: bool,
    /// Run the ingress controller as a DaemonSet (one per node) instead of a spread Deployment.
    #[serde(default)]
    pub ingress_daemonset: bool,
}

impl PlanOptions {
    pub fn includes(&self, section: Section) -> bool {
        self.sections.is_empty() || self.sections.contains(&section)
    }
}

/// The sections `--section` accepts, by the names the runbook's sections go by.
pub const PLAN_SECTIONS: [Section; 4] = [
    Section::Preconditions,
    Section::Ingress,
    Section::Coredns,
    Section::Longhorn,
];

/// Parses one `--section` value (`preconditions`, `ingress`, `coredns`, `longhorn`).
pub fn parse_section(name: &str) -> Option<Section> {
    PLAN_SECTIONS
        .into_iter()
        .find(|s| s.as_str() == name.trim())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInputs {
    pub cluster: ClusterIdentity,
    pub options: PlanOptions,
}

/// A plan file. Its JSON form is a stable interface (`schema` names the version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub schema: String,
    pub cluster: ClusterIdentity,
    /// Where the snapshot came from (file path or API server).
    pub source: String,
    pub options: PlanOptions,
    pub primary: Option<String>,
    pub secondary: Option<String>,
    /// resourceVersion of every object a change touches, as observed.
    pub observed: Vec<ObservedVersion>,
    pub stages: Vec<Stage>,
    /// Things the planner could not do or wants the operator to know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why nothing was planned although the cluster does not meet the runbook: findings of the
    /// checks that must pass before posture changes anything (see [`BLOCKING_CHECKS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<String>,
    /// sha256 of the canonical JSON of everything else, hex.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedVersion {
    pub object: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// One step the runbook takes as a unit; apply waits for its post-conditions before the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Stable id, e.g. `ingress`, `volume/pvc-1`.
    pub id: String,
    pub section: Section,
    pub title: String,
    /// The runbook marks this step APPROVAL REQUIRED. Apply asks before every stage anyway;
    /// this records what the runbook says.
    pub runbook_approval_required: bool,
    /// Why the stage does what it does, in words.
    pub rationale: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Unique within the plan: `<stage id>#<n>`.
    pub id: String,
    pub summary: String,
    pub object: ObjectRef,
    /// resourceVersion the change was planned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    pub delivery: Delivery,
    pub action: Action,
    pub post_condition: PostCondition,
}

impl Change {
    /// A patch posture makes live outside the runbook's stages (a pause, a `watch --act`): no
    /// owner to deliver it, and nothing to wait for but the object still being there.
    pub fn live_patch(
        id: String,
        summary: String,
        object: ObjectRef,
        resource_version: Option<String>,
        forward: Patch,
        inverse: Patch,
    ) -> Self {
        Change {
            id,
            summary,
            post_condition: PostCondition::ObjectExists {
                object: object.clone(),
            },
            object,
            resource_version,
            owner: None,
            delivery: Delivery::Live,
            action: Action::Patch { forward, inverse },
        }
    }

    /// True when apply patches the cluster (rather than handing the change to its owner).
    pub fn is_live(&self) -> bool {
        matches!(self.delivery, Delivery::Live)
    }
}

/// What the change does to the object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    /// A JSON Patch and its inverse, both opening with `test`s.
    Patch { forward: Patch, inverse: Patch },
    /// Create a new object. The inverse deletes it, with the uid recorded in the journal at
    /// creation as a precondition, so only the object posture made is deleted.
    Create { manifest: Value },
}

/// How the change reaches the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Delivery {
    /// apply patches the live object.
    Live,
    /// The object's owner would revert a live patch: the change is a file for the owner's source.
    SourceFile {
        file_name: String,
        content: String,
        instructions: Vec<String>,
    },
}

/// What the shell watches for after a change, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PostCondition {
    /// The workload's rollout finished with this many ready replicas placed as stated.
    RolloutComplete {
        workload: ObjectRef,
        replicas: i32,
        placement: Placement,
    },
    /// The object exists (and, for a PodDisruptionBudget, reports its status).
    ObjectExists { object: ObjectRef },
    /// The Longhorn setting reads back with this raw value.
    SettingApplied { setting: ObjectRef, value: String },
    /// The StorageClass Longhorn recreates from its ConfigMap carries the parameter.
    #[serde(rename_all = "camelCase")]
    StorageClassParameter {
        storage_class: String,
        parameter: String,
        value: String,
    },
    /// Intermediate volume state: `number_of_replicas` set and a healthy replica on each node.
    #[serde(rename_all = "camelCase")]
    VolumeReplicas {
        volume: ObjectRef,
        number_of_replicas: i64,
        healthy_on: Vec<String>,
    },
    /// The runbook's end state: robustness healthy, `number_of_replicas` set, exactly one healthy
    /// replica on each listed node.
    #[serde(rename_all = "camelCase")]
    VolumeHealthy {
        volume: ObjectRef,
        number_of_replicas: i64,
        one_replica_per_node: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Placement {
    /// One ready pod on each of these nodes.
    OnePerNode { nodes: Vec<String> },
    /// Every pod on this node.
    AllOn { node: String },
    /// No constraint (e.g. a workload scaled to zero).
    Anywhere,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("failed to plan {object}")]
    Patch {
        object: String,
        #[source]
        source: PatchBuildError,
    },
}

/// A stage under construction; the planner's modules return these.
pub(crate) struct StageDraft {
    pub id: String,
    pub section: Section,
    pub title: String,
    pub approval: bool,
    pub rationale: String,
    pub changes: Vec<ChangeDraft>,
}

pub(crate) struct ChangeDraft {
    pub summary: String,
    pub object: ObjectRef,
    pub resource_version: Option<String>,
    pub owner: Option<Owner>,
    pub action: Action,
    pub post_condition: PostCondition,
}

/// What every planner module reads.
pub(crate) struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub policy: &'a Policy,
    pub options: &'a PlanOptions,
    pub primary: String,
    /// Every node the runbook spreads over: the primary first, then the secondaries.
    pub nodes: Vec<String>,
    pub notes: Vec<String>,
}

/// Plans the runbook's changes for `snapshot`.
/// Checks whose errors block planning: a cluster whose apps cannot start (claims Lost or
/// Pending, pods the scheduler cannot place) needs its storage or scheduling fixed first. Moving
/// workloads and volumes around it would change what runs where while nothing can be verified,
/// and every post-condition that waits for a rollout would time out.
pub const BLOCKING_CHECKS: &[&str] =
    &["preconditions.claims.bound", "preconditions.pods.scheduled"];

/// The findings of [`BLOCKING_CHECKS`] that fail, as lines for the plan.
fn blockers(snapshot: &Snapshot, policy: &Policy) -> Vec<String> {
    crate::checks::run(snapshot, policy)
        .findings
        .iter()
        .filter(|f| {
            BLOCKING_CHECKS.contains(&f.id.as_str()) && f.severity >= crate::report::Severity::Error
        })
        .map(|f| format!("{} {}: {}", f.id, f.object, f.message))
        .collect()
}

pub fn plan(snapshot: &Snapshot, policy: &Policy, inputs: &PlanInputs) -> Result<Plan, PlanError> {
    let blockers = blockers(snapshot, policy);
    if !blockers.is_empty() {
        let mut plan = Plan {
            schema: PLAN_SCHEMA.to_owned(),
            cluster: inputs.cluster.clone(),
            source: snapshot.info.source.clone(),
            options: inputs.options.clone(),
            primary: None,
            secondary: None,
            observed: Vec::new(),
            stages: Vec::new(),
            notes: vec![
                "nothing was planned: the apps cannot start, so fix their storage and scheduling \
                 first (see `posture check`)"
                    .to_owned(),
            ],
            blockers,
            sha256: String::new(),
        };
        plan.sha256 = plan.content_hash();
        return Ok(plan);
    }
    let topology = topology::infer(snapshot, policy);
    let mut notes = Vec::new();
    let mut drafts = Vec::new();
    let primary = topology.primary.clone();
    let secondary = topology.secondary().map(str::to_owned);
    match &primary {
        None => notes.push(format!(
            "no primary node could be inferred ({}); nothing was planned",
            topology.reason
        )),
        Some(primary) => {
            let mut nodes = vec![primary.clone()];
            nodes.extend(topology.secondaries.iter().cloned());
            let mut cx = Context {
                snapshot,
                policy,
                options: &inputs.options,
                primary: primary.clone(),
                nodes,
                notes: Vec::new(),
            };
            if inputs.options.includes(Section::Preconditions) {
                drafts.extend(workloads::preconditions(&mut cx)?);
            }
            if inputs.options.includes(Section::Ingress) {
                drafts.extend(ingress::ingress(&mut cx)?);
            }
            if inputs.options.includes(Section::Coredns) {
                drafts.extend(coredns::coredns(&mut cx)?);
            }
            if inputs.options.includes(Section::Longhorn) {
                drafts.extend(longhorn::settings(&mut cx)?);
                drafts.extend(storage_class::storage_class(&mut cx)?);
                drafts.extend(volumes::volumes(&mut cx)?);
            }
            notes.append(&mut cx.notes);
        }
    }
    let stages: Vec<Stage> = drafts
        .into_iter()
        .filter(|d| !d.changes.is_empty())
        .map(|d| finish_stage(d, &inputs.options, snapshot, &mut notes))
        .collect();
    let mut observed: Vec<ObservedVersion> = Vec::new();
    for change in stages.iter().flat_map(|s| &s.changes) {
        if !observed.iter().any(|o| o.object == change.object) {
            observed.push(ObservedVersion {
                object: change.object.clone(),
                resource_version: change.resource_version.clone(),
            });
        }
    }
    let mut plan = Plan {
        schema: PLAN_SCHEMA.to_owned(),
        cluster: inputs.cluster.clone(),
        source: snapshot.info.source.clone(),
        options: inputs.options.clone(),
        primary,
        secondary,
        observed,
        stages,
        notes,
        blockers: Vec::new(),
        sha256: String::new(),
    };
    plan.sha256 = plan.content_hash();
    Ok(plan)
}

fn finish_stage(
    draft: StageDraft,
    options: &PlanOptions,
    snapshot: &Snapshot,
    notes: &mut Vec<String>,
) -> Stage {
    let changes = draft
        .changes
        .into_iter()
        .enumerate()
        .map(|(n, c)| {
            let delivery = owned::delivery(&c, options, snapshot, notes);
            Change {
                id: format!("{}#{}", draft.id, n + 1),
                summary: c.summary,
                object: c.object,
                resource_version: c.resource_version,
                owner: c.owner,
                delivery,
                action: c.action,
                post_condition: c.post_condition,
            }
        })
        .collect();
    Stage {
        id: draft.id,
        section: draft.section,
        title: draft.title,
        runbook_approval_required: draft.approval,
        rationale: draft.rationale,
        changes,
    }
}

impl Plan {
    /// A plan made outside the runbook's planner (a pause, a `watch --act`, the undo of one):
    /// default options, no topology, no notes, its hash sealed.
    pub fn outside_planner(
        cluster: ClusterIdentity,
        source: String,
        observed: Vec<ObservedVersion>,
        stages: Vec<Stage>,
    ) -> Self {
        let mut plan = Plan {
            schema: PLAN_SCHEMA.to_owned(),
            cluster,
            source,
            options: PlanOptions::default(),
            primary: None,
            secondary: None,
            observed,
            stages,
            notes: Vec::new(),
            blockers: Vec::new(),
            sha256: String::new(),
        };
        plan.sha256 = plan.content_hash();
        plan
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// Builds a patch change for `object` (serialized as observed) or nothing when already right.
pub(crate) fn patch_change(
    object: &ObjectRef,
    observed: &Value,
    edits: &[Edit],
) -> Result<Option<PinnedPatch>, PlanError> {
    patch::build(observed, edits).map_err(|source| PlanError::Patch {
        object: object.to_string(),
        source,
    })
}

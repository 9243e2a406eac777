//! The answer of the what-if, as `posture drill` prints it and as JSON: a stable shape that a
//! person or a script reads without knowing how it was worked out.

use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;
use crate::report::Evidence;

pub const WHAT_IF_SCHEMA: &str = "posture.dev/v1/drill";

/// What losing the node would do, and whether a drill may go ahead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhatIf {
    pub schema: String,
    /// Where the snapshot came from (file path or API server).
    pub source: String,
    pub node: String,
    pub verdict: Verdict,
    /// Why the verdict is `unsafe`; empty otherwise.
    pub blockers: Vec<Blocker>,
    /// What survives only in part; the verdict is `safe-degraded` when these are all there is.
    pub degradations: Vec<Degradation>,
    /// Whether the pods were listed, or had to be placed from their workloads.
    pub pods: PodSource,
    /// Set when the node runs the control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlaneLoss>,
    /// Every workload with a pod on the node.
    pub workloads: Vec<WorkloadOutcome>,
    /// Pods on the node that no controller posture knows of would recreate.
    pub unmanaged_pods: Vec<UnmanagedPod>,
    /// Services with a ready endpoint on the node.
    pub services: Vec<ServiceOutcome>,
    /// Longhorn volumes with a replica on the node or attached there.
    pub volumes: Vec<VolumeOutcome>,
    /// Longhorn's `node-drain-policy`, when Longhorn runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_policy: Option<DrainPolicy>,
    /// Leases in kube-system and longhorn-system held from the node.
    pub leases: Vec<LeaseOutcome>,
    /// Disruption budgets that select a pod a drain would evict.
    pub disruption_budgets: Vec<BudgetOutcome>,
    /// The API server's own answer to a dry-run drain of the node, when it was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Vec<EvictionAnswer>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Safe,
    SafeDegraded,
    Unsafe,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Safe => "safe",
            Self::SafeDegraded => "safe-degraded",
            Self::Unsafe => "unsafe",
        }
    }
}

/// Something that makes a drill of the node unsafe, with what shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocker {
    /// Stable identifier, e.g. `drill.volume.faulted`.
    pub id: String,
    pub object: ObjectRef,
    pub message: String,
    pub evidence: Vec<Evidence>,
}

/// Something that keeps working, but with less to spare, while the node is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Degradation {
    /// Stable identifier, e.g. `drill.workload.partial`.
    pub id: String,
    pub object: ObjectRef,
    pub message: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum PodSource {
    /// The snapshot lists the pods: where they run is a fact.
    Listed,
    /// The snapshot lists no pods (a scenario file, or pods unreadable): each workload's pods
    /// are placed as the scheduler would place them on the nodes as they are now, and taken to
    /// be ready.
    Inferred { reason: String },
}

/// The node runs the control plane, and the servers left could not keep the API up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneLoss {
    /// Every server the cluster has (the node among them).
    pub servers: Vec<String>,
    pub message: String,
    /// Never: taking the node down takes the API that a drill is watched through.
    pub drillable: bool,
    /// Workloads with no ready pod on another node: nothing restarts them while the API is
    /// gone. (The workloads' placements say where their pods would go once an API is back.)
    pub apps_down: Vec<ObjectRef>,
    /// Of those, the ones whose node constraints admit no other node.
    pub pinned: Vec<ObjectRef>,
    /// Longhorn volumes attached on the node: their engines, and so their data path, go too.
    pub attached_volumes: Vec<String>,
}

/// One workload with pods on the node, and what becomes of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadOutcome {
    pub workload: ObjectRef,
    /// Desired replicas; absent for a DaemonSet (one per eligible node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Its pods on the node.
    pub on_node: usize,
    /// Its ready pods on other nodes, which keep running.
    pub ready_elsewhere: usize,
    /// Where each pod lost with the node is recreated (none for a DaemonSet).
    pub replacements: Vec<Placement>,
    /// Ready pods once the replacements that can start have started.
    pub ready_after: usize,
    pub status: WorkloadStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadStatus {
    /// Every pod comes back, and at least one stays up meanwhile.
    Moves,
    /// Every pod comes back, but none stays up while they move: a short outage.
    Restarts,
    /// Fewer pods than wanted once the node is gone.
    Degraded,
    /// No pod left.
    Down,
    /// A DaemonSet's pod that belongs to the node and goes with it.
    NodeLocal,
}

/// Where one replacement pod goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Placement {
    /// Scheduled on `node`, and able to start there.
    Lands { node: String },
    /// Scheduled on `node`, but it cannot start: `reason` (e.g. its volume is faulted).
    Stuck { node: String, reason: String },
    /// No surviving node takes it; each node's reasons.
    Pending { rejections: Vec<Rejection> },
}

impl Placement {
    pub fn starts(&self) -> bool {
        matches!(self, Self::Lands { .. })
    }
}

/// Why one node does not take a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub node: String,
    pub filter: Filter,
    pub detail: String,
    pub evidence: Evidence,
}

/// The scheduler's filter that turned the node down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Filter {
    NotReady,
    Unschedulable,
    Taint,
    NodeAffinity,
    VolumeBinding,
    PodAntiAffinity,
    TopologySpread,
    Resources,
}

impl Filter {
    /// How `kubectl describe pod` would put it, shortly.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotReady => "node not ready",
            Self::Unschedulable => "the cordon",
            Self::Taint => "untolerated taint",
            Self::NodeAffinity => "node selector / node affinity",
            Self::VolumeBinding => "volume node affinity",
            Self::PodAntiAffinity => "required pod anti-affinity",
            Self::TopologySpread => "topology spread (DoNotSchedule)",
            Self::Resources => "insufficient resources",
        }
    }
}

/// A pod on the node that nothing recreates elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmanagedPod {
    pub pod: ObjectRef,
    /// Its controller as `Kind name`, when it has one posture does not model (a Job, an
    /// operator's custom resource); absent for a pod no controller owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A Service with ready endpoints on the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOutcome {
    pub service: ObjectRef,
    /// Cluster DNS or the ingress controller's Service: losing them takes down every app.
    pub critical: bool,
    pub ready_now: usize,
    pub ready_on_node: usize,
    /// Ready endpoints the moment the node is gone.
    pub ready_left: usize,
    /// Ready endpoints once the replacements that can start have started.
    pub ready_after: usize,
}

/// A Longhorn volume the node's loss touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeOutcome {
    pub volume: ObjectRef,
    /// `namespace/claim`, when a claim is bound to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// `spec.numberOfReplicas`: how many it should have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_replicas: Option<i64>,
    /// Its healthy replicas on the node, by name.
    pub healthy_on_node: Vec<String>,
    /// The nodes of its healthy replicas elsewhere.
    pub healthy_elsewhere: Vec<String>,
    /// Its engine runs on the node: the volume detaches and attaches where its pod goes.
    pub attached_on_node: bool,
    pub fate: VolumeFate,
    /// What `node-drain-policy` makes a drain do with its replica on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainEffect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeFate {
    /// Its last healthy replica is on the node: no data until the node returns.
    Faulted,
    /// Healthy replicas remain elsewhere, fewer than wanted.
    Degraded,
    /// No healthy replica on the node; only its attachment moves.
    Moves,
    /// It has no healthy replica anywhere already.
    AlreadyFaulted,
}

/// Longhorn's `node-drain-policy` as set, per data engine when it is set per engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainPolicy {
    pub setting: ObjectRef,
    /// The raw value, e.g. `block-if-contains-last-replica` or `{"v1":"...","v2":"..."}`.
    pub value: String,
}

/// What a drain does with one volume's replica on the node under `node-drain-policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum DrainEffect {
    /// The drain goes ahead and the replica stops with the node.
    Allows { policy: String },
    /// Longhorn rebuilds the replica on another node first; the drain waits for it.
    EvictsFirst { policy: String, to: Vec<String> },
    /// The drain waits until a person acts.
    Blocks { policy: String, why: String },
}

/// A lease held from the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseOutcome {
    pub lease: ObjectRef,
    pub holder: String,
    /// Seconds a new holder waits before it may take over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
}

/// A disruption budget selecting pods a drain of the node would evict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetOutcome {
    pub budget: ObjectRef,
    /// Pods on the node it selects, by name (or `a pod of <workload>` when inferred).
    pub pods_on_node: Vec<String>,
    /// From the budget's status when the disruption controller has written one, else worked out
    /// from its spec and the pods it selects.
    pub disruptions_allowed: i64,
    /// Evictions the API would refuse, and why.
    pub blocked: Vec<BlockedEviction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockedEviction {
    pub pod: String,
    pub why: String,
}

/// The API server's own answer to a dry-run eviction of one pod on the node, as `kubectl drain
/// --dry-run=server` would get it: what the server, not posture, says about a drain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvictionAnswer {
    pub pod: ObjectRef,
    /// Its controller as `Kind name`; absent for a pod no controller owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub answer: ServerAnswer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum ServerAnswer {
    /// `201`: the server would evict it.
    Evicts,
    /// The server refuses, in its own words: for a budget, `429 TooManyRequests` and a cause
    /// naming the budget.
    Refuses {
        code: u16,
        reason: String,
        message: String,
        causes: Vec<String>,
    },
    /// Not asked, as `kubectl drain --ignore-daemonsets` does not evict it.
    Skipped { why: String },
}

//! The drill's report: a stable shape for `-o json`, the terminal summary, Markdown and HTML.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::placement::NodePlacement;
use crate::detect::DetectorKind;

pub const DRILL_REPORT_SCHEMA: &str = "posture.dev/v1/drill-report";

/// How the node is taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrillKind {
    /// The node stops: powered off, or its k3s agent stopped (on the twin, a `stop-node` fault).
    NodeLoss,
    /// Its pods are evicted as `kubectl drain --ignore-daemonsets` would.
    Drain,
}

impl DrillKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NodeLoss => "node-loss",
            Self::Drain => "drain",
        }
    }
}

/// The runbook's success criteria for the drill (2.5), each judged on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criterion {
    NoRestartLoops,
    NoAttachStorms,
    RebuildsWithinLimits,
    LeaderElectionsSteady,
    DnsAndIngressServe,
}

impl Criterion {
    pub const ALL: [Self; 5] = [
        Self::NoRestartLoops,
        Self::NoAttachStorms,
        Self::RebuildsWithinLimits,
        Self::LeaderElectionsSteady,
        Self::DnsAndIngressServe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoRestartLoops => "no-restart-loops",
            Self::NoAttachStorms => "no-attach-storms",
            Self::RebuildsWithinLimits => "rebuilds-within-limits",
            Self::LeaderElectionsSteady => "leader-elections-steady",
            Self::DnsAndIngressServe => "dns-and-ingress-serve",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::NoRestartLoops => "no pod restart loops",
            Self::NoAttachStorms => "no PVC detach/attach storms",
            Self::RebuildsWithinLimits => {
                "Longhorn rebuilds within the per-node limit, no volume rebuilt again and again"
            }
            Self::LeaderElectionsSteady => "leader elections steady (control-plane leases)",
            Self::DnsAndIngressServe => {
                "CoreDNS and the ingress controller keep a ready endpoint throughout"
            }
        }
    }

    /// The criterion a detector's alert counts against; `None` for the detectors that judge
    /// what a node loss is expected to cause (evictions, its Ready flipping once, endpoints
    /// leaving with their pods, volumes degrading).
    pub fn of(detector: DetectorKind) -> Option<Self> {
        match detector {
            DetectorKind::RestartLoop | DetectorKind::CrashLoop => Some(Self::NoRestartLoops),
            DetectorKind::VolumeStateFlap | DetectorKind::AttachmentChurn => {
                Some(Self::NoAttachStorms)
            }
            DetectorKind::RebuildConcurrency | DetectorKind::RebuildRepeated => {
                Some(Self::RebuildsWithinLimits)
            }
            DetectorKind::LeaseThrash | DetectorKind::LeaseRenewGap => {
                Some(Self::LeaderElectionsSteady)
            }
            DetectorKind::NoReadyEndpoints => Some(Self::DnsAndIngressServe),
            DetectorKind::EndpointChurn
            | DetectorKind::EvictionLoop
            | DetectorKind::RobustnessFlap
            | DetectorKind::NodeReadyFlap => None,
        }
    }
}

/// One alert that counted against a criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub criterion: Criterion,
    pub at: Timestamp,
    pub detector: String,
    pub subject: String,
    pub message: String,
    pub evidence: Vec<String>,
}

impl Breach {
    pub fn describe(&self) -> String {
        format!(
            "{}: {} {} ({})",
            self.criterion.as_str(),
            self.detector,
            self.subject,
            self.message
        )
    }
}

/// A criterion and what was seen of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionResult {
    pub criterion: Criterion,
    pub title: String,
    pub passed: bool,
    /// The alerts that breached it, or what was watched when none did.
    pub evidence: Vec<String>,
}

/// How the drill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The window passed without a breach and the cluster came back as it was.
    Passed,
    /// A criterion was breached: the drill stopped early and restored the cluster.
    Aborted,
    /// The window passed (or was aborted) but the restore gate never opened.
    NotRestored,
    /// The window passed, but a criterion was breached while the cluster was being restored
    /// (rebuilds failing as the node came back, say); whether the restore then completed is in
    /// `unrestored`.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Aborted => "aborted",
            Self::NotRestored => "not-restored",
            Self::Failed => "failed",
        }
    }
}

/// One line of the drill's timeline, in cluster time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub what: String,
}

/// Where pods and replicas were at one phase of the drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhasePlacement {
    /// `before`, `during` or `after`.
    pub phase: String,
    pub at: Option<Timestamp>,
    pub nodes: Vec<NodePlacement>,
    /// Pods no node has taken (Pending), `namespace/name`.
    pub pending: Vec<String>,
}

/// Everything the drill saw, for a person and for scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    pub schema: String,
    pub source: String,
    pub node: String,
    pub kind: DrillKind,
    pub outcome: Outcome,
    /// The breach that aborted the drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_by: Option<Breach>,
    pub window_seconds: i64,
    pub settle_seconds: i64,
    pub criteria: Vec<CriterionResult>,
    /// What still kept the cluster from being as it was when the restore gave up; empty once
    /// restored.
    pub unrestored: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
    pub placement: Vec<PhasePlacement>,
    /// Stopped by Ctrl-C or SIGTERM: the window was cut short (outcome `aborted`) or the
    /// restore was not waited for (`not-restored`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// The journal of the drill's own writes, for `posture rollback --journal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
}

impl DrillReport {
    /// Exit 0 for a pass, 1 otherwise.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Passed
    }
}

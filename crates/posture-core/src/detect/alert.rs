//! What detectors say: an alert is raised once and cleared once, identified by detector and
//! subject so a consumer can pair them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::report::Severity;

/// Which runbook risk an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorKind {
    RestartLoop,
    CrashLoop,
    EndpointChurn,
    NoReadyEndpoints,
    EvictionLoop,
    LeaseThrash,
    LeaseRenewGap,
    RebuildConcurrency,
    RebuildRepeated,
    RobustnessFlap,
    VolumeStateFlap,
    AttachmentChurn,
    NodeReadyFlap,
}

impl DetectorKind {
    /// Every detector, in the order they are documented.
    pub const ALL: [Self; 13] = [
        Self::RestartLoop,
        Self::CrashLoop,
        Self::EndpointChurn,
        Self::NoReadyEndpoints,
        Self::EvictionLoop,
        Self::LeaseThrash,
        Self::LeaseRenewGap,
        Self::RebuildConcurrency,
        Self::RebuildRepeated,
        Self::RobustnessFlap,
        Self::VolumeStateFlap,
        Self::AttachmentChurn,
        Self::NodeReadyFlap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RestartLoop => "restart-loop",
            Self::CrashLoop => "crash-loop",
            Self::EndpointChurn => "endpoint-churn",
            Self::NoReadyEndpoints => "no-ready-endpoints",
            Self::EvictionLoop => "eviction-loop",
            Self::LeaseThrash => "lease-thrash",
            Self::LeaseRenewGap => "lease-renew-gap",
            Self::RebuildConcurrency => "rebuild-concurrency",
            Self::RebuildRepeated => "rebuild-repeated",
            Self::RobustnessFlap => "robustness-flap",
            Self::VolumeStateFlap => "volume-state-flap",
            Self::AttachmentChurn => "attachment-churn",
            Self::NodeReadyFlap => "node-ready-flap",
        }
    }

    /// The runbook's "Act" for this risk, as `posture watch --act` names the actions, the
    /// first the one to try first; [`counter_moves`](super::counter_moves) keeps those that fit
    /// the subject's owner (argo-rollback only for Argo CD's workloads). Re-cordoning the secondary and pinning workloads to the
    /// primary stop things moving to a node that comes and goes; stopping rebuilds and
    /// auto-balance calm Longhorn; Argo CD rollback and snapshot restore undo a bad change.
    pub fn counter_moves(self) -> &'static [&'static str] {
        match self {
            Self::RestartLoop | Self::CrashLoop => &["argo-rollback", "pin-to-primary"],
            Self::EndpointChurn | Self::NoReadyEndpoints => &["cordon-secondary", "pin-to-primary"],
            Self::EvictionLoop | Self::NodeReadyFlap => &["cordon-secondary", "pin-to-primary"],
            Self::LeaseThrash | Self::LeaseRenewGap => &["cordon-secondary"],
            Self::RebuildConcurrency | Self::RebuildRepeated => {
                &["stop-rebuilds", "disable-auto-balance"]
            }
            Self::RobustnessFlap => &["stop-rebuilds", "disable-auto-balance", "snapshot-restore"],
            Self::VolumeStateFlap | Self::AttachmentChurn => {
                &["pin-to-primary", "cordon-secondary"]
            }
        }
    }

    /// The alert id for `subject`: stable across raise and clear.
    pub fn alert_id(self, subject: &str) -> String {
        format!("{}/{subject}", self.as_str())
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Alert {
    Raised {
        id: String,
        detector: DetectorKind,
        subject: String,
        severity: Severity,
        at: Timestamp,
        message: String,
        /// What was seen and when, oldest first.
        evidence: Vec<String>,
    },
    Cleared {
        id: String,
        detector: DetectorKind,
        subject: String,
        at: Timestamp,
        message: String,
    },
}

impl Alert {
    pub(crate) fn raised(
        detector: DetectorKind,
        subject: &str,
        severity: Severity,
        at: Timestamp,
        message: String,
        evidence: Vec<String>,
    ) -> Self {
        Self::Raised {
            id: detector.alert_id(subject),
            detector,
            subject: subject.to_owned(),
            severity,
            at,
            message,
            evidence,
        }
    }

    pub(crate) fn cleared(
        detector: DetectorKind,
        subject: &str,
        at: Timestamp,
        message: String,
    ) -> Self {
        Self::Cleared {
            id: detector.alert_id(subject),
            detector,
            subject: subject.to_owned(),
            at,
            message,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Raised { id, .. } | Self::Cleared { id, .. } => id,
        }
    }

    /// What the alert is about (`namespace/pod/container`, a Service, a lease, a volume, a
    /// node): several detectors may speak of one subject.
    pub fn subject(&self) -> &str {
        match self {
            Self::Raised { subject, .. } | Self::Cleared { subject, .. } => subject,
        }
    }

    pub fn detector(&self) -> DetectorKind {
        match self {
            Self::Raised { detector, .. } | Self::Cleared { detector, .. } => *detector,
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Self::Raised { at, .. } | Self::Cleared { at, .. } => *at,
        }
    }

    pub fn is_raised(&self) -> bool {
        matches!(self, Self::Raised { .. })
    }
}

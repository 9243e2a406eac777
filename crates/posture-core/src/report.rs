//! What `posture check` reports: findings with evidence, and the outcome of every check that ran.
//!
//! The JSON/YAML form of [`Report`] is a documented, stable interface (`schema` names its
//! version); add fields, never rename or remove them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::ObjectRef;

pub const REPORT_SCHEMA: &str = "posture.dev/v1/report";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// Runbook sections, in the runbook's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    Preconditions,
    ControlPlane,
    Ingress,
    Coredns,
    Longhorn,
    Ownership,
    Risks,
}

impl Section {
    pub const ALL: [Section; 7] = [
        Self::Preconditions,
        Self::ControlPlane,
        Self::Ingress,
        Self::Coredns,
        Self::Longhorn,
        Self::Ownership,
        Self::Risks,
    ];

    /// Heading as the runbook numbers it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Preconditions => "Preconditions",
            Self::ControlPlane => "2.1 k3s control plane",
            Self::Ingress => "2.2 Ingress (HAProxy)",
            Self::Coredns => "2.3 CoreDNS",
            Self::Longhorn => "2.4 Longhorn",
            Self::Ownership => "Ownership",
            Self::Risks => "Appendix: risk register",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preconditions => "preconditions",
            Self::ControlPlane => "control-plane",
            Self::Ingress => "ingress",
            Self::Coredns => "coredns",
            Self::Longhorn => "longhorn",
            Self::Ownership => "ownership",
            Self::Risks => "risks",
        }
    }
}

/// One piece of evidence: what was seen, where, and how a person can see it too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub object: ObjectRef,
    /// Field path in the object, e.g. `spec.replicas`.
    pub field: String,
    /// The value observed (`null` when absent).
    pub value: Value,
    /// The kubectl command that shows the same value.
    pub command: String,
}

impl Evidence {
    /// Evidence for `field` (a dotted path) on `object`, with the matching kubectl JSONPath.
    pub fn field(object: &ObjectRef, field: &str, value: impl Into<Value>) -> Self {
        Self {
            command: object.kubectl_get(Some(&jsonpath_of(field))),
            object: object.clone(),
            field: field.to_owned(),
            value: value.into(),
        }
    }

    /// Evidence whose command is something other than a `kubectl get` of the object.
    pub fn with_command(
        object: &ObjectRef,
        field: &str,
        value: impl Into<Value>,
        command: impl Into<String>,
    ) -> Self {
        Self {
            object: object.clone(),
            field: field.to_owned(),
            value: value.into(),
            command: command.into(),
        }
    }
}

/// Turns `spec.template.spec.containers[0].image` into kubectl's `.spec.template...` JSONPath,
/// quoting keys that contain dots or slashes.
fn jsonpath_of(field: &str) -> String {
    if field.starts_with('.') {
        return field.to_owned();
    }
    format!(".{field}")
}

/// A problem (or a note) a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier, e.g. `longhorn.volume.replica-placement`.
    pub id: String,
    pub section: Section,
    pub severity: Severity,
    pub object: ObjectRef,
    pub message: String,
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl Finding {
    /// Adds one piece of evidence.
    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    /// Says how to reach the runbook's target.
    pub fn with_remediation(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Checked, and the target is met.
    Pass,
    /// Checked, and at least one finding was raised.
    Fail,
    /// Could not be judged: the data was unreadable or missing.
    Unknown,
    /// Does not apply to this cluster (e.g. Longhorn not installed).
    Skipped,
}

/// The outcome of one check, whether or not it found anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub section: Section,
    pub title: String,
    pub status: CheckStatus,
    /// Why the check is unknown or skipped, or what it saw when it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub checks_passed: usize,
    pub checks_failed: usize,
    pub checks_unknown: usize,
    pub checks_skipped: usize,
    /// Findings suppressed (not counted above).
    #[serde(default)]
    pub suppressed: usize,
}

/// The whole answer of `posture check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    /// Where the snapshot came from (file path or API server).
    pub source: String,
    /// Facts stated plainly, e.g. the topology and the control plane decision.
    pub facts: Vec<Fact>,
    pub checks: Vec<CheckResult>,
    pub findings: Vec<Finding>,
    /// Findings an annotation or the policy file's `suppress` list accepted, with who and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<crate::suppress::Suppressed>,
    pub summary: Summary,
}

/// A plain statement about the cluster that is neither good nor bad by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub section: Section,
    pub name: String,
    pub value: String,
}

impl Report {
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            schema: REPORT_SCHEMA.to_owned(),
            source: source.into(),
            facts: Vec::new(),
            checks: Vec::new(),
            findings: Vec::new(),
            suppressed: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// Recomputes the summary and sorts findings by section, then severity (worst first), then id.
    pub fn finish(mut self) -> Self {
        self.findings.sort_by(|a, b| {
            (a.section, std::cmp::Reverse(a.severity), &a.id, &a.object).cmp(&(
                b.section,
                std::cmp::Reverse(b.severity),
                &b.id,
                &b.object,
            ))
        });
        self.checks
            .sort_by(|a, b| (a.section, &a.id).cmp(&(b.section, &b.id)));
        let mut s = Summary::default();
        for f in &self.findings {
            match f.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Info => s.infos += 1,
            }
        }
        for c in &self.checks {
            match c.status {
                CheckStatus::Pass => s.checks_passed += 1,
                CheckStatus::Fail => s.checks_failed += 1,
                CheckStatus::Unknown => s.checks_unknown += 1,
                CheckStatus::Skipped => s.checks_skipped += 1,
            }
        }
        s.suppressed = self.suppressed.len();
        self.summary = s;
        self
    }

    /// The worst severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

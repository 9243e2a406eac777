//! Collects check outcomes, findings and facts while the sections run.

use crate::object::ObjectRef;
use crate::report::{CheckResult, CheckStatus, Fact, Finding, Report, Section, Severity};

/// A check's identity: the stable id that findings and results carry.
#[derive(Debug, Clone)]
pub(crate) struct CheckDef {
    pub id: String,
    pub section: Section,
    pub title: String,
}

impl CheckDef {
    pub fn new(section: Section, id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            section,
            title: title.into(),
        }
    }

    /// A finding of this check, without evidence or remediation yet.
    pub fn finding(
        &self,
        severity: Severity,
        object: &ObjectRef,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            id: self.id.clone(),
            section: self.section,
            severity,
            object: object.clone(),
            message: message.into(),
            evidence: Vec::new(),
            remediation: None,
        }
    }
}

/// What a check concluded.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// The check looked; `findings` may be empty. `detail` says what it saw.
    Judged {
        findings: Vec<Finding>,
        detail: String,
    },
    /// The data needed was unreadable or missing.
    Unknown(String),
    /// The check does not apply to this cluster.
    Skipped(String),
}

impl Verdict {
    pub fn judged(findings: Vec<Finding>, detail: impl Into<String>) -> Self {
        Self::Judged {
            findings,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    facts: Vec<Fact>,
    checks: Vec<CheckResult>,
    findings: Vec<Finding>,
}

impl Recorder {
    pub fn fact(&mut self, section: Section, name: impl Into<String>, value: impl Into<String>) {
        self.facts.push(Fact {
            section,
            name: name.into(),
            value: value.into(),
        });
    }

    /// Records the outcome of `def`. A check fails when it raised a warning or an error; notes
    /// (info findings) alone leave it passing.
    pub fn record(&mut self, def: &CheckDef, verdict: Verdict) {
        let (status, detail) = match verdict {
            Verdict::Judged { findings, detail } => {
                let failed = findings.iter().any(|f| f.severity > Severity::Info);
                self.findings.extend(findings);
                let status = if failed {
                    CheckStatus::Fail
                } else {
                    CheckStatus::Pass
                };
                (status, detail)
            }
            Verdict::Unknown(reason) => (CheckStatus::Unknown, reason),
            Verdict::Skipped(reason) => (CheckStatus::Skipped, reason),
        };
        self.checks.push(CheckResult {
            id: def.id.clone(),
            section: def.section,
            title: def.title.clone(),
            status,
            detail: (!detail.is_empty()).then_some(detail),
        });
    }

    pub fn into_report(self, mut report: Report) -> Report {
        report.facts = self.facts;
        report.checks = self.checks;
        report.findings = self.findings;
        report
    }
}

//! The `PostureReport` custom resource the operator keeps: the latest check as status
//! conditions per runbook section, with the counts and the findings. Its CRD is generated from
//! these types (`posture crd`).

use kube::CustomResource;
use posture_core::Report;
use posture_core::report::{CheckStatus, Section, Severity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator checks, and how often. The spec is informational: the operator's flags
/// decide; they are written here so `kubectl get posturereport -o yaml` shows them.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "posture.dev",
    version = "v1alpha1",
    kind = "PostureReport",
    plural = "posturereports",
    shortname = "pr",
    namespaced,
    status = "PostureReportStatus",
    printcolumn = r#"{"name":"Errors","type":"integer","jsonPath":".status.errors"}"#,
    printcolumn = r#"{"name":"Warnings","type":"integer","jsonPath":".status.warnings"}"#,
    printcolumn = r#"{"name":"Checked","type":"date","jsonPath":".status.lastCheckTime"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PostureReportSpec {
    /// Seconds between checks.
    pub interval_seconds: u64,
    /// The operator instance that wrote the latest status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostureReportStatus {
    /// RFC 3339 time of the latest check.
    pub last_check_time: String,
    /// How long it took, in milliseconds.
    pub duration_millis: u64,
    pub errors: u64,
    pub warnings: u64,
    pub infos: u64,
    pub suppressed: u64,
    /// One per runbook section: `True` when it has no warning or error.
    pub conditions: Vec<SectionCondition>,
    /// The warnings and errors, one line each (`SEVERITY CHECK-ID OBJECT: MESSAGE`).
    pub findings: Vec<String>,
    /// The watch detectors' alerts active at the latest check, one line each
    /// (`DETECTOR SUBJECT: MESSAGE`); empty from a check with no watch (`--once`).
    #[serde(default)]
    pub alerts: Vec<String>,
    /// With `--enforce`: what the latest check's enforcement did, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_enforcement: Option<String>,
}

/// A Kubernetes-style condition for one section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionCondition {
    /// The section, e.g. `Ingress`, `Longhorn`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, or `Unknown` when a check of it could not be judged.
    pub status: String,
    /// `Meets`, `Findings` or `Unknown`.
    pub reason: String,
    pub message: String,
    pub last_transition_time: String,
}

/// The status for `report`, checked at `at` in `took`; conditions keep their transition time
/// when their status did not change since `previous`.
pub fn status_of(
    report: &Report,
    at: jiff::Timestamp,
    took: std::time::Duration,
    previous: Option<&PostureReportStatus>,
) -> PostureReportStatus {
    let now = at.to_string();
    let conditions = Section::ALL
        .iter()
        .filter(|s| report.checks.iter().any(|c| c.section == **s))
        .map(|&section| {
            let mut bad: Vec<&posture_core::report::Finding> = report
                .findings
                .iter()
                .filter(|f| f.section == section && f.severity >= Severity::Warning)
                .collect();
            // The worst first: the message names it.
            bad.sort_by_key(|f| std::cmp::Reverse(f.severity));
            let unknown = report
                .checks
                .iter()
                .filter(|c| c.section == section && c.status == CheckStatus::Unknown)
                .count();
            let (status, reason, message) = if !bad.is_empty() {
                (
                    "False",
                    "Findings",
                    format!(
                        "{} warning(s) or error(s); worst: {}",
                        bad.len(),
                        bad[0].message
                    ),
                )
            } else if unknown > 0 {
                (
                    "Unknown",
                    "Unknown",
                    format!("{unknown} check(s) could not be judged"),
                )
            } else {
                ("True", "Meets", "every check passes".to_owned())
            };
            let type_ = condition_type(section);
            let last_transition_time = previous
                .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
                .filter(|c| c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            SectionCondition {
                type_,
                status: status.to_owned(),
                reason: reason.to_owned(),
                message,
                last_transition_time,
            }
        })
        .collect();
    PostureReportStatus {
        last_check_time: now,
        duration_millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        errors: report.summary.errors as u64,
        warnings: report.summary.warnings as u64,
        infos: report.summary.infos as u64,
        suppressed: report.summary.suppressed as u64,
        conditions,
        findings: report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| {
                format!(
                    "{} {} {}: {}",
                    f.severity.as_str(),
                    f.id,
                    f.object,
                    f.message
                )
            })
            .collect(),
        alerts: Vec::new(),
        last_enforcement: None,
    }
}

/// `control-plane` → `ControlPlane`.
fn condition_type(section: Section) -> String {
    pascal_case(section.as_str())
}

/// `preconditions.secondary.ready` → `PreconditionsSecondaryReady`: words split on `.` and `-`,
/// each capitalised, as Kubernetes spells condition types and event reasons.
pub(crate) fn pascal_case(text: &str) -> String {
    text.split(['.', '-'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The CRD as YAML, for `posture crd`.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_norway::to_string(&PostureReport::crd()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_become_camel_case_condition_types() {
        assert_eq!(condition_type(Section::ControlPlane), "ControlPlane");
        assert_eq!(condition_type(Section::Ingress), "Ingress");
    }

    #[test]
    fn the_crd_names_the_group_kind_and_a_status_subresource() {
        let yaml = crd_yaml();
        assert!(yaml.contains("name: posturereports.posture.dev"), "{yaml}");
        assert!(yaml.contains("kind: PostureReport"), "{yaml}");
        assert!(yaml.contains("status: {}"), "{yaml}");
    }
}

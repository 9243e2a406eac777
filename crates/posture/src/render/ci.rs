//! `check -o junit` and `check -o sarif`: the report in the formats CI systems read. A check is
//! a JUnit test case and a SARIF rule; a finding is a JUnit failure's line and a SARIF result.
//! What counts as a failure follows `--fail-on`, so the file agrees with the exit code.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use posture_core::report::{CheckResult, CheckStatus, Finding};
use posture_core::{Report, Severity};
use serde_json::{Value, json};

use crate::cli::FailPolicy;

/// docs/checks.md: each check's documented meaning is its SARIF rule's description.
const CHECKS_DOC: &str = include_str!("../../../../docs/checks.md");

/// The JUnit XML of `report`: one test suite per section, one test case per check.
pub(crate) fn junit(report: &Report, fail: &FailPolicy) -> String {
    let mut by_section: BTreeMap<_, Vec<&CheckResult>> = BTreeMap::new();
    for check in &report.checks {
        by_section.entry(check.section).or_default().push(check);
    }
    let verdicts: Vec<(&CheckResult, Verdict<'_>)> = report
        .checks
        .iter()
        .map(|c| (c, verdict(c, report, fail)))
        .collect();
    let count = |pick: fn(&Verdict<'_>) -> bool| verdicts.iter().filter(|(_, v)| pick(v)).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"posture check\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        verdicts.len(),
        count(|v| matches!(v, Verdict::Failed(_))),
        count(|v| matches!(v, Verdict::Errored(_))),
        count(|v| matches!(v, Verdict::Skipped(_))),
    );
    for (section, checks) in by_section {
        let of_section: Vec<&(&CheckResult, Verdict<'_>)> = verdicts
            .iter()
            .filter(|(c, _)| c.section == section)
            .collect();
        let n = |pick: fn(&Verdict<'_>) -> bool| of_section.iter().filter(|(_, v)| pick(v)).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            xml(section.title()),
            checks.len(),
            n(|v| matches!(v, Verdict::Failed(_))),
            n(|v| matches!(v, Verdict::Errored(_))),
            n(|v| matches!(v, Verdict::Skipped(_))),
        );
        for (check, verdict) in of_section {
            let _ = write!(
                out,
                "    <testcase classname=\"posture.{}\" name=\"{}\">",
                xml(section.as_str()),
                xml(&check.id)
            );
            let suppressed: String = report
                .suppressed
                .iter()
                .filter(|s| s.finding.id == check.id)
                .map(|s| {
                    format!(
                        "suppressed {} {}: {} ({})\n",
                        s.finding.severity.as_str(),
                        s.finding.object,
                        s.finding.message,
                        s.reason
                    )
                })
                .collect();
            match verdict {
                Verdict::Passed(noted) => {
                    let text = findings_text(noted) + &suppressed;
                    if !text.is_empty() {
                        let _ = write!(out, "<system-out>{}</system-out>", xml(&text));
                    }
                }
                Verdict::Failed(findings) => {
                    let worst = findings
                        .iter()
                        .map(|f| f.severity)
                        .max()
                        .unwrap_or(Severity::Warning);
                    let _ = write!(
                        out,
                        "<failure type=\"{}\" message=\"{}\">{}</failure>",
                        worst.as_str(),
                        xml(&format!(
                            "{} finding(s): {}",
                            findings.len(),
                            findings.first().map_or("", |f| f.message.as_str())
                        )),
                        xml(&findings_text(findings))
                    );
                }
                Verdict::Errored(why) => {
                    let _ = write!(
                        out,
                        "<error type=\"unknown\" message=\"{}\"/>",
                        xml(&format!("unknown: {why}"))
                    );
                }
                Verdict::Skipped(why) => {
                    let _ = write!(out, "<skipped message=\"{}\"/>", xml(why));
                }
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A check as a test case.
enum Verdict<'r> {
    /// Passed, with the findings below `--fail-on` it still raised.
    Passed(Vec<&'r Finding>),
    /// Findings that reach `--fail-on`.
    Failed(Vec<&'r Finding>),
    /// Unknown, and `--fail-on unknown` was given.
    Errored(&'r str),
    Skipped(&'r str),
}

fn verdict<'r>(check: &'r CheckResult, report: &'r Report, fail: &FailPolicy) -> Verdict<'r> {
    let detail = check.detail.as_deref().unwrap_or("");
    match check.status {
        CheckStatus::Unknown if fail.unknown => Verdict::Errored(detail),
        CheckStatus::Unknown | CheckStatus::Skipped => Verdict::Skipped(detail),
        CheckStatus::Pass | CheckStatus::Fail => {
            let (failing, noted): (Vec<&Finding>, Vec<&Finding>) = report
                .findings
                .iter()
                .filter(|f| f.id == check.id)
                .partition(|f| fail.severity.is_reached_by(f.severity));
            if failing.is_empty() {
                Verdict::Passed(noted)
            } else {
                Verdict::Failed(failing)
            }
        }
    }
}

/// Each finding with its evidence and remediation, as `check` prints them.
fn findings_text(findings: &[&Finding]) -> String {
    let mut text = String::new();
    for finding in findings {
        let _ = writeln!(
            text,
            "{} {}: {}",
            finding.severity.as_str(),
            finding.object,
            finding.message
        );
        for evidence in &finding.evidence {
            let _ = writeln!(
                text,
                "  evidence: {} = {} ({})",
                evidence.field, evidence.value, evidence.command
            );
        }
        if let Some(remediation) = &finding.remediation {
            let _ = writeln!(text, "  fix: {remediation}");
        }
    }
    text
}

/// Text as XML character data or an attribute value: escaped as for HTML, less the characters
/// XML 1.0 cannot hold at all (control characters), which are dropped.
fn xml(text: &str) -> String {
    let holdable: String = text
        .chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r')
                || !((c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}')
        })
        .collect();
    super::drill_report::esc(&holdable)
}

/// The SARIF 2.1.0 log of `report`: one rule per check (described from docs/checks.md), one
/// result per finding, located at the Kubernetes object as a logical location.
pub(crate) fn sarif(report: &Report, fail: &FailPolicy) -> Value {
    let docs = documented_checks();
    let rules: Vec<Value> = report
        .checks
        .iter()
        .map(|check| {
            let described = docs
                .iter()
                .find(|(id, _)| rule_matches(id, &check.id))
                .map(|(_, text)| text.as_str())
                .unwrap_or(check.title.as_str());
            json!({
                "id": check.id,
                "shortDescription": {"text": check.title},
                "fullDescription": {"text": plain(described), "markdown": described},
                "helpUri": "https://example.invalid/posture/docs/checks.md",
                "properties": {"section": check.section.as_str(), "status": check.status},
            })
        })
        .collect();
    let index_of = |id: &str| report.checks.iter().position(|c| c.id == id);
    let result = |finding: &Finding, properties: Value| {
        let mut result = json!({
            "ruleId": finding.id,
            "level": level(finding.severity, fail),
            "message": {"text": finding.message},
            "locations": [{
                "logicalLocations": [{
                    "name": finding.object.name,
                    "fullyQualifiedName": finding.object.to_string(),
                    "kind": "resource",
                }],
            }],
            "properties": properties,
        });
        if let Some(index) = index_of(&finding.id) {
            result["ruleIndex"] = json!(index);
        }
        result
    };
    let mut results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            result(
                finding,
                json!({
                    "severity": finding.severity.as_str(),
                    "object": finding.object,
                    "evidence": finding.evidence,
                    "remediation": finding.remediation,
                }),
            )
        })
        .collect();
    // Suppressed findings are results too, marked as SARIF marks them: inSource for an
    // annotation on the object, external for the policy file.
    for suppressed in &report.suppressed {
        let finding = &suppressed.finding;
        let kind = match suppressed.suppressed_by {
            posture_core::suppress::SuppressedBy::Annotation => "inSource",
            posture_core::suppress::SuppressedBy::Policy => "external",
        };
        let mut entry = result(
            finding,
            json!({"severity": finding.severity.as_str(), "object": finding.object}),
        );
        entry["suppressions"] = json!([{"kind": kind, "justification": suppressed.reason}]);
        results.push(entry);
    }
    let unknown: Vec<Value> = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Unknown)
        .map(|c| {
            json!({
                "level": if fail.unknown { "error" } else { "warning" },
                "message": {"text": format!("{} could not be judged: {}", c.id, c.detail.as_deref().unwrap_or("unknown"))},
                "descriptor": {"id": c.id},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "posture",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/posture",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": unknown,
            }],
            "results": results,
            "properties": {"source": report.source},
        }],
    })
}

/// A finding's level: `error` when it reaches `--fail-on`, else `warning` or `note`.
fn level(severity: Severity, fail: &FailPolicy) -> &'static str {
    if fail.severity.is_reached_by(severity) {
        "error"
    } else if severity == Severity::Info {
        "note"
    } else {
        "warning"
    }
}

/// `(id, description)` of every check docs/checks.md lists (`- \`id\` — description`).
fn documented_checks() -> Vec<(String, String)> {
    CHECKS_DOC
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("- `")?;
            let (id, text) = rest.split_once("` — ")?;
            Some((id.to_owned(), text.trim().to_owned()))
        })
        .collect()
}

/// A documented id names the check, or a family of them (`longhorn.setting.<name>`).
fn rule_matches(documented: &str, id: &str) -> bool {
    match documented.split_once('<') {
        Some((prefix, _)) => id.starts_with(prefix),
        None => documented == id,
    }
}

/// Markdown as plain text: links keep their words, code loses its backticks.
fn plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        match after.find("](").zip(after.find(')')) {
            Some((middle, close)) if middle < close => {
                out.push_str(&after[1..middle]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out.replace('`', "").replace("**", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_specials_and_drops_what_xml_cannot_hold() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
        assert_eq!(xml("bell\u{7}\ttab"), "bell\ttab");
    }

    #[test]
    fn every_documented_family_matches_its_checks() {
        assert!(rule_matches(
            "longhorn.setting.<name>",
            "longhorn.setting.replica-auto-balance"
        ));
        assert!(rule_matches("ingress.pdb", "ingress.pdb"));
        assert!(!rule_matches("ingress.pdb", "ingress.pdb-x"));
        assert!(documented_checks().len() > 40);
    }

    #[test]
    fn markdown_links_keep_their_words() {
        assert_eq!(
            plain("see [kubectl drain](https://k8s.io/x) and `code`"),
            "see kubectl drain and code"
        );
    }
}

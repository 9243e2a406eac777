//! `check --html FILE`: the report as one self-contained page (inline CSS, no scripts, nothing
//! fetched): where pods and Longhorn replicas sit on each node, then the findings by section
//! with their evidence, the suppressed ones and the facts.

use std::fmt::Write as _;

use posture_core::report::{CheckStatus, Finding, Section};
use posture_core::{Report, Severity, Snapshot};

use super::drill_report::{PAGE_CSS, esc, node_colour_css, placement_grid};

const CHECK_CSS: &str = r#"
.badge.clean { background: #1a7f37; }
.badge.warnings { background: #9a6700; }
.badge.errors { background: #cf222e; }
.checks td { padding: 2px 8px 2px 0; vertical-align: top; }
.status { white-space: nowrap; font-weight: 600; }
.status.pass { color: #1a7f37; }
.status.fail { color: #cf222e; }
.status.unknown { color: #9a6700; }
.status.skipped { color: #8c959f; }
.finding { margin: 4px 0 8px; padding: 4px 10px; border-left: 4px solid #d0d7de; }
.finding.error { border-color: #cf222e; background: #ffebe9; }
.finding.warning { border-color: #d4a72c; background: #fff8c5; }
.finding.info { border-color: #0969da; background: #ddf4ff; }
.finding .fix { margin-top: 2px; }
.suppressed { color: #59636e; }
.facts td { padding: 1px 12px 1px 0; }
"#;

/// The page for `report`, drawn from `snapshot` (the placement picture).
pub(crate) fn page(report: &Report, snapshot: &Snapshot) -> String {
    let summary = &report.summary;
    let (badge, verdict) = if summary.errors > 0 {
        ("errors", format!("{} error(s)", summary.errors))
    } else if summary.warnings > 0 {
        ("warnings", format!("{} warning(s)", summary.warnings))
    } else {
        ("clean", "meets the runbook".to_owned())
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>posture check: {}</title>\n<style>{PAGE_CSS}{CHECK_CSS}{}</style>\n</head>\n<body>\n",
        esc(&verdict),
        node_colour_css()
    );
    let _ = writeln!(
        out,
        "<h1>posture check <span class=\"badge {badge}\">{}</span></h1>\n\
         <p class=\"meta\">source <code>{}</code> · {} error(s), {} warning(s), {} info · \
         checks: {} passed, {} failed, {} unknown, {} skipped{}</p>",
        esc(&verdict),
        esc(&report.source),
        summary.errors,
        summary.warnings,
        summary.infos,
        summary.checks_passed,
        summary.checks_failed,
        summary.checks_unknown,
        summary.checks_skipped,
        match summary.suppressed {
            0 => String::new(),
            n => format!(" · {n} suppressed"),
        }
    );
    let now = posture_core::drill::observed::placement::phase("now", snapshot);
    if !now.nodes.is_empty() {
        placement_grid(&mut out, std::slice::from_ref(&now));
    }
    for section in Section::ALL {
        section_html(&mut out, report, section);
    }
    if !report.suppressed.is_empty() {
        out.push_str("<h2>Suppressed</h2>\n");
        for s in &report.suppressed {
            let by = match s.suppressed_by {
                posture_core::suppress::SuppressedBy::Annotation => "annotation",
                posture_core::suppress::SuppressedBy::Policy => "policy file",
            };
            let _ = writeln!(
                out,
                "<div class=\"finding suppressed\"><code>{}</code> {} {}: {} <em>(suppressed by {by}: {})</em></div>",
                esc(&s.finding.id),
                esc(s.finding.severity.as_str()),
                esc(&s.finding.object.to_string()),
                esc(&s.finding.message),
                esc(&s.reason)
            );
        }
    }
    if !report.facts.is_empty() {
        out.push_str("<h2>Facts</h2>\n<table class=\"facts\">\n");
        for fact in &report.facts {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(fact.section.title()),
                esc(&fact.name),
                esc(&fact.value)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn section_html(out: &mut String, report: &Report, section: Section) {
    let checks: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.section == section)
        .collect();
    if checks.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2>{}</h2>\n<table class=\"checks\">",
        esc(section.title())
    );
    for check in checks {
        let (mark, class) = match check.status {
            CheckStatus::Pass => ("✓ pass", "pass"),
            CheckStatus::Fail => ("✗ fail", "fail"),
            CheckStatus::Unknown => ("? unknown", "unknown"),
            CheckStatus::Skipped => ("- skipped", "skipped"),
        };
        let findings: String = report
            .findings
            .iter()
            .filter(|f| f.id == check.id)
            .map(finding_html)
            .collect();
        let detail = check
            .detail
            .as_deref()
            .map(|d| format!(" <span class=\"meta\">({})</span>", esc(d)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr data-check=\"{id}\"><td class=\"status {class}\">{mark}</td><td><code>{id}</code> \
             {}{detail}{findings}</td></tr>",
            esc(&check.title),
            id = esc(&check.id)
        );
    }
    out.push_str("</table>\n");
}

fn finding_html(finding: &Finding) -> String {
    let severity = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let evidence: String = finding
        .evidence
        .iter()
        .map(|e| {
            format!(
                "<li><code>{}</code> = <code>{}</code> · <code>{}</code></li>",
                esc(&e.field),
                esc(&e.value.to_string()),
                esc(&e.command)
            )
        })
        .collect();
    let fix = finding
        .remediation
        .as_deref()
        .map(|r| format!("<div class=\"fix\"><strong>fix:</strong> {}</div>", esc(r)))
        .unwrap_or_default();
    format!(
        "<div class=\"finding {severity}\"><strong>{severity}</strong> {}: {}\
         <ul class=\"evidence\">{evidence}</ul>{fix}</div>",
        esc(&finding.object.to_string()),
        esc(&finding.message)
    )
}

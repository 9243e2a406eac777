//! The default output: the runbook's sections in order, each check with its findings, evidence
//! a person can re-run, and the fix. Styled with ANSI codes that the writer strips when stdout is
//! not a terminal or `NO_COLOR` is set.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};
use posture_core::report::{CheckResult, CheckStatus, Fact, Summary};
use posture_core::{Evidence, Finding, Report, Section, Severity};

/// Lines stay within this many columns, except commands, which stay whole to be copied.
const WIDTH: usize = 100;
/// Where a finding's message, evidence and fix start.
const BODY_INDENT: usize = 12;

const TITLE: Style = Style::new().bold().underline();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BOLD}posture check{BOLD:#} of {}", report.source);
    for section in Section::ALL {
        render_section(&mut out, report, section);
    }
    render_suppressed(&mut out, report);
    out.push('\n');
    out.push_str(&summary_line(&report.summary));
    out.push('\n');
    out
}

fn render_section(out: &mut String, report: &Report, section: Section) {
    let facts: Vec<&Fact> = report
        .facts
        .iter()
        .filter(|f| f.section == section)
        .collect();
    let checks: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.section == section)
        .collect();
    let findings: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.section == section)
        .collect();
    if facts.is_empty() && checks.is_empty() && findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{TITLE}{}{TITLE:#}", section.title());
    for fact in facts {
        let text = format!("{}: {}", fact.name, fact.value);
        push_wrapped(out, &text, 2, 4, Style::new());
    }
    let mut unclaimed: Vec<&Finding> = Vec::new();
    for finding in &findings {
        if owning_check(finding, &checks).is_none() {
            unclaimed.push(finding);
        }
    }
    for check in &checks {
        render_check(out, check);
        for finding in findings
            .iter()
            .filter(|f| owning_check(f, &checks) == Some(check.id.as_str()))
        {
            render_finding(out, finding);
        }
    }
    for finding in unclaimed {
        render_finding(out, finding);
    }
}

/// The check a finding belongs to: the same id, or the longest id it extends (`a.b` owns `a.b.c`).
fn owning_check<'a>(finding: &Finding, checks: &[&'a CheckResult]) -> Option<&'a str> {
    checks
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| {
            finding.id == *id
                || finding
                    .id
                    .strip_prefix(id)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .max_by_key(|id| id.len())
}

fn render_check(out: &mut String, check: &CheckResult) {
    let (mark, style) = match check.status {
        CheckStatus::Pass => ("✓", Style::new().fg_color(Some(AnsiColor::Green.into()))),
        CheckStatus::Fail => (
            "✗",
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        ),
        CheckStatus::Unknown => ("?", Style::new().fg_color(Some(AnsiColor::Yellow.into()))),
        CheckStatus::Skipped => ("-", DIM),
    };
    let _ = writeln!(
        out,
        "  {style}{mark}{style:#} {} {DIM}[{}]{DIM:#}",
        check.title, check.id
    );
    if let Some(detail) = &check.detail {
        push_wrapped(out, detail, 4, 4, DIM);
    }
}

fn severity_style(severity: Severity) -> Style {
    let color = match severity {
        Severity::Error => AnsiColor::Red,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

fn render_finding(out: &mut String, finding: &Finding) {
    let style = severity_style(finding.severity);
    let label = finding.severity.as_str();
    let _ = writeln!(
        out,
        "    {style}{label:<7}{style:#} {BOLD}{}{BOLD:#}",
        finding.object
    );
    push_wrapped(
        out,
        &finding.message,
        BODY_INDENT,
        BODY_INDENT,
        Style::new(),
    );
    for evidence in &finding.evidence {
        render_evidence(out, finding, evidence);
    }
    if let Some(fix) = &finding.remediation {
        push_wrapped(
            out,
            &format!("fix: {fix}"),
            BODY_INDENT,
            BODY_INDENT + 5,
            Style::new(),
        );
    }
}

fn render_evidence(out: &mut String, finding: &Finding, evidence: &Evidence) {
    let value =
        serde_json::to_string(&evidence.value).unwrap_or_else(|_| evidence.value.to_string());
    let text = if evidence.object == finding.object {
        format!("{} = {value}", evidence.field)
    } else {
        format!("{} {} = {value}", evidence.object, evidence.field)
    };
    push_wrapped(out, &text, BODY_INDENT, BODY_INDENT + 2, Style::new());
    if !evidence.command.is_empty() {
        let _ = writeln!(out, "{:BODY_INDENT$}{DIM}$ {}{DIM:#}", "", evidence.command);
    }
}

/// Suppressed findings, each with who accepted it and why: shown, not failed on.
fn render_suppressed(out: &mut String, report: &Report) {
    if report.suppressed.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{TITLE}Suppressed{TITLE:#}");
    for s in &report.suppressed {
        let by = match s.suppressed_by {
            posture_core::suppress::SuppressedBy::Annotation => {
                format!("annotation {}", posture_core::suppress::IGNORE_ANNOTATION)
            }
            posture_core::suppress::SuppressedBy::Policy => "the policy file".to_owned(),
        };
        let text = format!(
            "{} {} {}: {} (suppressed by {by}: {})",
            s.finding.severity.as_str(),
            s.finding.id,
            s.finding.object,
            s.finding.message,
            s.reason
        );
        push_wrapped(out, &text, 2, 4, DIM);
    }
}

fn summary_line(summary: &Summary) -> String {
    let style = if summary.errors > 0 {
        severity_style(Severity::Error)
    } else if summary.warnings > 0 {
        severity_style(Severity::Warning)
    } else {
        Style::new().fg_color(Some(AnsiColor::Green.into())).bold()
    };
    let suppressed = match summary.suppressed {
        0 => String::new(),
        n => format!(" ({n} suppressed)"),
    };
    format!(
        "{style}summary:{style:#} {}, {}, {}{suppressed}; checks: {} passed, {} failed, {} unknown, {} skipped",
        plural(summary.errors, "error"),
        plural(summary.warnings, "warning"),
        plural(summary.infos, "info"),
        summary.checks_passed,
        summary.checks_failed,
        summary.checks_unknown,
        summary.checks_skipped,
    )
}

fn plural(n: usize, word: &str) -> String {
    match (n, word) {
        (1, _) | (_, "info") => format!("{n} {word}"),
        _ => format!("{n} {word}s"),
    }
}

/// Appends `text` word-wrapped to [`WIDTH`]: the first line indented by `first`, the rest by
/// `rest`. A word longer than the line stays whole rather than being split.
fn push_wrapped(out: &mut String, text: &str, first: usize, rest: usize, style: Style) {
    for (i, line) in wrap(text, first, rest).into_iter().enumerate() {
        let indent = if i == 0 { first } else { rest };
        let _ = writeln!(out, "{:indent$}{style}{line}{style:#}", "");
    }
}

fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let indent = if lines.is_empty() { first } else { rest };
            let room = WIDTH.saturating_sub(indent);
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
#[path = "human_tests.rs"]
mod tests;

//! A finished drill for people: the terminal summary, Markdown to paste into an issue or a
//! runbook, and one HTML file to keep with the cluster's records; scripts take the JSON.
//!
//! Every form leads with what a reader needs first (did it pass, and if not which breach
//! stopped it), then the criteria with their evidence, what the restore left undone, the
//! journal to undo the drill's writes, the timeline, and where pods and replicas were before,
//! during and after.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use jiff::Timestamp;
use posture_core::drill::observed::placement::NodePlacement;
use posture_core::drill::observed::{DrillReport, Outcome, PhasePlacement};

use crate::error::CliError;

#[path = "drill_report_html.rs"]
mod page;

pub(crate) use page::{PAGE_CSS, esc, node_colour_css, placement_grid};

const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default().bold();
const DIM: Style = Style::new().dimmed();

pub(crate) fn human(report: &DrillReport) -> String {
    let mut out = String::new();
    let style = match report.outcome {
        Outcome::Passed => GREEN,
        Outcome::Aborted | Outcome::Failed => RED,
        Outcome::NotRestored => YELLOW,
    };
    let _ = writeln!(
        out,
        "drill {} ({}): {style}{}{style:#}  {DIM}window {}s, settle {}s{DIM:#}",
        report.node,
        report.kind.as_str(),
        report.outcome.as_str(),
        report.window_seconds,
        report.settle_seconds
    );
    if report.interrupted {
        let _ = writeln!(out, "  {RED}interrupted{RED:#} (Ctrl-C or SIGTERM)");
    }
    if let Some(breach) = &report.aborted_by {
        let _ = writeln!(
            out,
            "  {RED}aborted by{RED:#} {} {DIM}at {}{DIM:#}",
            breach.describe(),
            stamp(breach.at)
        );
        for e in &breach.evidence {
            let _ = writeln!(out, "      {DIM}{e}{DIM:#}");
        }
    }
    let _ = writeln!(out, "\ncriteria:");
    for c in &report.criteria {
        let mark = if c.passed {
            format!("{GREEN}✓{GREEN:#}")
        } else {
            format!("{RED}✗{RED:#}")
        };
        let _ = writeln!(
            out,
            "  {mark} {} {DIM}[{}]{DIM:#}",
            c.title,
            c.criterion.as_str()
        );
        for e in &c.evidence {
            let _ = writeln!(out, "      {DIM}{e}{DIM:#}");
        }
    }
    if !report.unrestored.is_empty() {
        let _ = writeln!(out, "\nnot restored:");
        for line in &report.unrestored {
            let _ = writeln!(out, "  {YELLOW}!{YELLOW:#} {line}");
        }
    }
    if let Some(journal) = &report.journal {
        let _ = writeln!(
            out,
            "\njournal: {journal}  {DIM}(undo with posture rollback --journal {journal}){DIM:#}"
        );
    }
    if !report.timeline.is_empty() {
        let _ = writeln!(out, "\ntimeline:");
        for entry in &report.timeline {
            let _ = writeln!(out, "  {DIM}{}{DIM:#}  {}", stamp(entry.at), entry.what);
        }
    }
    if !report.placement.is_empty() {
        let _ = writeln!(out, "\nplacement:");
        for phase in &report.placement {
            let _ = writeln!(out, "  {}{}", phase.phase, at(phase.at));
            for node in &phase.nodes {
                let tags = node_tags(node);
                let tags = if tags.is_empty() {
                    String::new()
                } else {
                    format!(" {YELLOW}[{}]{YELLOW:#}", tags.join(", "))
                };
                let _ = writeln!(
                    out,
                    "    {}{tags}: pods {}; replicas {}",
                    node.node,
                    list(&node.pods),
                    list(&node.replicas)
                );
            }
            if !phase.pending.is_empty() {
                let _ = writeln!(out, "    pending: {}", phase.pending.join(", "));
            }
        }
    }
    out
}

pub(crate) fn json(report: &DrillReport) -> Result<String, CliError> {
    let mut text = serde_json::to_string_pretty(report).map_err(|e| CliError::Serialize {
        what: "drill report",
        source: Box::new(e),
    })?;
    text.push('\n');
    Ok(text)
}

pub(crate) fn markdown(report: &DrillReport) -> String {
    let mut out = String::new();
    let mark = match report.outcome {
        Outcome::Passed => "✅",
        Outcome::Aborted | Outcome::Failed => "❌",
        Outcome::NotRestored => "⚠️",
    };
    let _ = writeln!(
        out,
        "# Drill of {}: {mark} {}{}\n",
        code(&report.node),
        report.outcome.as_str(),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "node {} · {} · window {}s · settle {}s · source {}",
        code(&report.node),
        report.kind.as_str(),
        report.window_seconds,
        report.settle_seconds,
        code(&report.source)
    );
    if let Some(breach) = &report.aborted_by {
        let _ = writeln!(
            out,
            "\n**Aborted by** {} at {}: {} {} ({})",
            code(breach.criterion.as_str()),
            stamp(breach.at),
            code(&breach.detector),
            code(&breach.subject),
            md(&breach.message)
        );
        for e in &breach.evidence {
            let _ = writeln!(out, "- {}", md(e));
        }
    }
    let _ = writeln!(out, "\n## Criteria\n");
    for c in &report.criteria {
        let verdict = if c.passed { "✅ pass" } else { "❌ fail" };
        let _ = writeln!(
            out,
            "- {verdict} {}: {}",
            code(c.criterion.as_str()),
            md(&c.title)
        );
        for e in &c.evidence {
            let _ = writeln!(out, "  - {}", md(e));
        }
    }
    if !report.unrestored.is_empty() {
        let _ = writeln!(out, "\n## Not restored\n");
        for line in &report.unrestored {
            let _ = writeln!(out, "- {}", md(line));
        }
    }
    if let Some(journal) = &report.journal {
        let _ = writeln!(
            out,
            "\n## Journal\n\n{}, undone by {}",
            code(journal),
            code(&format!("posture rollback --journal {journal}"))
        );
    }
    if !report.timeline.is_empty() {
        let _ = writeln!(out, "\n## Timeline\n\n| time | event |\n|---|---|");
        for entry in &report.timeline {
            let _ = writeln!(out, "| {} | {} |", stamp(entry.at), md(&entry.what));
        }
    }
    if !report.placement.is_empty() {
        markdown_grid(&mut out, report);
    }
    out
}

/// The same grid as the HTML page, since Markdown viewers render tables and a row per phase
/// shows pods moving across nodes better than lists would.
fn markdown_grid(out: &mut String, report: &DrillReport) {
    let columns = columns(&report.placement);
    let pending = any_pending(&report.placement);
    let _ = write!(out, "\n## Placement\n\n| phase |");
    for node in &columns {
        let _ = write!(out, " {} |", code(node));
    }
    out.push_str(if pending {
        " Pending |\n|---|"
    } else {
        "\n|---|"
    });
    for _ in 0..columns.len() + usize::from(pending) {
        out.push_str("---|");
    }
    out.push('\n');
    for phase in &report.placement {
        let _ = write!(out, "| **{}**{} |", md(&phase.phase), at(phase.at));
        for node in &columns {
            let cell = match find(phase, node) {
                None => "*absent*".to_owned(),
                Some(n) => {
                    let mut parts: Vec<String> =
                        node_tags(n).iter().map(|t| format!("**{t}**")).collect();
                    parts.push(format!("pods: {}", cell_list(&n.pods)));
                    parts.push(format!("replicas: {}", cell_list(&n.replicas)));
                    parts.join("<br>")
                }
            };
            let _ = write!(out, " {cell} |");
        }
        if pending {
            let _ = write!(out, " {} |", cell_list(&phase.pending));
        }
        out.push('\n');
    }
}

/// Node columns in the order they first appear, so a node seen only after the drill (a
/// replacement joining) still gets a column, at the end.
fn columns(placement: &[PhasePlacement]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for node in placement.iter().flat_map(|p| &p.nodes) {
        if !names.contains(&node.node.as_str()) {
            names.push(&node.node);
        }
    }
    names
}

fn any_pending(placement: &[PhasePlacement]) -> bool {
    placement.iter().any(|p| !p.pending.is_empty())
}

fn find<'a>(phase: &'a PhasePlacement, node: &str) -> Option<&'a NodePlacement> {
    phase.nodes.iter().find(|n| n.node == node)
}

/// What sets a node apart in a phase; an unknown Ready condition counts as not Ready, since the
/// scheduler and the drill treat it so.
fn node_tags(node: &NodePlacement) -> Vec<&'static str> {
    let mut tags = Vec::new();
    match node.ready {
        Some(true) => {}
        Some(false) => tags.push("not ready"),
        None => tags.push("ready unknown"),
    }
    if node.unschedulable {
        tags.push("cordoned");
    }
    tags
}

/// Whole seconds: the drill's window is minutes long and fractions only make lines harder to
/// scan.
fn stamp(at: Timestamp) -> String {
    format!("{at:.0}")
}

fn at(at: Option<Timestamp>) -> String {
    at.map(|t| format!(" {}", stamp(t))).unwrap_or_default()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn cell_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        (items.iter().map(|i| code(i)).collect::<Vec<_>>()).join("<br>")
    }
}

/// Free text from the cluster, escaped so that it cannot start emphasis, a link, raw HTML or
/// a new table cell.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '<' | '[' | ']' | '|' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A code span; text that could break out of one (a backtick, or a `|` inside a table) is
/// escaped as plain text instead.
fn code(text: &str) -> String {
    if text.contains(['`', '|']) || text.is_empty() {
        md(text)
    } else {
        format!("`{text}`")
    }
}

pub(crate) fn html(report: &DrillReport) -> String {
    page::render(report)
}

#[cfg(test)]
#[path = "drill_report_tests.rs"]
mod tests;

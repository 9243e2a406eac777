//! The drill report as one HTML file that opens anywhere, offline and long after the drill:
//! inline CSS, no scripts, nothing fetched. Where pods were is a grid, a column per node and a
//! row per phase, so a node going away and its pods moving across show at a glance.

use std::fmt::Write as _;

use posture_core::drill::observed::{DrillReport, PhasePlacement};

use super::{any_pending, columns, find, node_tags, stamp};

/// Header colours of the node columns, the k-th node taking the k-th (wrapping). Solid and
/// used nowhere else on the page, so a screenshot can tell the columns apart and in order.
pub(super) const NODE_COLOURS: [&str; 6] = [
    "#0969da", "#8250df", "#bf3989", "#1b7c83", "#953800", "#116329",
];

/// The page's style, shared with `check --html`.
pub(crate) const PAGE_CSS: &str = r#"
:root { color-scheme: light; }
body { margin: 0; padding: 16px 24px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h1 code { font-size: 18px; }
h2 { font-size: 15px; margin: 16px 0 6px; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
ul { margin: 0; padding-left: 18px; }
table { border-collapse: collapse; }
td, th { vertical-align: top; text-align: left; }
.meta { margin: 0; color: #59636e; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 10px; color: #fff; font-size: 14px; vertical-align: middle; }
.badge.passed { background: #1a7f37; }
.badge.aborted, .badge.failed { background: #cf222e; }
.badge.not-restored { background: #9a6700; }
.breach { margin: 10px 0 0; padding: 6px 10px; border-left: 4px solid #cf222e; background: #ffebe9; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 0 32px; }
@media (max-width: 800px) { .columns { grid-template-columns: 1fr; } }
.criteria td { padding: 2px 8px 2px 0; }
.verdict { font-weight: 600; white-space: nowrap; }
tr.pass .verdict { color: #1a7f37; }
tr.fail .verdict { color: #cf222e; }
.evidence { color: #59636e; font-size: 12px; }
.timeline td { padding: 1px 12px 1px 0; }
.timeline time { color: #59636e; white-space: nowrap; }
.grid { width: 100%; table-layout: fixed; }
.grid th, .grid td { border: 1px solid #d0d7de; padding: 6px 8px; }
.grid thead th { padding: 10px 8px; color: #fff; font-weight: 600; }
.grid thead th.phase-col { width: 170px; background: #f6f8fa; color: #1f2328; }
.grid thead th.pending { background: #6e7781; }
.grid tbody th { background: #f6f8fa; font-weight: 600; }
.grid tbody th time { display: block; color: #59636e; font-weight: 400; font-size: 12px; }
.cell.down, .cell.absent { background: repeating-linear-gradient(135deg, #eaeef2 0 8px, #f6f8fa 8px 16px); color: #59636e; }
.label { margin-top: 4px; color: #59636e; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
.none { color: #8c959f; font-style: italic; }
.tag { display: inline-block; margin: 0 4px 2px 0; padding: 0 6px; border-radius: 8px; font-size: 11px; }
.tag.down { background: #59636e; color: #fff; }
.tag.cordoned { background: #fff8c5; border: 1px solid #d4a72c; color: #7d4e00; }
.legend { color: #59636e; font-size: 12px; }
.swatch { display: inline-block; width: 24px; height: 10px; border: 1px solid #d0d7de; background: repeating-linear-gradient(135deg, #eaeef2 0 4px, #f6f8fa 4px 8px); }
"#;

pub(super) fn render(report: &DrillReport) -> String {
    let mut out = String::new();
    let outcome = report.outcome.as_str();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Drill of {}: {outcome}</title>\n<style>{PAGE_CSS}",
        esc(&report.node)
    );
    out.push_str(&node_colour_css());
    out.push_str("</style>\n</head>\n<body>\n");
    let _ = writeln!(
        out,
        "<h1>Drill of <code>{}</code> <span class=\"badge {outcome}\">{outcome}</span>{}</h1>\n\
         <p class=\"meta\">{} · window {}s · settle {}s · source <code>{}</code></p>",
        esc(&report.node),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        report.kind.as_str(),
        report.window_seconds,
        report.settle_seconds,
        esc(&report.source)
    );
    if let Some(b) = &report.aborted_by {
        let _ = writeln!(
            out,
            "<section class=\"breach\"><strong>Aborted by</strong> <code>{}</code> at {}: \
             <code>{}</code> <code>{}</code> ({}){}</section>",
            b.criterion.as_str(),
            time(b.at),
            esc(&b.detector),
            esc(&b.subject),
            esc(&b.message),
            evidence(&b.evidence)
        );
    }
    out.push_str("<div class=\"columns\">\n<div>\n<h2>Criteria</h2>\n<table class=\"criteria\">\n");
    for c in &report.criteria {
        let verdict = if c.passed { "pass" } else { "fail" };
        let _ = writeln!(
            out,
            "<tr class=\"{verdict}\"><td class=\"verdict\">{}</td><td><code>{}</code> {}{}</td></tr>",
            if c.passed { "✓ pass" } else { "✗ fail" },
            c.criterion.as_str(),
            esc(&c.title),
            evidence(&c.evidence)
        );
    }
    out.push_str("</table>\n");
    if !report.unrestored.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Not restored</h2>\n<ul class=\"unrestored\">{}</ul>",
            items(&report.unrestored, false)
        );
    }
    if let Some(journal) = &report.journal {
        let journal = esc(journal);
        let _ = writeln!(
            out,
            "<h2>Journal</h2>\n<p><code>{journal}</code><br>undone by \
             <code>posture rollback --journal {journal}</code></p>"
        );
    }
    out.push_str("</div>\n<div>\n");
    if !report.timeline.is_empty() {
        out.push_str("<h2>Timeline</h2>\n<table class=\"timeline\">\n");
        for entry in &report.timeline {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                time(entry.at),
                esc(&entry.what)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</div>\n</div>\n");
    if !report.placement.is_empty() {
        placement_grid(&mut out, &report.placement);
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Each node column's header colour, as CSS rules.
pub(crate) fn node_colour_css() -> String {
    let mut out = String::new();
    for (k, colour) in NODE_COLOURS.iter().enumerate() {
        let _ = writeln!(out, ".grid thead th.node-{k} {{ background: {colour}; }}");
    }
    out
}

/// Where pods and replicas were: a column per node, a row per phase.
pub(crate) fn placement_grid(out: &mut String, placement: &[PhasePlacement]) {
    let columns = columns(placement);
    let pending = any_pending(placement);
    out.push_str(
        "<h2>Placement</h2>\n<table class=\"grid\">\n<thead><tr><th class=\"phase-col\">Phase</th>",
    );
    for (k, node) in columns.iter().enumerate() {
        let node = esc(node);
        let _ = write!(
            out,
            "<th scope=\"col\" class=\"node node-{}\" data-node=\"{node}\">{node}</th>",
            k % NODE_COLOURS.len()
        );
    }
    if pending {
        out.push_str("<th scope=\"col\" class=\"pending\">Pending</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for phase in placement {
        let when = phase.at.map(time).unwrap_or_default();
        let _ = write!(
            out,
            "<tr data-phase=\"{0}\"><th scope=\"row\">{0}{when}</th>",
            esc(&phase.phase)
        );
        for node in &columns {
            let attr = esc(node);
            match find(phase, node) {
                None => {
                    let _ = write!(
                        out,
                        "<td class=\"cell absent\" data-node=\"{attr}\"><span class=\"none\">absent</span></td>"
                    );
                }
                Some(n) => {
                    let class = if n.ready == Some(true) { "" } else { " down" };
                    let tags: String = (node_tags(n).into_iter())
                        .map(|t| {
                            let kind = if t == "cordoned" { "cordoned" } else { "down" };
                            format!("<span class=\"tag {kind}\">{t}</span>")
                        })
                        .collect();
                    let _ = write!(
                        out,
                        "<td class=\"cell{class}\" data-node=\"{attr}\">{tags}\
                         <div class=\"label\">pods</div>{}\
                         <div class=\"label\">replicas</div>{}</td>",
                        list(&n.pods),
                        list(&n.replicas)
                    );
                }
            }
        }
        if pending {
            let _ = write!(
                out,
                "<td class=\"cell pending\">{}</td>",
                list(&phase.pending)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</tbody>\n</table>\n<p class=\"legend\"><span class=\"swatch\"></span> node not Ready \
         (or gone) · <span class=\"tag cordoned\">cordoned</span> unschedulable</p>\n",
    );
}

fn time(at: jiff::Timestamp) -> String {
    let at = stamp(at);
    format!("<time datetime=\"{at}\">{at}</time>")
}

fn evidence(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("<ul class=\"evidence\">{}</ul>", items(lines, false))
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "<div class=\"none\">none</div>".to_owned()
    } else {
        format!("<ul>{}</ul>", items(names, true))
    }
}

fn items(lines: &[String], code: bool) -> String {
    let (open, close) = if code {
        ("<code>", "</code>")
    } else {
        ("", "")
    };
    (lines.iter())
        .map(|l| format!("<li>{open}{}{close}</li>", esc(l)))
        .collect()
}

/// Names and messages come from the cluster; none of them may become markup.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

//! A drill's what-if for people (the verdict first, then each blocker and degradation with its
//! evidence, then the server's answers) and for programs (the `WhatIf` as JSON or YAML).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use posture_core::drill::{PodSource, ServerAnswer, Verdict, WhatIf};
use posture_core::report::Evidence;

use crate::error::CliError;

const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default().bold();
const DIM: Style = Style::new().dimmed();

pub(crate) fn human(what: &WhatIf) -> String {
    let mut out = String::new();
    let style = match what.verdict {
        Verdict::Safe => GREEN,
        Verdict::SafeDegraded => YELLOW,
        Verdict::Unsafe => RED,
    };
    let _ = writeln!(
        out,
        "drill {}: {style}{}{style:#}  ({} blocker(s), {} degradation(s))",
        what.node,
        what.verdict.as_str(),
        what.blockers.len(),
        what.degradations.len()
    );
    if let PodSource::Inferred { reason } = &what.pods {
        let _ = writeln!(
            out,
            "{DIM}pods placed from their workloads: {reason}{DIM:#}"
        );
    }
    if !what.blockers.is_empty() {
        let _ = writeln!(out, "\nblockers:");
        for b in &what.blockers {
            let _ = writeln!(out, "  {RED}✗{RED:#} {} {DIM}[{}]{DIM:#}", b.message, b.id);
            evidence(&mut out, &b.evidence);
        }
    }
    if !what.degradations.is_empty() {
        let _ = writeln!(out, "\ndegradations:");
        for d in &what.degradations {
            let _ = writeln!(
                out,
                "  {YELLOW}~{YELLOW:#} {} {DIM}[{}]{DIM:#}",
                d.message, d.id
            );
            evidence(&mut out, &d.evidence);
        }
    }
    if let Some(answers) = &what.server {
        let count = |f: fn(&ServerAnswer) -> bool| answers.iter().filter(|a| f(&a.answer)).count();
        let _ = writeln!(
            out,
            "\nthe API server's dry-run drain: {} pod(s): {} would be evicted, {} refused, {} skipped",
            answers.len(),
            count(|a| matches!(a, ServerAnswer::Evicts)),
            count(|a| matches!(a, ServerAnswer::Refuses { .. })),
            count(|a| matches!(a, ServerAnswer::Skipped { .. })),
        );
        for a in answers {
            if let ServerAnswer::Skipped { why } = &a.answer {
                let _ = writeln!(out, "  {DIM}skipped {}: {why}{DIM:#}", a.pod);
            }
        }
    }
    out
}

fn evidence(out: &mut String, evidence: &[Evidence]) {
    for e in evidence {
        let _ = writeln!(
            out,
            "      {DIM}{} {} = {}   $ {}{DIM:#}",
            e.object, e.field, e.value, e.command
        );
    }
}

pub(crate) fn json(what: &WhatIf) -> Result<String, CliError> {
    let mut text = serde_json::to_string_pretty(what).map_err(|e| CliError::Serialize {
        what: "drill",
        source: Box::new(e),
    })?;
    text.push('\n');
    Ok(text)
}

pub(crate) fn yaml(what: &WhatIf) -> Result<String, CliError> {
    serde_norway::to_string(what).map_err(|e| CliError::Serialize {
        what: "drill",
        source: Box::new(e),
    })
}

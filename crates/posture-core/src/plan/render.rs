//! Human rendering of a plan: per object, the fields a change touches, with `-`/`+` markers.
//! Returns plain lines; the CLI colours them.

use json_patch::PatchOperation;
use serde_json::Value;

use super::{Action, Delivery, Plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A stage heading.
    Stage,
    /// The object a change touches.
    Object,
    Remove,
    Add,
    /// Explanations (post-conditions, ownership notes).
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub marker: Marker,
    pub text: String,
}

impl std::fmt::Display for DiffLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefix = match self.marker {
            Marker::Stage => "",
            Marker::Object => "  ~ ",
            Marker::Remove => "    - ",
            Marker::Add => "    + ",
            Marker::Note => "    # ",
        };
        write!(f, "{prefix}{}", self.text)
    }
}

fn line(marker: Marker, text: impl Into<String>) -> DiffLine {
    DiffLine {
        marker,
        text: text.into(),
    }
}

fn short(value: &Value) -> String {
    match value {
        Value::String(s) if !s.contains('\n') => s.clone(),
        other => other.to_string(),
    }
}

/// The plan as lines: each stage, each change's object, and the old and new value of every path
/// it touches (taken from the patch's own `test`s, so the diff shows what was observed).
pub fn render_diff(plan: &Plan) -> Vec<DiffLine> {
    let mut out = Vec::new();
    if !plan.blockers.is_empty() {
        out.push(line(
            Marker::Stage,
            "Blocked: these must be fixed before posture changes anything.",
        ));
        for blocker in &plan.blockers {
            out.push(line(Marker::Remove, blocker.clone()));
        }
    } else if plan.stages.is_empty() {
        out.push(line(
            Marker::Stage,
            "Nothing to change: the cluster already matches the runbook.",
        ));
    }
    for (n, stage) in plan.stages.iter().enumerate() {
        out.extend(stage_lines(n, plan.stages.len(), stage));
    }
    for note in &plan.notes {
        out.push(line(Marker::Note, note.clone()));
    }
    out
}

/// The lines of the plan's stage at `index`, numbered as in the whole plan ("Stage 3 of 7"),
/// for asking approval of one stage at a time.
pub fn render_stage_diff(plan: &Plan, index: usize) -> Vec<DiffLine> {
    plan.stages
        .get(index)
        .map(|stage| stage_lines(index, plan.stages.len(), stage))
        .unwrap_or_default()
}

fn stage_lines(n: usize, of: usize, stage: &super::Stage) -> Vec<DiffLine> {
    let mut out = Vec::new();
    {
        let approval = if stage.runbook_approval_required {
            " [APPROVAL REQUIRED]"
        } else {
            ""
        };
        out.push(line(
            Marker::Stage,
            format!("Stage {} of {of}: {}{approval}", n + 1, stage.title),
        ));
        for change in &stage.changes {
            out.push(line(
                Marker::Object,
                format!("{} — {}", change.object, change.summary),
            ));
            match &change.action {
                Action::Create { manifest } => {
                    out.push(line(Marker::Add, format!("(new object) {manifest}")));
                }
                Action::Patch { forward, .. } => {
                    for op in &forward.0 {
                        // The old value: from the test on the path, or inside a tested ancestor.
                        let tested = |path: &str| {
                            forward.0.iter().find_map(|o| match o {
                                PatchOperation::Test(t) => path
                                    .strip_prefix(t.path.as_str())
                                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                                    .and_then(|rest| t.value.pointer(rest).cloned()),
                                _ => None,
                            })
                        };
                        match op {
                            PatchOperation::Replace(r) => {
                                if let Some(old) = tested(r.path.as_str()) {
                                    out.push(line(
                                        Marker::Remove,
                                        format!("{}: {}", r.path, short(&old)),
                                    ));
                                }
                                out.push(line(
                                    Marker::Add,
                                    format!("{}: {}", r.path, short(&r.value)),
                                ));
                            }
                            PatchOperation::Add(a) => out.push(line(
                                Marker::Add,
                                format!("{}: {}", a.path, short(&a.value)),
                            )),
                            PatchOperation::Remove(r) => {
                                let old = tested(r.path.as_str())
                                    .map(|v| format!(": {}", short(&v)))
                                    .unwrap_or_default();
                                out.push(line(Marker::Remove, format!("{}{old}", r.path)));
                            }
                            _ => {}
                        }
                    }
                }
            }
            if let Delivery::SourceFile {
                file_name,
                instructions,
                ..
            } = &change.delivery
            {
                let owner = change
                    .owner
                    .as_ref()
                    .map(|o| format!(" ({})", o.describe()))
                    .unwrap_or_default();
                out.push(line(
                    Marker::Note,
                    format!(
                        "waiting for the owner{owner}: not patched live, written to {file_name}"
                    ),
                ));
                for i in instructions {
                    out.push(line(Marker::Note, i.clone()));
                }
            }
        }
    }
    out
}

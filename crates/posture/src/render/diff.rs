//! A plan's diff with coloured markers: `plan` prints the whole plan, and `apply` each stage
//! before asking, so both show a change the same way.

use posture_core::plan::Plan;

/// The plan's diff with coloured markers, and a one-line verdict for an empty plan.
pub(crate) fn render_plan(plan: &Plan) -> String {
    let mut out = render_lines(posture_core::plan::render_diff(plan));
    for note in &plan.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// One stage's diff, numbered as in the whole plan.
pub(crate) fn render_stage(plan: &Plan, index: usize) -> String {
    render_lines(posture_core::plan::render_stage_diff(plan, index))
}

fn render_lines(lines: Vec<posture_core::plan::DiffLine>) -> String {
    use posture_core::plan::Marker;
    let style = |marker: Marker| {
        let colour = match marker {
            Marker::Stage => return anstyle::Style::new().bold(),
            Marker::Object => anstyle::AnsiColor::Cyan,
            Marker::Remove => anstyle::AnsiColor::Red,
            Marker::Add => anstyle::AnsiColor::Green,
            Marker::Note => anstyle::AnsiColor::BrightBlack,
        };
        anstyle::Style::new().fg_color(Some(colour.into()))
    };
    let mut out = String::new();
    for line in lines {
        let s = style(line.marker);
        out.push_str(&format!("{s}{line}{s:#}\n"));
    }
    out
}

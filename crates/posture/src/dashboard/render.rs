//! Draws the [`Model`]: nodes and the runbook's components per node, Longhorn volumes with
//! replica placement and rebuild progress, active alerts, and the event timeline.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::model::{Component, Model};
use posture_core::detect::Alert;

pub(crate) fn render(model: &Model, frame: &mut Frame) {
    let [title, top, volumes, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(model.nodes.len().max(1) as u16 + 3),
        Constraint::Length(model.volumes.len().max(1) as u16 + 3),
        Constraint::Min(4),
    ])
    .areas(frame.area());
    let [alerts, timeline] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);

    let now = model.now.map_or_else(|| "-".to_owned(), |t| t.to_string());
    frame.render_widget(
        Paragraph::new(format!(
            "posture watch  {}  cluster time {now}  (q quits)",
            model.source
        ))
        .style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );
    frame.render_widget(nodes(model), top);
    frame.render_widget(volume_table(model), volumes);
    frame.render_widget(active_alerts(model), alerts);
    let shown = timeline.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = model
        .timeline
        .iter()
        .skip(model.timeline.len().saturating_sub(shown))
        .map(|l| Line::raw(l.clone()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("Timeline")),
        timeline,
    );
}

fn nodes(model: &Model) -> Paragraph<'static> {
    let components = [Component::IngressController, Component::CoreDns];
    let mut header = format!("{:<16} {:<9} {:<9}", "NODE", "READY", "CORDONED");
    for component in components {
        header.push_str(&format!(" {:<20}", component.title()));
    }
    let mut lines = vec![Line::styled(
        header,
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (name, node) in &model.nodes {
        let mut line = format!(
            "{name:<16} {:<9} {:<9}",
            if node.ready { "Ready" } else { "NotReady" },
            if node.cordoned { "yes" } else { "no" },
        );
        for component in components {
            let (ready, all) = model.component_on(component, name);
            line.push_str(&format!(" {:<20}", format!("{ready}/{all} ready")));
        }
        lines.push(Line::raw(line));
    }
    Paragraph::new(lines).block(Block::bordered().title("Nodes"))
}

fn volume_table(model: &Model) -> Paragraph<'static> {
    let mut header = format!(
        "{:<24} {:<10} {:<10} {:>4}",
        "VOLUME", "STATE", "ROBUSTNESS", "WANT"
    );
    for node in model.nodes.keys() {
        header.push_str(&format!(" {node:>12}"));
    }
    header.push_str("  REBUILD");
    let mut lines = vec![Line::styled(
        header,
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (name, volume) in &model.volumes {
        let mut line = format!(
            "{name:<24} {:<10} {:<10} {:>4}",
            volume.state, volume.robustness, volume.desired_replicas
        );
        for node in model.nodes.keys() {
            line.push_str(&format!(" {:>12}", model.replicas_on(name, node)));
        }
        if volume.rebuilds.is_empty() {
            line.push_str("  -");
        } else {
            let progress: Vec<String> = volume.rebuilds.iter().map(|p| format!("{p}%")).collect();
            line.push_str(&format!("  {}", progress.join(" ")));
        }
        lines.push(Line::raw(line));
    }
    Paragraph::new(lines).block(Block::bordered().title("Longhorn volumes (replicas per node)"))
}

fn active_alerts(model: &Model) -> Paragraph<'static> {
    let lines: Vec<Line> = if model.active.is_empty() {
        vec![Line::raw("none")]
    } else {
        model
            .active
            .values()
            .filter_map(|alert| match alert {
                Alert::Raised {
                    id,
                    detector,
                    subject,
                    severity,
                    at,
                    ..
                } => Some([
                    Line::from(vec![
                        Span::styled(
                            format!("{:<7} ", severity.as_str()),
                            Style::new().add_modifier(Modifier::BOLD),
                        ),
                        Span::raw(format!("{detector} {subject} since {at}")),
                    ]),
                    // The runbook's counter-moves that fit the owner, as `posture watch
                    // --act` names them (or the owner's own move).
                    Line::raw(format!(
                        "        act: {}",
                        model
                            .moves
                            .get(id)
                            .map(|m| m.join(", "))
                            .unwrap_or_default()
                    )),
                ]),
                Alert::Cleared { .. } => None,
            })
            .flatten()
            .collect()
    };
    Paragraph::new(lines)
        .block(Block::bordered().title(format!("Active alerts ({})", model.active.len())))
}

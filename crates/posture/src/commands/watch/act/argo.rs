//! `watch --act argo-rollback`: prints the Argo CD Applications behind the workloads, their
//! history and the exact rollback commands (or the same facts as JSON).

use std::fmt::Write as _;

use posture_kube::watch::act::argo::{ArgoApplication, ArgoFindings, read_argo};

use crate::cli::WatchOutput;
use crate::error::{CliError, exit};

pub(super) async fn run(
    client: &kube::Client,
    cluster: &posture_kube::ClusterEndpoint,
    output: WatchOutput,
) -> Result<u8, CliError> {
    // `--act` runs instead of the detectors, so there are no alerts to narrow the workloads.
    let findings = read_argo(client, cluster, None)
        .await
        .map_err(CliError::Act)?;
    let text = match output {
        WatchOutput::Human => render(&findings),
        WatchOutput::Json => super::json(&findings)?,
    };
    super::print_text(&text)?;
    Ok(match findings {
        ArgoFindings::Forbidden { .. } => exit::FINDINGS,
        _ => exit::OK,
    })
}

/// The human report: one block per Application, commands last.
pub(super) fn render(findings: &ArgoFindings) -> String {
    let found = match findings {
        ArgoFindings::NotInstalled => {
            return "argo-rollback: Argo CD is not installed (applications.argoproj.io not served); nothing to roll back\n".into();
        }
        ArgoFindings::Forbidden { message } => {
            return format!(
                "argo-rollback: forbidden: these credentials may not list applications.argoproj.io ({message})\n"
            );
        }
        ArgoFindings::Installed(found) => found,
    };
    let mut out = format!(
        "argo-rollback: {} ({})\nposture runs none of these commands; run them yourself after reading them.\n",
        plural(found.applications.len(), "Application"),
        found.rule.describe()
    );
    for app in &found.applications {
        application(&mut out, app);
    }
    out
}

fn application(out: &mut String, app: &ArgoApplication) {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "\nApplication {}/{}", app.namespace, app.name);
    let _ = writeln!(
        out,
        "  sync: {} at revision {}; health {}",
        dash(&app.sync_status),
        dash(&app.revision),
        dash(&app.health_status)
    );
    let _ = writeln!(
        out,
        "  automated sync: {}",
        if app.automated_sync {
            "on (spec.syncPolicy.automated)"
        } else {
            "off"
        }
    );
    if app.workloads.is_empty() {
        let _ = writeln!(out, "  workloads: none found carrying its tracking");
    } else {
        let _ = writeln!(out, "  workloads:");
        for w in &app.workloads {
            let _ = writeln!(
                out,
                "    {} {}/{}",
                w.kind,
                w.namespace.as_deref().unwrap_or("-"),
                w.name
            );
        }
    }
    if app.history.is_empty() {
        let _ = writeln!(out, "  history: empty");
    } else {
        let _ = writeln!(out, "  history (status.history, oldest first):");
        let newest = app.history.last().map(|h| h.id);
        for entry in &app.history {
            let mark = if Some(entry.id) == newest {
                "  <- deployed now"
            } else if Some(entry.id) == app.rollback_to {
                "  <- rollback target"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    id {}  revision {}  deployed {}{mark}",
                entry.id,
                dash(&entry.revision),
                dash(&entry.deployed_at)
            );
        }
    }
    for note in &app.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    let _ = writeln!(out, "  commands:");
    for command in &app.commands {
        let _ = writeln!(out, "    {command}");
    }
}

pub(super) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

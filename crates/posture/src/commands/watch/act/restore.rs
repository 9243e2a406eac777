//! `watch --act snapshot-restore`: prints the Longhorn volumes involved, who uses them, their
//! snapshots and backups, and the exact revert steps (or the same facts as JSON).

use std::fmt::Write as _;

use posture_kube::watch::act::restore::{RestorePlan, VolumeRestore, read_restore};

use crate::cli::WatchOutput;
use crate::error::{CliError, exit};

pub(super) async fn run(
    client: &kube::Client,
    cluster: &posture_kube::ClusterEndpoint,
    policy: &posture_core::Policy,
    output: WatchOutput,
) -> Result<u8, CliError> {
    // `--act` runs instead of the detectors, so there are no alerts to name volumes.
    let plan = read_restore(client, cluster, policy, None)
        .await
        .map_err(CliError::Act)?;
    let text = match output {
        WatchOutput::Human => render(&plan),
        WatchOutput::Json => super::json(&plan)?,
    };
    super::print_text(&text)?;
    Ok(exit::OK)
}

/// The human report: one block per volume, the steps last.
pub(super) fn render(plan: &RestorePlan) -> String {
    if plan.longhorn_namespace.is_none() {
        return "snapshot-restore: no Longhorn volume found; nothing to restore\n".into();
    }
    let mut out = format!(
        "snapshot-restore: {} ({})\nposture runs none of these steps; reverting loses every write made after the snapshot.\n",
        super::argo::plural(plan.volumes.len(), "volume"),
        plan.rule.describe()
    );
    if !plan.backups_listed {
        out.push_str("backups.longhorn.io is not served or not readable: backups are not listed\n");
    }
    for volume in &plan.volumes {
        render_volume(&mut out, volume);
    }
    out
}

fn render_volume(out: &mut String, v: &VolumeRestore) {
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "\nVolume {}", v.name);
    let _ = writeln!(
        out,
        "  state {}, robustness {}, node {}",
        dash(&v.state),
        dash(&v.robustness),
        dash(&v.node)
    );
    let _ = writeln!(out, "  pv {}, pvc {}", dash(&v.pv), dash(&v.pvc));
    for w in &v.workloads {
        let _ = writeln!(
            out,
            "  used by {} {}/{} ({} replica(s))",
            w.object.kind,
            w.object.namespace.as_deref().unwrap_or("-"),
            w.object.name,
            w.replicas.unwrap_or(1)
        );
    }
    if !v.pods.is_empty() {
        let _ = writeln!(out, "  pods: {}", v.pods.join(", "));
    }
    if v.snapshots.is_empty() {
        let _ = writeln!(out, "  snapshots: none");
    } else {
        let _ = writeln!(out, "  snapshots (newest first):");
        for s in &v.snapshots {
            let ready = match s.ready_to_use {
                Some(true) => "ready",
                Some(false) => "not ready",
                None => "readiness unknown",
            };
            let target = if v.revert_to.as_deref() == Some(s.name.as_str()) {
                "  <- revert target"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    {}  created {}  {ready}{target}",
                s.name,
                dash(&s.creation_time)
            );
        }
    }
    if !v.backups.is_empty() {
        let _ = writeln!(out, "  backups (newest first):");
        for b in &v.backups {
            let _ = writeln!(
                out,
                "    {}  of snapshot {}  {}  created {}",
                b.name,
                dash(&b.snapshot),
                dash(&b.state),
                dash(&b.created_at)
            );
        }
    }
    for note in &v.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    let _ = writeln!(out, "  steps:");
    for (n, step) in v.steps.iter().enumerate() {
        let _ = writeln!(out, "    {}. {}", n + 1, step.what);
        if let Some(command) = &step.command {
            let _ = writeln!(out, "       {command}");
        }
    }
}

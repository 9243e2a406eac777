//! The route as a Markdown document an operator can follow on paper.

use std::fmt::Write;

use super::{HaPlan, HostCommand};

fn command_block(out: &mut String, commands: &[HostCommand]) {
    out.push_str("```sh\n");
    let mut host: Option<&str> = None;
    for c in commands {
        if host != Some(c.on.as_str()) {
            match c.on.as_str() {
                "any" => out.push_str("# from a machine with kubectl and posture\n"),
                on => {
                    let _ = writeln!(out, "# on {on}");
                }
            }
            host = Some(&c.on);
        }
        let _ = writeln!(out, "{}", c.run);
    }
    out.push_str("```\n");
}

pub fn markdown(plan: &HaPlan) -> String {
    let mut out = String::new();
    let s = &plan.servers;
    let _ = writeln!(out, "# HA migration plan: three embedded-etcd servers\n");
    let _ = writeln!(out, "- Cluster: {}", plan.source);
    let _ = writeln!(out, "- Datastore now: {}", plan.datastore);
    let _ = writeln!(out, "- Where it stands: {}", plan.position);
    if let Some(v) = &plan.version {
        let _ = writeln!(out, "- k3s version for every new server: {v}");
    }
    for (role, server) in [
        ("First", &s.first),
        ("Second", &s.second),
        ("Third", &s.third),
    ] {
        let address = server
            .address
            .as_deref()
            .map(|a| format!(", {a}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {role} server: {} ({}{address})",
            server.name, server.now
        );
    }
    out.push_str("\nEvery step is **manual**: posture runs no command on a host. Do one step, run its checks, and go on only when they hold; each step says how to go back. Approval is required before step 1 (runbook 2.1).\n");
    for note in &plan.notes {
        let _ = writeln!(out, "\n> Note: {note}");
    }
    for step in &plan.steps {
        let _ = writeln!(out, "\n## Step {}: {} (manual)\n", step.number, step.title);
        let _ = writeln!(out, "{}\n", step.why);
        command_block(&mut out, &step.commands);
        out.push_str("\nCheck before going on:\n\n");
        for c in &step.checks {
            let _ = writeln!(out, "- `{}`: {}", c.command, c.expect);
        }
        if step.rollback.is_empty() {
            out.push_str("\nRollback: nothing to undo.\n");
        } else {
            out.push_str("\nRollback:\n\n");
            command_block(&mut out, &step.rollback);
        }
    }
    let _ = writeln!(out, "\n## Not taken: {}\n", plan.alternative.title);
    for why in &plan.alternative.why_not {
        let _ = writeln!(out, "- {why}");
    }
    out.push_str("\nWhy not two servers: etcd needs a majority of its members. With two, that is both, so losing either stops the API: less available than one server. This plan never ends at two.\n");
    out
}

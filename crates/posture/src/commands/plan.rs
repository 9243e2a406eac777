//! `posture plan`: the runbook's changes for a live cluster or a saved snapshot, as a diff and
//! as a plan file that `apply` carries out.

use std::path::{Path, PathBuf};

use posture_core::plan::{ClusterIdentity, Delivery, Plan, PlanInputs, PlanOptions, parse_section};

use crate::cli::{GlobalArgs, HaFormat, PlanArgs};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<u8, CliError> {
    let policy = super::load_policy(global)?;
    let sections = args
        .section
        .iter()
        .map(|name| parse_section(name).ok_or_else(|| CliError::UnknownSection(name.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let host_facts = super::load_host_facts(&args.host_facts)?;
    let (mut snapshot, server) = match &args.snapshot {
        Some(path) => {
            let snapshot = super::load_snapshot(path)?;
            let server = snapshot.info.source.clone();
            (snapshot, server)
        }
        None => {
            let snapshot = super::collect_live(global)?;
            let server = snapshot.info.source.clone();
            (snapshot, server)
        }
    };
    snapshot.host_facts.extend(host_facts);
    super::check::policy_fits(global, &policy, &snapshot)?;
    if args.ha {
        return ha(&snapshot, &policy, args);
    }
    let cluster =
        ClusterIdentity::from_snapshot(&snapshot, &server).ok_or(CliError::NoClusterIdentity)?;
    let options = PlanOptions {
        sections,
        allow_owned: args.allow_owned,
        ingress_daemonset: args.ingress_daemonset,
    };
    let plan = posture_core::plan::plan(&snapshot, &policy, &PlanInputs { cluster, options })
        .map_err(CliError::Plan)?;
    render::write_stdout(&render::diff::render_plan(&plan))?;
    if let Some(output) = &args.output {
        super::write_file(output, &plan.to_json_pretty())?;
        anstream::eprintln!("wrote {}", output.display());
        for (name, content) in deliveries(&plan) {
            let target = beside(output, &name);
            super::write_file(&target, &content)?;
            anstream::eprintln!(
                "wrote {} (commit it to the owner's source)",
                target.display()
            );
        }
    } else {
        print_deliveries(&plan)?;
    }
    Ok(blocked_or_ok(&plan))
}

/// The owners' files, after the plan on stdout, when they are not written beside a plan file.
fn print_deliveries(plan: &Plan) -> Result<(), CliError> {
    for (name, content) in deliveries(plan) {
        render::write_stdout(&format!(
            "\n--- {name} (commit it to the owner's source)\n{content}\n"
        ))?;
    }
    Ok(())
}

/// The exit code of a plan shown: blocked plans say so on stderr and fail.
fn blocked_or_ok(plan: &Plan) -> u8 {
    if plan.blockers.is_empty() {
        return exit::OK;
    }
    anstream::eprintln!(
        "plan blocked: {} finding(s) must be fixed first; `posture check` shows their evidence",
        plan.blockers.len()
    );
    exit::FINDINGS
}

/// `posture show PLAN`: a saved plan as `plan` printed it, with its owners' files and
/// blockers; the file's hash is checked as apply checks it.
pub(crate) fn show(global: &GlobalArgs, args: &crate::cli::ShowArgs) -> Result<u8, CliError> {
    let plan = super::apply::read_plan(&args.plan)?;
    if args.live {
        return show_arrivals(global, &plan);
    }
    render::write_stdout(&render::diff::render_plan(&plan))?;
    print_deliveries(&plan)?;
    Ok(blocked_or_ok(&plan))
}

/// `show --live`: each change delivered through its owner, arrived or still waiting.
fn show_arrivals(global: &GlobalArgs, plan: &Plan) -> Result<u8, CliError> {
    use posture_core::plan::arrival::{Arrival, owner_changes};
    let snapshot = super::collect_live(global)?;
    let changes = owner_changes(plan, &snapshot);
    let mut text = String::new();
    if changes.is_empty() {
        text.push_str("no change in this plan is delivered through its owner\n");
    }
    for (id, object, arrival) in &changes {
        let line = match arrival {
            Arrival::Arrived => {
                format!("{id} {object}: arrived (the live object holds the change)")
            }
            Arrival::Waiting { paths } => {
                format!(
                    "{id} {object}: waiting for the owner ({} not there yet)",
                    paths.join(", ")
                )
            }
            Arrival::Missing => format!("{id} {object}: not in the cluster"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    render::write_stdout(&text)?;
    Ok(exit::OK)
}

/// `plan --ha`: the route to three embedded-etcd servers, as Markdown or JSON, on stdout or in
/// the `-o` file. Nothing in it is applied: every step runs on a host.
fn ha(
    snapshot: &posture_core::Snapshot,
    policy: &posture_core::Policy,
    args: &PlanArgs,
) -> Result<u8, CliError> {
    let plan = posture_core::ha::ha_plan(snapshot, policy, args.third_server.as_deref())
        .map_err(CliError::Ha)?;
    let text = match args.format {
        HaFormat::Markdown => posture_core::ha::markdown(&plan),
        HaFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&plan).map_err(|e| CliError::Serialize {
                    what: "HA plan",
                    source: Box::new(e),
                })?;
            text.push('\n');
            text
        }
    };
    match &args.output {
        Some(output) => {
            super::write_file(output, &text)?;
            anstream::eprintln!("wrote {}", output.display());
        }
        None => render::write_stdout(&text)?,
    }
    Ok(exit::OK)
}

/// Source files for changes their owner delivers: (file name, content).
fn deliveries(plan: &Plan) -> Vec<(String, String)> {
    plan.stages
        .iter()
        .flat_map(|s| &s.changes)
        .filter_map(|c| match &c.delivery {
            Delivery::SourceFile {
                file_name,
                content,
                instructions,
            } => {
                let mut text = String::new();
                for line in instructions {
                    text.push_str(&format!("# {line}\n"));
                }
                text.push_str(content);
                Some((file_name.clone(), text))
            }
            Delivery::Live => None,
        })
        .collect()
}

fn beside(plan_file: &Path, name: &str) -> PathBuf {
    let file = Path::new(name)
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("delivery.yaml"));
    plan_file.parent().unwrap_or(Path::new(".")).join(file)
}

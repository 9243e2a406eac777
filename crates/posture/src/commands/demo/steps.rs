//! Steps 2, 3 and the last: check, plan and what to run next. They reuse the check and plan
//! code the real commands run, condensed for reading.

use clap::CommandFactory;
use posture_core::Severity;
use posture_core::plan::{ClusterIdentity, Delivery, PlanInputs, PlanOptions};

use super::DemoContext;
use crate::cli::Cli;
use crate::error::CliError;

pub(super) fn check(ctx: &mut DemoContext) -> Result<(), CliError> {
    ctx.out.explain(
        "posture reads the cluster with one LIST per resource (read-only) and judges it against \
         the runbook's checks: control plane, ingress, CoreDNS, Longhorn and who owns what.",
    );
    ctx.out.command(format!(
        "posture check --kubeconfig {}",
        ctx.kubeconfig.display()
    ));
    let snapshot = ctx.collect()?;
    let report = posture_core::checks::run(&snapshot, &ctx.policy);
    let s = &report.summary;
    ctx.out.fact(format!(
        "{} errors, {} warnings, {} info; checks: {} passed, {} failed, {} unknown, {} skipped",
        s.errors,
        s.warnings,
        s.infos,
        s.checks_passed,
        s.checks_failed,
        s.checks_unknown,
        s.checks_skipped
    ));
    ctx.out.explain(
        "The error-level findings, each against the runbook's target for surviving a node loss:",
    );
    for finding in report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        ctx.out.bad(format!("{} ({})", finding.id, finding.object));
        ctx.out.dim(format!("      {}", finding.message));
    }
    ctx.out.explain(
        "The full report adds warnings, the evidence (with the kubectl command to see it) and \
         the fix for each finding. Exit code 1 means an error-level finding remains.",
    );
    Ok(())
}

pub(super) fn plan(ctx: &mut DemoContext) -> Result<(), CliError> {
    ctx.out.explain(
        "From the same snapshot posture plans the runbook's changes as stages. Each change \
         records the object's resourceVersion, a patch and its inverse, and the condition that \
         proves it worked. Objects that Argo CD, Flux, Helm or k3s own get a file for their \
         source instead of a live patch their owner would revert.",
    );
    if has_subcommand("plan") {
        ctx.out.command("posture plan");
    }
    let snapshot = ctx.collect()?;
    let Some(cluster) = ClusterIdentity::from_snapshot(&snapshot, &ctx.cluster.server) else {
        ctx.out
            .bad("the cluster has no kube-system Namespace uid to plan against");
        return Ok(());
    };
    let inputs = PlanInputs {
        cluster,
        options: PlanOptions::default(),
    };
    let plan = match posture_core::plan::plan(&snapshot, &ctx.policy, &inputs) {
        Ok(plan) => plan,
        Err(error) => {
            ctx.out.bad(format!("cannot plan: {error}"));
            return Ok(());
        }
    };
    let changes: usize = plan.stages.iter().map(|s| s.changes.len()).sum();
    ctx.out.fact(format!(
        "{} stages, {} changes (primary {}, secondary {})",
        plan.stages.len(),
        changes,
        plan.primary.as_deref().unwrap_or("unknown"),
        plan.secondary.as_deref().unwrap_or("unknown"),
    ));
    for (index, stage) in plan.stages.iter().enumerate() {
        let approval = if stage.runbook_approval_required {
            " [runbook: approval required]"
        } else {
            ""
        };
        ctx.out
            .fact(format!("{}. {}{approval}", index + 1, stage.title));
        for change in &stage.changes {
            let how = match &change.delivery {
                Delivery::Live => String::new(),
                Delivery::SourceFile { file_name, .. } => {
                    format!(" -> file {file_name} for its owner")
                }
            };
            let summary = if change.summary.contains(&change.object.name) {
                change.summary.clone()
            } else {
                format!("{}: {}", change.object.name, change.summary)
            };
            ctx.out.dim(format!("       - {summary}{how}"));
        }
    }
    for note in &plan.notes {
        ctx.out.fact(format!("note: {note}"));
    }
    ctx.plan = Some(plan);
    Ok(())
}

pub(super) fn drill(ctx: &mut DemoContext) -> Result<(), CliError> {
    let Some(node) = ctx.plan.as_ref().and_then(|p| p.secondary.clone()) else {
        ctx.out.bad("no secondary node to drill");
        return Ok(());
    };
    ctx.out.explain(
        "Before anyone drains a node, posture works out what losing it would do: where each of \
         its pods would go, which Services and Longhorn volumes suffer, what would hold a drain, \
         and it asks the API server for a dry-run drain. Nothing changes.",
    );
    ctx.out.command(format!("posture drill {node}"));
    let snapshot = ctx.collect()?;
    let what = match posture_core::drill::what_if(&snapshot, &node, &ctx.policy) {
        Ok(what) => what,
        Err(error) => {
            ctx.out.bad(format!("cannot drill: {error}"));
            return Ok(());
        }
    };
    let answers = ctx
        .runtime
        .block_on(posture_kube::drill::server_dry_run(&ctx.client, &node))
        .map_err(CliError::ServerDrill)?;
    let what = posture_core::drill::with_server_answers(what, answers);
    ctx.out.fact(format!(
        "verdict: {} ({} blocker(s), {} degradation(s))",
        what.verdict.as_str(),
        what.blockers.len(),
        what.degradations.len()
    ));
    for blocker in &what.blockers {
        ctx.out.bad(format!("{} ({})", blocker.id, blocker.object));
        ctx.out.dim(format!("      {}", blocker.message));
    }
    for degradation in &what.degradations {
        ctx.out
            .fact(format!("{} ({})", degradation.id, degradation.object));
        ctx.out.dim(format!("      {}", degradation.message));
    }
    ctx.out.explain(
        "The next step stops that node for real (on the simulated cluster) and shows it happen.",
    );
    Ok(())
}

pub(super) fn next(ctx: &mut DemoContext) -> Result<(), CliError> {
    ctx.out.explain(
        "Everything above ran against the simulated cluster. Against your own cluster (the \
         current kubeconfig context, or --kubeconfig/--context as kubectl takes them):",
    );
    ctx.out
        .command("posture check                        # read-only; exit 1 when an error remains");
    ctx.out
        .command("posture snapshot -o cluster.yaml     # save what check reads");
    ctx.out
        .command("posture check --snapshot cluster.yaml  # judge it later, offline");
    for (name, args, what) in [
        ("plan", "-o plan.json", "the staged changes, as above"),
        ("apply", "plan.json", "carry them out, stage by stage"),
        (
            "rollback",
            "--journal plan.json.journal",
            "undo what apply did",
        ),
        ("watch", "", "follow the cluster and alert"),
        ("drill", "NODE", "what losing NODE would do (read-only)"),
    ] {
        if has_subcommand(name) {
            let invocation = format!("{name} {args}");
            ctx.out
                .command(format!("posture {:<30} # {what}", invocation.trim_end()));
        }
    }
    ctx.out
        .explain("To explore the simulated cluster yourself with kubectl:");
    ctx.out
        .command("posture twin serve                   # prints the export KUBECONFIG=... line");
    ctx.out.command("posture twin fault stop-node NODE");
    Ok(())
}

/// Whether this build of posture has the subcommand, so the demo never points at one it lacks.
fn has_subcommand(name: &str) -> bool {
    Cli::command().find_subcommand(name).is_some()
}

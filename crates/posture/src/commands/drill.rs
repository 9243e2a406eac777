//! `posture drill NODE`: what losing the node would do, worked out from the cluster's objects
//! (`posture_core::drill::what_if`) and, on a live cluster, the API server's own answer to a
//! dry-run drain. Nothing is changed: every request that would write is sent with dryRun=All.
//!
//! With `--node-loss` or `--drain` and an approval, the drill itself runs
//! (`posture_kube::drill::run`) once the what-if has found it safe: the node goes away, the
//! runbook's success criteria are watched for the window, and the cluster is restored through
//! the restore gate. The what-if and the drill's progress go to stderr, its report to stdout.

use std::io::IsTerminal;
use std::path::PathBuf;

use posture_core::drill::observed::DrillReport;
use posture_core::drill::{Verdict, WhatIf, what_if, with_server_answers};
use posture_core::policy::Policy;
use posture_kube::drill::{DrillSettings, Power};

use super::RuntimeKind;
use crate::cli::{DrillArgs, GlobalArgs, OutputFormat};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(global: &GlobalArgs, args: &DrillArgs) -> Result<u8, CliError> {
    let policy = super::load_policy(global)?;
    if let Some(path) = &args.snapshot {
        let snapshot = super::load_snapshot(path)?;
        posture_core::ensure_cluster(&snapshot).map_err(CliError::Snapshot)?;
        super::check::policy_fits(global, &policy, &snapshot)?;
        let what = what_if(&snapshot, &args.node, &policy).map_err(CliError::Drill)?;
        return print_what_if(&what, args.output);
    }
    super::runtime(RuntimeKind::CurrentThread)?.block_on(async {
        // No client-side retries: a budget's 429 is the answer, not something to retry.
        let (client, cluster) = posture_kube::apply::client_for_apply(
            global.kubeconfig.as_deref(),
            global.context.as_deref(),
        )
        .await
        .map_err(CliError::Client)?;
        let snapshot = posture_kube::collect(&client, &cluster)
            .await
            .map_err(CliError::Collect)?;
        super::check::policy_fits(global, &policy, &snapshot)?;
        let mut what = what_if(&snapshot, &args.node, &policy).map_err(CliError::Drill)?;
        if !args.no_server_dry_run {
            let answers = posture_kube::drill::server_dry_run(&client, &args.node)
                .await
                .map_err(CliError::ServerDrill)?;
            what = with_server_answers(what, answers);
        }
        let Some(kind) = args.kind() else {
            if args.pause {
                return Err(CliError::DrillRefused {
                    node: args.node.clone(),
                    why: "--pause holds autoscalers for a drill that runs: add --drain or --node-loss".into(),
                });
            }
            return print_what_if(&what, args.output);
        };
        anstream::eprint!("{}", render::drill::human(&what));
        refuse_unless_drillable(&what, args)?;
        let power = if posture_kube::drill::is_twin(&client).await {
            Power::Twin
        } else {
            Power::Person
        };
        let probe = if args.probe {
            let target =
                posture_core::drill::observed::probe::target(&snapshot, &policy, &args.node)
                    .map_err(|why| CliError::DrillRefused {
                        node: args.node.clone(),
                        why: format!("cannot probe: {why}"),
                    })?;
            Some(target)
        } else {
            None
        };
        let mut settings = settings(args, kind, power, &what, policy);
        settings.probe = probe;
        settings.interrupt = Some(super::stop_on_signals(
            "aborting the drill: bringing the node back and waiting for the restore gate",
        ));
        let mut narrate = |line: &str| anstream::eprintln!("drill: {line}");
        let report = posture_kube::drill::run(&client, &cluster, &settings, &mut narrate)
            .await
            .map_err(|e| CliError::DrillRun(Box::new(e)))?;
        print_report(&report, args)
    })
}

fn print_what_if(what: &WhatIf, output: OutputFormat) -> Result<u8, CliError> {
    let text = match output {
        OutputFormat::Human => render::drill::human(what),
        OutputFormat::Json => render::drill::json(what)?,
        OutputFormat::Yaml => render::drill::yaml(what)?,
    };
    render::write_stdout(&text)?;
    Ok(match what.verdict {
        Verdict::Safe | Verdict::SafeDegraded => exit::OK,
        Verdict::Unsafe => exit::FINDINGS,
    })
}

/// A drill goes ahead only on a node whose loss the what-if finds survivable, and only with an
/// approval.
fn refuse_unless_drillable(what: &WhatIf, args: &DrillArgs) -> Result<(), CliError> {
    let refuse = |why: String| CliError::DrillRefused {
        node: args.node.clone(),
        why,
    };
    if what.control_plane.is_some() {
        return Err(refuse(
            "it runs the control plane: the API, every app pinned to it and the volumes' only \
             attachment go with it until a third server exists"
                .into(),
        ));
    }
    if what.verdict == Verdict::Unsafe {
        return Err(refuse(format!(
            "the what-if is unsafe ({} blocker(s) above)",
            what.blockers.len()
        )));
    }
    if args.approve {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(refuse(
            "stdin is not a terminal, so posture cannot ask; pass --approve".into(),
        ));
    }
    let question = format!(
        "take {} away for a {} drill of {}{}?",
        args.node,
        args.kind().map_or("", |k| k.as_str()),
        args.window,
        if args.pause {
            ", with the autoscalers of its workloads paused"
        } else {
            ""
        }
    );
    if super::confirm(&question).unwrap_or(false) {
        Ok(())
    } else {
        Err(refuse("not approved".into()))
    }
}

fn settings(
    args: &DrillArgs,
    kind: posture_core::drill::observed::DrillKind,
    power: Power,
    what: &WhatIf,
    policy: Policy,
) -> DrillSettings {
    DrillSettings {
        node: args.node.clone(),
        kind,
        power,
        window: args.window,
        settle: args.settle,
        not_ready_within: jiff::SignedDuration::from_mins(5),
        restore_within: args.restore_within,
        journal: args
            .journal
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("drill-{}.journal", args.node))),
        detect: policy.detect.clone(),
        policy,
        leases_from_node: what.leases.iter().map(|l| l.lease.clone()).collect(),
        tick_every: std::time::Duration::from_millis(500),
        interrupt: None,
        probe: None,
        pause: args.pause.then(|| {
            let journal = args
                .journal
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("drill-{}.journal", args.node)));
            super::apply::pause_journal(&journal)
        }),
    }
}

fn print_report(report: &DrillReport, args: &DrillArgs) -> Result<u8, CliError> {
    if let Some(path) = &args.report {
        super::write_file(path, &render::drill_report::markdown(report))?;
    }
    if let Some(path) = &args.html {
        super::write_file(path, &render::drill_report::html(report))?;
    }
    let text = match args.output {
        OutputFormat::Human => render::drill_report::human(report),
        OutputFormat::Json | OutputFormat::Yaml => render::drill_report::json(report)?,
    };
    render::write_stdout(&text)?;
    Ok(if report.interrupted {
        exit::INTERRUPTED
    } else if report.passed() {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

//! `posture drill NODE`: what losing the node would do, worked out from the cluster's objects
//! (`posture_core::drill::what_if`) and, on a live cluster, the API server's own answer to a
//! dry-run drain. Nothing is changed: every request that would write is sent with dryRun=All.

use posture_core::drill::{Verdict, WhatIf, what_if, with_server_answers};

use super::RuntimeKind;
use crate::cli::{DrillArgs, GlobalArgs, OutputFormat};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(global: &GlobalArgs, args: &DrillArgs) -> Result<u8, CliError> {
    let policy = super::load_policy(global)?;
    let what = match &args.snapshot {
        Some(path) => {
            let snapshot = super::load_snapshot(path)?;
            posture_core::ensure_cluster(&snapshot).map_err(CliError::Snapshot)?;
            super::check::policy_fits(global, &policy, &snapshot)?;
            what_if(&snapshot, &args.node, &policy).map_err(CliError::Drill)?
        }
        None => super::runtime(RuntimeKind::CurrentThread)?.block_on(async {
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
            let what = what_if(&snapshot, &args.node, &policy).map_err(CliError::Drill)?;
            if args.no_server_dry_run {
                return Ok::<WhatIf, CliError>(what);
            }
            let answers = posture_kube::drill::server_dry_run(&client, &args.node)
                .await
                .map_err(CliError::ServerDrill)?;
            Ok(with_server_answers(what, answers))
        })?,
    };
    let text = match args.output {
        OutputFormat::Human => render::drill::human(&what),
        OutputFormat::Json => render::drill::json(&what)?,
        OutputFormat::Yaml => render::drill::yaml(&what)?,
    };
    render::write_stdout(&text)?;
    Ok(match what.verdict {
        Verdict::Safe | Verdict::SafeDegraded => exit::OK,
        Verdict::Unsafe => exit::FINDINGS,
    })
}

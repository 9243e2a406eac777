//! `posture watch --act ACTION`: the runbook's "Act" while a storm is on. Settings changes are
//! dry-run and shown first, applied only with approval (`--approve` or a `y` at the prompt), and
//! journaled so `posture rollback --journal FILE` undoes them. Argo CD rollback and snapshot
//! restore read the cluster and print the objects involved and the exact commands, never run them.

mod argo;
mod restore;

use std::io::IsTerminal;

use posture_kube::watch::act::{
    Act, ActOutcome, act, primary_node, secondary_node, unpinned_workloads,
};

use crate::cli::{GlobalArgs, WatchAction, WatchArgs};
use crate::error::{CliError, exit};

pub(crate) fn run(
    global: &GlobalArgs,
    args: &WatchArgs,
    action: WatchAction,
) -> Result<u8, CliError> {
    let policy = crate::commands::load_policy(global)?;
    crate::commands::with_client(global, async |client, cluster| {
        if matches!(
            action,
            WatchAction::CordonSecondary | WatchAction::PinToPrimary | WatchAction::SnapshotRestore
        ) {
            // These place by the policy's topology: the nodes it names must be the cluster's.
            let snapshot = posture_kube::collect(&client, &cluster)
                .await
                .map_err(CliError::Collect)?;
            crate::commands::check::policy_fits(global, &policy, &snapshot)?;
        }
        let act_on = match action {
            WatchAction::CordonSecondary => Act::Cordon {
                node: secondary_node(&client, &cluster, &policy)
                    .await
                    .map_err(CliError::Act)?,
            },
            WatchAction::StopRebuilds => Act::StopRebuilds,
            WatchAction::DisableAutoBalance => Act::DisableAutoBalance,
            WatchAction::PinToPrimary => {
                return pin_to_primary(&client, &cluster, &policy, args).await;
            }
            WatchAction::ArgoRollback => return argo::run(&client, &cluster, args.output).await,
            WatchAction::SnapshotRestore => {
                return restore::run(&client, &cluster, &policy, args.output).await;
            }
        };
        run_all(&client, &cluster, args, &[act_on]).await
    })
}

/// Every workload with storage and no placement, pinned to the primary (both from the API).
async fn pin_to_primary(
    client: &kube::Client,
    cluster: &posture_kube::ClusterEndpoint,
    policy: &posture_core::Policy,
    args: &WatchArgs,
) -> Result<u8, CliError> {
    let node = primary_node(client, cluster, policy)
        .await
        .map_err(CliError::Act)?;
    let workloads = unpinned_workloads(client).await.map_err(CliError::Act)?;
    if workloads.is_empty() {
        print_text("pin-to-primary: every workload with storage is placed; nothing to do\n")?;
        return Ok(exit::OK);
    }
    let actions: Vec<Act> = workloads
        .into_iter()
        .map(|workload| Act::Pin {
            workload,
            node: node.clone(),
        })
        .collect();
    return run_all(client, cluster, args, &actions).await;
}

/// Dry-runs every action and shows its patch; with approval, applies and journals them in order.
async fn run_all(
    client: &kube::Client,
    cluster: &posture_kube::ClusterEndpoint,
    args: &WatchArgs,
    actions: &[Act],
) -> Result<u8, CliError> {
    let mut pending = Vec::new();
    for action in actions {
        let dry = act(client, cluster, action, None)
            .await
            .map_err(CliError::Act)?;
        match &dry.forward {
            None => print_text(&format!(
                "{}: {} already as wanted; nothing to do\n",
                action.name(),
                describe(&dry)
            ))?,
            Some(forward) => {
                print_text(&format!(
                    "{}: {} (dry run accepted by the API server)\npatch: {}\n",
                    action.name(),
                    describe(&dry),
                    serde_json::to_string(forward).unwrap_or_default()
                ))?;
                if let Some(caveat) = action.caveat() {
                    print_text(&format!("note: {caveat}\n"))?;
                }
                pending.push(action);
            }
        }
    }
    let Some(first) = pending.first() else {
        return Ok(exit::OK);
    };
    // As apply: a change nobody can approve is a usage error, not a quiet success.
    if !args.approve && !std::io::stdin().is_terminal() {
        return Err(CliError::ActNeedsApproval);
    }
    if !args.approve && !crate::commands::confirm(&format!("apply {}?", first.name()))? {
        anstream::eprintln!("not applied: pass --approve to apply");
        return Ok(exit::OK);
    }
    for action in pending {
        act(client, cluster, action, Some(&args.journal))
            .await
            .map_err(CliError::Act)?;
    }
    print_text(&format!(
        "applied; journaled to {} (undo: posture rollback --journal {})\n",
        args.journal.display(),
        args.journal.display()
    ))?;
    Ok(exit::OK)
}

fn describe(outcome: &ActOutcome) -> String {
    format!(
        "{} {}/{}",
        outcome.object.kind,
        outcome.object.namespace.as_deref().unwrap_or("-"),
        outcome.object.name
    )
}

fn print_text(text: &str) -> Result<(), CliError> {
    crate::render::write_stdout(text)
}

/// Pretty JSON of a report, newline-terminated.
fn json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|source| CliError::Serialize {
            what: "act report",
            source: Box::new(source),
        })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

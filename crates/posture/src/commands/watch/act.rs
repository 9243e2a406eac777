//! `posture watch --act ACTION`: the runbook's "Act" while a storm is on. Settings changes are
//! dry-run and shown first, applied only with approval (`--approve` or a `y` at the prompt), and
//! journaled so `posture rollback --journal FILE` undoes them. Argo CD rollback and snapshot
//! restore are printed, never run.

use std::io::{BufRead, IsTerminal, Write};

use posture_kube::watch::act::{Act, ActOutcome, act, secondary_node};

use crate::cli::{GlobalArgs, WatchAction, WatchArgs};
use crate::error::{CliError, exit};

pub(crate) fn run(
    global: &GlobalArgs,
    args: &WatchArgs,
    action: WatchAction,
) -> Result<u8, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let (client, cluster) =
            posture_kube::client_from(global.kubeconfig.as_deref(), global.context.as_deref())
                .await
                .map_err(CliError::Client)?;
        let act_on = match action {
            WatchAction::RecordonSecondary => Act::Cordon {
                node: secondary_node(&client, &cluster)
                    .await
                    .map_err(CliError::Act)?,
            },
            WatchAction::StopRebuilds => Act::StopRebuilds,
            WatchAction::DisableAutoBalance => Act::DisableAutoBalance,
            WatchAction::ArgoRollback => {
                print_text(ARGO_ROLLBACK)?;
                return Ok(exit::OK);
            }
            WatchAction::SnapshotRestore => {
                print_text(SNAPSHOT_RESTORE)?;
                return Ok(exit::OK);
            }
        };
        let dry = act(&client, &cluster, &act_on, None)
            .await
            .map_err(CliError::Act)?;
        let Some(forward) = &dry.forward else {
            print_text(&format!(
                "{}: {} already as wanted; nothing to do\n",
                act_on.name(),
                describe(&dry)
            ))?;
            return Ok(exit::OK);
        };
        print_text(&format!(
            "{}: {} (dry run accepted by the API server)\npatch: {}\n",
            act_on.name(),
            describe(&dry),
            serde_json::to_string(forward).unwrap_or_default()
        ))?;
        if !args.approve && !ask(&act_on)? {
            anstream::eprintln!("not applied: pass --approve to apply");
            return Ok(exit::OK);
        }
        let done = act(&client, &cluster, &act_on, Some(&args.journal))
            .await
            .map_err(CliError::Act)?;
        print_text(&format!(
            "applied; journaled to {} (undo: posture rollback --journal {})\n",
            args.journal.display(),
            args.journal.display()
        ))?;
        debug_assert!(done.applied || done.forward.is_none());
        Ok(exit::OK)
    })
}

fn describe(outcome: &ActOutcome) -> String {
    format!(
        "{} {}/{}",
        outcome.object.kind,
        outcome.object.namespace.as_deref().unwrap_or("-"),
        outcome.object.name
    )
}

/// Asks on a terminal; anything but `y` declines, and no terminal never approves.
fn ask(action: &Act) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    anstream::eprint!("apply {}? [y/N] ", action.name());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(CliError::Runtime)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

fn print_text(text: &str) -> Result<(), CliError> {
    crate::render::write_stdout(text)
}

const ARGO_ROLLBACK: &str = "\
Argo CD rollback is not run by posture. To roll an Application back:
  kubectl get applications.argoproj.io -A          # the Applications and their sync state
  argocd app history APP                            # the deployed revisions and their IDs
  argocd app set APP --sync-policy none             # stop auto-sync undoing the rollback
  argocd app rollback APP ID                        # redeploy revision ID
";

const SNAPSHOT_RESTORE: &str = "\
Snapshot restore is not run by posture. For a Longhorn volume:
  kubectl -n longhorn-system get volumes.longhorn.io                       # the volumes
  kubectl -n longhorn-system get snapshots.longhorn.io -l longhornvolume=VOL
  kubectl -n longhorn-system get backups.longhorn.io -l longhornvolume=VOL
  # scale the workload using VOL to 0, then revert from the Longhorn UI
  # (Volume > Snapshots > Revert) or restore a backup to a new volume and rebind its PVC
";

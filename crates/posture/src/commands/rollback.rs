//! `posture rollback`: undoes what a journal says was applied, newest first, never overwriting
//! an object someone changed since. A journal `watch --act` wrote needs no plan file. What an
//! `apply --pause` run left paused (it was killed) is restored after its changes are undone.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use posture_core::apply::journal::{AppliedChange, rollback_queue_for};
use posture_core::apply::{ApplyOptions, ApplyState, Halt, Mode};
use posture_core::plan::Plan;
use posture_kube::apply::lock::LockSettings;
use posture_kube::apply::{ApproveAll, EngineSettings};
use posture_kube::journal::{JournalFile, read_journal};
use posture_kube::watch::act::journal::{is_act_journal, rollback_plan};

use crate::cli::{GlobalArgs, RollbackArgs};
use crate::error::{CliError, exit};

pub(crate) fn run(global: &GlobalArgs, args: &RollbackArgs) -> Result<u8, CliError> {
    if !args.approve && !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsApproval);
    }
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from("plan.json.journal"));
    let (mut journal, parsed) = JournalFile::open(&journal_path).map_err(CliError::Journal)?;
    let (plan, queue) = if is_act_journal(&parsed.header) && args.plan.is_none() {
        // `watch --act` journals have no plan file: the plan is rebuilt from the journal.
        rollback_plan(&parsed).map_err(CliError::ActJournal)?
    } else {
        let plan_path = args.plan.clone().unwrap_or_else(|| {
            let text = journal_path.as_os_str().to_string_lossy();
            PathBuf::from(text.strip_suffix(".journal").unwrap_or(&text).to_owned())
        });
        let plan = super::apply::read_plan(&plan_path)?;
        let queue = rollback_queue_for(&plan, &parsed).map_err(CliError::JournalPlan)?;
        (plan, queue)
    };
    // What an `apply --pause` run that was killed left paused, restored once its changes are undone.
    let pause_path = super::apply::pause_journal(&journal_path);
    let paused = pause_queue(&pause_path)?;
    if queue.is_empty() && paused.as_ref().is_none_or(|(_, q)| q.is_empty()) {
        anstream::eprintln!("nothing to roll back: the journal records no applied change");
        return Ok(exit::OK);
    }
    if !queue.is_empty() {
        anstream::eprintln!("rolling back {} change(s), newest first:", queue.len());
    }
    for change in &queue {
        anstream::eprintln!("  {} on {}", change.change, change.object);
    }
    if let Some((_, pauses)) = paused.as_ref().filter(|(_, q)| !q.is_empty()) {
        anstream::eprintln!(
            "then restoring {} pause(s) from {}:",
            pauses.len(),
            pause_path.display()
        );
        for change in pauses {
            anstream::eprintln!("  {}", change.object);
        }
    }
    // An answer that cannot be read is no approval: halt as for a "no".
    if !args.approve && !super::confirm("roll these back?").unwrap_or(false) {
        return Ok(exit::HALTED);
    }
    let resume = format!("posture rollback --journal {}", journal_path.display());
    if !queue.is_empty() {
        let outcome = rollback_run(global, args, &mut journal, &plan, queue)?;
        let undone = matches!(
            outcome.state,
            ApplyState::Done | ApplyState::Halted(Halt::RolledBack)
        ) && !outcome.interrupted;
        if !undone {
            if paused.is_some() {
                anstream::eprintln!(
                    "the pauses stay in place until the changes are undone; `{resume}` again restores both"
                );
            }
            return Ok(super::apply::report(
                &outcome,
                false,
                &journal_path,
                &resume,
            ));
        }
        if paused.is_none() {
            return Ok(super::apply::report(
                &outcome,
                false,
                &journal_path,
                &resume,
            ));
        }
    }
    let Some((pause_plan, pauses)) = paused.filter(|(_, q)| !q.is_empty()) else {
        return Ok(exit::OK);
    };
    let (mut pause_file, _) = JournalFile::open(&pause_path).map_err(CliError::Journal)?;
    let count = pauses.len();
    let outcome = rollback_run(global, args, &mut pause_file, &pause_plan, pauses)?;
    if matches!(outcome.state, ApplyState::Halted(Halt::RolledBack)) && !outcome.interrupted {
        anstream::eprintln!("restored {count} pause(s)");
    }
    Ok(super::apply::report(&outcome, false, &pause_path, &resume))
}

/// The pause journal's plan and what it still holds paused; `None` when there is no such journal.
fn pause_queue(path: &Path) -> Result<Option<(Plan, Vec<AppliedChange>)>, CliError> {
    if !path.exists() {
        return Ok(None);
    }
    let parsed = read_journal(path).map_err(CliError::Journal)?;
    rollback_plan(&parsed)
        .map(Some)
        .map_err(CliError::ActJournal)
}

fn rollback_run(
    global: &GlobalArgs,
    args: &RollbackArgs,
    journal: &mut JournalFile,
    plan: &Plan,
    queue: Vec<AppliedChange>,
) -> Result<posture_kube::apply::Outcome, CliError> {
    let run = super::apply::EngineRun {
        options: ApplyOptions {
            auto_approve: true,
            ..ApplyOptions::default()
        },
        settings: EngineSettings {
            narrate: true,
            lock_wait: crate::cli::lock_wait(args.lock_timeout),
            ..EngineSettings::new(LockSettings::for_this_process(args.break_lock))
        },
        journal,
        approver: &mut ApproveAll,
    };
    run.run(global, plan, Mode::Rollback(queue))
}

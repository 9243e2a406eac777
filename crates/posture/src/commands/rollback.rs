//! `posture rollback`: undoes what a journal says was applied, newest first, never overwriting
//! an object someone changed since. A journal `watch --act` wrote needs no plan file.

use std::io::IsTerminal;
use std::path::PathBuf;

use posture_core::apply::journal::rollback_queue_for;
use posture_core::apply::{ApplyOptions, Mode};
use posture_kube::apply::lock::LockSettings;
use posture_kube::apply::{ApproveAll, EngineSettings};
use posture_kube::journal::JournalFile;
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
    if queue.is_empty() {
        anstream::eprintln!("nothing to roll back: the journal records no applied change");
        return Ok(exit::OK);
    }
    anstream::eprintln!("rolling back {} change(s), newest first:", queue.len());
    for change in &queue {
        anstream::eprintln!("  {} on {}", change.change, change.object);
    }
    // An answer that cannot be read is no approval: halt as for a "no".
    if !args.approve && !super::confirm("roll these back?").unwrap_or(false) {
        return Ok(exit::HALTED);
    }
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
        journal: &mut journal,
        approver: &mut ApproveAll,
    };
    let outcome = run.run(global, &plan, Mode::Rollback(queue))?;
    let resume = format!("posture rollback --journal {}", journal_path.display());
    Ok(super::apply::report(
        &outcome,
        false,
        &journal_path,
        &resume,
    ))
}

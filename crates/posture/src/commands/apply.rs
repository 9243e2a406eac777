//! `posture apply`: carries out a plan file stage by stage, journaled, under the cluster lock.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use posture_core::apply::journal::{JournalHeader, resume_from, resume_point};
use posture_core::apply::{ApplyOptions, ApplyState, Halt, Mode};
use posture_core::plan::Plan;
use posture_core::plan::patch::differences;
use posture_kube::apply::lock::LockSettings;
use posture_kube::apply::pause::PausedRun;
use posture_kube::apply::{Approver, Engine, EngineSettings, Outcome};
use posture_kube::journal::JournalFile;

use crate::cli::{ApplyArgs, GlobalArgs};
use crate::error::{CliError, exit};

pub(crate) fn run(global: &GlobalArgs, args: &ApplyArgs) -> Result<u8, CliError> {
    let plan = read_plan(&args.plan)?;
    let detect = super::load_policy(global)?.detect;
    let interactive = std::io::stdin().is_terminal();
    if !args.approve && !interactive {
        return Err(CliError::NeedsApproval);
    }
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| default_journal(&args.plan));
    let (mut journal, point) = if args.resume {
        let (file, parsed) = JournalFile::open(&journal_path).map_err(CliError::Journal)?;
        let point = resume_from(&plan, &parsed).map_err(CliError::JournalPlan)?;
        (file, point)
    } else {
        if journal_path.exists() {
            return Err(CliError::JournalExists(journal_path));
        }
        let header = JournalHeader::for_plan(&plan);
        // Created with its first record: a run refused before it writes leaves none behind.
        let file = JournalFile::create_on_first_record(&journal_path, &header)
            .map_err(CliError::Journal)?;
        let point = resume_point(&plan, &header, &[]).map_err(CliError::JournalPlan)?;
        (file, point)
    };
    let mut approver = Asking {
        approve_all: args.approve,
        last_stage: args.stage,
        stopped_at_limit: false,
    };
    let settings = EngineSettings {
        timeout: Duration::from_secs(args.timeout_minutes * 60),
        progress: true,
        narrate: true,
        gate: Some(detect),
        lock_wait: crate::cli::lock_wait(args.lock_timeout),
        ..EngineSettings::new(LockSettings::for_this_process(args.break_lock))
    };
    let options = ApplyOptions {
        // With --stage the machine must ask, so the approver can stop after the Nth stage.
        auto_approve: args.approve && args.stage.is_none(),
        no_rollback_on_failure: args.no_rollback_on_failure,
        ..ApplyOptions::default()
    };
    let run = EngineRun {
        options,
        settings,
        journal: &mut journal,
        approver: &mut approver,
    };
    let pauses = args.pause.then(|| pause_journal(&journal_path));
    let outcome =
        match run.run_maybe_paused(global, &plan, Mode::Apply(point), pauses.as_deref())? {
            Ran::Plain(outcome) => outcome,
            Ran::Paused(paused) => {
                report_pause(&paused, pauses.as_deref().unwrap_or(&journal_path));
                paused.outcome
            }
        };
    let mut resume = format!("posture apply {} --resume", args.plan.display());
    if args.journal.is_some() {
        resume.push_str(&format!(" --journal {}", journal_path.display()));
    }
    Ok(report(
        &outcome,
        approver.stopped_at_limit,
        &journal_path,
        &resume,
    ))
}

/// What `apply` and `rollback` hand the engine besides the cluster, which comes from the global
/// options with kube-rs's own retries off (the machine decides about 429s and 5xx).
pub(crate) struct EngineRun<'a> {
    pub(crate) options: ApplyOptions,
    pub(crate) settings: EngineSettings,
    pub(crate) journal: &'a mut JournalFile,
    pub(crate) approver: &'a mut dyn Approver,
}

impl EngineRun<'_> {
    pub(crate) fn run(
        self,
        global: &GlobalArgs,
        plan: &Plan,
        mode: Mode,
    ) -> Result<Outcome, CliError> {
        match self.run_maybe_paused(global, plan, mode, None)? {
            Ran::Plain(outcome) => Ok(outcome),
            Ran::Paused(paused) => Ok(paused.outcome),
        }
    }

    /// Runs the plan, inside a pause journaled to `pause_journal` when one is given.
    pub(crate) fn run_maybe_paused(
        self,
        global: &GlobalArgs,
        plan: &Plan,
        mode: Mode,
        pause_journal: Option<&Path>,
    ) -> Result<Ran, CliError> {
        super::block_on(async {
            let (client, cluster) = posture_kube::apply::client_for_apply(
                global.kubeconfig.as_deref(),
                global.context.as_deref(),
            )
            .await
            .map_err(CliError::Client)?;
            let settings = EngineSettings {
                interrupt: Some(super::stop_on_signals(
                    "finishing the write in flight, then stopping",
                )),
                ..self.settings
            };
            let mut engine = Engine {
                client,
                server: cluster.server,
                options: self.options,
                settings,
                journal: self.journal,
                approver: self.approver,
            };
            match pause_journal {
                None => Ok(Ran::Plain(
                    engine.run(plan, mode).await.map_err(CliError::Engine)?,
                )),
                Some(journal) => Ok(Ran::Paused(Box::new(
                    engine
                        .run_paused(plan, mode, journal)
                        .await
                        .map_err(CliError::Pause)?,
                ))),
            }
        })?
    }
}

/// How an engine run went, with its pause when it had one.
pub(crate) enum Ran {
    Plain(Outcome),
    Paused(Box<PausedRun>),
}

/// `plan.json.journal.pause` beside the plan's journal.
pub(crate) fn pause_journal(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".pause");
    PathBuf::from(name)
}

/// Says what was paused and whether it was restored.
fn report_pause(paused: &PausedRun, pause_journal: &Path) {
    if paused.kept_from_before > 0 {
        anstream::eprintln!(
            "pause: {} pause(s) an earlier run left in place were kept for this run",
            paused.kept_from_before
        );
    }
    for note in &paused.notes {
        anstream::eprintln!("pause: {note}");
    }
    if paused.held.is_empty() && paused.kept_from_before == 0 {
        anstream::eprintln!("pause: nothing that could fight this plan needed pausing");
    }
    match &paused.restored {
        Ok(0) => {}
        Ok(n) => anstream::eprintln!("restored {n} pause(s)"),
        Err(why) => {
            anstream::eprintln!("pauses NOT restored: {why}");
            anstream::eprintln!(
                "restore them with:  posture rollback --journal {}",
                pause_journal.display()
            );
        }
    }
}

pub(crate) fn read_plan(path: &Path) -> Result<Plan, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::ReadPlan {
        path: path.to_owned(),
        source,
    })?;
    Plan::from_json(&bytes).map_err(|source| CliError::PlanFile {
        path: path.to_owned(),
        source,
    })
}

/// `plan.json.journal` beside `plan.json`.
pub(crate) fn default_journal(plan: &Path) -> PathBuf {
    let mut name = plan.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// Prints how the run ended and gives its exit code; `resume` is the command that goes on
/// after an interruption.
pub(crate) fn report(
    outcome: &Outcome,
    stopped_at_limit: bool,
    journal: &Path,
    resume: &str,
) -> u8 {
    for note in &outcome.notes {
        anstream::eprintln!("note: {note}");
    }
    for (change, reason) in &outcome.skipped {
        anstream::eprintln!("skipped {change}: {reason}");
    }
    for conflict in &outcome.conflicts {
        let changed = differences(&conflict.expected, &conflict.actual);
        anstream::eprintln!(
            "conflict on {}: {} field(s) changed since posture's write:",
            conflict.object,
            changed.len()
        );
        if changed.is_empty() {
            anstream::eprintln!(
                "  every field reads back as expected, yet the server refused the patch's tests"
            );
        }
        for difference in &changed {
            anstream::eprintln!(
                "  {}: expected {}, found {}",
                difference.path,
                shown(difference.expected.as_ref()),
                shown(difference.actual.as_ref())
            );
        }
    }
    let kept = journal.exists();
    let journal = journal.display();
    if outcome.interrupted {
        anstream::eprintln!(
            "interrupted {}; nothing more was written and the cluster lock is released",
            position(&outcome.state)
        );
        anstream::eprintln!("journal: {journal}");
        anstream::eprintln!("go on with:  {resume}");
        anstream::eprintln!("or undo with:  posture rollback --journal {journal}");
        return exit::INTERRUPTED;
    }
    match &outcome.state {
        ApplyState::Done => {
            anstream::eprintln!("applied; journal: {journal}");
            exit::OK
        }
        ApplyState::Halted(Halt::Declined { stage }) if stopped_at_limit => {
            anstream::eprintln!(
                "stopped before stage {stage} as --stage asked; continue with `posture apply --resume`"
            );
            exit::OK
        }
        ApplyState::Halted(Halt::RolledBack) => {
            anstream::eprintln!("rolled back; journal: {journal}");
            exit::OK
        }
        ApplyState::Halted(halt) => {
            let (message, code) = describe(halt);
            anstream::eprintln!("halted: {message}");
            if kept {
                anstream::eprintln!("journal: {journal}");
            } else {
                anstream::eprintln!("nothing was written, so no journal was kept");
            }
            code
        }
        other => {
            anstream::eprintln!("stopped in state {other:?}; journal: {journal}");
            exit::HALTED
        }
    }
}

/// Where an interrupted run stopped, in words.
fn position(state: &ApplyState) -> String {
    match state {
        ApplyState::InFlight { progress, .. }
        | ApplyState::Backoff { progress, .. }
        | ApplyState::WaitingPostCondition(progress)
        | ApplyState::AwaitingApproval(progress) => format!(
            "in stage {} with {} of its change(s) applied",
            progress.at.stage + 1,
            progress.applied.len()
        ),
        ApplyState::RollingBack(rb) => {
            format!(
                "while rolling back, {} change(s) still to undo",
                rb.queue.len()
            )
        }
        _ => "before any write".to_owned(),
    }
}

/// A value in a conflict line; absent fields say so.
fn shown(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "<absent>".to_owned(), ToString::to_string)
}

fn describe(halt: &Halt) -> (String, u8) {
    let code = match halt {
        Halt::PlanInvalid(_) | Halt::WrongCluster(_) | Halt::JournalFailed(_) => exit::USAGE,
        Halt::RolledBack => exit::OK,
        Halt::LockUnavailable(_)
        | Halt::Declined { .. }
        | Halt::StageFailed { .. }
        | Halt::RollbackConflict { .. }
        | Halt::NeedsRollback { .. }
        | Halt::LockLost(_)
        | Halt::RolloutStuck { .. } => exit::HALTED,
    };
    (halt.to_string(), code)
}

/// Asks per stage on the terminal (showing the stage's diff), unless approved up front; with
/// `--stage N` declines every stage after the Nth.
struct Asking {
    approve_all: bool,
    last_stage: Option<usize>,
    stopped_at_limit: bool,
}

impl Approver for Asking {
    fn approve(&mut self, plan: &Plan, stage: &str) -> bool {
        let index = plan.stages.iter().position(|s| s.id == stage).unwrap_or(0);
        if self.last_stage.is_some_and(|last| index + 1 > last) {
            self.stopped_at_limit = true;
            return false;
        }
        if self.approve_all {
            return true;
        }
        anstream::eprint!("{}", crate::render::diff::render_stage(plan, index));
        // An answer that cannot be read approves nothing; the engine halts on the decline.
        super::confirm(&format!("apply stage {stage}?")).unwrap_or(false)
    }
}

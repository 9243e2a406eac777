//! The forward path of the apply machine: verify, lock, approve, then stage by stage and
//! change by change; the calls themselves (dry-run, write, read back) are `in_flight.rs`.

use super::in_flight::{call, in_flight};
use super::journal::{AppliedChange, Record, ResumePoint};
use super::rollback::{rolling_back, start_rollback};
use super::types::{ApplyOptions, ApplyState, Cursor, Effect, Event, Halt, Mode, Phase, Progress};
use crate::plan::{Change, Plan};

pub(super) type Step = (Vec<Effect>, ApplyState);

/// Advances the machine by one event.
pub fn step(plan: &Plan, opts: &ApplyOptions, state: ApplyState, event: Event) -> Step {
    if let Event::JournalFailed(reason) = event {
        return halt(Vec::new(), Halt::JournalFailed(reason));
    }
    if let Event::LockLost(reason) = event {
        return halt(Vec::new(), Halt::LockLost(reason));
    }
    match (state, event) {
        (ApplyState::Ready(mode), Event::Start) => match plan.verify() {
            Err(e) => (
                Vec::new(),
                ApplyState::Halted(Halt::PlanInvalid(e.to_string())),
            ),
            Ok(()) => (
                vec![Effect::ReadClusterIdentity],
                ApplyState::VerifyingCluster(mode),
            ),
        },
        (ApplyState::VerifyingCluster(mode), Event::ClusterIdentity(id)) => {
            match plan.verify_cluster(&id) {
                Err(e) => (
                    Vec::new(),
                    ApplyState::Halted(Halt::WrongCluster(e.to_string())),
                ),
                Ok(()) => (vec![Effect::AcquireLock], ApplyState::Locking(mode)),
            }
        }
        (ApplyState::Locking(_), Event::LockUnavailable(who)) => {
            (Vec::new(), ApplyState::Halted(Halt::LockUnavailable(who)))
        }
        (ApplyState::Locking(mode), Event::LockAcquired) => start(plan, opts, mode),
        (ApplyState::AwaitingApproval(p), Event::Approved) => {
            continue_stage(plan, opts, p, Vec::new())
        }
        (ApplyState::AwaitingApproval(p), Event::Declined) => halt(
            Vec::new(),
            Halt::Declined {
                stage: stage_id(plan, p.at),
            },
        ),
        (ApplyState::InFlight { progress, phase }, event) => {
            in_flight(plan, opts, progress, phase, event)
        }
        (ApplyState::Backoff { progress, phase }, Event::Slept) => {
            let effects = call(plan, progress.at, phase);
            (effects, ApplyState::InFlight { progress, phase })
        }
        (ApplyState::WaitingPostCondition(p), Event::PostConditionMet) => {
            let next = Progress {
                at: Cursor {
                    stage: p.at.stage,
                    change: p.at.change + 1,
                },
                attempt: 0,
                ..p
            };
            next_change(plan, opts, next, Vec::new())
        }
        (ApplyState::WaitingPostCondition(p), Event::PostConditionTimedOut) => fail_stage(
            plan,
            p,
            "post-condition not met in time".into(),
            true,
            Vec::new(),
        ),
        (ApplyState::WaitingPostCondition(p), Event::FlapDetected(what)) => {
            fail_stage(plan, p, format!("flapping: {what}"), true, Vec::new())
        }
        (ApplyState::RollingBack(rb), event) => rolling_back(plan, opts, rb, event),
        // Anything else is out of order: keep the state, do nothing.
        (state, _) => (Vec::new(), state),
    }
}

pub(super) fn halt(mut effects: Vec<Effect>, reason: Halt) -> Step {
    effects.push(Effect::ReleaseLock);
    (effects, ApplyState::Halted(reason))
}

pub(super) fn stage_id(plan: &Plan, at: Cursor) -> String {
    plan.stages
        .get(at.stage)
        .map(|s| s.id.clone())
        .unwrap_or_default()
}

pub(super) fn change_at(plan: &Plan, at: Cursor) -> Option<&Change> {
    plan.stages.get(at.stage)?.changes.get(at.change)
}

pub(super) fn find_change<'p>(plan: &'p Plan, id: &str) -> Option<&'p Change> {
    plan.stages
        .iter()
        .flat_map(|s| &s.changes)
        .find(|c| c.id == id)
}

fn start(plan: &Plan, opts: &ApplyOptions, mode: Mode) -> Step {
    match mode {
        Mode::Rollback(queue) => start_rollback(plan, queue, None, Vec::new()),
        Mode::Apply(ResumePoint::Done) => (vec![Effect::ReleaseLock], ApplyState::Done),
        Mode::Apply(ResumePoint::NeedsRollback { stage }) => {
            halt(Vec::new(), Halt::NeedsRollback { stage })
        }
        Mode::Apply(ResumePoint::InDoubt {
            stage,
            change,
            applied_in_stage,
        }) => {
            let at = Cursor { stage, change };
            let progress = Progress {
                at,
                applied: applied_in_stage,
                attempt: 0,
            };
            let effects = call(plan, at, Phase::Reconcile);
            (
                effects,
                ApplyState::InFlight {
                    progress,
                    phase: Phase::Reconcile,
                },
            )
        }
        Mode::Apply(ResumePoint::At {
            stage,
            change,
            applied_in_stage,
        }) => {
            let progress = Progress {
                at: Cursor { stage, change },
                applied: applied_in_stage,
                attempt: 0,
            };
            begin_stage(plan, opts, progress, Vec::new())
        }
    }
}

/// Asks for approval of the stage at `progress` unless given up front. A stage with nothing to
/// write (every change goes to an owner's source) needs no approval.
fn begin_stage(
    plan: &Plan,
    opts: &ApplyOptions,
    progress: Progress,
    mut effects: Vec<Effect>,
) -> Step {
    let Some(stage) = plan.stages.get(progress.at.stage) else {
        effects.push(Effect::ReleaseLock);
        return (effects, ApplyState::Done);
    };
    if opts.auto_approve || !stage.changes.iter().any(Change::is_live) {
        return continue_stage(plan, opts, progress, effects);
    }
    effects.push(Effect::AskApproval {
        stage: stage.id.clone(),
        title: stage.title.clone(),
        runbook_approval_required: stage.runbook_approval_required,
    });
    (effects, ApplyState::AwaitingApproval(progress))
}

/// Goes on with an approved stage. A fresh stage starts at its first change; a stage resumed
/// after an interruption first waits again for the post-condition of the change that landed
/// last, which may not have settled (a condition already met is met at once).
fn continue_stage(
    plan: &Plan,
    opts: &ApplyOptions,
    progress: Progress,
    mut effects: Vec<Effect>,
) -> Step {
    let at = progress.at;
    if at.change > 0
        && let Some(prev) = change_at(
            plan,
            Cursor {
                stage: at.stage,
                change: at.change - 1,
            },
        )
        && prev.is_live()
        && progress.applied.iter().any(|a| a.change == prev.id)
    {
        effects.push(Effect::WaitFor(prev.post_condition.clone()));
        let progress = Progress {
            at: Cursor {
                stage: at.stage,
                change: at.change - 1,
            },
            ..progress
        };
        return (effects, ApplyState::WaitingPostCondition(progress));
    }
    next_change(plan, opts, progress, effects)
}

/// Starts the change at `progress.at` (skipping changes delivered to an owner), or completes
/// the stage.
fn next_change(
    plan: &Plan,
    opts: &ApplyOptions,
    mut progress: Progress,
    mut effects: Vec<Effect>,
) -> Step {
    let Some(stage) = plan.stages.get(progress.at.stage) else {
        effects.push(Effect::ReleaseLock);
        return (effects, ApplyState::Done);
    };
    while let Some(change) = stage.changes.get(progress.at.change) {
        if change.is_live() {
            progress.attempt = 0;
            effects.extend(call(plan, progress.at, Phase::DryRun));
            return (
                effects,
                ApplyState::InFlight {
                    progress,
                    phase: Phase::DryRun,
                },
            );
        }
        effects.push(Effect::Skip {
            change: change.id.clone(),
            reason: "owned by another controller: delivered as a source file".into(),
        });
        progress.at.change += 1;
    }
    effects.push(Effect::Journal(Record::StageComplete {
        stage: stage.id.clone(),
    }));
    let next = Progress {
        at: Cursor {
            stage: progress.at.stage + 1,
            change: 0,
        },
        applied: Vec::new(),
        attempt: 0,
    };
    begin_stage(plan, opts, next, effects)
}

/// Journals the failure and rolls back the stage's applied changes if asked.
pub(super) fn fail_stage(
    plan: &Plan,
    progress: Progress,
    reason: String,
    roll_back: bool,
    mut effects: Vec<Effect>,
) -> Step {
    let stage = stage_id(plan, progress.at);
    effects.push(Effect::Journal(Record::Failed {
        stage: stage.clone(),
        change: change_at(plan, progress.at).map(|c| c.id.clone()),
        reason: reason.clone(),
    }));
    if roll_back && !progress.applied.is_empty() {
        let queue: Vec<AppliedChange> = progress.applied.into_iter().rev().collect();
        return start_rollback(plan, queue, Some(reason), effects);
    }
    halt(
        effects,
        Halt::StageFailed {
            stage,
            reason,
            rolled_back: false,
        },
    )
}

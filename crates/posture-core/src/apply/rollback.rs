//! Rollback: inverses newest first, each dry-run first; a failed `test` stops and shows the
//! conflict instead of overwriting someone else's change.

use serde_json::Value;

use super::in_flight::backoff;
use super::inverse::{effect_holds, rollback_writes, rollout_after};
use super::journal::{AppliedChange, Operation, Record};
use super::machine::{Step, find_change, halt};
use super::reconcile::meta_str;
use super::types::{
    ApiFailure, ApplyOptions, ApplyState, Effect, Event, Halt, Phase, RollbackProgress,
};
use crate::plan::patch::{actual_values, expected_values, tests_hold};
use crate::plan::{Action, Change, Plan};

pub(super) fn start_rollback(
    plan: &Plan,
    queue: Vec<AppliedChange>,
    cause: Option<String>,
    mut effects: Vec<Effect>,
) -> Step {
    let rb = RollbackProgress {
        queue,
        phase: Phase::DryRun,
        attempt: 0,
        cause,
        conflict: false,
        sleeping: false,
        write: 0,
        waiting: false,
    };
    match rollback_call(plan, &rb) {
        Some(call) => {
            effects.extend(call);
            (effects, ApplyState::RollingBack(rb))
        }
        None => finish_rollback(rb, effects, String::new()),
    }
}

/// The head's write in flight: one of the writes its inverse is split into.
fn current_write(rb: &RollbackProgress) -> Option<Operation> {
    let head = rb.queue.first()?;
    rollback_writes(&head.object, &head.inverse)
        .into_iter()
        .nth(rb.write)
}

fn rollback_call(plan: &Plan, rb: &RollbackProgress) -> Option<Vec<Effect>> {
    let head = rb.queue.first()?;
    find_change(plan, &head.change)?;
    let object = head.object.clone();
    let operation = current_write(rb)?;
    Some(match rb.phase {
        Phase::DryRun => vec![Effect::DryRun { object, operation }],
        Phase::Write => vec![
            Effect::Journal(Record::Intent {
                stage: head.stage.clone(),
                change: head.change.clone(),
                object: object.clone(),
                operation: operation.clone(),
                rollback: true,
            }),
            Effect::Write { object, operation },
        ],
        Phase::Reconcile => vec![Effect::Read { object }],
    })
}

fn finish_rollback(rb: RollbackProgress, effects: Vec<Effect>, stage: String) -> Step {
    match rb.cause {
        None => halt(effects, Halt::RolledBack),
        Some(reason) => halt(
            effects,
            Halt::StageFailed {
                stage,
                reason,
                rolled_back: true,
            },
        ),
    }
}

/// After one of the head's writes landed: waits for the rollout it started (a workload's), then
/// goes on with the head's next write or the next change.
fn rollback_landed(
    plan: &Plan,
    mut rb: RollbackProgress,
    head: &AppliedChange,
    written: Option<&Value>,
) -> Step {
    match rollout_after(&head.object, written) {
        Some(rollout) => {
            rb.waiting = true;
            rb.attempt = 0;
            (vec![Effect::WaitFor(rollout)], ApplyState::RollingBack(rb))
        }
        None => rollback_advance(plan, rb, head),
    }
}

/// Moves to the head's next write, or journals the head as rolled back and moves on.
fn rollback_advance(plan: &Plan, mut rb: RollbackProgress, head: &AppliedChange) -> Step {
    rb.waiting = false;
    rb.phase = Phase::DryRun;
    rb.attempt = 0;
    rb.conflict = false;
    if rb.write + 1 < rollback_writes(&head.object, &head.inverse).len() {
        rb.write += 1;
        let effects = rollback_call(plan, &rb).unwrap_or_default();
        return (effects, ApplyState::RollingBack(rb));
    }
    rollback_next(plan, rb, head)
}

/// Journals the head's rollback and moves to the next inverse.
fn rollback_next(plan: &Plan, mut rb: RollbackProgress, head: &AppliedChange) -> Step {
    let mut effects = vec![Effect::Journal(Record::RolledBack {
        stage: head.stage.clone(),
        change: head.change.clone(),
    })];
    rb.queue.remove(0);
    rb.phase = Phase::DryRun;
    rb.attempt = 0;
    rb.write = 0;
    rb.conflict = false;
    rb.waiting = false;
    match rollback_call(plan, &rb) {
        Some(call) => {
            effects.extend(call);
            (effects, ApplyState::RollingBack(rb))
        }
        None => finish_rollback(rb, effects, head.stage.clone()),
    }
}

fn rollback_retry(opts: &ApplyOptions, mut rb: RollbackProgress, why: &str) -> Step {
    rb.attempt += 1;
    // As on the way forward, an inverse in doubt is read back until posture can tell.
    if rb.attempt >= opts.max_attempts && rb.phase != Phase::Reconcile {
        let change = rb
            .queue
            .first()
            .map(|a| a.change.clone())
            .unwrap_or_default();
        return halt(
            Vec::new(),
            Halt::StageFailed {
                stage: rb
                    .queue
                    .first()
                    .map(|a| a.stage.clone())
                    .unwrap_or_default(),
                reason: format!(
                    "rollback of {change} gave up after {} attempts: {why}",
                    opts.max_attempts
                ),
                rolled_back: false,
            },
        );
    }
    rb.sleeping = true;
    let delay = backoff(opts, rb.attempt - 1);
    (vec![Effect::Sleep(delay)], ApplyState::RollingBack(rb))
}

pub(super) fn rolling_back(
    plan: &Plan,
    opts: &ApplyOptions,
    mut rb: RollbackProgress,
    event: Event,
) -> Step {
    let Some(head) = rb.queue.first().cloned() else {
        return finish_rollback(rb, Vec::new(), String::new());
    };
    let Some(change) = find_change(plan, &head.change) else {
        return halt(
            Vec::new(),
            Halt::PlanInvalid(format!(
                "journal names change {} not in the plan",
                head.change
            )),
        );
    };
    let object = change.object.clone();
    match (rb.phase, event) {
        (Phase::DryRun, Event::DryRunSucceeded) => {
            rb.phase = Phase::Write;
            rb.attempt = 0;
            let effects = rollback_call(plan, &rb).unwrap_or_default();
            (effects, ApplyState::RollingBack(rb))
        }
        (_, Event::PostConditionMet) if rb.waiting => rollback_advance(plan, rb, &head),
        (_, Event::PostConditionTimedOut) if rb.waiting => halt(
            Vec::new(),
            Halt::RolloutStuck {
                change: head.change.clone(),
                workload: head.object.to_string(),
            },
        ),
        (Phase::Write, Event::WriteSucceeded { object, .. }) => {
            rollback_landed(plan, rb, &head, object.as_ref())
        }
        (Phase::Reconcile, Event::ObjectRead(read)) if rb.conflict => {
            // Already back to what the change found (someone undid it by hand, or an earlier
            // run's write landed): nothing to undo.
            if is_back(change, read.as_ref()) {
                return rollback_next(plan, rb, &head);
            }
            if let (Some(Operation::Patch { patch }), Some(obj)) = (current_write(&rb), &read)
                && effect_holds(&patch, obj)
            {
                return rollback_landed(plan, rb, &head, Some(obj));
            }
            let write = current_write(&rb).unwrap_or_else(|| head.inverse.clone());
            let (expected, actual) = conflict_values(&write, read.as_ref());
            halt(
                vec![Effect::ShowConflict {
                    object,
                    expected,
                    actual,
                }],
                Halt::RollbackConflict {
                    change: head.change.clone(),
                },
            )
        }
        (Phase::Reconcile, Event::ObjectRead(read)) => {
            // Did the inverse land? It did when the object is back to what the forward patch
            // expected (or, for a delete, is gone).
            let write = current_write(&rb).unwrap_or_else(|| head.inverse.clone());
            let landed = match (&write, read.as_ref()) {
                (Operation::Patch { patch }, Some(obj)) => effect_holds(patch, obj),
                (Operation::Delete { .. }, None) => true,
                _ => false,
            };
            let still_applied = match (&write, read.as_ref()) {
                (Operation::Patch { patch }, Some(obj)) => tests_hold(patch, obj),
                (Operation::Delete { uid }, Some(obj)) => {
                    uid.is_none() || meta_str(obj, "uid") == *uid
                }
                _ => false,
            };
            if landed {
                rollback_landed(plan, rb, &head, read.as_ref())
            } else if still_applied {
                rb.phase = Phase::Write;
                rollback_retry(opts, rb, "inverse did not land")
            } else {
                rb.conflict = true;
                let (expected, actual) = conflict_values(&write, read.as_ref());
                halt(
                    vec![Effect::ShowConflict {
                        object,
                        expected,
                        actual,
                    }],
                    Halt::RollbackConflict {
                        change: head.change.clone(),
                    },
                )
            }
        }
        (_, Event::Slept) if rb.sleeping => {
            rb.sleeping = false;
            let effects = rollback_call(plan, &rb).unwrap_or_default();
            (effects, ApplyState::RollingBack(rb))
        }
        (phase, Event::Failed(failure)) => match failure {
            // Never clobber: read the object and show what differs.
            ApiFailure::TestFailed(_) | ApiFailure::Rejected(_) => {
                rb.phase = Phase::Reconcile;
                rb.conflict = true;
                (vec![Effect::Read { object }], ApplyState::RollingBack(rb))
            }
            ApiFailure::Throttled => rollback_retry(opts, rb, "throttled"),
            ApiFailure::Unavailable(msg) => {
                if phase == Phase::Write {
                    rb.phase = Phase::Reconcile;
                }
                rollback_retry(opts, rb, &msg)
            }
        },
        (_, _) => (Vec::new(), ApplyState::RollingBack(rb)),
    }
}

/// What an inverse expected against what the object holds, for a conflict report.
fn conflict_values(inverse: &Operation, read: Option<&Value>) -> (Value, Value) {
    match (inverse, read) {
        (Operation::Patch { patch }, Some(obj)) => {
            (expected_values(patch), actual_values(patch, obj))
        }
        (Operation::Patch { patch }, None) => (expected_values(patch), Value::Null),
        (Operation::Delete { uid }, obj) => (
            serde_json::json!({ "uid": uid }),
            serde_json::json!({ "uid": obj.and_then(|o| meta_str(o, "uid")) }),
        ),
        (Operation::Create { manifest }, obj) => (
            manifest.get("metadata").cloned().unwrap_or(Value::Null),
            obj.and_then(|o| o.get("metadata").cloned())
                .unwrap_or(Value::Null),
        ),
    }
}

/// True when the object is as the change found it: the forward patch's `test`s hold again, or
/// the created object is gone.
fn is_back(change: &Change, read: Option<&Value>) -> bool {
    match (&change.action, read) {
        (Action::Patch { forward, .. }, Some(obj)) => tests_hold(forward, obj),
        (Action::Create { .. }, None) => true,
        _ => false,
    }
}

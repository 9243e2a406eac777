//! The apply state machine's states, events, effects and `step` function.

use std::time::Duration;

use serde_json::Value;

use super::journal::{AppliedChange, Operation, Record, ResumePoint};
use crate::object::ObjectRef;
use crate::plan::patch::{actual_values, expected_values, tests_hold};
use crate::plan::{Action, Change, ClusterIdentity, MANAGED_BY_LABEL, Plan, PostCondition};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Approvals given up front (`--yes`); otherwise every stage asks.
    pub auto_approve: bool,
    /// Leave a stage's applied changes in place when a `test` fails.
    pub no_rollback_on_failure: bool,
    /// Attempts per API call before a retriable error fails the stage.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            auto_approve: false,
            no_rollback_on_failure: false,
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Position in the plan: indexes of stage and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub stage: usize,
    pub change: usize,
}

/// Where a stage stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub at: Cursor,
    /// The stage's changes that landed, oldest first.
    pub applied: Vec<AppliedChange>,
    /// Attempts made of the call in flight.
    pub attempt: u32,
}

/// The call a backoff will repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    DryRun,
    Write,
    /// Read the object back to decide whether an uncertain write landed.
    Reconcile,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RollbackProgress {
    /// Inverses still to run, newest change first; the head is in flight.
    pub queue: Vec<AppliedChange>,
    pub phase: Phase,
    pub attempt: u32,
    /// Why the rollback runs: `None` for `posture rollback`, else the stage failure.
    pub cause: Option<String>,
    /// Set while reading the object after an inverse's `test`s failed.
    pub conflict: bool,
    /// Set while a backoff sleep is under way.
    pub sleeping: bool,
}

/// What the machine is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Apply(ResumePoint),
    Rollback(Vec<AppliedChange>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApplyState {
    Ready(Mode),
    VerifyingCluster(Mode),
    Locking(Mode),
    AwaitingApproval(Progress),
    InFlight { progress: Progress, phase: Phase },
    Backoff { progress: Progress, phase: Phase },
    WaitingPostCondition(Progress),
    RollingBack(RollbackProgress),
    Done,
    Halted(Halt),
}

/// Why apply stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    PlanInvalid(String),
    WrongCluster(String),
    LockUnavailable(String),
    Declined {
        stage: String,
    },
    /// The stage failed; `rolled_back` says whether its applied changes were undone.
    StageFailed {
        stage: String,
        reason: String,
        rolled_back: bool,
    },
    /// An inverse's `test`s failed: someone changed the object since posture did.
    RollbackConflict {
        change: String,
    },
    JournalFailed(String),
    NeedsRollback {
        stage: String,
    },
    /// `posture rollback` finished.
    RolledBack,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    /// A `test` failed (422) or a precondition did not hold (409): the object changed.
    TestFailed(String),
    /// 429: the server did not act on the request.
    Throttled,
    /// A timeout or a 5xx: the write may or may not have landed.
    Unavailable(String),
    /// Any other refusal (403, 400 …).
    Rejected(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start,
    ClusterIdentity(ClusterIdentity),
    LockAcquired,
    LockUnavailable(String),
    Approved,
    Declined,
    DryRunSucceeded,
    WriteSucceeded {
        resource_version: Option<String>,
        uid: Option<String>,
    },
    Failed(ApiFailure),
    /// The object as read back; `None` when it does not exist.
    ObjectRead(Option<Value>),
    PostConditionMet,
    PostConditionTimedOut,
    FlapDetected(String),
    Slept,
    JournalFailed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    ReadClusterIdentity,
    AcquireLock,
    ReleaseLock,
    AskApproval {
        stage: String,
        title: String,
        runbook_approval_required: bool,
    },
    DryRun {
        object: ObjectRef,
        operation: Operation,
    },
    Write {
        object: ObjectRef,
        operation: Operation,
    },
    Read {
        object: ObjectRef,
    },
    Journal(Record),
    WaitFor(PostCondition),
    Sleep(Duration),
    ShowConflict {
        object: ObjectRef,
        expected: Value,
        actual: Value,
    },
    /// The change goes to its owner's source instead (see the plan's delivery).
    Skip {
        change: String,
        reason: String,
    },
}

type Step = (Vec<Effect>, ApplyState);

/// Advances the machine by one event.
pub fn step(plan: &Plan, opts: &ApplyOptions, state: ApplyState, event: Event) -> Step {
    if let Event::JournalFailed(reason) = event {
        return halt(Vec::new(), Halt::JournalFailed(reason));
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
            next_change(plan, opts, p, Vec::new())
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

fn halt(mut effects: Vec<Effect>, reason: Halt) -> Step {
    effects.push(Effect::ReleaseLock);
    (effects, ApplyState::Halted(reason))
}

fn stage_id(plan: &Plan, at: Cursor) -> String {
    plan.stages
        .get(at.stage)
        .map(|s| s.id.clone())
        .unwrap_or_default()
}

fn change_at(plan: &Plan, at: Cursor) -> Option<&Change> {
    plan.stages.get(at.stage)?.changes.get(at.change)
}

fn find_change<'p>(plan: &'p Plan, id: &str) -> Option<&'p Change> {
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
            // A change that landed before the interruption may not have settled: wait for its
            // post-condition again (a met condition is met at once).
            if change > 0
                && let Some(prev) = change_at(
                    plan,
                    Cursor {
                        stage,
                        change: change - 1,
                    },
                )
                && prev.is_live()
            {
                let progress = Progress {
                    at: Cursor {
                        stage,
                        change: change - 1,
                    },
                    ..progress
                };
                return (
                    vec![Effect::WaitFor(prev.post_condition.clone())],
                    ApplyState::WaitingPostCondition(progress),
                );
            }
            begin_stage(plan, opts, progress, Vec::new())
        }
    }
}

/// Asks for approval of the stage at `progress` unless given up front.
fn begin_stage(plan: &Plan, opts: &ApplyOptions, progress: Progress, effects: Vec<Effect>) -> Step {
    let Some(stage) = plan.stages.get(progress.at.stage) else {
        let mut effects = effects;
        effects.push(Effect::ReleaseLock);
        return (effects, ApplyState::Done);
    };
    if opts.auto_approve {
        return next_change(plan, opts, progress, effects);
    }
    let mut effects = effects;
    effects.push(Effect::AskApproval {
        stage: stage.id.clone(),
        title: stage.title.clone(),
        runbook_approval_required: stage.runbook_approval_required,
    });
    (effects, ApplyState::AwaitingApproval(progress))
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

/// The API call for `phase` of the change at `at`.
fn call(plan: &Plan, at: Cursor, phase: Phase) -> Vec<Effect> {
    let Some(change) = change_at(plan, at) else {
        return Vec::new();
    };
    let object = change.object.clone();
    let operation = Operation::forward_of(&change.action);
    match phase {
        Phase::DryRun => vec![Effect::DryRun { object, operation }],
        Phase::Write => vec![
            Effect::Journal(Record::Intent {
                stage: stage_id(plan, at),
                change: change.id.clone(),
                operation: operation.clone(),
                rollback: false,
            }),
            Effect::Write { object, operation },
        ],
        Phase::Reconcile => vec![Effect::Read { object }],
    }
}

fn backoff(opts: &ApplyOptions, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(16));
    opts.backoff_base
        .saturating_mul(factor)
        .min(opts.backoff_max)
}

fn in_flight(
    plan: &Plan,
    opts: &ApplyOptions,
    mut progress: Progress,
    phase: Phase,
    event: Event,
) -> Step {
    let Some(change) = change_at(plan, progress.at) else {
        return halt(
            Vec::new(),
            Halt::PlanInvalid("cursor outside the plan".into()),
        );
    };
    match (phase, event) {
        (Phase::DryRun, Event::DryRunSucceeded) => {
            progress.attempt = 0;
            let effects = call(plan, progress.at, Phase::Write);
            (
                effects,
                ApplyState::InFlight {
                    progress,
                    phase: Phase::Write,
                },
            )
        }
        (
            Phase::Write,
            Event::WriteSucceeded {
                resource_version,
                uid,
            },
        ) => landed(plan, change, progress, resource_version, uid),
        (Phase::Reconcile, Event::ObjectRead(object)) => match decide(change, object.as_ref()) {
            Landing::Landed {
                resource_version,
                uid,
            } => landed(plan, change, progress, resource_version, uid),
            // The read already waited out the backoff: send the write again at once.
            Landing::NotLanded => {
                let (effects, state) =
                    retry(plan, opts, progress, Phase::Write, "write did not land");
                match state {
                    ApplyState::Backoff { progress, phase } => (
                        call(plan, progress.at, phase),
                        ApplyState::InFlight { progress, phase },
                    ),
                    other => (effects, other),
                }
            }
            Landing::Conflict { expected, actual } => fail_stage(
                plan,
                progress,
                "the object changed under the write".into(),
                !opts.no_rollback_on_failure,
                vec![Effect::ShowConflict {
                    object: change.object.clone(),
                    expected,
                    actual,
                }],
            ),
        },
        (phase, Event::Failed(failure)) => match failure {
            ApiFailure::TestFailed(msg) => fail_stage(
                plan,
                progress,
                format!("stale plan: {msg}"),
                !opts.no_rollback_on_failure,
                Vec::new(),
            ),
            ApiFailure::Rejected(msg) => fail_stage(
                plan,
                progress,
                format!("rejected: {msg}"),
                !opts.no_rollback_on_failure,
                Vec::new(),
            ),
            ApiFailure::Throttled => retry(plan, opts, progress, phase, "throttled"),
            // A write that timed out may have landed: read it back before anything else.
            ApiFailure::Unavailable(msg) if phase == Phase::Write => {
                retry(plan, opts, progress, Phase::Reconcile, &msg)
            }
            ApiFailure::Unavailable(msg) => retry(plan, opts, progress, phase, &msg),
        },
        (phase, _) => (Vec::new(), ApplyState::InFlight { progress, phase }),
    }
}

fn retry(
    plan: &Plan,
    opts: &ApplyOptions,
    mut progress: Progress,
    phase: Phase,
    why: &str,
) -> Step {
    progress.attempt += 1;
    if progress.attempt >= opts.max_attempts {
        return fail_stage(
            plan,
            progress,
            format!("gave up after {} attempts: {why}", opts.max_attempts),
            !opts.no_rollback_on_failure,
            Vec::new(),
        );
    }
    let delay = backoff(opts, progress.attempt - 1);
    (
        vec![Effect::Sleep(delay)],
        ApplyState::Backoff { progress, phase },
    )
}

fn landed(
    plan: &Plan,
    change: &Change,
    mut progress: Progress,
    resource_version: Option<String>,
    uid: Option<String>,
) -> Step {
    let inverse = match &change.action {
        Action::Patch { inverse, .. } => Operation::Patch {
            patch: inverse.clone(),
        },
        Action::Create { .. } => Operation::Delete { uid },
    };
    let stage = stage_id(plan, progress.at);
    progress.applied.push(AppliedChange {
        stage: stage.clone(),
        change: change.id.clone(),
        resource_version: resource_version.clone(),
        inverse: inverse.clone(),
    });
    progress.attempt = 0;
    (
        vec![
            Effect::Journal(Record::Applied {
                stage,
                change: change.id.clone(),
                resource_version,
                inverse,
            }),
            Effect::WaitFor(change.post_condition.clone()),
        ],
        ApplyState::WaitingPostCondition(progress),
    )
}

enum Landing {
    Landed {
        resource_version: Option<String>,
        uid: Option<String>,
    },
    NotLanded,
    Conflict {
        expected: Value,
        actual: Value,
    },
}

fn meta_str(object: &Value, field: &str) -> Option<String> {
    object
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Decides from the object as read back whether the change's write landed.
fn decide(change: &Change, object: Option<&Value>) -> Landing {
    match (&change.action, object) {
        (Action::Patch { forward, inverse }, Some(obj)) => {
            if tests_hold(inverse, obj) {
                Landing::Landed {
                    resource_version: meta_str(obj, "resourceVersion"),
                    uid: None,
                }
            } else if tests_hold(forward, obj) {
                Landing::NotLanded
            } else {
                Landing::Conflict {
                    expected: expected_values(forward),
                    actual: actual_values(forward, obj),
                }
            }
        }
        (Action::Patch { forward, .. }, None) => Landing::Conflict {
            expected: expected_values(forward),
            actual: Value::Null,
        },
        (Action::Create { .. }, None) => Landing::NotLanded,
        (Action::Create { manifest }, Some(obj)) => {
            let (key, value) = MANAGED_BY_LABEL;
            let ours = obj
                .pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
                == Some(value);
            if ours {
                Landing::Landed {
                    resource_version: meta_str(obj, "resourceVersion"),
                    uid: meta_str(obj, "uid"),
                }
            } else {
                Landing::Conflict {
                    expected: manifest.get("metadata").cloned().unwrap_or(Value::Null),
                    actual: obj.get("metadata").cloned().unwrap_or(Value::Null),
                }
            }
        }
    }
}

/// Journals the failure and rolls back the stage's applied changes if asked.
fn fail_stage(
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

fn start_rollback(
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
    };
    match rollback_call(plan, &rb) {
        Some(call) => {
            effects.extend(call);
            (effects, ApplyState::RollingBack(rb))
        }
        None => finish_rollback(rb, effects, String::new()),
    }
}

fn rollback_call(plan: &Plan, rb: &RollbackProgress) -> Option<Vec<Effect>> {
    let head = rb.queue.first()?;
    let object = find_change(plan, &head.change)?.object.clone();
    let operation = head.inverse.clone();
    Some(match rb.phase {
        Phase::DryRun => vec![Effect::DryRun { object, operation }],
        Phase::Write => vec![
            Effect::Journal(Record::Intent {
                stage: head.stage.clone(),
                change: head.change.clone(),
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

/// Journals the head's rollback and moves to the next inverse.
fn rollback_next(plan: &Plan, mut rb: RollbackProgress, head: &AppliedChange) -> Step {
    let mut effects = vec![Effect::Journal(Record::RolledBack {
        stage: head.stage.clone(),
        change: head.change.clone(),
    })];
    rb.queue.remove(0);
    rb.phase = Phase::DryRun;
    rb.attempt = 0;
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
    if rb.attempt >= opts.max_attempts {
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

fn rolling_back(plan: &Plan, opts: &ApplyOptions, mut rb: RollbackProgress, event: Event) -> Step {
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
        (Phase::Write, Event::WriteSucceeded { .. }) => rollback_next(plan, rb, &head),
        (Phase::Reconcile, Event::ObjectRead(read)) if rb.conflict => {
            let (expected, actual) = conflict_values(&head.inverse, read.as_ref());
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
            let back = match (&change.action, read.as_ref()) {
                (Action::Patch { forward, .. }, Some(obj)) => tests_hold(forward, obj),
                (Action::Create { .. }, None) => true,
                _ => false,
            };
            let still_applied = match (&head.inverse, read.as_ref()) {
                (Operation::Patch { patch }, Some(obj)) => tests_hold(patch, obj),
                (Operation::Delete { uid }, Some(obj)) => {
                    uid.is_none() || meta_str(obj, "uid") == *uid
                }
                _ => false,
            };
            if back {
                rollback_next(plan, rb, &head)
            } else if still_applied {
                rb.phase = Phase::Write;
                rollback_retry(opts, rb, "inverse did not land")
            } else {
                rb.conflict = true;
                let (expected, actual) = conflict_values(&head.inverse, read.as_ref());
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

//! A change's calls in flight: dry-run, journal and write, read back a write in doubt, back off
//! and retry what did not land, then wait for the post-condition.

use std::time::Duration;

use super::inverse::rebase;
use super::journal::{AppliedChange, Operation, Record};
use super::machine::{Step, change_at, fail_stage, halt, stage_id};
use super::reconcile::{Landing, decide};
use super::types::{
    ApiFailure, ApplyOptions, ApplyState, Cursor, Effect, Event, Halt, Phase, Progress,
};
use crate::plan::{Action, Change, Plan};

/// The API call for `phase` of the change at `at`.
pub(super) fn call(plan: &Plan, at: Cursor, phase: Phase) -> Vec<Effect> {
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
                object: object.clone(),
                operation: operation.clone(),
                rollback: false,
            }),
            Effect::Write { object, operation },
        ],
        Phase::Reconcile => vec![Effect::Read { object }],
    }
}

pub(super) fn backoff(opts: &ApplyOptions, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(16));
    opts.backoff_base
        .saturating_mul(factor)
        .min(opts.backoff_max)
}

pub(super) fn in_flight(
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
                object,
            },
        ) => landed(
            plan,
            change,
            progress,
            resource_version,
            uid,
            object.as_ref(),
        ),
        (Phase::Reconcile, Event::ObjectRead(object)) => match decide(change, object.as_ref()) {
            Landing::Landed {
                resource_version,
                uid,
                object,
            } => landed(plan, change, progress, resource_version, uid, Some(&object)),
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
    // A write in doubt is never abandoned: reading it back is harmless, so posture keeps
    // reading (with capped backoff) until it can tell whether the write landed. Giving up
    // there would leave a change applied that the rollback does not know about.
    if progress.attempt >= opts.max_attempts && phase != Phase::Reconcile {
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

/// Journals a landed write with its inverse, rebuilt on the object as the server stored it
/// when the answer carried it (see [`rebase`]).
fn landed(
    plan: &Plan,
    change: &Change,
    mut progress: Progress,
    resource_version: Option<String>,
    uid: Option<String>,
    stored: Option<&serde_json::Value>,
) -> Step {
    let inverse = match &change.action {
        Action::Patch { inverse, .. } => Operation::Patch {
            patch: stored.map_or_else(|| inverse.clone(), |stored| rebase(inverse, stored)),
        },
        Action::Create { .. } => Operation::Delete { uid },
    };
    let stage = stage_id(plan, progress.at);
    progress.applied.push(AppliedChange {
        stage: stage.clone(),
        change: change.id.clone(),
        object: change.object.clone(),
        resource_version: resource_version.clone(),
        inverse: inverse.clone(),
    });
    progress.attempt = 0;
    (
        vec![
            Effect::Journal(Record::Applied {
                stage,
                change: change.id.clone(),
                object: change.object.clone(),
                resource_version,
                inverse,
            }),
            Effect::WaitFor(change.post_condition.clone()),
        ],
        ApplyState::WaitingPostCondition(progress),
    )
}

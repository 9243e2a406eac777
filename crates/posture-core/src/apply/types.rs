//! The apply machine's vocabulary: options, states, events and effects.

use std::time::Duration;

use serde_json::Value;

use super::journal::{AppliedChange, Operation, Record, ResumePoint};
use crate::object::ObjectRef;
use crate::plan::{ClusterIdentity, PostCondition};

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
    /// Which of the head's writes is in flight (see `inverse::rollback_writes`).
    pub write: usize,
    /// Set while waiting for the rollout a workload's inverse started.
    pub waiting: bool,
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
    /// The run lost its cluster lock and stopped before its next write.
    LockLost(String),
    /// An inverse landed but the rollout it started did not complete in time.
    RolloutStuck {
        change: String,
        workload: String,
    },
}

/// One line for a person: what stopped the run and what to do.
impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PlanInvalid(e) => write!(f, "plan file refused: {e}"),
            Self::WrongCluster(e) => write!(f, "wrong cluster: {e}"),
            Self::JournalFailed(e) => write!(f, "journal: {e}"),
            Self::LockUnavailable(who) => f.write_str(who),
            Self::Declined { stage } => write!(f, "stage {stage} was not approved"),
            Self::StageFailed {
                stage,
                reason,
                rolled_back,
            } => write!(
                f,
                "stage {stage} failed ({reason}); {}",
                if *rolled_back {
                    "its changes were rolled back"
                } else {
                    "its changes were left in place: `posture rollback` undoes them"
                }
            ),
            Self::RollbackConflict { change } => write!(
                f,
                "{change} was changed by someone else since; rollback stopped instead of \
                 overwriting it"
            ),
            Self::NeedsRollback { stage } => write!(
                f,
                "stage {stage} failed earlier and left changes applied: run `posture rollback` \
                 first"
            ),
            Self::RolledBack => f.write_str("rolled back"),
            Self::LockLost(reason) => write!(
                f,
                "{reason}: stopped before the next write; nothing is left in flight"
            ),
            Self::RolloutStuck { change, workload } => write!(
                f,
                "{change} was rolled back on the API, but {workload} did not finish rolling out \
                 in time: see `kubectl rollout status` and its Pending pods; run `posture \
                 rollback` again to go on"
            ),
        }
    }
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

impl ApiFailure {
    /// Classifies an API answer by HTTP status; `None` is a timeout or a broken connection.
    /// A failed JSON Patch `test` comes back as 422, a failed precondition or an existing
    /// object as 409.
    pub fn from_status(status: Option<u16>, message: impl Into<String>) -> Self {
        let message = message.into();
        match status {
            Some(409 | 422) => Self::TestFailed(message),
            Some(429) => Self::Throttled,
            None | Some(500..=599) => Self::Unavailable(message),
            Some(_) => Self::Rejected(message),
        }
    }
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
        /// The object as the server stored it (`None` for a delete): the journaled inverse is
        /// rebuilt on it.
        object: Option<Value>,
    },
    Failed(ApiFailure),
    /// The object as read back; `None` when it does not exist.
    ObjectRead(Option<Value>),
    PostConditionMet,
    PostConditionTimedOut,
    FlapDetected(String),
    Slept,
    JournalFailed(String),
    /// The cluster lock can no longer be trusted (not renewed in time, or taken over): nothing
    /// more may be written.
    LockLost(String),
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

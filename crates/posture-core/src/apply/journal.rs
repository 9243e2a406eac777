//! The apply journal: a versioned header line and one JSON record per line, appended (and
//! synced) before and after every write. Parsing and replay are pure; file I/O lives in
//! `posture-kube`.
//!
//! # Guarantees
//! - A record is committed once its line ends with `\n`. A torn last line (a crash mid-write)
//!   is ignored and reported; any other line that does not parse is corruption, reported with
//!   its line number.
//! - Replay of any prefix of a journal gives the point to continue from: every change whose
//!   `Applied` is recorded is never written again; a change with an `Intent` and no outcome is
//!   "in doubt" and must be decided by reading the object.

use json_patch::Patch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::ObjectRef;
use crate::plan::{Action, ClusterIdentity, Plan};

pub const JOURNAL_SCHEMA: &str = "posture.dev/v1/journal";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalHeader {
    pub schema: String,
    pub plan_sha256: String,
    pub cluster: ClusterIdentity,
}

impl JournalHeader {
    pub fn for_plan(plan: &Plan) -> Self {
        Self {
            schema: JOURNAL_SCHEMA.to_owned(),
            plan_sha256: plan.sha256.clone(),
            cluster: plan.cluster.clone(),
        }
    }
}

/// One write posture makes to the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Operation {
    Patch {
        patch: Patch,
    },
    Create {
        manifest: Value,
    },
    /// Delete the object with this uid (a uid precondition), i.e. only the one posture created.
    Delete {
        uid: Option<String>,
    },
}

impl Operation {
    /// The forward operation of a planned change.
    pub fn forward_of(action: &Action) -> Self {
        match action {
            Action::Patch { forward, .. } => Self::Patch {
                patch: forward.clone(),
            },
            Action::Create { manifest } => Self::Create {
                manifest: manifest.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "camelCase")]
pub enum Record {
    /// About to write. Written (and synced) before the write.
    #[serde(rename_all = "camelCase")]
    Intent {
        stage: String,
        change: String,
        object: ObjectRef,
        operation: Operation,
        /// True for a rollback's write (the operation is an inverse).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rollback: bool,
    },
    /// The write landed; `inverse` undoes it.
    #[serde(rename_all = "camelCase")]
    Applied {
        stage: String,
        change: String,
        object: ObjectRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_version: Option<String>,
        inverse: Operation,
    },
    /// A stage stopped: a failed `test`, a timeout, a flap, an API error.
    #[serde(rename_all = "camelCase")]
    Failed {
        stage: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<String>,
        reason: String,
    },
    #[serde(rename_all = "camelCase")]
    StageComplete { stage: String },
    /// The change's inverse landed: the change no longer counts as applied.
    #[serde(rename_all = "camelCase")]
    RolledBack { stage: String, change: String },
}

/// A torn last line, ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based line number.
    pub line: usize,
    pub bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedJournal {
    pub header: JournalHeader,
    pub records: Vec<Record>,
    pub torn_tail: Option<TornTail>,
    /// Length in bytes of the committed part (everything up to the last `\n`).
    pub committed_len: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JournalError {
    #[error("journal is empty or its header was never completely written")]
    NoHeader,
    #[error("journal line 1: invalid header: {message}")]
    Header { message: String },
    #[error("journal schema {found:?} is not supported (expected {JOURNAL_SCHEMA})")]
    Schema { found: String },
    #[error("journal line {line} is corrupt: {message}")]
    Corrupt { line: usize, message: String },
    #[error("journal belongs to plan {journal}, not to plan {plan}")]
    PlanMismatch { journal: String, plan: String },
}

/// One line of the file format, newline included.
pub fn encode_line<T: Serialize>(value: &T) -> String {
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    line
}

/// A record's line with the wall-clock time it was written (`"time"`, RFC 3339), so a journal
/// shows when each write happened. Replay ignores the time: order is the line order.
pub fn encode_record_at(record: &Record, time: &str) -> String {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Some(fields) = value.as_object_mut() {
        fields.insert("time".to_owned(), Value::String(time.to_owned()));
    }
    encode_line(&value)
}

/// Parses a journal's bytes.
pub fn parse_journal(bytes: &[u8]) -> Result<ParsedJournal, JournalError> {
    let committed_len = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let (committed, tail) = bytes.split_at(committed_len);
    let mut lines = committed
        .strip_suffix(b"\n")
        .map(|c| c.split(|b| *b == b'\n').collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter();
    let header_line = lines.next().ok_or(JournalError::NoHeader)?;
    let header: JournalHeader =
        serde_json::from_slice(header_line).map_err(|e| JournalError::Header {
            message: e.to_string(),
        })?;
    if header.schema != JOURNAL_SCHEMA {
        return Err(JournalError::Schema {
            found: header.schema,
        });
    }
    let mut records = Vec::new();
    let mut count = 1;
    for (i, line) in lines.enumerate() {
        count = i + 2;
        let record: Record = serde_json::from_slice(line).map_err(|e| JournalError::Corrupt {
            line: i + 2,
            message: e.to_string(),
        })?;
        records.push(record);
    }
    let torn_tail = (!tail.is_empty()).then(|| TornTail {
        line: count + 1,
        bytes: tail.len(),
    });
    Ok(ParsedJournal {
        header,
        records,
        torn_tail,
        committed_len,
    })
}

/// A change whose write landed and has not been rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedChange {
    pub stage: String,
    pub change: String,
    pub object: ObjectRef,
    pub resource_version: Option<String>,
    pub inverse: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InDoubt {
    pub stage: String,
    pub change: String,
    pub rollback: bool,
}

/// What a journal says happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    /// In the order applied.
    pub applied: Vec<AppliedChange>,
    pub completed_stages: Vec<String>,
    /// An `Intent` with no outcome after it: the write may or may not have landed.
    pub in_doubt: Option<InDoubt>,
    /// (stage, change, reason) of every `Failed` record.
    pub failures: Vec<(String, Option<String>, String)>,
}

/// Replays records into the state they describe.
pub fn replay(records: &[Record]) -> Replay {
    let mut out = Replay::default();
    for record in records {
        match record {
            Record::Intent {
                stage,
                change,
                rollback,
                ..
            } => {
                out.in_doubt = Some(InDoubt {
                    stage: stage.clone(),
                    change: change.clone(),
                    rollback: *rollback,
                });
            }
            Record::Applied {
                stage,
                change,
                object,
                resource_version,
                inverse,
            } => {
                out.in_doubt = None;
                out.applied.retain(|a| &a.change != change);
                out.applied.push(AppliedChange {
                    stage: stage.clone(),
                    change: change.clone(),
                    object: object.clone(),
                    resource_version: resource_version.clone(),
                    inverse: inverse.clone(),
                });
            }
            Record::Failed {
                stage,
                change,
                reason,
            } => {
                out.in_doubt = None;
                out.failures
                    .push((stage.clone(), change.clone(), reason.clone()));
            }
            Record::StageComplete { stage } => {
                out.in_doubt = None;
                if !out.completed_stages.contains(stage) {
                    out.completed_stages.push(stage.clone());
                }
            }
            Record::RolledBack { change, .. } => {
                out.in_doubt = None;
                out.applied.retain(|a| &a.change != change);
            }
        }
    }
    out
}

impl Replay {
    /// Inverses to run for `posture rollback`: newest first.
    pub fn rollback_queue(&self) -> Vec<AppliedChange> {
        self.applied.iter().rev().cloned().collect()
    }
}

/// Where apply continues after reading a journal.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumePoint {
    /// Continue with this change (indexes into the plan); `applied_in_stage` are the stage's
    /// changes that already landed (a stage failure rolls them back).
    At {
        stage: usize,
        change: usize,
        applied_in_stage: Vec<AppliedChange>,
    },
    /// The write of this change may have landed: read the object and decide before anything.
    InDoubt {
        stage: usize,
        change: usize,
        applied_in_stage: Vec<AppliedChange>,
    },
    /// A stage failed and some of its changes are still applied: roll back first.
    NeedsRollback { stage: String },
    /// Every stage completed.
    Done,
}

/// Computes where to continue `plan` given the journal's records.
pub fn resume_point(
    plan: &Plan,
    header: &JournalHeader,
    records: &[Record],
) -> Result<ResumePoint, JournalError> {
    if header.plan_sha256 != plan.sha256 {
        return Err(JournalError::PlanMismatch {
            journal: header.plan_sha256.clone(),
            plan: plan.sha256.clone(),
        });
    }
    let state = replay(records);
    if state.in_doubt.as_ref().is_some_and(|d| d.rollback) {
        let stage = state
            .in_doubt
            .as_ref()
            .map(|d| d.stage.clone())
            .unwrap_or_default();
        return Ok(ResumePoint::NeedsRollback { stage });
    }
    for (stage, _, _) in &state.failures {
        if state.applied.iter().any(|a| &a.stage == stage)
            && !state.completed_stages.contains(stage)
        {
            return Ok(ResumePoint::NeedsRollback {
                stage: stage.clone(),
            });
        }
    }
    for (si, stage) in plan.stages.iter().enumerate() {
        if state.completed_stages.contains(&stage.id) {
            continue;
        }
        let applied_in_stage: Vec<AppliedChange> = state
            .applied
            .iter()
            .filter(|a| a.stage == stage.id)
            .cloned()
            .collect();
        let next = stage
            .changes
            .iter()
            .position(|c| c.is_live() && !applied_in_stage.iter().any(|a| a.change == c.id))
            .unwrap_or(stage.changes.len());
        let in_doubt = state.in_doubt.as_ref().is_some_and(|d| {
            d.stage == stage.id && stage.changes.get(next).is_some_and(|c| c.id == d.change)
        });
        return Ok(if in_doubt {
            ResumePoint::InDoubt {
                stage: si,
                change: next,
                applied_in_stage,
            }
        } else {
            ResumePoint::At {
                stage: si,
                change: next,
                applied_in_stage,
            }
        });
    }
    Ok(ResumePoint::Done)
}

/// [`resume_point`] for a parsed journal file.
pub fn resume_from(plan: &Plan, journal: &ParsedJournal) -> Result<ResumePoint, JournalError> {
    resume_point(plan, &journal.header, &journal.records)
}

/// The inverses `posture rollback` runs for a parsed journal of `plan`, newest first.
pub fn rollback_queue_for(
    plan: &Plan,
    journal: &ParsedJournal,
) -> Result<Vec<AppliedChange>, JournalError> {
    if journal.header.plan_sha256 != plan.sha256 {
        return Err(JournalError::PlanMismatch {
            journal: journal.header.plan_sha256.clone(),
            plan: plan.sha256.clone(),
        });
    }
    Ok(replay(&journal.records).rollback_queue())
}

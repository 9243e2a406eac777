//! `posture apply` and `posture rollback` as a pure state machine: [`step`] takes the state and
//! an event and returns the effects the shell must carry out, in order, and the next state. The
//! machine never sleeps, reads the clock or touches the network.
//!
//! # Guarantees
//! - Nothing is written before the plan's hash and the cluster's identity check out and the
//!   lock is held.
//! - Every write is dry-run first and journaled before (`Intent`) and after (`Applied`).
//! - A write is never repeated blindly: after a timeout or a 5xx the object is read back and
//!   the patch's own `test`s decide whether it landed. A re-sent patch that did land fails its
//!   `test`s rather than applying twice. A write in doubt is read back until posture can tell;
//!   only calls known not to have landed count against the retry budget.
//! - A failed `test` (a stale plan) stops the stage; its applied changes are rolled back newest
//!   first (unless `no_rollback_on_failure`). A post-condition timeout or a flap always rolls the
//!   stage back.
//! - A rollback never clobbers: an inverse whose `test`s fail stops and shows the conflict
//!   (unless the object is already back to what the change found: then there is nothing to undo).
//!
//! # Assumptions
//! The shell carries out effects in order and stops at the first one that fails: a failed
//! `Journal` effect is reported as [`Event::JournalFailed`] and the writes after it are not made.
//! Each batch of effects ends with at most one call whose answer is the next event.
//!
//! # Caveats
//! An event that does not fit the state is ignored: the state is kept and no effect is asked
//! for. Rollback needs the plan the journal was written for (to decide whether an uncertain
//! inverse landed); the journal header's plan hash says which one.

pub mod conditions;
mod in_flight;
pub mod inverse;
pub mod journal;
mod machine;
mod reconcile;
mod rollback;
mod types;

pub use machine::step;
pub use types::{
    ApiFailure, ApplyOptions, ApplyState, Cursor, Effect, Event, Halt, Mode, Phase, Progress,
    RollbackProgress,
};

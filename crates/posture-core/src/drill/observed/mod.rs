//! The observed drill (`posture drill NODE --node-loss|--drain --approve`), as pure parts the
//! shell drives: [`Judge`] turns the watch detectors' alerts into the runbook's success
//! criteria, [`restore`] says what still keeps the cluster from being as it was, and
//! [`placement`] records where pods and replicas were at each phase for the report.
//!
//! Nothing here reads the cluster or the clock: the shell feeds alerts and snapshots.

mod judge;
pub mod placement;
pub mod probe;
pub mod restore;
mod types;

#[cfg(test)]
mod tests;

pub use judge::Judge;
pub use types::*;

/// The taint a drain drill puts on the node for its duration, so that pods which tolerate a
/// cordon (posture's own plan lets CoreDNS and the ingress controller do so) are not scheduled
/// straight back onto the node being drained.
pub const DRILL_TAINT_KEY: &str = "posture.dev/drill";

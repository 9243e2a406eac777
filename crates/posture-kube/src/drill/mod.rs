//! `posture drill`: the what-if's server answer (a dry-run drain, in the apply engine's
//! interpreter beside every other write) and the observed drill ([`run`]): take the node away,
//! watch the runbook's success criteria for a window, abort on the first breach, and restore
//! through a gate that waits until the cluster is as it was.

mod power;
mod probe;
mod run;

pub use crate::apply::drain::{DrillError, server_dry_run};
pub use power::{Power, is_twin};
pub use run::{DrillRunError, DrillSettings, run};

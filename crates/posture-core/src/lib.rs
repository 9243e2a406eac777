//! The functional core of posture: a typed [`Snapshot`] of what the runbook inspects, and pure
//! functions over it. Nothing here performs I/O, spawns tasks or reads the clock; callers pass
//! time in. That keeps every judgement reproducible from a saved snapshot.

pub mod act;
pub mod apply;
pub mod checks;
pub mod compact;
pub mod detect;
pub mod drill;
pub mod facts;
pub mod gitops;
pub mod ha;
pub mod host;
pub mod load;
pub mod longhorn;
pub mod longhorn_room;
pub mod nesting;
pub mod object;
pub mod ownership;
pub mod pause;
pub mod plan;
pub mod policy;
pub mod report;
pub mod snapshot;
pub mod suppress;
pub mod topology;
pub(crate) mod workload;

pub use load::{LoadError, ensure_cluster, load_snapshot_str};
pub use object::ObjectRef;
pub use policy::Policy;
pub use report::{Evidence, Finding, Report, Section, Severity};
pub use snapshot::Snapshot;
pub use topology::Topology;

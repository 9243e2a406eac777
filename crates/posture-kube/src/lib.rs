//! The I/O shell of posture: everything that talks to a cluster goes through this crate.

pub mod apply;
pub mod client;
pub mod collect;
pub mod deadline;
pub mod drill;
pub mod journal;
pub mod message;
pub mod notify;
pub mod operator;
pub mod rbac;
mod retry;
pub mod save;
mod targets;
pub mod transport;
pub mod watch;

pub use client::{ClientError, ClusterEndpoint, client_from};
pub use collect::{CollectError, Collection, Keep, collect, collect_documents, collect_with};
pub use save::{snapshot_text, write_snapshot};

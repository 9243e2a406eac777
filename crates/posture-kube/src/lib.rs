//! The I/O shell: collect snapshots, apply plans, journal, lock and watch, on kube-rs.

pub mod journal;

//! Kubernetes facts several parts of posture judge by, in one place so they agree.

/// The taint the node lifecycle controller puts on a cordoned node (`spec.unschedulable`), and
/// that DaemonSet pods tolerate by default.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

//! The compact, typed changes the detectors consume, and their JSON-lines recording format.
//!
//! A signal is what remains of a watch event once the reducer has compared it with the last
//! state it saw: a pod's restart count rose, a Service's ready endpoints changed, a lease was
//! renewed. Recording signals rather than whole objects keeps recordings small and replay fast.
//!
//! One line is `{"t":"<RFC 3339>","s":{"<kind>":{...}}}`; the externally tagged form lets serde
//! read a line in one pass without buffering.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One observed change, stamped with the time the watcher saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    #[serde(rename = "t")]
    pub at: Timestamp,
    #[serde(rename = "s")]
    pub kind: SignalKind,
}

impl Signal {
    pub fn new(at: Timestamp, kind: SignalKind) -> Self {
        Self { at, kind }
    }

    /// A heartbeat that lets time-based detectors (renew gaps, quiet periods) advance.
    pub fn tick(at: Timestamp) -> Self {
        Self::new(at, SignalKind::Tick)
    }

    /// One JSON line (no trailing newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Objects are named `namespace/name` (cluster-scoped ones by name alone); workloads are the
/// top-level owner of a pod, also as `namespace/name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// No change: time passed.
    Tick,
    /// A container's restartCount rose.
    ContainerRestarted {
        pod: String,
        workload: String,
        container: String,
        restart_count: i64,
    },
    /// A container first seen (when the watch lists, or relists, a pod it did not know) running
    /// with restarts already behind it, and when it last exited. A crash loop caught between
    /// two back-offs looks like this; the detectors raise nothing on it, but the apply gate
    /// uses it to tell a stage's own crash loops from the cluster's standing ones.
    ContainerHistory {
        pod: String,
        workload: String,
        container: String,
        restart_count: i64,
        last_exit: Timestamp,
    },
    /// A container entered (`active`) or left CrashLoopBackOff.
    CrashLoopBackOff {
        pod: String,
        workload: String,
        container: String,
        active: bool,
    },
    PodCreated {
        pod: String,
        workload: String,
    },
    /// A pod went away without having been evicted first.
    PodDeleted {
        pod: String,
        workload: String,
        #[serde(default, skip_serializing_if = "is_false")]
        critical: bool,
        /// Pods of another revision of the workload were running: a rollout replacing the
        /// pod, which is no eviction loop.
        #[serde(default, skip_serializing_if = "is_false")]
        replaced: bool,
    },
    /// A pod was evicted, preempted or deleted by the taint manager.
    PodEvicted {
        pod: String,
        workload: String,
        reason: String,
        #[serde(default, skip_serializing_if = "is_false")]
        critical: bool,
    },
    /// A Service's count of ready endpoints (over all its EndpointSlices) changed, or some of
    /// its endpoints flipped readiness.
    EndpointsChanged {
        service: String,
        ready: u32,
        /// kube-dns or a Service in front of an ingress controller.
        #[serde(default, skip_serializing_if = "is_false")]
        important: bool,
        /// Endpoints that flipped: went unready without terminating, or became ready again
        /// after having been ready. A rollout adding and removing endpoints flips none.
        #[serde(default, skip_serializing_if = "is_zero")]
        flips: u32,
    },
    LeaseRenewed {
        lease: String,
        holder: String,
        renew_time: Option<Timestamp>,
        duration_seconds: i64,
    },
    LeaseHolderChanged {
        lease: String,
        from: String,
        to: String,
    },
    LeaseDeleted {
        lease: String,
    },
    NodeReadyChanged {
        node: String,
        ready: bool,
    },
    /// A Longhorn volume's status.state changed (attached, detached, attaching, ...).
    VolumeStateChanged {
        volume: String,
        state: String,
    },
    /// A Longhorn volume's status.robustness changed (healthy, degraded, faulted, unknown).
    VolumeRobustnessChanged {
        volume: String,
        robustness: String,
    },
    ReplicaRebuildStarted {
        volume: String,
        replica: String,
        node: String,
    },
    ReplicaRebuildFinished {
        volume: String,
        replica: String,
        node: String,
    },
    ReplicaRebuildFailed {
        volume: String,
        replica: String,
        node: String,
    },
    /// Longhorn's concurrent-replica-rebuild-per-node-limit setting as currently set.
    RebuildLimitChanged {
        limit: u32,
    },
    /// A VolumeAttachment became attached or detached (deletion counts as detached).
    VolumeAttachmentChanged {
        attachment: String,
        volume: String,
        node: String,
        attached: bool,
    },
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_stay_compact() {
        let at: Timestamp = "2026-11-24T10:00:00Z".parse().expect("timestamp");
        let signal = Signal::new(
            at,
            SignalKind::EndpointsChanged {
                service: "kube-system/kube-dns".into(),
                ready: 1,
                important: true,
                flips: 0,
            },
        );
        let line = signal.to_line();
        assert_eq!(
            line,
            r#"{"t":"2026-11-24T10:00:00Z","s":{"endpoints_changed":{"service":"kube-system/kube-dns","ready":1,"important":true}}}"#
        );
        let back: Signal = serde_json::from_str(&line).expect("parses");
        assert_eq!(back, signal);
        assert_eq!(
            Signal::tick(at).to_line(),
            r#"{"t":"2026-11-24T10:00:00Z","s":"tick"}"#
        );
    }
}

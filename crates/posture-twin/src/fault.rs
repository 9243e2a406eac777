//! Faults the twin can inject, as one vocabulary shared by the control endpoint and the CLI
//! (`posture twin fault ...`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The node's kubelet stops: heartbeats end, it goes NotReady after the grace period and its
    /// pods are evicted after their toleration; its Longhorn replicas fail.
    StopNode {
        node: String,
    },
    StartNode {
        node: String,
    },
    /// Like a stop as far as the control plane sees, but the node's workloads keep running.
    PartitionNode {
        node: String,
    },
    HealNode {
        node: String,
    },
    /// The pod's containers exit repeatedly: restarts climb and it enters CrashLoopBackOff.
    CrashLoop {
        namespace: String,
        pod: String,
    },
    /// The pod's readiness probe alternates every `period_seconds`.
    FlapReadiness {
        namespace: String,
        pod: String,
        period_seconds: u32,
    },
    /// The lease changes holder every `period_seconds`.
    LeaseThrash {
        namespace: String,
        name: String,
        period_seconds: u32,
    },
    /// Rebuilds fail and are retried (volume `None`: every volume).
    FailRebuilds {
        volume: Option<String>,
    },
    /// Rebuilds take `factor` times as long.
    SlowRebuilds {
        factor: u32,
    },
    /// The share of API requests (0.0 to 1.0) answered with `status` (500 or 429) instead.
    ApiErrors {
        rate: f64,
        status: u16,
    },
    /// The share of API requests that hang until the client times out.
    ApiTimeouts {
        rate: f64,
    },
    /// Writes (not dry runs) to resources of this plural are carried out and then never
    /// answered: the client times out not knowing that they landed.
    LostReplies {
        plural: String,
    },
    /// The API server restarts: every open watch ends.
    RestartApi,
    /// etcd compacts its history up to now: a watch resuming from before now and a paged list
    /// begun before now are answered 410 Gone, and must start over.
    Compact,
    /// Removes every fault.
    ClearAll,
}

//! Thresholds of the anti-flap detectors. Every alert is raised by one threshold and cleared by
//! another (a quiet period), so an alert never flaps even when the cluster does.
//!
//! Defaults follow the runbook's intent: a few repeats within minutes is a loop, not noise;
//! Longhorn gets longer windows because rebuilds take minutes each.

use serde::{Deserialize, Serialize};

/// All detector thresholds. Parsed from YAML or JSON; unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DetectPolicy {
    /// Restart loops: restarts of one container. Default: 3 in 10 min, clear after 10 min quiet.
    pub restarts: RateThresholds,
    /// Endpoint churn and Services without ready endpoints.
    pub endpoints: EndpointPolicy,
    /// Pods of one workload evicted or deleted (then recreated by their controller).
    /// Default: 4 in 10 min, clear after 10 min quiet.
    pub evictions: RateThresholds,
    /// Lease holder changes and renew gaps.
    pub leases: LeasePolicy,
    /// Longhorn rebuild storms.
    pub rebuilds: RebuildPolicy,
    /// A Longhorn volume's robustness changing (healthy ↔ degraded). Default: 4 changes (two
    /// round trips) in 30 min, clear after 30 min quiet.
    pub robustness: RateThresholds,
    /// A Longhorn volume's state changing (attached ↔ detached). Default: 4 in 10 min.
    pub volume_state: RateThresholds,
    /// VolumeAttachments of one PersistentVolume attaching or detaching. Default: 4 in 10 min.
    pub attachments: RateThresholds,
    /// A node's Ready condition changing. Default: 4 (two round trips) in 10 min.
    pub node_ready: RateThresholds,
}

/// "Raise after `raiseCount` occurrences within `windowSeconds`; clear after
/// `clearAfterSeconds` without any."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateThresholds {
    pub raise_count: u32,
    pub window_seconds: u64,
    pub clear_after_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointPolicy {
    /// Readiness flips of one Service's endpoints (unready without terminating, or ready again
    /// after having been ready; a rollout flips none). Default: 6 in 5 min, clear after 5 min.
    pub churn: RateThresholds,
    /// An important Service at zero ready endpoints for this long raises. Default: 10 s, which
    /// lets a single-replica rollout pass but not an outage.
    pub zero_ready_grace_seconds: u64,
    /// ... and clears once it has had ready endpoints this long. Default: 60 s.
    pub zero_ready_clear_seconds: u64,
    /// Services (`namespace/name`) to treat as important besides kube-dns and Services in front
    /// of an ingress controller, which are recognised from the objects.
    pub important_services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LeasePolicy {
    /// Holder changes of one lease. Default: 3 in 10 min, clear after 10 min.
    pub holder_changes: RateThresholds,
    /// A lease not renewed for longer than `renewGapFactor × leaseDurationSeconds` raises.
    /// Default 1.0: the holder lost the lease.
    pub renew_gap_factor: f64,
    /// A renew-gap alert clears after renewals have been steady this long. Default: 60 s.
    pub renew_gap_clear_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RebuildPolicy {
    /// Rebuilds allowed at once on one node until Longhorn's
    /// `concurrent-replica-rebuild-per-node-limit` setting is seen. Default: 1 (the runbook's).
    pub per_node_limit: u32,
    /// An over-limit alert clears after the node stayed within the limit this long. Default 300 s.
    pub over_limit_clear_seconds: u64,
    /// Rebuilds started on one volume. Default: 3 in 30 min, clear after 30 min.
    pub repeated: RateThresholds,
}

impl RateThresholds {
    pub const fn new(raise_count: u32, window_seconds: u64, clear_after_seconds: u64) -> Self {
        Self {
            raise_count,
            window_seconds,
            clear_after_seconds,
        }
    }
}

impl Default for DetectPolicy {
    fn default() -> Self {
        Self {
            restarts: RateThresholds::new(3, 600, 600),
            endpoints: EndpointPolicy::default(),
            evictions: RateThresholds::new(4, 600, 600),
            leases: LeasePolicy::default(),
            rebuilds: RebuildPolicy::default(),
            robustness: RateThresholds::new(4, 1800, 1800),
            volume_state: RateThresholds::new(4, 600, 600),
            attachments: RateThresholds::new(4, 600, 600),
            node_ready: RateThresholds::new(4, 600, 600),
        }
    }
}

impl Default for EndpointPolicy {
    fn default() -> Self {
        Self {
            churn: RateThresholds::new(6, 300, 300),
            zero_ready_grace_seconds: 10,
            zero_ready_clear_seconds: 60,
            important_services: Vec::new(),
        }
    }
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self {
            holder_changes: RateThresholds::new(3, 600, 600),
            renew_gap_factor: 1.0,
            renew_gap_clear_seconds: 60,
        }
    }
}

impl Default for RebuildPolicy {
    fn default() -> Self {
        Self {
            per_node_limit: 1,
            over_limit_clear_seconds: 300,
            repeated: RateThresholds::new(3, 1800, 1800),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_yaml_keeps_defaults_and_typos_fail() {
        let p: DetectPolicy = serde_norway::from_str(
            "restarts: {raiseCount: 5, windowSeconds: 60, clearAfterSeconds: 60}\n\
             endpoints: {importantServices: [apps/web]}\n",
        )
        .expect("valid");
        assert_eq!(p.restarts.raise_count, 5);
        assert_eq!(p.endpoints.important_services, vec!["apps/web".to_owned()]);
        assert_eq!(p.endpoints.churn, EndpointPolicy::default().churn);
        assert_eq!(p.leases, LeasePolicy::default());
        assert!(serde_norway::from_str::<DetectPolicy>("restart: {}\n").is_err());
        assert!(serde_norway::from_str::<DetectPolicy>("leases: {renewGap: 2}\n").is_err());
    }
}

//! The runbook's targets as data. Defaults are the runbook's values; `posture.yaml` overrides
//! any of them. Unknown keys are rejected so a typo never silently keeps a default, and every
//! value is checked against its bounds ([`validate`]) so a value cannot plan data loss.
//! `docs/policy.md` lists every key, its default and its bounds.

use std::collections::BTreeMap;

pub mod validate;

pub use validate::{Bound, Violation};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    pub topology: TopologyPolicy,
    pub ingress: IngressPolicy,
    pub coredns: CorednsPolicy,
    pub longhorn: LonghornPolicy,
    pub risks: RiskPolicy,
    /// Thresholds of the anti-flap detectors `posture watch` runs and `apply` gates stages on.
    pub detect: crate::detect::DetectPolicy,
    /// Findings accepted on purpose, each with its reason: shown as suppressed, not failed on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppress: Vec<crate::suppress::Suppression>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TopologyPolicy {
    /// The k3s server that keeps every workload (server-1). Inferred when unset.
    pub primary: Option<String>,
    /// The node being brought into service (server-2). Inferred when unset.
    pub secondary: Option<String>,
    /// Namespaces of platform components that are not apps, so need not be pinned to the primary.
    pub system_namespaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressPolicy {
    pub min_replicas: i32,
    /// Namespaces and names to treat as the ingress controller when image and labels do not tell.
    pub controller: Option<NamespacedName>,
    /// A strict readiness probe notices a dead controller within `periodSeconds * failureThreshold`;
    /// these bound both.
    pub readiness_max_period_seconds: i32,
    pub readiness_max_failure_threshold: i32,
    /// A conservative liveness probe tolerates a slow moment instead of restarting the
    /// controller, which would churn endpoints: it needs at least this many failures.
    pub liveness_min_failure_threshold: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CorednsPolicy {
    pub replicas: i32,
    pub requests: Resources,
    pub limits: Resources,
    pub readiness_path: String,
    pub readiness_port: i32,
    pub liveness_path: String,
    pub liveness_port: i32,
    /// The cluster DNS address pods are configured with (k3s `--cluster-dns`). When unset, the
    /// check compares kube-dns against the address k3s derives from the service CIDR.
    pub cluster_dns: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub cpu: String,
    pub memory: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LonghornPolicy {
    /// Replicas every volume must have: one per node.
    pub replicas_per_volume: i64,
    /// Accepts fewer than two replicas per volume (`replicasPerVolume` or the
    /// `default-replica-count` setting), which cannot survive the loss of a node. Needs a reason.
    pub allow_fewer_replicas: Option<AllowFewerReplicas>,
    /// Global settings and the values the runbook requires.
    pub settings: BTreeMap<String, String>,
    /// Acceptable values of node-drain-policy on two nodes.
    pub node_drain_policies: Vec<String>,
    /// How long a reboot of the secondary takes, in seconds: Longhorn should wait at least this
    /// long (`replica-replenishment-wait-interval`) and keep failed replicas at least this long
    /// (`staleReplicaTimeout`) for their replicas to be reused rather than rebuilt.
    pub secondary_reboot_seconds: i64,
}

/// An explicit, explained decision to run volumes with fewer replicas than nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowFewerReplicas {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RiskPolicy {
    /// Window for "recent" restarts and events, in seconds.
    pub window_seconds: i64,
    /// Restarts within the window that count as a restart loop.
    pub restart_threshold: i32,
    /// Lease transitions above which the control plane counts as thrashing.
    pub lease_transition_threshold: i32,
    /// Volumes rebuilding at once above which it counts as a rebuild storm.
    pub rebuilding_volume_threshold: usize,
    /// Failed Longhorn replicas tolerated before it counts as a risk.
    pub failed_replica_threshold: usize,
}

impl Default for TopologyPolicy {
    fn default() -> Self {
        Self {
            primary: None,
            secondary: None,
            system_namespaces: vec![
                "kube-system".into(),
                "longhorn-system".into(),
                "metallb-system".into(),
            ],
        }
    }
}

impl Default for IngressPolicy {
    fn default() -> Self {
        Self {
            min_replicas: 2,
            controller: None,
            readiness_max_period_seconds: 10,
            readiness_max_failure_threshold: 3,
            liveness_min_failure_threshold: 3,
        }
    }
}

impl Default for CorednsPolicy {
    fn default() -> Self {
        Self {
            replicas: 2,
            requests: Resources {
                cpu: "50m".into(),
                memory: "128Mi".into(),
            },
            limits: Resources {
                cpu: "200m".into(),
                memory: "256Mi".into(),
            },
            readiness_path: "/ready".into(),
            readiness_port: 8181,
            liveness_path: "/health".into(),
            liveness_port: 8080,
            cluster_dns: None,
        }
    }
}

impl Default for LonghornPolicy {
    fn default() -> Self {
        let settings = [
            ("default-replica-count", "2"),
            ("replica-soft-anti-affinity", "false"),
            ("replica-auto-balance", "disabled"),
            ("replica-replenishment-wait-interval", "600"),
            ("concurrent-replica-rebuild-per-node-limit", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            replicas_per_volume: 2,
            secondary_reboot_seconds: 300,
            allow_fewer_replicas: None,
            settings,
            node_drain_policies: vec![
                "block-if-contains-last-replica".into(),
                "block-for-eviction-if-contains-last-replica".into(),
            ],
        }
    }
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            window_seconds: 3600,
            restart_threshold: 3,
            lease_transition_threshold: 10,
            rebuilding_volume_threshold: 1,
            failed_replica_threshold: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub message: String,
}

impl Policy {
    /// Parses a `posture.yaml` and checks every value against its bounds. Errors carry the
    /// file, and the line and column or the key path and its bound.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, PolicyError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let policy: Self = serde_norway::from_str(text).map_err(|e| {
            let message = match e.location() {
                Some(loc) => {
                    let msg = e.to_string();
                    let msg = msg
                        .find(" at line ")
                        .map(|i| msg[..i].to_owned())
                        .unwrap_or(msg);
                    format!("line {} column {}: {msg}", loc.line(), loc.column())
                }
                None => e.to_string(),
            };
            PolicyError {
                file: file.to_owned(),
                message,
            }
        })?;
        policy
            .validate()
            .map_err(|violations| PolicyError::invalid(file, &violations))?;
        Ok(policy)
    }
}

impl PolicyError {
    /// One error for every value out of bounds, on one line.
    pub fn invalid(file: &str, violations: &[Violation]) -> Self {
        Self {
            file: file.to_owned(),
            message: violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_merge_with_defaults() {
        let p = Policy::from_yaml("p.yaml", "topology: {primary: a}\ncoredns: {replicas: 3}\n")
            .expect("valid");
        assert_eq!(p.topology.primary.as_deref(), Some("a"));
        assert_eq!(p.coredns.replicas, 3);
        assert_eq!(p.coredns.readiness_port, 8181);
        assert_eq!(p.longhorn.settings["default-replica-count"], "2");
    }

    #[test]
    fn detector_thresholds_come_from_the_detect_key() {
        let p = Policy::from_yaml(
            "p.yaml",
            "detect:\n  leases: {renewGapFactor: 2.5}\n  nodeReady: {raiseCount: 6, windowSeconds: 60, clearAfterSeconds: 90}\n",
        )
        .expect("valid");
        assert!((p.detect.leases.renew_gap_factor - 2.5).abs() < f64::EPSILON);
        assert_eq!(p.detect.node_ready.raise_count, 6);
        assert_eq!(
            p.detect.restarts,
            crate::detect::DetectPolicy::default().restarts
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_location() {
        let err = Policy::from_yaml("p.yaml", "coredns:\n  replicaz: 3\n").expect_err("typo");
        let msg = err.to_string();
        assert!(msg.contains("p.yaml: line 2"), "{msg}");
        assert!(msg.contains("replicaz"), "{msg}");
    }
}

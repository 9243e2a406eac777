//! Bounds of every policy value, and the cross-checks that need the cluster.
//!
//! The bounds are data ([`RULES`]), applied to the policy as the key paths a person writes
//! (`longhorn.replicasPerVolume`), so the same table checks a policy, names the key in an error,
//! and is what `docs/policy.md` is tested against.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::Policy;
use crate::snapshot::Snapshot;
use crate::topology::node_name;

/// Seconds in 30 days: the longest window or delay any key accepts.
pub const MAX_SECONDS: i64 = 30 * 24 * 3600;

/// Longhorn's largest replica count per volume.
pub const MAX_REPLICAS: i64 = 20;

/// The values Longhorn's `node-drain-policy` setting takes.
pub const NODE_DRAIN_POLICIES: &[&str] = &[
    "block-if-contains-last-replica",
    "block-for-eviction",
    "block-for-eviction-if-contains-last-replica",
    "allow-if-replica-is-stopped",
    "always-allow",
];

/// The replica-count setting among `longhorn.settings`, bounded like `replicasPerVolume`.
pub const DEFAULT_REPLICA_COUNT_SETTING: &str = "default-replica-count";

/// What a value must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// An integer from `min` to `max`.
    Int { min: i64, max: i64 },
    /// A finite number from `min` to `max`.
    Float { min: f64, max: f64 },
    /// A replica count: 2 to [`MAX_REPLICAS`], or 1 with `longhorn.allowFewerReplicas`. As a
    /// string when `text` (Longhorn settings are strings).
    Replicas { text: bool },
    /// A non-empty string.
    NonEmpty,
    /// The name of a Node: checked against the cluster where its snapshot is known.
    NodeName,
    /// An HTTP path: starts with `/`.
    HttpPath,
    /// A Kubernetes quantity (`50m`, `128Mi`).
    Quantity,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// `namespace/name`.
    NamespacedName,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
    /// A list with at least one entry.
    NonEmptyList,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int { min, max } => write!(f, "{min} to {max}"),
            Self::Float { min, max } => write!(f, "{min:.1} to {max:.1}"),
            Self::Replicas { text: false } => write!(
                f,
                "2 to {MAX_REPLICAS} (1 with `longhorn.allowFewerReplicas`); at most the number of nodes"
            ),
            Self::Replicas { text: true } => write!(
                f,
                "a whole number as a string, \"2\" to \"{MAX_REPLICAS}\" (\"1\" with `longhorn.allowFewerReplicas`); at most the number of nodes"
            ),
            Self::NonEmpty => write!(f, "not empty"),
            Self::NodeName => write!(f, "a node of the cluster"),
            Self::HttpPath => write!(f, "a path starting with `/`"),
            Self::Quantity => write!(f, "a quantity such as `50m` or `128Mi`"),
            Self::IpAddress => write!(f, "an IP address"),
            Self::NamespacedName => write!(f, "`namespace/name`"),
            Self::OneOf(values) => write!(f, "one of {}", values.join(", ")),
            Self::NonEmptyList => write!(f, "at least one entry"),
        }
    }
}

/// The bound of each key, by path. In a pattern `*` is one key and `**` one or more; `[]`
/// stands for each entry of a list. The first matching rule applies.
pub const RULES: &[(&str, Bound)] = &[
    ("topology.primary", Bound::NodeName),
    ("topology.secondary", Bound::NodeName),
    ("topology.systemNamespaces[]", Bound::NonEmpty),
    ("ingress.minReplicas", Bound::Int { min: 1, max: 100 }),
    ("ingress.controller.namespace", Bound::NonEmpty),
    ("ingress.controller.name", Bound::NonEmpty),
    (
        "ingress.readinessMaxPeriodSeconds",
        Bound::Int { min: 1, max: 3600 },
    ),
    (
        "ingress.readinessMaxFailureThreshold",
        Bound::Int { min: 1, max: 100 },
    ),
    (
        "ingress.livenessMinFailureThreshold",
        Bound::Int { min: 1, max: 100 },
    ),
    ("coredns.replicas", Bound::Int { min: 1, max: 100 }),
    ("coredns.requests.*", Bound::Quantity),
    ("coredns.limits.*", Bound::Quantity),
    ("coredns.readinessPath", Bound::HttpPath),
    ("coredns.livenessPath", Bound::HttpPath),
    ("coredns.readinessPort", Bound::Int { min: 1, max: 65535 }),
    ("coredns.livenessPort", Bound::Int { min: 1, max: 65535 }),
    ("coredns.clusterDns", Bound::IpAddress),
    (
        "longhorn.replicasPerVolume",
        Bound::Replicas { text: false },
    ),
    ("longhorn.allowFewerReplicas.reason", Bound::NonEmpty),
    (
        "longhorn.settings.default-replica-count",
        Bound::Replicas { text: true },
    ),
    (
        "longhorn.secondaryRebootSeconds",
        Bound::Int {
            min: 1,
            max: MAX_SECONDS,
        },
    ),
    ("longhorn.nodeDrainPolicies", Bound::NonEmptyList),
    (
        "longhorn.nodeDrainPolicies[]",
        Bound::OneOf(NODE_DRAIN_POLICIES),
    ),
    (
        "risks.windowSeconds",
        Bound::Int {
            min: 1,
            max: MAX_SECONDS,
        },
    ),
    ("risks.restartThreshold", Bound::Int { min: 1, max: 10000 }),
    (
        "risks.leaseTransitionThreshold",
        Bound::Int { min: 0, max: 10000 },
    ),
    (
        "risks.rebuildingVolumeThreshold",
        Bound::Int { min: 0, max: 10000 },
    ),
    (
        "risks.failedReplicaThreshold",
        Bound::Int { min: 0, max: 10000 },
    ),
    ("detect.**.raiseCount", Bound::Int { min: 1, max: 10000 }),
    (
        "detect.**.windowSeconds",
        Bound::Int {
            min: 1,
            max: MAX_SECONDS,
        },
    ),
    (
        "detect.**.clearAfterSeconds",
        Bound::Int {
            min: 0,
            max: MAX_SECONDS,
        },
    ),
    (
        "detect.endpoints.zeroReadyGraceSeconds",
        Bound::Int {
            min: 0,
            max: MAX_SECONDS,
        },
    ),
    (
        "detect.endpoints.zeroReadyClearSeconds",
        Bound::Int {
            min: 0,
            max: MAX_SECONDS,
        },
    ),
    (
        "detect.endpoints.importantServices[]",
        Bound::NamespacedName,
    ),
    (
        "detect.leases.renewGapFactor",
        Bound::Float {
            min: 1.0,
            max: 100.0,
        },
    ),
    (
        "detect.leases.renewGapClearSeconds",
        Bound::Int {
            min: 0,
            max: MAX_SECONDS,
        },
    ),
    (
        "detect.rebuilds.perNodeLimit",
        Bound::Int { min: 1, max: 100 },
    ),
    (
        "detect.rebuilds.overLimitClearSeconds",
        Bound::Int {
            min: 0,
            max: MAX_SECONDS,
        },
    ),
];

/// Keys that are unset by default, so absent from the default policy's tree, with the keys
/// they hold when set.
pub const OPTIONAL_KEYS: &[&str] = &[
    "ingress.controller.namespace",
    "ingress.controller.name",
    "longhorn.allowFewerReplicas.reason",
];

/// One value out of bounds: the key path and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted path as written in `posture.yaml`, e.g. `longhorn.replicasPerVolume`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for Violation {}

/// The rule for a key path, if any.
pub fn rule_for(key: &str) -> Option<Bound> {
    RULES
        .iter()
        .find(|(pattern, _)| matches(pattern, key))
        .map(|(_, bound)| *bound)
}

fn matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"**"), Some(_)) => go(&p[1..], &k[1..]) || go(p, &k[1..]),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) => a == b && go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

/// Every key of `value` down to its leaves, as (path, value); a list is a leaf and each entry
/// is also visited as `path[]`.
pub fn leaves(value: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
            }
            Value::Array(items) => {
                out.push((prefix.to_owned(), value.clone()));
                for item in items {
                    out.push((format!("{prefix}[]"), item.clone()));
                }
            }
            _ => out.push((prefix.to_owned(), value.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// One row of the policy reference: every key a policy file may set, with its default (JSON,
/// `unset` when absent) and its bounds (`—` when any value of its type goes). `docs/policy.md`
/// is tested against these rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReference {
    pub key: String,
    pub default: String,
    pub bounds: String,
}

/// Every key of the policy type with its default and bounds, in the order of the type.
pub fn reference() -> Vec<KeyReference> {
    let tree = serde_json::to_value(Policy::default()).unwrap_or(Value::Null);
    let mut keys: Vec<(String, Value)> = leaves(&tree)
        .into_iter()
        .filter(|(key, _)| !key.ends_with("[]"))
        .collect();
    for optional in OPTIONAL_KEYS {
        let parent = optional
            .rsplit_once('.')
            .map(|(p, _)| p)
            .unwrap_or_default();
        let at = keys
            .iter()
            .rposition(|(key, _)| key == parent || key.starts_with(&format!("{parent}.")))
            .map_or(keys.len(), |i| i + 1);
        keys.insert(at, ((*optional).to_owned(), Value::Null));
    }
    keys.into_iter()
        .map(|(key, default)| {
            let mut bounds: Vec<String> =
                rule_for(&key).map(|b| b.to_string()).into_iter().collect();
            if default.is_array()
                && let Some(entry) = rule_for(&format!("{key}[]"))
            {
                bounds.push(format!("each {entry}"));
            }
            KeyReference {
                default: match default {
                    Value::Null => "unset".to_owned(),
                    value => format!("`{value}`"),
                },
                bounds: if bounds.is_empty() {
                    "—".to_owned()
                } else {
                    bounds.join("; ")
                },
                key,
            }
        })
        .collect()
}

impl Policy {
    /// Checks every value against its bound and the keys against each other. Pure: needs no
    /// cluster. Every violation is returned, in key order.
    pub fn validate(&self) -> Result<(), Vec<Violation>> {
        let tree = serde_json::to_value(self).unwrap_or(Value::Null);
        let fewer_allowed = self.longhorn.allow_fewer_replicas.is_some();
        let mut violations: Vec<Violation> = leaves(&tree)
            .into_iter()
            .filter_map(|(key, value)| {
                let bound = rule_for(&key)?;
                check(bound, &value, fewer_allowed).map(|message| Violation { key, message })
            })
            .collect();
        if let (Some(primary), Some(secondary)) = (&self.topology.primary, &self.topology.secondary)
            && primary == secondary
        {
            violations.push(Violation {
                key: "topology.secondary".into(),
                message: format!(
                    "{secondary:?} is also topology.primary; the secondary must be another node"
                ),
            });
        }
        for (i, suppression) in self.suppress.iter().enumerate() {
            if suppression.check.trim().is_empty() {
                violations.push(Violation {
                    key: format!("suppress[{i}].check"),
                    message: "names no check: give a check id or a prefix ending in *".into(),
                });
            }
            if suppression.reason.trim().is_empty() {
                violations.push(Violation {
                    key: format!("suppress[{i}].reason"),
                    message: "is empty: say why the finding is accepted".into(),
                });
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// Checks the policy against the cluster it is about to judge or change: the nodes it names
    /// exist, and no volume is asked for more replicas than there are nodes to hold them.
    /// A snapshot without Nodes (unreadable) is not judged.
    pub fn validate_for(&self, snapshot: &Snapshot) -> Result<(), Vec<Violation>> {
        let nodes: BTreeSet<&str> = snapshot.nodes.iter().map(node_name).collect();
        if nodes.is_empty() {
            return Ok(());
        }
        let listed = || nodes.iter().copied().collect::<Vec<_>>().join(", ");
        let mut violations = Vec::new();
        for (key, name) in [
            ("topology.primary", &self.topology.primary),
            ("topology.secondary", &self.topology.secondary),
        ] {
            if let Some(name) = name
                && !nodes.contains(name.as_str())
            {
                violations.push(Violation {
                    key: key.into(),
                    message: format!("no node {name:?} in the cluster (its nodes: {})", listed()),
                });
            }
        }
        let count = nodes.len() as i64;
        let setting = self
            .longhorn
            .settings
            .get(DEFAULT_REPLICA_COUNT_SETTING)
            .and_then(|v| v.trim().parse::<i64>().ok());
        for (key, replicas) in [
            (
                "longhorn.replicasPerVolume".to_owned(),
                Some(self.longhorn.replicas_per_volume),
            ),
            (
                format!("longhorn.settings.{DEFAULT_REPLICA_COUNT_SETTING}"),
                setting,
            ),
        ] {
            if let Some(replicas) = replicas
                && count >= 2
                && replicas > count
            {
                violations.push(Violation {
                    key,
                    message: format!(
                        "{replicas} is more than the cluster's {count} nodes; with hard \
                         anti-affinity the extra replicas could never be placed"
                    ),
                });
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

/// Why `value` is out of `bound`, or `None` when it fits. An unset optional key fits.
fn check(bound: Bound, value: &Value, fewer_allowed: bool) -> Option<String> {
    let text = value.as_str();
    match bound {
        Bound::Float { min, max } => match value.as_f64() {
            Some(v) if v.is_finite() && (min..=max).contains(&v) => None,
            Some(v) => Some(format!("{v} is out of bounds (must be {bound})")),
            None => Some(format!("must be a finite number, {bound}")),
        },
        _ if value.is_null() => None,
        Bound::Int { min, max } => match value.as_i64() {
            Some(v) if (min..=max).contains(&v) => None,
            _ if value.is_number() => Some(format!("{value} is out of bounds (must be {bound})")),
            _ => Some(format!("must be a whole number, {bound}")),
        },
        Bound::Replicas { text: as_text } => {
            let count = if as_text {
                text.and_then(|t| t.trim().parse::<i64>().ok())
            } else {
                value.as_i64()
            };
            let min = if fewer_allowed { 1 } else { 2 };
            match count {
                Some(n) if (min..=MAX_REPLICAS).contains(&n) => None,
                Some(1) => Some(format!(
                    "{value} replica cannot survive the loss of a node (must be at least 2; to \
                     accept it anyway, set longhorn.allowFewerReplicas: {{reason: \"...\"}})"
                )),
                Some(_) => Some(format!("{value} is out of bounds (must be {bound})")),
                None => Some(format!("{value} is not a whole number (must be {bound})")),
            }
        }
        Bound::NonEmpty | Bound::NodeName => (text.is_none_or(|t| t.trim().is_empty()))
            .then(|| format!("must not be empty, got {value}")),
        Bound::HttpPath => {
            (!text.is_some_and(|t| t.starts_with('/'))).then(|| format!("{value} must be {bound}"))
        }
        Bound::Quantity => {
            (!text.is_some_and(is_quantity)).then(|| format!("{value} is not {bound}"))
        }
        Bound::IpAddress => text
            .is_none_or(|t| t.parse::<std::net::IpAddr>().is_err())
            .then(|| format!("{value} is not {bound}")),
        Bound::NamespacedName => (!text.is_some_and(|t| {
            t.split_once('/')
                .is_some_and(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
        }))
        .then(|| format!("{value} is not {bound}")),
        Bound::OneOf(values) => (!text.is_some_and(|t| values.contains(&t)))
            .then(|| format!("{value} is not one of {}", values.join(", "))),
        Bound::NonEmptyList => value
            .as_array()
            .is_some_and(Vec::is_empty)
            .then(|| format!("must have {bound}")),
    }
}

/// A Kubernetes quantity: a decimal number with an optional suffix.
fn is_quantity(text: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    SUFFIXES.iter().any(|suffix| {
        text.strip_suffix(suffix).is_some_and(|number| {
            let mut parts = number.splitn(2, '.');
            let whole = parts.next().unwrap_or_default();
            let fraction = parts.next();
            let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
            !number.is_empty()
                && digits(whole)
                && fraction.is_none_or(digits)
                && (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(yaml: &str) -> String {
        Policy::from_yaml("p.yaml", yaml)
            .expect_err("out of bounds")
            .to_string()
    }

    #[test]
    fn defaults_are_within_bounds() {
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn zero_replicas_per_volume_is_rejected_with_key_and_bound() {
        let msg = rejected("longhorn: {replicasPerVolume: 0}\n");
        assert!(
            msg.starts_with("p.yaml: longhorn.replicasPerVolume: 0 "),
            "{msg}"
        );
        assert!(msg.contains("2 to 20"), "{msg}");
    }

    #[test]
    fn one_replica_needs_an_explained_override() {
        let msg = rejected("longhorn: {replicasPerVolume: 1}\n");
        assert!(msg.contains("longhorn.allowFewerReplicas"), "{msg}");
        let msg = rejected("longhorn: {replicasPerVolume: 1, allowFewerReplicas: {reason: ''}}\n");
        assert!(
            msg.contains("longhorn.allowFewerReplicas.reason: must not be empty"),
            "{msg}"
        );
        let ok = Policy::from_yaml(
            "p.yaml",
            "longhorn: {replicasPerVolume: 1, allowFewerReplicas: {reason: scratch data only}}\n",
        )
        .expect("explained override");
        assert_eq!(ok.longhorn.replicas_per_volume, 1);
        // Never zero, override or not.
        let msg = rejected("longhorn: {replicasPerVolume: 0, allowFewerReplicas: {reason: x}}\n");
        assert!(msg.contains("longhorn.replicasPerVolume: 0"), "{msg}");
    }

    #[test]
    fn the_replica_count_setting_is_bounded_like_replicas_per_volume() {
        let msg = rejected("longhorn:\n  settings: {default-replica-count: \"0\"}\n");
        assert!(
            msg.contains("longhorn.settings.default-replica-count: \"0\""),
            "{msg}"
        );
        let msg = rejected("longhorn:\n  settings: {default-replica-count: two}\n");
        assert!(msg.contains("not a whole number"), "{msg}");
    }

    #[test]
    fn negative_ingress_replicas_are_rejected() {
        let msg = rejected("ingress: {minReplicas: -5}\n");
        assert_eq!(
            msg,
            "p.yaml: ingress.minReplicas: -5 is out of bounds (must be 1 to 100)"
        );
    }

    #[test]
    fn a_detector_that_raises_on_nothing_is_rejected() {
        let msg = rejected(
            "detect: {restarts: {raiseCount: 0, windowSeconds: 600, clearAfterSeconds: 600}}\n",
        );
        assert_eq!(
            msg,
            "p.yaml: detect.restarts.raiseCount: 0 is out of bounds (must be 1 to 10000)"
        );
        let msg = rejected("detect: {leases: {renewGapFactor: .nan}}\n");
        assert!(
            msg.contains("detect.leases.renewGapFactor: must be a finite number"),
            "{msg}"
        );
    }

    #[test]
    fn primary_equal_to_secondary_is_rejected() {
        let msg = rejected("topology: {primary: a, secondary: a}\n");
        assert!(
            msg.contains("topology.secondary: \"a\" is also topology.primary"),
            "{msg}"
        );
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let msg = rejected(
            "ingress: {minReplicas: 0}\ncoredns: {readinessPort: 70000, clusterDns: ten}\n",
        );
        for key in [
            "ingress.minReplicas",
            "coredns.readinessPort",
            "coredns.clusterDns",
        ] {
            assert!(msg.contains(key), "{msg}");
        }
    }

    #[test]
    fn quantities() {
        for ok in ["50m", "128Mi", "1", "0.5", ".5", "2Gi"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "m", "lots", "1.2.3", "-1", "5 Mi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        assert!(matches(
            "detect.**.raiseCount",
            "detect.restarts.raiseCount"
        ));
        assert!(matches(
            "detect.**.raiseCount",
            "detect.endpoints.churn.raiseCount"
        ));
        assert!(!matches("detect.**.raiseCount", "detect.raiseCount"));
        assert!(matches("coredns.requests.*", "coredns.requests.cpu"));
        assert!(!matches("coredns.requests.*", "coredns.requests"));
    }

    #[test]
    fn every_number_has_a_bound() {
        let tree = serde_json::to_value(Policy::default()).expect("serializes");
        for (key, value) in leaves(&tree) {
            if value.is_number() {
                assert!(rule_for(&key).is_some(), "{key} has no bound in RULES");
            }
        }
    }
}

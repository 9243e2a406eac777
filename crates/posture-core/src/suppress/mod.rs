//! Findings someone decided to live with: an annotation on the object
//! (`posture.dev/ignore: CHECK-ID[,…]`, the reason in `posture.dev/ignore-reason`) or an entry of
//! the policy file's `suppress` list. A suppressed finding leaves the findings (and so the exit
//! code) but stays in the report under `suppressed`, with who suppressed it and why: never
//! silently dropped.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;
use crate::report::{CheckStatus, Finding, Report, Severity};
use crate::snapshot::Snapshot;

/// The annotation listing the check ids (or `prefix.*`) to ignore on its object.
pub const IGNORE_ANNOTATION: &str = "posture.dev/ignore";
/// Why, in the person's words.
pub const IGNORE_REASON_ANNOTATION: &str = "posture.dev/ignore-reason";
/// The same annotations under `posture.io/`, read too.
const ALIAS_PREFIX: &str = "posture.io/";

/// One entry of the policy file's `suppress` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Suppression {
    /// A check id, or a prefix ending in `*` (`ingress.*`).
    pub check: String,
    /// The object's kind; any kind when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's namespace; any namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name; any name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why the finding is accepted. Required: a suppression nobody can explain is a finding
    /// hidden.
    pub reason: String,
}

impl Suppression {
    fn matches(&self, finding: &Finding) -> bool {
        let object = &finding.object;
        check_matches(&self.check, &finding.id)
            && self.kind.as_deref().is_none_or(|k| k == object.kind)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| object.namespace.as_deref() == Some(n))
            && self.name.as_deref().is_none_or(|n| n == object.name)
    }
}

/// A finding taken out of the findings, with the suppression that took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suppressed {
    #[serde(flatten)]
    pub finding: Finding,
    /// `annotation` or `policy`.
    pub suppressed_by: SuppressedBy,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressedBy {
    /// `posture.dev/ignore` on the object.
    Annotation,
    /// The policy file's `suppress` list.
    Policy,
}

/// `pattern` is the id itself, or `prefix*` matching ids that start with the prefix.
fn check_matches(pattern: &str, id: &str) -> bool {
    let pattern = pattern.trim();
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => pattern == id,
    }
}

/// Moves the suppressed findings of `report` to `report.suppressed`; a check left without a
/// warning or error passes, saying how many of its findings were suppressed.
pub fn apply(mut report: Report, snapshot: &Snapshot, policy: &[Suppression]) -> Report {
    let ignoring = IgnoreAnnotations::of(snapshot);
    let findings = std::mem::take(&mut report.findings);
    for finding in findings {
        match suppression_of(&finding, &ignoring, policy) {
            Some((by, reason)) => report.suppressed.push(Suppressed {
                finding,
                suppressed_by: by,
                reason,
            }),
            None => report.findings.push(finding),
        }
    }
    if report.suppressed.is_empty() {
        return report;
    }
    let mut suppressed_per_check: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &report.suppressed {
        *suppressed_per_check
            .entry(s.finding.id.as_str())
            .or_default() += 1;
    }
    for check in &mut report.checks {
        let Some(count) = suppressed_per_check.get(check.id.as_str()) else {
            continue;
        };
        let still_failing = report
            .findings
            .iter()
            .any(|f| f.id == check.id && f.severity >= Severity::Warning);
        if check.status == CheckStatus::Fail && !still_failing {
            check.status = CheckStatus::Pass;
            check.detail = Some(format!("{count} finding(s) suppressed"));
        }
    }
    report
}

fn suppression_of(
    finding: &Finding,
    ignoring: &IgnoreAnnotations<'_>,
    policy: &[Suppression],
) -> Option<(SuppressedBy, String)> {
    if let Some(annotations) = ignoring.of_object(&finding.object) {
        let get = |key: &str| {
            annotations.get(key).or_else(|| {
                let alias = format!("{ALIAS_PREFIX}{}", key.split_once('/')?.1);
                annotations.get(&alias)
            })
        };
        if let Some(ids) = get(IGNORE_ANNOTATION)
            && ids.split(',').any(|p| check_matches(p, &finding.id))
        {
            let reason = get(IGNORE_REASON_ANNOTATION).cloned().unwrap_or_else(|| {
                format!(
                    "no reason given (set {IGNORE_REASON_ANNOTATION} beside {IGNORE_ANNOTATION})"
                )
            });
            return Some((SuppressedBy::Annotation, reason));
        }
    }
    policy
        .iter()
        .find(|s| s.matches(finding))
        .map(|s| (SuppressedBy::Policy, s.reason.clone()))
}

/// Which of the snapshot's objects an ignore annotation may name: a kind, and whether it is
/// Longhorn's (whose `Node`, `Setting` and `Volume` share names with other kinds).
type Family<'a> = (&'a str, bool);

/// The annotations of the objects that carry an ignore annotation, by kind, namespace and name:
/// the snapshot is read once per report, not once per finding (a large cluster has thousands of
/// each), and most objects carry none.
struct IgnoreAnnotations<'s> {
    by_object: HashMap<(Family<'s>, Option<&'s str>, &'s str), &'s BTreeMap<String, String>>,
}

impl<'s> IgnoreAnnotations<'s> {
    fn of(snapshot: &'s Snapshot) -> Self {
        let mut index = Self {
            by_object: HashMap::new(),
        };
        index.add(("Node", false), &snapshot.nodes, |o| &o.metadata);
        index.add(("Namespace", false), &snapshot.namespaces, |o| &o.metadata);
        index.add(("Pod", false), &snapshot.pods, |o| &o.metadata);
        index.add(("Deployment", false), &snapshot.deployments, |o| {
            &o.metadata
        });
        index.add(("StatefulSet", false), &snapshot.stateful_sets, |o| {
            &o.metadata
        });
        index.add(("DaemonSet", false), &snapshot.daemon_sets, |o| &o.metadata);
        index.add(("ReplicaSet", false), &snapshot.replica_sets, |o| {
            &o.metadata
        });
        index.add(
            ("PodDisruptionBudget", false),
            &snapshot.pod_disruption_budgets,
            |o| &o.metadata,
        );
        index.add(("Service", false), &snapshot.services, |o| &o.metadata);
        index.add(
            ("PersistentVolume", false),
            &snapshot.persistent_volumes,
            |o| &o.metadata,
        );
        index.add(
            ("PersistentVolumeClaim", false),
            &snapshot.persistent_volume_claims,
            |o| &o.metadata,
        );
        index.add(("StorageClass", false), &snapshot.storage_classes, |o| {
            &o.metadata
        });
        index.add(("ConfigMap", false), &snapshot.config_maps, |o| &o.metadata);
        index.add(
            ("HorizontalPodAutoscaler", false),
            &snapshot.horizontal_pod_autoscalers,
            |o| &o.metadata,
        );
        index.add(("Lease", false), &snapshot.leases, |o| &o.metadata);
        if let Some(longhorn) = &snapshot.longhorn {
            index.add(("Setting", true), &longhorn.settings, |o| &o.metadata);
            index.add(("Volume", true), &longhorn.volumes, |o| &o.metadata);
            index.add(("Node", true), &longhorn.nodes, |o| &o.metadata);
        }
        index
    }

    fn add<T>(&mut self, family: Family<'s>, items: &'s [T], meta: impl Fn(&T) -> &ObjectMeta) {
        let alias = IGNORE_ANNOTATION
            .split_once('/')
            .map(|(_, rest)| format!("{ALIAS_PREFIX}{rest}"));
        for item in items {
            let meta = meta(item);
            let (Some(name), Some(annotations)) = (meta.name.as_deref(), &meta.annotations) else {
                continue;
            };
            let asks = annotations.contains_key(IGNORE_ANNOTATION)
                || alias
                    .as_ref()
                    .is_some_and(|alias| annotations.contains_key(alias));
            if asks {
                self.by_object
                    .entry((family, meta.namespace.as_deref(), name))
                    .or_insert(annotations);
            }
        }
    }

    /// The annotations of the object a finding names, if it carries an ignore annotation.
    fn of_object(&self, object: &ObjectRef) -> Option<&'s BTreeMap<String, String>> {
        let longhorn = object.api_version.starts_with("longhorn.io/")
            && matches!(object.kind.as_str(), "Node" | "Setting" | "Volume");
        self.by_object
            .get(&(
                (object.kind.as_str(), longhorn),
                object.namespace.as_deref(),
                object.name.as_str(),
            ))
            .copied()
    }
}

#[cfg(test)]
mod tests;

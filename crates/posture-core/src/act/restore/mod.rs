//! `watch --act snapshot-restore`: the Longhorn volumes in trouble, who uses them, their
//! snapshots and backups, and the exact steps to revert one to a snapshot. posture never runs
//! them: reverting throws away every write since the snapshot.
//!
//! Choosing volumes and writing the steps is [`select`], over objects the I/O layer listed
//! (`posture_kube::watch::act::restore::read_restore`).

mod claims;
mod steps;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::Value;

use super::alert_names;
use crate::ObjectRef;
use crate::longhorn::Volume;
use crate::snapshot::Snapshot;
use claims::{claim_of, pods_using, workloads_using};
use steps::{StepInputs, steps};

/// Which volumes were chosen, so the output can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeRule {
    /// The volumes named in active alerts.
    NamedInAlerts,
    /// No alert context: the volumes whose robustness is degraded or faulted.
    NotHealthy,
    /// No alert context and every volume is healthy: all of them.
    All,
}

impl VolumeRule {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NamedInAlerts => "volumes named in active alerts",
            Self::NotHealthy => "no alert context: volumes that are degraded or faulted",
            Self::All => "no alert context and no unhealthy volume: every volume",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    pub rule: VolumeRule,
    /// Where the Volume objects live (Longhorn's namespace).
    pub longhorn_namespace: Option<String>,
    /// False when `backups.longhorn.io` is not served or not readable.
    pub backups_listed: bool,
    pub volumes: Vec<VolumeRestore>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeRestore {
    pub name: String,
    pub state: Option<String>,
    pub robustness: Option<String>,
    /// The node the volume is attached to (or was last scheduled on).
    pub node: Option<String>,
    pub pv: Option<String>,
    /// `namespace/name` of the claim.
    pub pvc: Option<String>,
    pub workloads: Vec<WorkloadUse>,
    pub pods: Vec<String>,
    /// Newest first.
    pub snapshots: Vec<SnapshotEntry>,
    /// Newest first.
    pub backups: Vec<BackupEntry>,
    /// The snapshot the steps revert to: the newest one ready to use.
    pub revert_to: Option<String>,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadUse {
    pub object: ObjectRef,
    /// The replica count to scale back to.
    pub replicas: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotEntry {
    pub name: String,
    pub creation_time: Option<String>,
    pub ready_to_use: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupEntry {
    pub name: String,
    pub snapshot: Option<String>,
    pub state: Option<String>,
    pub created_at: Option<String>,
    pub url: Option<String>,
}

/// One step: what it is for, and the command when there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn is_unhealthy(volume: &Volume) -> bool {
    matches!(
        volume.status.robustness.as_deref(),
        Some("degraded" | "faulted")
    )
}

/// Chooses the volumes (alerted, else unhealthy, else all) and writes the revert steps for each.
pub fn select(
    snapshot: &Snapshot,
    policy: &crate::Policy,
    snapshots: &[Value],
    backups: Option<&[Value]>,
    alerts: Option<&[String]>,
) -> RestorePlan {
    let volumes: Vec<&Volume> = snapshot
        .longhorn
        .as_ref()
        .map(|l| l.volumes.iter().collect())
        .unwrap_or_default();
    let (rule, chosen): (VolumeRule, Vec<&Volume>) = match alerts {
        Some(names) => (
            VolumeRule::NamedInAlerts,
            volumes
                .iter()
                .copied()
                .filter(|v| alert_names(names, None, v.name()))
                .collect(),
        ),
        None if volumes.iter().any(|v| is_unhealthy(v)) => (
            VolumeRule::NotHealthy,
            volumes
                .iter()
                .copied()
                .filter(|v| is_unhealthy(v))
                .collect(),
        ),
        None => (VolumeRule::All, volumes.clone()),
    };
    let longhorn_namespace = volumes.iter().find_map(|v| v.metadata.namespace.clone());
    let primary = crate::topology::infer(snapshot, policy).primary;
    let mut plans: Vec<VolumeRestore> = chosen
        .into_iter()
        .map(|volume| volume_restore(snapshot, primary.as_deref(), volume, snapshots, backups))
        .collect();
    plans.sort_by(|a, b| a.name.cmp(&b.name));
    RestorePlan {
        rule,
        longhorn_namespace,
        backups_listed: backups.is_some(),
        volumes: plans,
    }
}

fn volume_restore(
    snapshot: &Snapshot,
    primary: Option<&str>,
    volume: &Volume,
    snapshots: &[Value],
    backups: Option<&[Value]>,
) -> VolumeRestore {
    let name = volume.name().to_owned();
    let k8s = volume.status.kubernetes_status.as_ref();
    let pv = k8s.and_then(|k| k.pv_name.clone()).or_else(|| {
        snapshot
            .persistent_volumes
            .iter()
            .find(|pv| {
                pv.spec
                    .as_ref()
                    .and_then(|s| s.csi.as_ref())
                    .is_some_and(|csi| csi.volume_handle == name)
            })
            .and_then(|pv| pv.metadata.name.clone())
    });
    let claim = claim_of(snapshot, volume, pv.as_deref());
    let pods: Vec<&Pod> = claim
        .as_ref()
        .map(|(ns, pvc)| pods_using(snapshot, ns, pvc))
        .unwrap_or_default();
    let workloads = claim
        .as_ref()
        .map(|(ns, pvc)| workloads_using(snapshot, ns, pvc, &pods))
        .unwrap_or_default();
    let mut snaps: Vec<SnapshotEntry> = snapshots
        .iter()
        .filter(|s| text(s, "/spec/volume").as_deref() == Some(name.as_str()))
        .map(|s| SnapshotEntry {
            name: text(s, "/metadata/name").unwrap_or_default(),
            creation_time: text(s, "/status/creationTime"),
            ready_to_use: s.pointer("/status/readyToUse").and_then(Value::as_bool),
        })
        .collect();
    snaps.sort_by(|a, b| (&b.creation_time, &b.name).cmp(&(&a.creation_time, &a.name)));
    let mut backup_entries: Vec<BackupEntry> = backups
        .unwrap_or_default()
        .iter()
        .filter(|b| {
            text(b, "/status/volumeName").as_deref() == Some(name.as_str())
                || text(b, "/metadata/labels/backup-volume").as_deref() == Some(name.as_str())
        })
        .map(|b| BackupEntry {
            name: text(b, "/metadata/name").unwrap_or_default(),
            snapshot: text(b, "/spec/snapshotName").or_else(|| text(b, "/status/snapshotName")),
            state: text(b, "/status/state"),
            created_at: text(b, "/status/backupCreatedAt")
                .or_else(|| text(b, "/status/snapshotCreatedAt")),
            url: text(b, "/status/url"),
        })
        .collect();
    backup_entries.sort_by(|a, b| (&b.created_at, &b.name).cmp(&(&a.created_at, &a.name)));
    let revert_to = snaps
        .iter()
        .find(|s| s.ready_to_use == Some(true))
        .map(|s| s.name.clone());
    let attached_to = volume
        .status
        .current_node_id
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| volume.spec.node_id.clone().filter(|n| !n.is_empty()));
    let longhorn_namespace = volume
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "longhorn-system".to_owned());
    let mut notes = Vec::new();
    // A detached volume is attached for the revert on the primary, where the runbook keeps apps.
    let node = attached_to.or_else(|| {
        let primary = primary.map(str::to_owned);
        if let Some(primary) = &primary {
            notes.push(format!(
                "the volume is not attached: the steps attach it on the primary, {primary}"
            ));
        }
        primary
    });
    if snaps.is_empty() {
        notes.push(
            "no Longhorn snapshot of this volume exists: there is nothing to revert to".into(),
        );
    } else if revert_to.is_none() {
        notes.push("no snapshot of this volume is ready to use yet".into());
    }
    if workloads.is_empty() {
        notes.push("no workload uses this volume's claim: nothing to scale".into());
    }
    let steps = steps(&StepInputs {
        volume: &name,
        longhorn_namespace: &longhorn_namespace,
        node: node.as_deref(),
        snapshot: revert_to.as_deref(),
        workloads: &workloads,
    });
    VolumeRestore {
        name,
        state: volume.status.state.clone(),
        robustness: volume.status.robustness.clone(),
        node,
        pv,
        pvc: claim.map(|(ns, pvc)| format!("{ns}/{pvc}")),
        workloads,
        pods: pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect(),
        snapshots: snaps,
        backups: backup_entries,
        revert_to,
        steps,
        notes,
    }
}

#[cfg(test)]
mod tests;

//! `watch --act argo-rollback`: the Argo CD Applications behind the workloads in trouble, their
//! deployed history, and the exact `argocd` commands that roll each one back. posture never runs
//! them: a rollback is a decision about releases, not about scheduling.
//!
//! Relating Applications to workloads and choosing the revision is [`relate`], over objects the
//! I/O layer listed (`posture_kube::watch::act::argo::read_argo`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use super::alert_names;
use crate::ObjectRef;
use crate::ownership::{Owner, owner_of};
use crate::snapshot::Snapshot;

/// What the cluster says about Argo CD.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "argocd", rename_all = "kebab-case")]
pub enum ArgoFindings {
    /// `applications.argoproj.io` is not served: nothing to roll back.
    NotInstalled,
    /// The credentials may not list Applications.
    Forbidden {
        message: String,
    },
    Installed(ArgoRollback),
}

/// Which workloads the Applications were chosen by, so the output can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadRule {
    /// The workloads named in the active alerts.
    NamedInAlerts,
    /// Every workload Argo CD tracks (no alert context).
    ArgoOwned,
    /// No workload carries Argo CD's tracking: every Application is shown.
    EveryApplication,
}

impl WorkloadRule {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NamedInAlerts => "Applications owning the workloads named in active alerts",
            Self::ArgoOwned => "no alert context: Applications owning any workload Argo CD tracks",
            Self::EveryApplication => {
                "no workload carries Argo CD tracking: every Application is listed"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoRollback {
    pub rule: WorkloadRule,
    pub applications: Vec<ArgoApplication>,
}

/// One Application and how to roll it back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoApplication {
    pub namespace: String,
    pub name: String,
    pub sync_status: Option<String>,
    pub health_status: Option<String>,
    /// The revision the Application is synced to.
    pub revision: Option<String>,
    /// `spec.syncPolicy.automated` is on: an automated sync would undo a rollback.
    pub automated_sync: bool,
    /// `status.history`, oldest first.
    pub history: Vec<Deployed>,
    /// The workloads the Application owns (by Argo CD's tracking annotation or label).
    pub workloads: Vec<ObjectRef>,
    /// The history id to roll back to: the entry before the newest.
    pub rollback_to: Option<i64>,
    /// The commands to run, in order. posture runs none of them.
    pub commands: Vec<String>,
    pub notes: Vec<String>,
}

/// One entry of `status.history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    pub id: i64,
    pub revision: Option<String>,
    pub deployed_at: Option<String>,
}

/// Deployments, StatefulSets and DaemonSets with their metadata.
pub fn workloads_of(snapshot: &Snapshot) -> Vec<(ObjectRef, ObjectMeta)> {
    let deployments = snapshot
        .deployments
        .iter()
        .map(|d| (ObjectRef::of(d), d.metadata.clone()));
    let sets = snapshot
        .stateful_sets
        .iter()
        .map(|s| (ObjectRef::of(s), s.metadata.clone()));
    let daemons = snapshot
        .daemon_sets
        .iter()
        .map(|d| (ObjectRef::of(d), d.metadata.clone()));
    deployments.chain(sets).chain(daemons).collect()
}

/// Relates Applications (as JSON objects) to the workloads they own, keeps the ones behind the
/// alerted workloads (or every Argo-owned one without alerts), and writes their commands.
pub fn relate(
    applications: &[Value],
    workloads: &[(ObjectRef, ObjectMeta)],
    alerts: Option<&[String]>,
) -> ArgoRollback {
    let tracked: Vec<(&ObjectRef, String)> = workloads
        .iter()
        .filter_map(|(workload, meta)| match owner_of(meta) {
            Some(Owner::ArgoCd { app }) => Some((workload, app)),
            _ => None,
        })
        .collect();
    let involved: Vec<&(&ObjectRef, String)> = match alerts {
        Some(names) => tracked
            .iter()
            .filter(|(w, _)| alert_names(names, w.namespace.as_deref(), &w.name))
            .collect(),
        None => tracked.iter().collect(),
    };
    let mut rule = if alerts.is_some() {
        WorkloadRule::NamedInAlerts
    } else {
        WorkloadRule::ArgoOwned
    };
    let mut chosen: Vec<ArgoApplication> = applications
        .iter()
        .map(|app| application(app, &involved))
        .filter(|app| !app.workloads.is_empty())
        .collect();
    if chosen.is_empty() && tracked.is_empty() && alerts.is_none() {
        rule = WorkloadRule::EveryApplication;
        chosen = applications
            .iter()
            .map(|app| application(app, &involved))
            .collect();
    }
    chosen.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    ArgoRollback {
        rule,
        applications: chosen,
    }
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The revision of a history entry or sync status: `revision`, else the multi-source
/// `revisions` joined.
fn revision_of(value: &Value) -> Option<String> {
    text(value, "/revision").or_else(|| {
        let revisions: Vec<&str> = value
            .get("revisions")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        (!revisions.is_empty()).then(|| revisions.join(","))
    })
}

fn application(app: &Value, involved: &[&(&ObjectRef, String)]) -> ArgoApplication {
    let namespace = text(app, "/metadata/namespace").unwrap_or_default();
    let name = text(app, "/metadata/name").unwrap_or_default();
    // Tracking names an Application outside Argo CD's own namespace `namespace_name`.
    let qualified = format!("{namespace}_{name}");
    let workloads: Vec<ObjectRef> = involved
        .iter()
        .filter(|(_, owner)| *owner == name || *owner == qualified)
        .map(|(w, _)| (*w).clone())
        .collect();
    let automated = app.pointer("/spec/syncPolicy/automated");
    let automated_sync = automated
        .is_some_and(|a| a.is_object() && a.get("enabled").and_then(Value::as_bool) != Some(false));
    let mut history: Vec<Deployed> = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| {
                    Some(Deployed {
                        id: entry.get("id")?.as_i64()?,
                        revision: revision_of(entry),
                        deployed_at: text(entry, "/deployedAt"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    history.sort_by_key(|d| d.id);
    let rollback_to = history.len().checked_sub(2).map(|i| history[i].id);
    let target = format!("{namespace}/{name}");
    let mut commands = Vec::new();
    let mut notes = Vec::new();
    if automated_sync {
        commands.push(format!("argocd app set {target} --sync-policy none"));
        notes.push(format!(
            "automated sync is on and would undo a rollback; turn it back on afterwards with \
             `argocd app set {target} --sync-policy automated`"
        ));
    }
    match rollback_to {
        Some(id) => commands.push(format!("argocd app rollback {target} {id}")),
        None => notes.push(format!(
            "status.history has {} entr{}: there is no earlier revision to roll back to",
            history.len(),
            if history.len() == 1 { "y" } else { "ies" }
        )),
    }
    commands.push(format!(
        "kubectl -n {namespace} get application {name} -o yaml"
    ));
    ArgoApplication {
        sync_status: text(app, "/status/sync/status"),
        health_status: text(app, "/status/health/status"),
        revision: app.pointer("/status/sync").and_then(revision_of),
        automated_sync,
        history,
        workloads,
        rollback_to,
        commands,
        notes,
        namespace,
        name,
    }
}

#[cfg(test)]
#[path = "argo_tests.rs"]
mod tests;

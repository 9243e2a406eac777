//! `watch --act argo-rollback`: the Argo CD Applications behind the workloads in trouble, their
//! deployed history, and the exact `argocd` commands that roll each one back. posture never runs
//! them: a rollback is a decision about releases, not about scheduling.
//!
//! Reading is [`read_argo`]; relating Applications to workloads and choosing the revision is the
//! pure [`relate`], over the listed objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use posture_core::ObjectRef;
use posture_core::ownership::{Owner, owner_of};
use posture_core::snapshot::Snapshot;
use serde::Serialize;
use serde_json::Value;

use super::{ActError, alert_names};

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

fn applications() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// Lists the Applications and the workloads, and relates them with [`relate`].
pub async fn read_argo(
    client: &kube::Client,
    cluster: &crate::ClusterIdentity,
    alerts: Option<&[String]>,
) -> Result<ArgoFindings, ActError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &applications());
    let listed = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Ok(ArgoFindings::NotInstalled);
        }
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Ok(ArgoFindings::Forbidden {
                message: status.message,
            });
        }
        Err(source) => {
            return Err(ActError::Api {
                what: "listing Argo CD Applications".into(),
                source,
            });
        }
    };
    let applications: Vec<Value> = listed
        .iter()
        .filter_map(|app| serde_json::to_value(app).ok())
        .collect();
    let snapshot = crate::collect(client, cluster)
        .await
        .map_err(ActError::Collect)?;
    Ok(ArgoFindings::Installed(relate(
        &applications,
        &workloads_of(&snapshot),
        alerts,
    )))
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

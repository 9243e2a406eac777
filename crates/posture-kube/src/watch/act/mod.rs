//! The runbook's "Act" during a storm: re-cordoning the secondary and Longhorn settings changes,
//! built as pinned JSON patches (leading `test`s, an inverse), dry-run first, and journaled in the
//! apply journal's record format so `posture rollback --journal` undoes them. Argo CD rollback
//! ([`argo`]) and snapshot restore ([`restore`]) are read and printed, never run.

pub mod argo;
mod claims;
pub mod journal;
mod placement;
pub mod restore;
mod steps;

pub use placement::{is_unpinned_with_storage, primary_node, secondary_node, unpinned_workloads};

use crate::apply::objects::api_resource;
use std::path::{Path, PathBuf};

use json_patch::Patch;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch as KubePatch, PatchParams};
use posture_core::ObjectRef;
use posture_core::apply::journal::{JOURNAL_SCHEMA, JournalHeader, Operation, Record};
use posture_core::plan::ClusterIdentity;
use posture_core::plan::patch::{Edit, build, path};
use serde_json::{Value, json};

use crate::journal::{JournalFile, JournalIoError};

/// An action a person may approve while watching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Cordon the secondary node again (found with [`secondary_node`]), so nothing new lands
    /// on the node that comes and goes.
    Cordon { node: String },
    /// Pin a workload that has storage but no placement of its own (found with
    /// [`unpinned_workloads`]) to the primary, so it stops following the secondary around.
    Pin { workload: ObjectRef, node: String },
    /// `concurrent-replica-rebuild-per-node-limit` to 0: no new rebuilds start.
    StopRebuilds,
    /// `replica-auto-balance` to `disabled`: Longhorn stops moving replicas around.
    DisableAutoBalance,
}

impl Act {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cordon { .. } => "recordon-secondary",
            Self::Pin { .. } => "pin-to-primary",
            Self::StopRebuilds => "stop-rebuilds",
            Self::DisableAutoBalance => "disable-auto-balance",
        }
    }

    /// The object the action edits, and the edit.
    async fn target(&self, client: &kube::Client) -> Result<Target, ActError> {
        let (name, value) = match self {
            Self::Cordon { node } => {
                return Ok(Target {
                    resource: ApiResource::erase::<k8s_openapi::api::core::v1::Node>(&()),
                    namespace: None,
                    name: node.clone(),
                    // Depend on the node's taints: see `cordon_edits`.
                    edits: Vec::new(),
                });
            }
            Self::Pin { workload, node } => {
                return Ok(Target {
                    resource: workload_resource(&workload.kind)
                        .ok_or_else(|| ActError::NotFound(workload.kind.clone()))?,
                    namespace: workload.namespace.clone(),
                    name: workload.name.clone(),
                    edits: vec![Edit::Set(
                        path(&[
                            "spec",
                            "template",
                            "spec",
                            "nodeSelector",
                            "kubernetes.io/hostname",
                        ]),
                        json!(node),
                    )],
                });
            }
            Self::StopRebuilds => ("concurrent-replica-rebuild-per-node-limit", "0"),
            Self::DisableAutoBalance => ("replica-auto-balance", "disabled"),
        };
        let all: Api<DynamicObject> = Api::all_with(client.clone(), &settings());
        let found = all
            .list(&ListParams::default())
            .await
            .map_err(|source| ActError::Api {
                what: "listing Longhorn settings".into(),
                source,
            })?
            .items
            .into_iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .ok_or_else(|| ActError::NoSetting(name.to_owned()))?;
        Ok(Target {
            resource: settings(),
            namespace: found.metadata.namespace,
            name: name.to_owned(),
            edits: vec![Edit::Set(path(&["value"]), json!(value))],
        })
    }
}

struct Target {
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
    edits: Vec<Edit>,
}

fn workload_resource(kind: &str) -> Option<ApiResource> {
    matches!(kind, "Deployment" | "StatefulSet")
        .then(|| api_resource(&ObjectRef::new("apps/v1", kind, None, "")))
}

#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("the Longhorn setting {0} does not exist on this cluster")]
    NoSetting(String),
    #[error("the API server refused {what}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot build the patch")]
    Build(#[source] posture_core::plan::PatchBuildError),
    #[error("cannot tell the secondary node: {0}")]
    Topology(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("cannot encode the patch: {0}")]
    Wire(String),
    #[error("cannot journal the change")]
    Journal(#[source] JournalIoError),
    #[error("cannot read the cluster")]
    Collect(#[source] crate::CollectError),
}

/// Every Deployment, StatefulSet and DaemonSet with its metadata (labels and annotations tell
/// who owns it), read as metadata only: what the counter-moves under an alert are fitted to.
pub async fn workload_owners(
    client: &kube::Client,
) -> Result<
    Vec<(
        ObjectRef,
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    )>,
    ActError,
> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    async fn list<K>(
        client: &kube::Client,
    ) -> Result<
        Vec<(
            ObjectRef,
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        )>,
        ActError,
    >
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + k8s_openapi::Resource
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
    {
        let api: Api<K> = Api::all(client.clone());
        let list = api
            .list_metadata(&ListParams::default())
            .await
            .map_err(|source| ActError::Api {
                what: format!("listing {}", <K as k8s_openapi::Resource>::URL_PATH_SEGMENT),
                source,
            })?;
        Ok(list
            .items
            .into_iter()
            .map(|item| {
                let object = ObjectRef::new(
                    <K as k8s_openapi::Resource>::API_VERSION,
                    <K as k8s_openapi::Resource>::KIND,
                    item.metadata.namespace.as_deref(),
                    item.metadata.name.clone().unwrap_or_default(),
                );
                (object, item.metadata)
            })
            .collect())
    }
    let mut all = list::<Deployment>(client).await?;
    all.extend(list::<StatefulSet>(client).await?);
    all.extend(list::<DaemonSet>(client).await?);
    Ok(all)
}

/// True when an alert subject names the object: `namespace/name` itself, or something under it
/// (`namespace/name/...`, a pod `namespace/name-...`); without a namespace, any path segment.
pub(crate) fn alert_names(alerts: &[String], namespace: Option<&str>, name: &str) -> bool {
    alerts.iter().any(|subject| match namespace {
        Some(ns) => {
            let own = format!("{ns}/{name}");
            subject == &own
                || subject.starts_with(&format!("{own}/"))
                || subject.starts_with(&format!("{own}-"))
        }
        None => subject.split('/').any(|segment| segment == name),
    })
}

/// What an action did (or, unapproved, would do).
#[derive(Debug, Clone, PartialEq)]
pub struct ActOutcome {
    pub object: ObjectRef,
    /// `None` when the object already looks the way the action wants.
    pub forward: Option<Patch>,
    pub inverse: Option<Patch>,
    /// True once the change landed (and was journaled).
    pub applied: bool,
    pub journal: Option<PathBuf>,
}

fn settings() -> ApiResource {
    api_resource(&ObjectRef::new(
        posture_core::longhorn::API_VERSION,
        "Setting",
        None,
        "",
    ))
}

/// The taint Kubernetes puts on a cordoned node.
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Cordoning edits: `spec.unschedulable` and the unschedulable NoSchedule taint the node
/// lifecycle controller would add anyway. Setting the taint here makes both the patch and its
/// inverse pin the node's taints, so a rollback never uncordons a node someone has since
/// re-cordoned or tainted differently (it stops on the conflict instead).
///
/// # Caveats
/// A taint the control plane adds meanwhile (a NotReady node's `unreachable`) also counts as a
/// change: the rollback then stops and shows the taints, and the person decides.
pub fn cordon_edits(node: &Value) -> Vec<Edit> {
    let mut taints = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !taints
        .iter()
        .any(|t| t["key"] == UNSCHEDULABLE_TAINT && t["effect"] == "NoSchedule")
    {
        taints.push(json!({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}));
    }
    vec![
        Edit::Set(path(&["spec", "unschedulable"]), json!(true)),
        Edit::Set(path(&["spec", "taints"]), Value::Array(taints)),
    ]
}

/// The pinned patch setting a Longhorn Setting's value; `None` when it already holds it.
pub fn setting_patch(
    observed: &Value,
    value: &str,
) -> Result<Option<posture_core::plan::PinnedPatch>, ActError> {
    build(observed, &[Edit::Set(path(&["value"]), json!(value))]).map_err(ActError::Build)
}

/// Dry-runs the action; with `journal` (the person approved), applies it and journals it.
pub async fn act(
    client: &kube::Client,
    cluster: &crate::ClusterIdentity,
    action: &Act,
    journal: Option<&Path>,
) -> Result<ActOutcome, ActError> {
    let target = action.target(client).await?;
    let name = target.name.as_str();
    let namespace = target.namespace.clone().unwrap_or_default();
    let api: Api<DynamicObject> = match &target.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &target.resource),
        None => Api::all_with(client.clone(), &target.resource),
    };
    let found = api
        .get_opt(name)
        .await
        .map_err(|source| ActError::Api {
            what: format!("reading {name}"),
            source,
        })?
        .ok_or_else(|| ActError::NotFound(name.to_owned()))?;
    let object = ObjectRef {
        kind: target.resource.kind.clone(),
        api_version: target.resource.api_version.clone(),
        namespace: target.namespace.clone(),
        name: name.to_owned(),
    };
    let mut observed = serde_json::to_value(&found).unwrap_or(Value::Null);
    if let Some(map) = observed.as_object_mut() {
        map.insert("apiVersion".into(), json!(target.resource.api_version));
        map.insert("kind".into(), json!(target.resource.kind));
    }
    let edits = match action {
        Act::Cordon { .. } => cordon_edits(&observed),
        _ => target.edits,
    };
    let Some(pinned) = build(&observed, &edits).map_err(ActError::Build)? else {
        return Ok(ActOutcome {
            object,
            forward: None,
            inverse: None,
            applied: false,
            journal: None,
        });
    };
    let refused = |source| ActError::Api {
        what: format!("patching {name}"),
        source,
    };
    api.patch(
        name,
        &PatchParams::default().dry_run(),
        &KubePatch::<()>::Json(wire(&pinned.forward)?),
    )
    .await
    .map_err(refused)?;
    let mut outcome = ActOutcome {
        object: object.clone(),
        forward: Some(pinned.forward.clone()),
        inverse: Some(pinned.inverse.clone()),
        applied: false,
        journal: None,
    };
    let Some(journal_path) = journal else {
        return Ok(outcome);
    };
    let header = JournalHeader {
        schema: JOURNAL_SCHEMA.to_owned(),
        plan_sha256: format!("act:{}", action.name()),
        cluster: ClusterIdentity {
            server: cluster.server.clone(),
            kube_system_uid: kube_system_uid(client).await?,
        },
    };
    let mut file = if journal_path.exists() {
        JournalFile::open(journal_path)
            .map_err(ActError::Journal)?
            .0
    } else {
        JournalFile::create(journal_path, &header).map_err(ActError::Journal)?
    };
    let stage = format!("act-{}", action.name());
    let change = if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    };
    file.append(&Record::Intent {
        stage: stage.clone(),
        change: change.clone(),
        object: object.clone(),
        operation: Operation::Patch {
            patch: pinned.forward.clone(),
        },
        rollback: false,
    })
    .map_err(ActError::Journal)?;
    let landed = api
        .patch(
            name,
            &PatchParams::default(),
            &KubePatch::<()>::Json(wire(&pinned.forward)?),
        )
        .await;
    let landed = match landed {
        Ok(landed) => landed,
        Err(source) => {
            let _ = file.append(&Record::Failed {
                stage,
                change: Some(change),
                reason: source.to_string(),
            });
            return Err(refused(source));
        }
    };
    file.append(&Record::Applied {
        stage: stage.clone(),
        change,
        object,
        resource_version: landed.metadata.resource_version,
        inverse: Operation::Patch {
            patch: pinned.inverse,
        },
    })
    .map_err(ActError::Journal)?;
    file.append(&Record::StageComplete { stage })
        .map_err(ActError::Journal)?;
    outcome.applied = true;
    outcome.journal = Some(journal_path.to_owned());
    Ok(outcome)
}

/// The patch as kube-rs's own `json_patch` version spells it (the same JSON).
fn wire<T: serde::de::DeserializeOwned>(patch: &Patch) -> Result<T, ActError> {
    serde_json::to_value(patch)
        .and_then(serde_json::from_value)
        .map_err(|e| ActError::Wire(e.to_string()))
}

async fn kube_system_uid(client: &kube::Client) -> Result<String, ActError> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    // A cluster without a kube-system Namespace object (a minimal test cluster) has no uid to
    // pin; the journal then identifies it by server alone.
    let namespace = namespaces
        .get_opt("kube-system")
        .await
        .map_err(|source| ActError::Api {
            what: "reading the kube-system namespace".into(),
            source,
        })?;
    Ok(namespace.and_then(|n| n.metadata.uid).unwrap_or_default())
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;

//! The runbook's "Act" during a storm: cordoning the secondary again, pinning a workload to the
//! primary, and Longhorn settings changes. Each is planned by the core
//! ([`posture_core::act::plan`]) as a one-stage plan and run by the apply engine, like any apply:
//! the cluster lock, a server dry-run, the intent journaled before the write, writes in doubt read
//! back, retries. Its journal is an act journal, which `posture rollback --journal` turns back
//! into the plan. Argo CD rollback ([`argo`]) and snapshot restore ([`restore`]) are read and
//! printed, never run.

pub mod argo;
pub mod journal;
mod placement;
pub mod restore;

pub use placement::{is_unpinned_with_storage, primary_node, secondary_node, unpinned_workloads};

use std::path::{Path, PathBuf};

use json_patch::Patch;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use posture_core::ObjectRef;
use posture_core::act::Target as ActTarget;
use posture_core::apply::journal::{JOURNAL_SCHEMA, JournalHeader, resume_point};
use posture_core::apply::{ApplyOptions, ApplyState, Mode};
use posture_core::plan::{Action, ClusterIdentity};
use serde_json::{Value, json};

use crate::apply::lock::LockSettings;
use crate::apply::objects::api_resource;
use crate::apply::{ApproveAll, Engine, EngineSettings};
use crate::journal::{JournalFile, JournalIoError};
use journal::ACT_JOURNAL_PREFIX;

pub use posture_core::act::{Act, UNSCHEDULABLE_TAINT, alert_names, cordon_edits};

/// The object `action` edits, and the resource it is served as.
async fn target(client: &kube::Client, action: &Act) -> Result<Target, ActError> {
    match action.target() {
        ActTarget::Node(node) => Ok(Target {
            resource: ApiResource::erase::<k8s_openapi::api::core::v1::Node>(&()),
            namespace: None,
            name: node,
        }),
        ActTarget::Workload(workload) => Ok(Target {
            resource: workload_resource(&workload.kind)
                .ok_or_else(|| ActError::NotFound(workload.kind.clone()))?,
            namespace: workload.namespace.clone(),
            name: workload.name.clone(),
        }),
        ActTarget::Setting { name, .. } => {
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
            })
        }
    }
}

struct Target {
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
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
    #[error("cannot plan the counter-move: {0}")]
    Plan(String),
    #[error("cannot journal the change")]
    Journal(#[source] JournalIoError),
    #[error("cannot read the cluster")]
    Collect(#[source] crate::CollectError),
    #[error("the API server refused {what}: {reason}")]
    Refused { what: String, reason: String },
    #[error("{0}")]
    Engine(String),
    #[error("not applied: {0}")]
    Halted(String),
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

/// Dry-runs the action; with `journal` (the person approved), applies it through the apply
/// engine, which journals it.
pub async fn act(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    action: &Act,
    journal: Option<&Path>,
) -> Result<ActOutcome, ActError> {
    act_with(client, cluster, action, journal, false).await
}

/// As [`act`], for a caller that holds the cluster lock (under this process's holder) for
/// longer than the action: the engine takes it as the same holder and leaves it held.
pub async fn act_holding_lock(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    action: &Act,
    journal: &Path,
) -> Result<ActOutcome, ActError> {
    act_with(client, cluster, action, Some(journal), true).await
}

/// Rolls back what an act journal records as applied, newest first, through the apply engine
/// (each inverse dry-run first and pinned by its `test`s), leaving the lock held for a caller
/// that holds it. Returns how many changes were undone.
pub async fn undo_holding_lock(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    journal_path: &Path,
) -> Result<usize, ActError> {
    let (mut file, parsed) = JournalFile::open(journal_path).map_err(ActError::Journal)?;
    let (plan, queue) =
        journal::rollback_plan(&parsed).map_err(|e| ActError::Plan(e.to_string()))?;
    if queue.is_empty() {
        return Ok(0);
    }
    let undone = queue.len();
    match run_engine(
        client,
        cluster,
        &mut file,
        &plan,
        Mode::Rollback(queue),
        true,
    )
    .await?
    {
        ApplyState::Done | ApplyState::Halted(posture_core::apply::Halt::RolledBack) => Ok(undone),
        ApplyState::Halted(halt) => Err(ActError::Halted(halt.to_string())),
        other => Err(ActError::Halted(format!("stopped at {other:?}"))),
    }
}

/// Applies a one-stage plan of patches (a pause) through the apply engine, journaled to a new or
/// existing act-style journal headed `header`, for a caller that holds the cluster lock. A run
/// that stops part way is undone before the error is returned.
pub async fn apply_holding_lock(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    plan: &posture_core::plan::Plan,
    header: &str,
    journal_path: &Path,
) -> Result<(), ActError> {
    let mut file = if journal_path.exists() {
        JournalFile::open(journal_path)
            .map_err(ActError::Journal)?
            .0
    } else {
        let header = JournalHeader {
            schema: JOURNAL_SCHEMA.to_owned(),
            plan_sha256: header.to_owned(),
            cluster: plan.cluster.clone(),
        };
        JournalFile::create(journal_path, &header).map_err(ActError::Journal)?
    };
    let point = resume_point(plan, &JournalHeader::for_plan(plan), &[])
        .map_err(|e| ActError::Plan(e.to_string()))?;
    match run_engine(client, cluster, &mut file, plan, Mode::Apply(point), true).await? {
        ApplyState::Done => Ok(()),
        other => {
            drop(file);
            let why = match other {
                ApplyState::Halted(halt) => halt.to_string(),
                other => format!("stopped at {other:?}"),
            };
            let undone = undo_holding_lock(client, cluster, journal_path).await;
            Err(ActError::Halted(match undone {
                Ok(_) => why,
                Err(e) => format!("{why}; undoing what landed stopped too: {e}"),
            }))
        }
    }
}

async fn act_with(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    action: &Act,
    journal: Option<&Path>,
    keep_lock: bool,
) -> Result<ActOutcome, ActError> {
    let target = target(client, action).await?;
    let name = target.name.as_str();
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
    let identity = ClusterIdentity {
        server: cluster.server.clone(),
        kube_system_uid: kube_system_uid(client).await?,
    };
    let Some(plan) = posture_core::act::plan(action, &object, &observed, identity.clone())
        .map_err(ActError::Build)?
    else {
        return Ok(ActOutcome {
            object,
            forward: None,
            inverse: None,
            applied: false,
            journal: None,
        });
    };
    let Some(Action::Patch { forward, inverse }) = plan
        .stages
        .first()
        .and_then(|s| s.changes.first())
        .map(|c| c.action.clone())
    else {
        return Err(ActError::Plan(
            "the counter-move's plan holds no patch".into(),
        ));
    };
    let mut outcome = ActOutcome {
        object,
        forward: Some(forward),
        inverse: Some(inverse),
        applied: false,
        journal: None,
    };
    let Some(journal_path) = journal else {
        crate::apply::dry_run(client, &plan)
            .await
            .map_err(|reason| ActError::Refused {
                what: format!("patching {name}"),
                reason,
            })?;
        return Ok(outcome);
    };
    let header = JournalHeader {
        schema: JOURNAL_SCHEMA.to_owned(),
        plan_sha256: format!("{ACT_JOURNAL_PREFIX}{}", action.name()),
        cluster: identity,
    };
    let mut file = if journal_path.exists() {
        JournalFile::open(journal_path)
            .map_err(ActError::Journal)?
            .0
    } else {
        JournalFile::create_on_first_record(journal_path, &header).map_err(ActError::Journal)?
    };
    let point = resume_point(&plan, &JournalHeader::for_plan(&plan), &[])
        .map_err(|e| ActError::Plan(e.to_string()))?;
    match run_engine(
        client,
        cluster,
        &mut file,
        &plan,
        Mode::Apply(point),
        keep_lock,
    )
    .await?
    {
        ApplyState::Done => {
            outcome.applied = true;
            outcome.journal = Some(journal_path.to_owned());
            Ok(outcome)
        }
        ApplyState::Halted(halt) => Err(ActError::Halted(halt.to_string())),
        other => Err(ActError::Halted(format!("stopped at {other:?}"))),
    }
}

/// Runs an act's one-stage plan (or its rollback) through the apply engine, approved, with the
/// flap gate off: a counter-move runs during the storm it answers, and the gate would halt it at
/// once. Returns where the machine stopped.
async fn run_engine(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    file: &mut JournalFile,
    plan: &posture_core::plan::Plan,
    mode: Mode,
    keep_lock: bool,
) -> Result<ApplyState, ActError> {
    let mut approve_all = ApproveAll;
    let mut settings = EngineSettings::new(LockSettings::for_this_process(false));
    settings.gate = None;
    settings.keep_lock = keep_lock;
    let mut engine = Engine {
        client: client.clone(),
        server: cluster.server.clone(),
        options: ApplyOptions {
            auto_approve: true,
            ..ApplyOptions::default()
        },
        settings,
        journal: file,
        approver: &mut approve_all,
    };
    let result = engine
        .run(plan, mode)
        .await
        .map_err(|e| ActError::Engine(crate::message::one_line(&e)))?;
    Ok(result.state)
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

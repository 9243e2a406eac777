//! `apply --pause`: hold off, for one run, whatever would undo or fight the run's changes while
//! its stages and post-conditions run: Argo CD's automated sync, Flux reconciliation, and the
//! autoscalers on the objects the plan changes.
//!
//! Argo CD's whole `automated` policy is taken off, not only `selfHeal`: without self-heal,
//! automated sync still applies the next commit that lands on the tracked branch, and that sync
//! puts back every field the run changed live. Removing the block is the one switch every Argo
//! CD version reads (`automated.enabled` is newer, and an older CRD's schema would prune it
//! silently); a project's sync windows are left alone, since a deny window reaches every
//! Application the window matches, not only the one the run touches.
//!
//! The pause is a one-stage plan of pinned patches like any other, so the apply engine dry-runs,
//! journals and (at the end, on a halt, or through `posture rollback` after a killed run) undoes
//! it with the same rules: every inverse opens with `test`s of the paused value, so a setting
//! someone changed meanwhile is never overwritten.
//!
//! Deciding what to pause is [`plan_pause`], over objects the I/O layer listed.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Value, json};

use crate::gitops::meta_str;
use crate::object::ObjectRef;
use crate::ownership::Owner;
use crate::plan::patch::{Edit, PatchBuildError, build, path};
use crate::plan::{Action, Change, ClusterIdentity, ObservedVersion, Plan, Stage};
use crate::report::Section;

/// The stage id of the pause plan (and of its journal records).
pub const PAUSE_STAGE: &str = "pause";

/// KEDA's annotation that stops a ScaledObject from scaling (KEDA 2.13 and later).
pub const KEDA_PAUSED: &str = "autoscaling.keda.sh/paused";
/// KEDA's older annotation, which pauses at a replica count: a ScaledObject carrying it is
/// already paused.
pub const KEDA_PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";

/// What the I/O layer listed, each object as read with its `apiVersion` and `kind`. A kind whose
/// CRD is not installed is simply empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Controllers {
    /// `argoproj.io` Applications.
    pub argo_applications: Vec<Value>,
    /// Flux Kustomizations and HelmReleases.
    pub flux: Vec<Value>,
    /// `autoscaling/v2` HorizontalPodAutoscalers.
    pub autoscalers: Vec<Value>,
    /// `keda.sh` ScaledObjects.
    pub scaled_objects: Vec<Value>,
}

/// How one object is held still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "hold", rename_all = "kebab-case")]
pub enum Hold {
    /// `spec.syncPolicy.automated` removed: Argo CD neither reverts live changes (self-heal)
    /// nor syncs a new commit until it is put back.
    AutomatedSyncOff,
    /// `spec.suspend: true`: Flux stops reconciling.
    Suspended,
    /// `minReplicas` = `maxReplicas`: the HPA holds this many replicas.
    Pinned { replicas: i64 },
    /// KEDA's paused annotation.
    KedaPaused,
}

impl Hold {
    pub fn describe(&self) -> String {
        match self {
            Self::AutomatedSyncOff => "automated sync off".to_owned(),
            Self::Suspended => "suspended".to_owned(),
            Self::Pinned { replicas } => format!("pinned at {replicas} replica(s)"),
            Self::KedaPaused => "paused (KEDA annotation)".to_owned(),
        }
    }
}

/// One object the pause holds, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Held {
    pub object: ObjectRef,
    #[serde(flatten)]
    pub hold: Hold,
    /// The plan's objects it would fight.
    pub because_of: Vec<ObjectRef>,
}

/// What [`plan_pause`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct PausePlan {
    /// `None` when nothing needs pausing.
    pub plan: Option<Plan>,
    pub held: Vec<Held>,
    /// What was not paused and why (already paused, owner not found).
    pub notes: Vec<String>,
}

/// An object a run changes or moves, as the pause sees it.
#[derive(Debug, Clone, PartialEq)]
struct Touched {
    object: ObjectRef,
    /// Its Argo CD or Flux owner, to pause.
    owner: Option<Owner>,
    /// The replicas the run sets on it, which an HPA pin must not undercut.
    replicas: Option<i64>,
}

/// The pause that keeps `plan`'s changes from being fought while it runs.
///
/// - An Argo CD Application or a Flux Kustomization/HelmRelease that owns an object the plan
///   changes (live or through its owner: the owner's sync would land mid-run either way).
/// - An HPA or a KEDA ScaledObject whose target is an object the plan changes. An HPA is pinned
///   at the larger of its current replicas and the replicas the plan sets, so the pin never
///   scales the plan's change back. An HPA KEDA made for a ScaledObject is left to KEDA: the
///   ScaledObject is paused instead.
pub fn plan_pause(plan: &Plan, controllers: &Controllers) -> Result<PausePlan, PatchBuildError> {
    let touched: Vec<Touched> = plan
        .stages
        .iter()
        .flat_map(|s| &s.changes)
        .map(|change| Touched {
            object: change.object.clone(),
            owner: change
                .owner
                .clone()
                .filter(|o| matches!(o, Owner::ArgoCd { .. } | Owner::Flux { .. })),
            replicas: replicas_set(&change.action),
        })
        .collect();
    pause_for(&touched, controllers, plan.cluster.clone(), "apply --pause")
}

/// The pause for a drill of `node`: the HPAs and KEDA ScaledObjects of the workloads with pods
/// on it (DaemonSets aside, which a drain leaves), pinned at the replicas the workload asks for
/// now (or more, if the HPA runs more), so the drill's
/// counts do not move under it. Nothing a drill writes is an owner's (it cordons, taints and
/// evicts), so Argo CD and Flux are left running, but for the owner of a pinned HPA, which would
/// sync the pin away.
pub fn drill_pause(
    before: &crate::snapshot::Snapshot,
    node: &str,
    policy: &crate::policy::Policy,
    controllers: &Controllers,
    cluster: ClusterIdentity,
) -> Result<PausePlan, PatchBuildError> {
    let ctx = crate::checks::context::Ctx::new(before, policy);
    let workloads: std::collections::BTreeMap<ObjectRef, Option<i64>> = before
        .pods
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .filter_map(|p| ctx.workload_of_pod(p))
        .filter(|w| w.object.kind != "DaemonSet")
        .map(|w| (w.object.clone(), w.replicas.map(i64::from)))
        .collect();
    let touched: Vec<Touched> = workloads
        .into_iter()
        .map(|(object, replicas)| Touched {
            object,
            owner: None,
            replicas,
        })
        .collect();
    pause_for(&touched, controllers, cluster, "drill --pause")
}

fn pause_for(
    touched: &[Touched],
    controllers: &Controllers,
    cluster: ClusterIdentity,
    source: &str,
) -> Result<PausePlan, PatchBuildError> {
    let mut pause = Pauser::default();
    for (owner, objects) in owners(touched) {
        let matching = owned_by(controllers, &owner);
        if matching.is_empty() {
            pause.notes.push(format!(
                "{} owns {} but was not found in the cluster: not paused",
                owner.describe(),
                names(&objects)
            ));
        }
        for controller in matching {
            let hold = match owner {
                Owner::ArgoCd { .. } => Hold::AutomatedSyncOff,
                _ => Hold::Suspended,
            };
            pause.hold(controller, hold, &objects)?;
        }
    }
    for hpa in &controllers.autoscalers {
        if made_by_keda(hpa) {
            continue;
        }
        let Some(target) = scale_target(hpa) else {
            continue;
        };
        let touching = touching(touched, &target);
        if touching.is_empty() {
            continue;
        }
        let planned = touched
            .iter()
            .filter(|t| touching.contains(&t.object))
            .filter_map(|t| t.replicas)
            .max();
        let Some(replicas) = pin_replicas(hpa, planned) else {
            pause.notes.push(format!(
                "{} reports no current replicas (status.currentReplicas) and the run sets none: not pinned, as a guess could scale {} down",
                object_ref(hpa).map_or_else(|| "an HPA".to_owned(), |o| o.to_string()),
                names(&touching)
            ));
            continue;
        };
        pause.hold(hpa, Hold::Pinned { replicas }, &touching)?;
    }
    for scaled in &controllers.scaled_objects {
        let Some(target) = scale_target(scaled) else {
            continue;
        };
        let touching = touching(touched, &target);
        if !touching.is_empty() {
            pause.hold(scaled, Hold::KedaPaused, &touching)?;
        }
    }
    hold_owners_of_paused(&mut pause, controllers)?;
    Ok(pause.finish(cluster, source))
}

/// Pauses the GitOps owner of each held object whose paused field that owner's manifest sets:
/// an Application's automated policy (an app-of-apps parent, or a Flux Kustomization applying
/// Applications) and an HPA's bounds. Left running, the owner syncs the pause away mid-run: Argo
/// CD's self-heal and Flux's drift correction both put back what their source says. A KEDA
/// annotation or a Flux `suspend` is in no manifest, so their owners are left running.
///
/// Owners go first in the pause, so they are paused before what they own and restored after
/// it: restored first, a parent would sync its child back and the child's restore would find
/// a setting "changed meanwhile".
fn hold_owners_of_paused(
    pause: &mut Pauser,
    controllers: &Controllers,
) -> Result<(), PatchBuildError> {
    let mut queue: Vec<Held> = pause.held.clone();
    let mut seen: BTreeSet<ObjectRef> = BTreeSet::new();
    while let Some(held) = queue.pop() {
        if !matches!(held.hold, Hold::AutomatedSyncOff | Hold::Pinned { .. })
            || !seen.insert(held.object.clone())
        {
            continue;
        }
        let Some(owner) = find(controllers, &held.object)
            .and_then(|observed| observed.get("metadata"))
            .and_then(|meta| serde_json::from_value(meta.clone()).ok())
            .and_then(|meta| crate::ownership::owner_of(&meta))
        else {
            continue;
        };
        let hold = match owner {
            Owner::ArgoCd { .. } => Hold::AutomatedSyncOff,
            Owner::Flux { .. } => Hold::Suspended,
            _ => continue,
        };
        let parents = owned_by(controllers, &owner);
        if parents.is_empty() {
            pause.note(format!(
                "{} owns {} but was not found in the cluster: not paused, and it may sync the pause away",
                owner.describe(),
                held.object
            ));
        }
        for parent in parents {
            let before = pause.held.len();
            pause.hold(parent, hold.clone(), std::slice::from_ref(&held.object))?;
            if let Some(new) = pause.held.get(before).cloned() {
                pause.move_last_to_front();
                queue.push(new);
            }
        }
    }
    Ok(())
}

/// The object `object` names among the listed controllers.
fn find<'c>(controllers: &'c Controllers, object: &ObjectRef) -> Option<&'c Value> {
    controllers
        .argo_applications
        .iter()
        .chain(&controllers.flux)
        .chain(&controllers.autoscalers)
        .chain(&controllers.scaled_objects)
        .find(|candidate| object_ref(candidate).as_ref() == Some(object))
}

#[derive(Default)]
struct Pauser {
    changes: Vec<Change>,
    observed: Vec<ObservedVersion>,
    held: Vec<Held>,
    notes: Vec<String>,
}

impl Pauser {
    fn hold(
        &mut self,
        observed: &Value,
        hold: Hold,
        because_of: &[ObjectRef],
    ) -> Result<(), PatchBuildError> {
        let Some(object) = object_ref(observed) else {
            return Ok(());
        };
        if self.held.iter().any(|h| h.object == object) {
            return Ok(());
        }
        let Some(edits) = edits(observed, &hold) else {
            self.note(format!("{object} needs no pause ({})", already(&hold)));
            return Ok(());
        };
        let Some(pinned) = build(observed, &edits)? else {
            self.note(format!("{object} is already {}", hold.describe()));
            return Ok(());
        };
        let resource_version = observed
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.changes.push(Change::live_patch(
            change_id(&object),
            format!("{}: {}", object, hold.describe()),
            object.clone(),
            resource_version.clone(),
            pinned.forward,
            pinned.inverse,
        ));
        self.observed.push(ObservedVersion {
            object: object.clone(),
            resource_version,
        });
        self.held.push(Held {
            object,
            hold,
            because_of: because_of.to_vec(),
        });
        Ok(())
    }

    /// A note, once however many held objects lead to it.
    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The hold just made goes first: paused before, and restored after, everything else.
    fn move_last_to_front(&mut self) {
        self.changes.rotate_right(1);
        self.observed.rotate_right(1);
        self.held.rotate_right(1);
    }

    fn finish(self, cluster: ClusterIdentity, source: &str) -> PausePlan {
        let plan = (!self.changes.is_empty()).then(|| {
            Plan::outside_planner(
                cluster,
                source.to_owned(),
                self.observed,
                vec![Stage {
                    id: PAUSE_STAGE.to_owned(),
                    section: Section::Risks,
                    title: "Pause what would undo or fight this run's changes".to_owned(),
                    runbook_approval_required: false,
                    rationale: "the runbook's appendix: pause autoscalers and self-healing \
                                owners while changing what they manage"
                        .to_owned(),
                    changes: self.changes,
                }],
            )
        });
        PausePlan {
            plan,
            held: self.held,
            notes: self.notes,
        }
    }
}

/// `application/argocd/ingress`: unique within the pause, and readable in a journal.
fn change_id(object: &ObjectRef) -> String {
    let kind = object.kind.to_ascii_lowercase();
    match &object.namespace {
        Some(ns) => format!("{kind}/{ns}/{}", object.name),
        None => format!("{kind}/{}", object.name),
    }
}

/// The edits that hold `observed` still; `None` when there is nothing to hold (an Application
/// that is not synced automatically, a ScaledObject already paused).
fn edits(observed: &Value, hold: &Hold) -> Option<Vec<Edit>> {
    match hold {
        Hold::AutomatedSyncOff => observed
            .pointer("/spec/syncPolicy/automated")
            .filter(|automated| automated.get("enabled") != Some(&Value::Bool(false)))
            .map(|_| vec![Edit::Remove(path(&["spec", "syncPolicy", "automated"]))]),
        Hold::Suspended => Some(vec![Edit::Set(path(&["spec", "suspend"]), json!(true))]),
        Hold::Pinned { replicas } => Some(vec![
            Edit::Set(path(&["spec", "minReplicas"]), json!(replicas)),
            Edit::Set(path(&["spec", "maxReplicas"]), json!(replicas)),
        ]),
        Hold::KedaPaused => {
            let annotations = observed.pointer("/metadata/annotations");
            let paused = annotations.and_then(|a| a.get(KEDA_PAUSED)) == Some(&json!("true"))
                || annotations
                    .and_then(|a| a.get(KEDA_PAUSED_REPLICAS))
                    .is_some();
            (!paused).then(|| {
                vec![Edit::Set(
                    path(&["metadata", "annotations", KEDA_PAUSED]),
                    json!("true"),
                )]
            })
        }
    }
}

/// Why an object needs no edit, in words.
fn already(hold: &Hold) -> &'static str {
    match hold {
        Hold::AutomatedSyncOff => "it is not synced automatically",
        _ => "already paused",
    }
}

/// The touched objects by the GitOps owner that manages them (Argo CD or Flux).
fn owners(touched: &[Touched]) -> Vec<(Owner, Vec<ObjectRef>)> {
    let mut out: Vec<(Owner, Vec<ObjectRef>)> = Vec::new();
    for t in touched {
        let Some(owner) = &t.owner else { continue };
        match out.iter_mut().find(|(o, _)| o == owner) {
            Some((_, objects)) => {
                if !objects.contains(&t.object) {
                    objects.push(t.object.clone());
                }
            }
            None => out.push((owner.clone(), vec![t.object.clone()])),
        }
    }
    out
}

fn owned_by<'c>(controllers: &'c Controllers, owner: &Owner) -> Vec<&'c Value> {
    crate::gitops::owned_by(&controllers.argo_applications, &controllers.flux, owner)
}

fn object_ref(observed: &Value) -> Option<ObjectRef> {
    Some(ObjectRef::new(
        observed.get("apiVersion")?.as_str()?,
        observed.get("kind")?.as_str()?,
        meta_str(observed, "namespace"),
        meta_str(observed, "name")?,
    ))
}

/// The workload an autoscaler scales, in the autoscaler's namespace. A ScaledObject's target
/// defaults to an `apps/v1` Deployment.
fn scale_target(autoscaler: &Value) -> Option<(String, String, String)> {
    let target = autoscaler.pointer("/spec/scaleTargetRef")?;
    let kind = target
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Deployment");
    let name = target.get("name")?.as_str()?;
    let namespace = meta_str(autoscaler, "namespace")?;
    Some((kind.to_owned(), namespace.to_owned(), name.to_owned()))
}

/// The touched objects an autoscaler's target names.
fn touching(
    touched: &[Touched],
    (kind, namespace, name): &(String, String, String),
) -> Vec<ObjectRef> {
    let found: BTreeSet<ObjectRef> = touched
        .iter()
        .map(|t| &t.object)
        .filter(|o| &o.kind == kind && o.namespace.as_deref() == Some(namespace) && &o.name == name)
        .cloned()
        .collect();
    found.into_iter().collect()
}

/// The replicas a change sets (`/spec/replicas` in its patch), if any.
fn replicas_set(action: &Action) -> Option<i64> {
    let Action::Patch { forward, .. } = action else {
        return None;
    };
    forward.0.iter().find_map(|op| {
        let value = match op {
            json_patch::PatchOperation::Add(add) if add.path.as_str() == "/spec/replicas" => {
                &add.value
            }
            json_patch::PatchOperation::Replace(replace)
                if replace.path.as_str() == "/spec/replicas" =>
            {
                &replace.value
            }
            _ => return None,
        };
        value.as_i64()
    })
}

/// The larger of what the HPA runs now and what the run sets, and at least its floor: a pin
/// never scales the run's change back, nor below what serves traffic now. `None` when neither
/// count is known.
fn pin_replicas(hpa: &Value, planned: Option<i64>) -> Option<i64> {
    let current = hpa
        .pointer("/status/currentReplicas")
        .and_then(Value::as_i64);
    let floor = hpa
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let known = current.into_iter().chain(planned).max()?;
    Some(known.max(floor).max(1))
}

/// KEDA makes an HPA per ScaledObject and owns it; pausing the ScaledObject pauses that too.
fn made_by_keda(hpa: &Value) -> bool {
    hpa.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("kind").and_then(Value::as_str) == Some("ScaledObject"))
        })
}

fn names(objects: &[ObjectRef]) -> String {
    objects
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;

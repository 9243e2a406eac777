//! Preconditions: the apps can start. A claim the PersistentVolume controller reports Lost (its
//! volume is gone) or Pending (nothing bound it yet), and a pod the scheduler cannot place, mean
//! apps are down before the runbook begins; no later step can wait for them to come back.

use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod, PodSpec};
use serde_json::Value;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::object::ObjectRef;
use crate::report::{Evidence, Finding, Section, Severity};

const S: Section = Section::Preconditions;
const SCHEDULED: &str = "PodScheduled";

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    out.record(&def_claims(), claims(ctx));
    out.record(&def_pods(), pods(ctx));
}

fn def_claims() -> CheckDef {
    CheckDef::new(
        S,
        "preconditions.claims.bound",
        "No claim the apps use is Lost or Pending",
    )
}
fn def_pods() -> CheckDef {
    CheckDef::new(
        S,
        "preconditions.pods.scheduled",
        "Every pod can be scheduled",
    )
}

fn phase_of(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.status.as_ref()?.phase.as_deref()
}

fn claim_names(spec: Option<&PodSpec>) -> impl Iterator<Item = &str> {
    (spec.and_then(|s| s.volumes.as_deref()))
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

/// Who mounts claim `namespace/name`: workloads by their pod template (StatefulSets also by
/// their claim templates, `<template>-<statefulset>-<ordinal>`), then pods not already named
/// through their workload.
fn users_of(ctx: &Ctx<'_>, namespace: &str, name: &str) -> Vec<String> {
    let mut users: Vec<String> = Vec::new();
    for w in ctx.workloads.iter().filter(|w| w.namespace() == namespace) {
        if claim_names(w.pod_spec()).any(|c| c == name) {
            users.push(w.object.to_string());
        }
    }
    for sts in &ctx.snap.stateful_sets {
        if sts.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let set = sts.metadata.name.as_deref().unwrap_or_default();
        let templates = (sts.spec.as_ref())
            .and_then(|s| s.volume_claim_templates.as_deref())
            .unwrap_or_default();
        let made_from_template = templates.iter().any(|t| {
            let template = t.metadata.name.as_deref().unwrap_or_default();
            name.strip_prefix(template)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.strip_prefix(set))
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|ordinal| {
                    !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit())
                })
        });
        let object = ObjectRef::of(sts).to_string();
        if made_from_template && !users.contains(&object) {
            users.push(object);
        }
    }
    for pod in &ctx.snap.pods {
        if pod.metadata.namespace.as_deref() != Some(namespace)
            || !claim_names(pod.spec.as_ref()).any(|c| c == name)
        {
            continue;
        }
        let named = ctx
            .workload_of_pod(pod)
            .is_some_and(|w| users.contains(&w.object.to_string()));
        if !named {
            users.push(ObjectRef::of(pod).to_string());
        }
    }
    users
}

/// The newest event about `object`, a Warning if there is one.
fn latest_event<'a>(ctx: &Ctx<'a>, object: &ObjectRef) -> Option<&'a Event> {
    let about = |e: &&Event| {
        let o = &e.involved_object;
        o.kind.as_deref() == Some(object.kind.as_str())
            && o.name.as_deref() == Some(object.name.as_str())
            && o.namespace.as_deref() == object.namespace.as_deref()
    };
    let when = |e: &Event| {
        (e.last_timestamp.as_ref().map(|t| t.0))
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
    };
    let events: Vec<&Event> = ctx.snap.events.iter().filter(about).collect();
    let warnings: Vec<&Event> = (events.iter().copied())
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    let pool = if warnings.is_empty() {
        events
    } else {
        warnings
    };
    // The last of equally old events wins: lists keep the order they were written in.
    pool.into_iter().rev().max_by_key(|e| when(e))
}

/// Evidence of an event's message (its reason goes in the finding's message), with the command
/// that lists the events about the same object.
fn event_evidence(event: &Event, about: &ObjectRef) -> Evidence {
    Evidence::with_command(
        &ObjectRef::of(event),
        "message",
        event.message.clone(),
        format!(
            "kubectl get events -n {} --field-selector involvedObject.kind={},involvedObject.name={}",
            about.namespace.as_deref().unwrap_or("default"),
            about.kind,
            about.name
        ),
    )
}

fn claims(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = ctx.unreadable(&["persistentvolumeclaims"]) {
        return v;
    }
    let def = def_claims();
    let volumes_readable = ctx.unreadable(&["persistentvolumes"]).is_none();
    let mut findings = Vec::new();
    for pvc in &ctx.snap.persistent_volume_claims {
        let phase = match phase_of(pvc) {
            Some(phase @ ("Lost" | "Pending")) => phase,
            _ => continue,
        };
        let obj = ObjectRef::of(pvc);
        let namespace = obj.namespace.as_deref().unwrap_or_default();
        let users = users_of(ctx, namespace, &obj.name);
        // A Pending claim nothing mounts (one waiting for its first consumer) stops no app.
        if phase == "Pending" && users.is_empty() {
            continue;
        }
        findings.push(claim_finding(
            ctx,
            &def,
            pvc,
            phase,
            &users,
            volumes_readable,
        ));
    }
    Verdict::judged(
        findings,
        format!(
            "{} claim(s) checked",
            ctx.snap.persistent_volume_claims.len()
        ),
    )
}

fn claim_finding(
    ctx: &Ctx<'_>,
    def: &CheckDef,
    pvc: &PersistentVolumeClaim,
    phase: &str,
    users: &[String],
    volumes_readable: bool,
) -> Finding {
    let obj = ObjectRef::of(pvc);
    let namespace = obj.namespace.as_deref().unwrap_or_default();
    let volume = (pvc.spec.as_ref())
        .and_then(|s| s.volume_name.as_deref())
        .filter(|v| !v.is_empty());
    let pv = volume.and_then(|v| {
        (ctx.snap.persistent_volumes.iter()).find(|pv| pv.metadata.name.as_deref() == Some(v))
    });
    let event = latest_event(ctx, &obj);
    let why = match (phase, volume, pv) {
        ("Lost", Some(v), None) if volumes_readable => {
            format!("its PersistentVolume {v} no longer exists")
        }
        ("Lost", Some(v), _) => format!("the PersistentVolume controller lost its volume {v}"),
        ("Lost", None, _) => "the PersistentVolume controller lost its volume".to_owned(),
        _ => "no PersistentVolume is bound to it".to_owned(),
    };
    let said = event
        .map(|e| {
            format!(
                " ({}: {})",
                e.reason.as_deref().unwrap_or_default(),
                e.message.as_deref().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let who = if users.is_empty() {
        "whatever mounts it cannot start".to_owned()
    } else {
        format!("{} cannot start", users.join(", "))
    };
    let mut f = def
        .finding(
            Severity::Error,
            &obj,
            format!("{obj} is {phase}: {why}{said}; {who}"),
        )
        .with_evidence(Evidence::field(&obj, "status.phase", phase));
    if let Some(v) = volume {
        f = f.with_evidence(Evidence::field(&obj, "spec.volumeName", v));
        let pv_ref = ObjectRef::new("v1", "PersistentVolume", None, v);
        match pv {
            Some(pv) => {
                let pv_phase = pv.status.as_ref().and_then(|s| s.phase.clone());
                f = f.with_evidence(Evidence::field(&pv_ref, "status.phase", pv_phase));
            }
            None if volumes_readable => {
                f = f.with_evidence(Evidence::with_command(
                    &pv_ref,
                    "metadata.name",
                    Value::Null,
                    format!("kubectl get persistentvolume {v}"),
                ));
            }
            None => {}
        }
    }
    if let Some(e) = event {
        f = f.with_evidence(event_evidence(e, &obj));
    }
    let remediation = if phase == "Lost" {
        format!(
            "kubectl describe pvc -n {namespace} {0}; bring back the PersistentVolume it was bound to (the same name, pointing at the storage's volume) or restore the data from a backup, before any runbook step",
            obj.name
        )
    } else {
        format!(
            "kubectl describe pvc -n {namespace} {0}; fix what keeps it from binding (its StorageClass, the provisioner) before any runbook step",
            obj.name
        )
    };
    f.with_remediation(remediation)
}

fn scheduled_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    (pod.status.as_ref()?.conditions.as_deref())?
        .iter()
        .find(|c| c.type_ == SCHEDULED)
}

fn pods(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = ctx.unreadable(&["pods"]) {
        return v;
    }
    if ctx.snap.pods.is_empty() {
        return Verdict::Unknown("the snapshot lists no pods".into());
    }
    let def = def_pods();
    let mut findings = Vec::new();
    let mut pending = 0;
    for pod in &ctx.snap.pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase != Some("Pending") {
            continue;
        }
        pending += 1;
        let Some(condition) = scheduled_condition(pod).filter(|c| c.status == "False") else {
            continue;
        };
        findings.push(pod_finding(ctx, &def, pod, condition));
    }
    Verdict::judged(
        findings,
        format!("{} pod(s), {pending} Pending", ctx.snap.pods.len()),
    )
}

fn pod_finding(
    ctx: &Ctx<'_>,
    def: &CheckDef,
    pod: &Pod,
    condition: &k8s_openapi::api::core::v1::PodCondition,
) -> Finding {
    let obj = ObjectRef::of(pod);
    let namespace = obj.namespace.as_deref().unwrap_or_default();
    let owner = match ctx.workload_of_pod(pod) {
        Some(w) => w.object.to_string(),
        None => (pod.metadata.owner_references.as_deref())
            .and_then(|o| o.first())
            .map(|o| format!("{} {}", o.kind, o.name))
            .unwrap_or_else(|| "no owner".into()),
    };
    let reason = condition.reason.as_deref().unwrap_or_default();
    let message = condition.message.as_deref().unwrap_or_default();
    let claims: Vec<String> = claim_names(pod.spec.as_ref())
        .filter_map(|c| {
            let pvc = ctx.snap.persistent_volume_claims.iter().find(|p| {
                p.metadata.namespace.as_deref() == Some(namespace)
                    && p.metadata.name.as_deref() == Some(c)
            })?;
            match phase_of(pvc) {
                Some(phase @ ("Lost" | "Pending")) => Some(format!("claim {c} is {phase}")),
                _ => None,
            }
        })
        .collect();
    let claims = if claims.is_empty() {
        String::new()
    } else {
        format!(" ({})", claims.join(", "))
    };
    let path = "status.conditions[?(@.type==\"PodScheduled\")]";
    def.finding(
        Severity::Error,
        &obj,
        format!(
            "pod {} ({owner}) cannot be scheduled: {reason}: {message}{claims}",
            obj.name
        ),
    )
    .with_evidence(Evidence::field(&obj, "status.phase", "Pending"))
    .with_evidence(Evidence::field(&obj, &format!("{path}.reason"), reason))
    .with_evidence(Evidence::field(&obj, &format!("{path}.message"), message))
    .with_remediation(format!(
        "kubectl describe pod -n {namespace} {}; fix what the scheduler names (claims, node selectors, taints, resources) before any runbook step",
        obj.name
    ))
}

//! Ownership: objects a GitOps tool, Helm or the k3s addon controller manages. A live patch to
//! them is reverted by the owner, so the planner must change them at their source.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::object::ObjectRef;
use crate::ownership::{Owner, owner_of};
use crate::report::{Evidence, Section, Severity};

const S: Section = Section::Ownership;

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let def = CheckDef::new(
        S,
        "ownership.managed",
        "Objects whose owner reverts live patches",
    );
    if let Some(v) = ctx.unreadable(&["deployments", "statefulsets", "daemonsets"]) {
        out.record(&def, v);
        return;
    }
    let snap = ctx.snap;
    let mut objects: Vec<(ObjectRef, &ObjectMeta)> = ctx
        .workloads
        .iter()
        .map(|w| (w.object.clone(), w.meta))
        .collect();
    objects.extend(
        snap.services
            .iter()
            .map(|s| (ObjectRef::of(s), &s.metadata)),
    );
    objects.extend(
        snap.pod_disruption_budgets
            .iter()
            .map(|p| (ObjectRef::of(p), &p.metadata)),
    );
    objects.extend(
        snap.storage_classes
            .iter()
            .map(|s| (ObjectRef::of(s), &s.metadata)),
    );
    let mut findings = Vec::new();
    for (obj, meta) in &objects {
        let Some(owner) = owner_of(meta) else {
            continue;
        };
        let observed = owner_value(&owner, meta);
        out.fact(S, obj.to_string(), owner.describe());
        findings.push(
            def.finding(
                Severity::Info,
                obj,
                format!(
                    "{obj} is managed by {}: a live patch is reverted, so change it at the source",
                    owner.describe()
                ),
            )
            .with_evidence(Evidence::field(obj, owner.evidence_field(), observed))
            .with_remediation(remedy(&owner)),
        );
    }
    out.record(
        &def,
        Verdict::judged(findings, format!("{} object(s) checked", objects.len())),
    );
}

fn owner_value(owner: &Owner, meta: &ObjectMeta) -> serde_json::Value {
    let annotations = meta.annotations.clone().unwrap_or_default();
    let labels = meta.labels.clone().unwrap_or_default();
    let value = match owner {
        Owner::ArgoCd { app } => annotations
            .get("argocd.argoproj.io/tracking-id")
            .cloned()
            .unwrap_or_else(|| app.clone()),
        Owner::Flux { name, .. } => name.clone(),
        Owner::Helm { release, .. } => annotations
            .get("meta.helm.sh/release-name")
            .or_else(|| labels.get("app.kubernetes.io/instance"))
            .cloned()
            .unwrap_or_else(|| release.clone()),
        Owner::K3sAddon { name } => name.clone(),
    };
    serde_json::Value::String(value)
}

fn remedy(owner: &Owner) -> String {
    match owner {
        Owner::ArgoCd { app } => format!(
            "change the manifest in Argo CD application {app}'s repository (or pause its automated sync while patching: posture apply --pause); argocd app rollback {app} undoes it"
        ),
        Owner::Flux { kind, name } => {
            format!("change the source of Flux {kind} {name}, or suspend it while patching")
        }
        Owner::Helm { release, .. } => {
            format!("change the values of Helm release {release} and upgrade it")
        }
        Owner::K3sAddon { name } => format!(
            "place {name}.yaml.skip in /var/lib/rancher/k3s/server/manifests before patching, or change the manifest there"
        ),
    }
}

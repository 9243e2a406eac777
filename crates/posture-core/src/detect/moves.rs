//! The counter-moves offered under an alert, fitted to who owns its subject. A rollback is the
//! owner's to make: `watch --act argo-rollback` only helps when an Argo CD Application owns the
//! workload; a k3s packaged addon such as CoreDNS is changed in the manifest (or
//! HelmChartConfig) k3s re-applies, a Helm release by `helm rollback`, a Flux object in its
//! source. Without an owner there is nothing to roll back to, and only the runbook's placement
//! move is offered.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::alert::DetectorKind;
use crate::object::ObjectRef;
use crate::ownership::{Owner, owner_of};

/// Where k3s keeps the manifests of its packaged components.
const K3S_MANIFESTS: &str = "/var/lib/rancher/k3s/server/manifests";
const ARGO_ROLLBACK: &str = "argo-rollback";

/// One counter-move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum CounterMove {
    /// `posture watch --act <name>`.
    Act { name: &'static str },
    /// A change the workload's owner makes in its own source; a live change would be reverted.
    Source { owner: Owner, how: String },
}

impl CounterMove {
    /// `--act pin-to-primary`, or `<owner>: <how>`.
    pub fn describe(&self) -> String {
        match self {
            Self::Act { name } => format!("--act {name}"),
            Self::Source { owner, how } => format!("{}: {how}", owner.describe()),
        }
    }
}

/// The workload an alert's subject belongs to: the subject itself (`namespace/name`), or the
/// workload whose pods the subject names (`namespace/<name>-…/container`); the longest name
/// wins, so `web-api-…` is `web-api`'s and not `web`'s.
pub fn workload_of_subject<'a>(
    subject: &str,
    workloads: &'a [(ObjectRef, ObjectMeta)],
) -> Option<&'a (ObjectRef, ObjectMeta)> {
    let mut parts = subject.splitn(3, '/');
    let (namespace, name) = (parts.next()?, parts.next()?);
    workloads
        .iter()
        .filter(|(w, _)| w.namespace.as_deref() == Some(namespace))
        .filter(|(w, _)| {
            name == w.name
                || name
                    .strip_prefix(w.name.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|(w, _)| w.name.len())
}

/// The moves offered under an alert of `detector` about `subject`, given the workloads known
/// with their metadata (Deployments, StatefulSets, DaemonSets).
///
/// Restart and crash loops undo a bad change, which only the workload's owner can do;
/// every other detector's moves act on nodes and Longhorn, whoever owns the subject.
pub fn counter_moves(
    detector: DetectorKind,
    subject: &str,
    workloads: &[(ObjectRef, ObjectMeta)],
) -> Vec<CounterMove> {
    let acts = detector.counter_moves().iter();
    if !matches!(
        detector,
        DetectorKind::RestartLoop | DetectorKind::CrashLoop
    ) {
        return acts.map(|&name| CounterMove::Act { name }).collect();
    }
    let workload = workload_of_subject(subject, workloads);
    let owner = workload.and_then(|(_, meta)| owner_of(meta));
    let mut moves = Vec::new();
    if let (Some((workload, meta)), Some(owner)) = (workload, &owner)
        && !matches!(owner, Owner::ArgoCd { .. })
    {
        moves.push(CounterMove::Source {
            owner: owner.clone(),
            how: source_move(owner, workload, meta),
        });
    }
    for &name in acts {
        if name == ARGO_ROLLBACK && !matches!(owner, Some(Owner::ArgoCd { .. })) {
            continue;
        }
        moves.push(CounterMove::Act { name });
    }
    moves
}

/// How the owner rolls `workload` back.
fn source_move(owner: &Owner, workload: &ObjectRef, meta: &ObjectMeta) -> String {
    let namespace = workload.namespace.as_deref().unwrap_or("default");
    match owner {
        Owner::K3sAddon { name } => {
            let helm_chart = (meta.annotations.as_ref())
                .and_then(|a| a.get("objectset.rio.cattle.io/owner-gvk"))
                .is_some_and(|gvk| gvk.contains("helm.cattle.io"));
            if helm_chart {
                format!(
                    "revert the change in the HelmChartConfig {name} (kube-system) or {K3S_MANIFESTS}/{name}-config.yaml; k3s redeploys the chart, and a live rollback is reverted"
                )
            } else {
                format!(
                    "revert the change in {K3S_MANIFESTS}/{name}.yaml on the server (k3s re-applies it over any live rollback), or its ConfigMap if the change was there"
                )
            }
        }
        Owner::Helm { release, .. } => {
            let namespace = (meta.annotations.as_ref())
                .and_then(|a| a.get("meta.helm.sh/release-namespace"))
                .map_or(namespace, String::as_str);
            format!("helm history {release} -n {namespace}; helm rollback {release} -n {namespace}")
        }
        Owner::Flux { kind, name } => format!(
            "revert the change in the source of Flux {kind} {name} (git revert), then flux reconcile {} {name}",
            kind.to_ascii_lowercase()
        ),
        Owner::ArgoCd { app } => format!("argocd app rollback {app}"),
    }
}

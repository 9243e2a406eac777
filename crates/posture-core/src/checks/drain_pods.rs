//! Pods a drain treats specially. `kubectl drain` refuses to delete a pod no controller owns
//! unless given `--force` (it is then gone for good), and a pod with emptyDir volumes unless
//! given `--delete-emptydir-data` (its scratch data goes with it). DaemonSet pods are skipped
//! with `--ignore-daemonsets`, and mirror (static) pods are never evicted.
//! See <https://kubernetes.io/docs/reference/kubectl/generated/kubectl_drain/>.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::object::ObjectRef;
use crate::report::{Evidence, Section, Severity};

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let def = CheckDef::new(
        Section::Preconditions,
        "preconditions.drain-pods",
        "Every pod a drain evicts comes back: none unmanaged, none losing emptyDir data",
    );
    let verdict = pods(ctx, &def);
    out.record(&def, verdict);
}

fn pods(ctx: &Ctx<'_>, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["pods"]) {
        return v;
    }
    if ctx.snap.pods.is_empty() {
        return Verdict::Unknown("the snapshot lists no pods".into());
    }
    let drained: Vec<&Pod> = ctx.snap.pods.iter().filter(|p| drain_evicts(p)).collect();
    let mut findings = Vec::new();
    for pod in &drained {
        let obj = ObjectRef::of(*pod);
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("its node");
        if controller(pod).is_none() {
            findings.push(
                def.finding(
                    Severity::Warning,
                    &obj,
                    format!(
                        "{obj} has no controller: a drain of {node} refuses it without --force, \
                         and with it deletes the pod for good"
                    ),
                )
                .with_evidence(Evidence::field(
                    &obj,
                    "metadata.ownerReferences",
                    Value::Null,
                ))
                .with_remediation("run it from a Deployment or StatefulSet, or delete it"),
            );
        }
        let scratch: Vec<&str> = (pod.spec.iter())
            .flat_map(|s| s.volumes.iter().flatten())
            .filter(|v| v.empty_dir.is_some())
            .map(|v| v.name.as_str())
            .collect();
        if !scratch.is_empty() {
            findings.push(
                def.finding(
                    Severity::Info,
                    &obj,
                    format!(
                        "{obj} keeps data in emptyDir ({}): a drain of {node} needs \
                         --delete-emptydir-data, and that data is lost",
                        scratch.join(", ")
                    ),
                )
                .with_evidence(Evidence::field(
                    &obj,
                    "spec.volumes",
                    Value::from(scratch.iter().map(|s| Value::from(*s)).collect::<Vec<_>>()),
                )),
            );
        }
    }
    Verdict::judged(
        findings,
        format!("{} pod(s) a drain would evict", drained.len()),
    )
}

/// Whether `kubectl drain --ignore-daemonsets` evicts the pod: running or pending, not a mirror
/// pod, not a DaemonSet's.
fn drain_evicts(pod: &Pod) -> bool {
    let finished = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    let daemon = controller(pod).is_some_and(|kind| kind == "DaemonSet");
    !finished && !mirror && !daemon && pod.metadata.deletion_timestamp.is_none()
}

fn controller(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.kind.as_str())
}

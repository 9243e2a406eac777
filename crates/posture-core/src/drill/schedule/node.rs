//! Filters on the node itself: readiness, the cordon and taints, node selector and required
//! node affinity, and the node affinity of the persistent volumes the pod mounts.

use k8s_openapi::api::core::v1::{Affinity, Node, NodeAffinity, PodSpec, Taint, Toleration};
use serde_json::Value;

use super::{Candidate, Cluster, rejection};
use crate::checks::selectors;
use crate::drill::types::{Filter, Rejection};
use crate::facts::{UNSCHEDULABLE_TAINT, node_ready};
use crate::object::ObjectRef;
use crate::report::Evidence;
use crate::topology::node_name;

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

impl Cluster<'_, '_> {
    pub(super) fn volume_binding(&self, c: &Candidate<'_>, node: &Node, out: &mut Vec<Rejection>) {
        if self.snapshot.unreadable("persistentvolumeclaims").is_some() {
            return;
        }
        for claim in c.claims {
            let pvc = self.snapshot.persistent_volume_claims.iter().find(|p| {
                p.metadata.namespace.as_deref() == Some(c.namespace)
                    && p.metadata.name.as_deref() == Some(claim.as_str())
            });
            let Some(pvc) = pvc else {
                let obj = ObjectRef::new("v1", "PersistentVolumeClaim", Some(c.namespace), claim);
                out.push(rejection(
                    node,
                    Filter::VolumeBinding,
                    format!("claim {claim} does not exist"),
                    Evidence::with_command(
                        &obj,
                        "metadata.name",
                        Value::Null,
                        format!("kubectl get pvc {claim} -n {}", c.namespace),
                    ),
                ));
                continue;
            };
            let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Lost" | "Pending")) {
                let obj = ObjectRef::of(pvc);
                out.push(rejection(
                    node,
                    Filter::VolumeBinding,
                    format!("claim {claim} is {}", phase.unwrap_or_default()),
                    Evidence::field(&obj, "status.phase", phase),
                ));
                continue;
            }
            let pv = (pvc.spec.as_ref())
                .and_then(|s| s.volume_name.as_deref())
                .and_then(|v| {
                    (self.snapshot.persistent_volumes.iter())
                        .find(|pv| pv.metadata.name.as_deref() == Some(v))
                });
            let terms =
                pv.and_then(|pv| pv.spec.as_ref()?.node_affinity.as_ref()?.required.as_ref());
            if let (Some(pv), Some(terms)) = (pv, terms) {
                let spec = PodSpec {
                    affinity: Some(Affinity {
                        node_affinity: Some(NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(
                                terms.clone(),
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..PodSpec::default()
                };
                if !selectors::admits_node(&spec, node) {
                    let obj = ObjectRef::of(pv);
                    out.push(rejection(
                        node,
                        Filter::VolumeBinding,
                        format!(
                            "PersistentVolume {} of claim {claim} is bound to other nodes",
                            obj.name
                        ),
                        Evidence::field(
                            &obj,
                            "spec.nodeAffinity.required",
                            serde_json::to_value(terms).unwrap_or_default(),
                        ),
                    ));
                }
            }
        }
    }
}

pub(super) fn readiness(_: &Candidate<'_>, node: &Node, out: &mut Vec<Rejection>) {
    if node_ready(node) == Some(false) {
        let obj = ObjectRef::of(node);
        out.push(rejection(
            node,
            Filter::NotReady,
            format!("{} is NotReady", node_name(node)),
            Evidence::field(
                &obj,
                "status.conditions[?(@.type==\"Ready\")].status",
                "False",
            ),
        ));
    }
}

pub(super) fn cordon_and_taints(c: &Candidate<'_>, node: &Node, out: &mut Vec<Rejection>) {
    let tolerations = tolerations(c);
    let obj = ObjectRef::of(node);
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let cordon = Taint {
        key: UNSCHEDULABLE_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    };
    if cordoned && !tolerated(&tolerations, &cordon) {
        out.push(rejection(
            node,
            Filter::Unschedulable,
            format!(
                "{} is cordoned and the pod does not tolerate {UNSCHEDULABLE_TAINT}",
                node_name(node)
            ),
            Evidence::field(&obj, "spec.unschedulable", true),
        ));
    }
    let not_ready = node_ready(node) == Some(false);
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    for taint in taints {
        let reported = (cordoned && taint.key == UNSCHEDULABLE_TAINT)
            || (not_ready && matches!(taint.key.as_str(), NOT_READY_TAINT | UNREACHABLE_TAINT));
        if reported
            || !matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            || tolerated(&tolerations, taint)
        {
            continue;
        }
        let shown = match taint.value.as_deref() {
            Some(v) if !v.is_empty() => format!("{}={v}:{}", taint.key, taint.effect),
            _ => format!("{}:{}", taint.key, taint.effect),
        };
        out.push(rejection(
            node,
            Filter::Taint,
            format!("taint {shown} is not tolerated"),
            Evidence::field(
                &obj,
                "spec.taints",
                serde_json::to_value(taints).unwrap_or_default(),
            ),
        ));
    }
}

pub(super) fn node_affinity(c: &Candidate<'_>, node: &Node, out: &mut Vec<Rejection>) {
    let spec = without_node_name(c.spec);
    if selectors::admits_node(&spec, node) {
        return;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector = c.spec.node_selector.as_ref().filter(|s| !s.is_empty());
    let selector_fails = selector.is_some_and(|s| s.iter().any(|(k, v)| labels.get(k) != Some(v)));
    if let (true, Some(selector)) = (selector_fails, selector) {
        let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path = format!("{}.nodeSelector", c.spec_path);
        out.push(rejection(
            node,
            Filter::NodeAffinity,
            format!(
                "nodeSelector {} does not match {}",
                shown.join(","),
                node_name(node)
            ),
            Evidence::field(
                c.source,
                &path,
                serde_json::to_value(selector).unwrap_or_default(),
            ),
        ));
    } else {
        let path = format!(
            "{}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
            c.spec_path
        );
        let terms = (c.spec.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        out.push(rejection(
            node,
            Filter::NodeAffinity,
            format!("required node affinity does not match {}", node_name(node)),
            Evidence::field(
                c.source,
                &path,
                serde_json::to_value(terms).unwrap_or_default(),
            ),
        ));
    }
}

/// The pod spec without `nodeName`: a replacement is scheduled afresh.
pub(super) fn without_node_name(spec: &PodSpec) -> PodSpec {
    let mut spec = spec.clone();
    spec.node_name = None;
    spec
}

/// The pod's tolerations, with those the DaemonSet controller adds to its pods.
fn tolerations(c: &Candidate<'_>) -> Vec<Toleration> {
    let mut all = c.spec.tolerations.clone().unwrap_or_default();
    if c.daemon {
        let exists = |key: &str, effect: &str| Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Toleration::default()
        };
        all.push(exists(NOT_READY_TAINT, "NoExecute"));
        all.push(exists(UNREACHABLE_TAINT, "NoExecute"));
        for key in [
            "disk-pressure",
            "memory-pressure",
            "pid-pressure",
            "unschedulable",
        ] {
            all.push(exists(&format!("node.kubernetes.io/{key}"), "NoSchedule"));
        }
        if c.spec.host_network == Some(true) {
            all.push(exists(
                "node.kubernetes.io/network-unavailable",
                "NoSchedule",
            ));
        }
    }
    all
}

/// Whether any toleration covers `taint`, as the TaintToleration plugin matches them.
pub(super) fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key = t.key.as_deref().unwrap_or_default();
        let exists = t.operator.as_deref() == Some("Exists");
        let key_ok = if key.is_empty() {
            exists
        } else {
            key == taint.key
                && (exists
                    || t.value.as_deref().unwrap_or_default()
                        == taint.value.as_deref().unwrap_or_default())
        };
        effect_ok && key_ok
    })
}

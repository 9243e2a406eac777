//! Preconditions: the secondary is Ready, cordoned and tainted; only DaemonSet pods run on it;
//! every app is pinned to the primary so nothing lands on the secondary by surprise.

use k8s_openapi::api::core::v1::Node;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use super::selectors;
use super::startable;
use crate::object::ObjectRef;
use crate::report::{Evidence, Section, Severity};
use crate::topology::node_name;
use crate::workload::{Kind, UNSCHEDULABLE_TAINT, Workload};

const S: Section = Section::Preconditions;

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let topo = &ctx.topology;
    out.fact(
        S,
        "primary",
        topo.primary.clone().unwrap_or_else(|| "unknown".into()),
    );
    let secondaries = if topo.secondaries.is_empty() {
        "none".to_owned()
    } else {
        topo.secondaries.join(", ")
    };
    out.fact(S, "secondary", secondaries);
    out.fact(S, "topology", topo.reason.clone());
    out.record(&def_topology(), topology(ctx));
    out.record(&def_ready(), secondary_ready(ctx));
    out.record(&def_cordoned(), secondary_cordoned(ctx));
    out.record(&def_daemonsets_only(), daemonsets_only(ctx));
    out.record(&def_pinned(), apps_pinned(ctx));
    startable::check(ctx, out);
}

fn def_topology() -> CheckDef {
    CheckDef::new(
        S,
        "preconditions.topology",
        "One primary server and one secondary node",
    )
}
fn def_ready() -> CheckDef {
    CheckDef::new(
        S,
        "preconditions.secondary.ready",
        "The secondary node is Ready",
    )
}
fn def_cordoned() -> CheckDef {
    CheckDef::new(
        S,
        "preconditions.secondary.cordoned",
        "The secondary is SchedulingDisabled with the unschedulable taint",
    )
}
fn def_daemonsets_only() -> CheckDef {
    CheckDef::new(
        S,
        "preconditions.secondary.daemonsets-only",
        "Only DaemonSet pods run on the secondary",
    )
}
fn def_pinned() -> CheckDef {
    CheckDef::new(
        S,
        "preconditions.workloads.pinned",
        "Every app is pinned to the primary",
    )
}

fn secondaries<'a>(ctx: &Ctx<'a>) -> Vec<&'a Node> {
    ctx.snap
        .nodes
        .iter()
        .filter(|n| ctx.topology.secondaries.iter().any(|s| s == node_name(n)))
        .collect()
}

fn topology(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = ctx.unreadable(&["nodes"]) {
        return v;
    }
    let def = def_topology();
    let nodes = ctx.snap.nodes.len();
    let detail = format!("{nodes} node(s); {}", ctx.topology.reason);
    let mut findings = Vec::new();
    if ctx.topology.primary.is_none() || ctx.topology.secondary().is_none() {
        let object = ObjectRef::new(
            "v1",
            "Node",
            None,
            ctx.topology.primary.clone().unwrap_or_default(),
        );
        let mut f = def
            .finding(
                Severity::Warning,
                &object,
                format!(
                    "the runbook assumes one primary server and one secondary node; found {nodes} node(s) ({})",
                    ctx.topology.reason
                ),
            )
            .with_remediation("name the primary and secondary in posture.yaml (topology.primary, topology.secondary)");
        f.evidence.extend(ctx.topology.evidence.iter().cloned());
        findings.push(f);
    }
    Verdict::judged(findings, detail)
}

use crate::facts::node_ready as is_ready;

fn secondary_ready(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = ctx.unreadable(&["nodes"]) {
        return v;
    }
    let nodes = secondaries(ctx);
    if nodes.is_empty() {
        return Verdict::Unknown("no secondary node identified".into());
    }
    let def = def_ready();
    let findings = nodes
        .iter()
        .filter(|n| is_ready(n) != Some(true))
        .map(|n| {
            let obj = ObjectRef::of(*n);
            let value = match is_ready(n) {
                Some(false) => "False",
                _ => "absent",
            };
            def.finding(
                Severity::Error,
                &obj,
                format!("secondary node {} is not Ready", node_name(n)),
            )
            .with_evidence(Evidence::field(
                &obj,
                "status.conditions[?(@.type==\"Ready\")].status",
                value,
            ))
            .with_remediation(
                "bring the node's kubelet back (journalctl -u k3s-agent) before any migration step",
            )
        })
        .collect();
    Verdict::judged(
        findings,
        format!("{} secondary node(s) checked", nodes.len()),
    )
}

fn has_unschedulable_taint(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| {
            ts.iter()
                .any(|t| t.key == UNSCHEDULABLE_TAINT && t.effect == "NoSchedule")
        })
}

fn secondary_cordoned(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = ctx.unreadable(&["nodes"]) {
        return v;
    }
    let nodes = secondaries(ctx);
    if nodes.is_empty() {
        return Verdict::Unknown("no secondary node identified".into());
    }
    let def = def_cordoned();
    let mut findings = Vec::new();
    for n in &nodes {
        let obj = ObjectRef::of(*n);
        let cordoned = n
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if !cordoned {
            findings.push(
                def.finding(
                    Severity::Warning,
                    &obj,
                    format!(
                        "secondary node {} is schedulable: apps may land on it by surprise",
                        node_name(n)
                    ),
                )
                .with_evidence(Evidence::field(&obj, "spec.unschedulable", cordoned))
                .with_remediation(format!("kubectl cordon {}", node_name(n))),
            );
        } else if !has_unschedulable_taint(n) {
            findings.push(
                def.finding(Severity::Warning, &obj, format!("secondary node {} is cordoned but lacks the {UNSCHEDULABLE_TAINT}:NoSchedule taint", node_name(n)))
                    .with_evidence(Evidence::field(&obj, "spec.taints", serde_json::to_value(n.spec.as_ref().and_then(|s| s.taints.clone())).unwrap_or_default()))
                    .with_remediation(format!("kubectl uncordon {0} && kubectl cordon {0} (the node controller adds the taint)", node_name(n))),
            );
        }
    }
    Verdict::judged(
        findings,
        format!("{} secondary node(s) checked", nodes.len()),
    )
}

fn daemonsets_only(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = ctx.unreadable(&["pods", "nodes"]) {
        return v;
    }
    if ctx.snap.pods.is_empty() {
        return Verdict::Unknown("the snapshot lists no pods".into());
    }
    if ctx.topology.secondaries.is_empty() {
        return Verdict::Unknown("no secondary node identified".into());
    }
    // Looked up once per pod: a list search grew with pods × secondary nodes.
    let names: std::collections::HashSet<&str> = ctx
        .topology
        .secondaries
        .iter()
        .map(String::as_str)
        .collect();
    let def = def_daemonsets_only();
    let mut checked = 0;
    let mut findings = Vec::new();
    for pod in &ctx.snap.pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        if !names.contains(node) {
            continue;
        }
        checked += 1;
        let owners = pod.metadata.owner_references.as_deref().unwrap_or_default();
        // Static pods are mirrored with the Node as owner; they belong to the node itself.
        if owners
            .iter()
            .any(|o| o.kind == "DaemonSet" || o.kind == "Node")
        {
            continue;
        }
        // The ingress controller and CoreDNS are spread over both nodes on purpose (2.2, 2.3),
        // and a workload that tolerates the cordon was placed there on purpose.
        if ctx.workload_of_pod(pod).is_some_and(|w| !is_app(ctx, w)) {
            continue;
        }
        let obj = ObjectRef::of(pod);
        let owner = owners
            .first()
            .map(|o| format!("{} {}", o.kind, o.name))
            .unwrap_or_else(|| "no owner".into());
        findings.push(
            def.finding(Severity::Warning, &obj, format!("pod {} ({owner}) runs on the secondary {node}; only DaemonSet pods belong there", obj.name))
                .with_evidence(Evidence::field(&obj, "spec.nodeName", node))
                .with_evidence(Evidence::field(&obj, "metadata.ownerReferences", serde_json::to_value(owners).unwrap_or_default()))
                .with_remediation("pin its workload to the primary (nodeSelector kubernetes.io/hostname) and delete the pod so it is rescheduled there"),
        );
    }
    Verdict::judged(findings, format!("{checked} pod(s) on the secondary"))
}

/// Workloads that are platform components rather than apps: DaemonSets, anything tolerating
/// the cordon, the ingress controller and CoreDNS (which the runbook spreads on purpose), and
/// workloads in the configured system namespaces.
fn is_app(ctx: &Ctx<'_>, w: &Workload<'_>) -> bool {
    if w.kind == Kind::DaemonSet || w.tolerates_unschedulable() {
        return false;
    }
    if ctx
        .policy
        .topology
        .system_namespaces
        .iter()
        .any(|ns| ns == w.namespace())
    {
        return false;
    }
    let same = |o: &&Workload<'_>| o.object == w.object;
    !ctx.ingress_controllers().iter().any(same) && !ctx.coredns().iter().any(same)
}

fn apps_pinned(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = ctx.unreadable(&["nodes", "deployments", "statefulsets", "replicasets"]) {
        return v;
    }
    let Some(primary) = ctx.topology.primary.as_deref() else {
        return Verdict::Unknown("no primary node identified".into());
    };
    let def = def_pinned();
    let apps: Vec<&Workload<'_>> = ctx.workloads.iter().filter(|w| is_app(ctx, w)).collect();
    let mut findings = Vec::new();
    for w in &apps {
        let Some(spec) = w.pod_spec() else { continue };
        let admitted: Vec<&str> = ctx
            .snap
            .nodes
            .iter()
            .filter(|n| selectors::admits_node(spec, n))
            .map(node_name)
            .collect();
        if admitted == [primary] {
            continue;
        }
        let message = if !selectors::has_node_constraint(spec) {
            format!(
                "{} has no nodeSelector or required node affinity: once the secondary is uncordoned it may be scheduled there by surprise",
                w.object
            )
        } else if admitted.is_empty() {
            format!(
                "{}'s node constraints match no node, so its pods cannot be scheduled",
                w.object
            )
        } else {
            format!(
                "{}'s node constraints admit {} rather than only the primary {primary}",
                w.object,
                admitted.join(", ")
            )
        };
        let path = w.spec_path();
        let selector = serde_json::to_value(&spec.node_selector).unwrap_or_default();
        let affinity = serde_json::to_value(
            spec.affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref()),
        )
        .unwrap_or_default();
        findings.push(
            def.finding(Severity::Warning, &w.object, message)
                .with_evidence(Evidence::field(&w.object, &format!("{path}.nodeSelector"), selector))
                .with_evidence(Evidence::field(&w.object, &format!("{path}.affinity.nodeAffinity"), affinity))
                .with_remediation(format!("set {path}.nodeSelector to {{kubernetes.io/hostname: {primary}}} until the app is explicitly migrated")),
        );
    }
    Verdict::judged(
        findings,
        format!(
            "{} app workload(s) checked against primary {primary}",
            apps.len()
        ),
    )
}

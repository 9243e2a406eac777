//! Appendix, risk register: the current signal of each risk as facts, and findings where a
//! signal crosses the policy's threshold.

use k8s_openapi::api::core::v1::Service;

use super::context::Ctx;
use super::longhorn_volumes;
use super::record::{CheckDef, Recorder, Verdict};
use crate::object::ObjectRef;
use crate::report::{Evidence, Finding, Section, Severity};

const S: Section = Section::Risks;
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let def = CheckDef::new(
        S,
        "risks.restarts",
        "No container restart loop within the window",
    );
    let verdict = restarts(ctx, out, &def);
    out.record(&def, verdict);
    let def = CheckDef::new(S, "risks.rebuilding", "No Longhorn rebuild storm");
    let verdict = rebuilding(ctx, out, &def);
    out.record(&def, verdict);
    let def = CheckDef::new(S, "risks.failed-replicas", "No failed Longhorn replicas");
    let verdict = failed_replicas(ctx, out, &def);
    out.record(&def, verdict);
    let def = CheckDef::new(
        S,
        "risks.lease-transitions",
        "Control-plane leases are not thrashing",
    );
    let verdict = lease_transitions(ctx, out, &def);
    out.record(&def, verdict);
    let def = CheckDef::new(
        S,
        "risks.endpoints",
        "The ingress and kube-dns Services have ready endpoints",
    );
    let verdict = endpoints(ctx, out, &def);
    out.record(&def, verdict);
    let def = CheckDef::new(
        S,
        "risks.autoscalers",
        "No autoscaler on the ingress controller or CoreDNS",
    );
    let verdict = autoscalers(ctx, &def);
    out.record(&def, verdict);
}

/// The runbook's appendix says to pause autoscalers: an HPA on the ingress controller or CoreDNS
/// sets the replica count posture plans (two, one per node), so a change to it is undone and a
/// drill's counts move under it; and a minimum below two can leave one node without a copy.
fn autoscalers(ctx: &Ctx<'_>, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["horizontalpodautoscalers"]) {
        return v;
    }
    let components: Vec<&crate::workload::Workload<'_>> = ctx
        .ingress_controllers()
        .into_iter()
        .chain(ctx.coredns())
        .collect();
    let mut findings = Vec::new();
    for hpa in &ctx.snap.horizontal_pod_autoscalers {
        let Some(spec) = hpa.spec.as_ref() else {
            continue;
        };
        let namespace = hpa.metadata.namespace.as_deref().unwrap_or_default();
        let target = &spec.scale_target_ref;
        let Some(workload) = components.iter().find(|w| {
            w.namespace() == namespace && w.name() == target.name && w.object.kind == target.kind
        }) else {
            continue;
        };
        let obj = ObjectRef::of(hpa);
        let remediation = format!(
            "pause it while posture changes or drills the cluster: `posture apply --pause` pins it for the run and restores it after, or pin it by hand with `kubectl -n {namespace} patch hpa {} --type merge -p '{{\"spec\":{{\"minReplicas\":N,\"maxReplicas\":N}}}}'` at the current count; to keep it, give it minReplicas 2 or more",
            obj.name
        );
        findings.push(autoscaler_finding(
            def,
            Autoscaler {
                object: obj,
                tag: "",
                workload: &workload.object,
                target_name: &target.name,
                min: (
                    i64::from(spec.min_replicas.unwrap_or(1)),
                    "spec.minReplicas",
                ),
                max: (i64::from(spec.max_replicas), "spec.maxReplicas"),
            },
            remediation,
        ));
    }
    for scaled in &ctx.snap.gitops.scaled_objects {
        let meta = |field: &str| {
            scaled
                .pointer(&format!("/metadata/{field}"))
                .and_then(serde_json::Value::as_str)
        };
        let (Some(namespace), Some(name)) = (meta("namespace"), meta("name")) else {
            continue;
        };
        let target = scaled.pointer("/spec/scaleTargetRef");
        let target_name = target
            .and_then(|t| t.get("name"))
            .and_then(serde_json::Value::as_str);
        let target_kind = target
            .and_then(|t| t.get("kind"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("Deployment");
        let Some(workload) = components.iter().find(|w| {
            w.namespace() == namespace
                && Some(w.name()) == target_name
                && w.object.kind == target_kind
        }) else {
            continue;
        };
        let obj = ObjectRef::new("keda.sh/v1alpha1", "ScaledObject", Some(namespace), name);
        // KEDA's defaults: scale to zero, up to a hundred.
        let count = |field: &str, default: i64| {
            scaled
                .pointer(&format!("/spec/{field}"))
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(default)
        };
        let remediation = format!(
            "pause it while posture changes or drills the cluster: `posture apply --pause` sets KEDA's autoscaling.keda.sh/paused annotation for the run and removes it after, or `kubectl -n {namespace} annotate scaledobject {name} autoscaling.keda.sh/paused=true` by hand; to keep it, give it minReplicaCount 2 or more"
        );
        findings.push(autoscaler_finding(
            def,
            Autoscaler {
                object: obj,
                tag: " (KEDA)",
                workload: &workload.object,
                target_name: target_name.unwrap_or_default(),
                min: (count("minReplicaCount", 0), "spec.minReplicaCount"),
                max: (count("maxReplicaCount", 100), "spec.maxReplicaCount"),
            },
            remediation,
        ));
    }
    let detail = if findings.is_empty() {
        format!(
            "{} autoscaler(s), none on the ingress controller or CoreDNS",
            ctx.snap.horizontal_pod_autoscalers.len() + ctx.snap.gitops.scaled_objects.len()
        )
    } else {
        String::new()
    };
    Verdict::judged(findings, detail)
}

/// An autoscaler, HPA or KEDA ScaledObject, found on one of the runbook's components; its
/// bounds with the fields that hold them.
struct Autoscaler<'a> {
    object: ObjectRef,
    /// What follows the object's name in the message: which autoscaler it is, where the kind
    /// does not say.
    tag: &'static str,
    workload: &'a ObjectRef,
    target_name: &'a str,
    min: (i64, &'static str),
    max: (i64, &'static str),
}

fn autoscaler_finding(def: &CheckDef, a: Autoscaler<'_>, remediation: String) -> Finding {
    let ((min, min_field), (max, max_field)) = (a.min, a.max);
    let below = if min < 2 {
        format!("; its minimum of {min} can leave a node without a replica")
    } else {
        String::new()
    };
    def.finding(
        Severity::Warning,
        &a.object,
        format!(
            "{}{} scales {} between {min} and {max} replicas: it sets the replica count the runbook plans, so a change to it is undone and a drill's counts move{below}",
            a.object, a.tag, a.workload
        ),
    )
    .with_evidence(Evidence::field(&a.object, "spec.scaleTargetRef.name", a.target_name.to_owned()))
    .with_evidence(Evidence::field(&a.object, min_field, min))
    .with_evidence(Evidence::field(&a.object, max_field, max))
    .with_remediation(remediation)
}

fn restarts(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["pods"]) {
        return v;
    }
    if ctx.snap.pods.is_empty() {
        return Verdict::Unknown("the snapshot lists no pods".into());
    }
    let Some(now) = ctx.observed_at else {
        return Verdict::Unknown("the snapshot records no time to judge restarts against".into());
    };
    let window = ctx.policy.risks.window_seconds;
    let threshold = ctx.policy.risks.restart_threshold;
    let mut recent = 0;
    let mut findings = Vec::new();
    for pod in &ctx.snap.pods {
        let obj = ObjectRef::of(pod);
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        for (i, cs) in statuses.iter().enumerate() {
            let finished = cs
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.finished_at.as_ref())
                .map(|t| t.0);
            let Some(finished) = finished else { continue };
            let age = now.as_second() - finished.as_second();
            if !(0..=window).contains(&age) {
                continue;
            }
            recent += 1;
            if cs.restart_count >= threshold {
                findings.push(
                    def.finding(Severity::Warning, &obj, format!(
                        "container {} of pod {} has restarted {} time(s), the last {age}s before the snapshot: a restart loop",
                        cs.name, obj.name, cs.restart_count
                    ))
                    .with_evidence(Evidence::field(&obj, &format!("status.containerStatuses[{i}].restartCount"), cs.restart_count))
                    .with_evidence(Evidence::field(&obj, &format!("status.containerStatuses[{i}].lastState.terminated.finishedAt"), finished.to_string()))
                    .with_remediation(format!("kubectl logs -n {} {} -c {} --previous; pause the migration until it is stable", obj.namespace.as_deref().unwrap_or_default(), obj.name, cs.name)),
                );
            }
        }
    }
    out.fact(
        S,
        "containers restarted in window",
        format!("{recent} (window {window}s)"),
    );
    Verdict::judged(
        findings,
        format!("{recent} container(s) restarted within {window}s"),
    )
}

fn rebuilding(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    let Some(lh) = ctx.snap.longhorn.as_ref() else {
        return ctx
            .unreadable(&["engines.longhorn.io"])
            .unwrap_or_else(|| Verdict::Skipped("Longhorn is not installed".into()));
    };
    if let Some(v) = ctx.unreadable(&["volumes.longhorn.io", "engines.longhorn.io"]) {
        return v;
    }
    let views = longhorn_volumes::views(ctx, lh);
    let rebuilding: Vec<_> = views.iter().filter(|v| v.is_rebuilding()).collect();
    let labels: Vec<&str> = rebuilding.iter().map(|v| v.label.as_str()).collect();
    out.fact(
        S,
        "volumes rebuilding",
        if labels.is_empty() {
            "0".into()
        } else {
            format!("{}: {}", labels.len(), labels.join("; "))
        },
    );
    let threshold = ctx.policy.risks.rebuilding_volume_threshold;
    let mut findings = Vec::new();
    if rebuilding.len() > threshold {
        for v in &rebuilding {
            let obj = v.volume.object_ref();
            findings.push(
                def.finding(Severity::Warning, &obj, format!("{} is rebuilding while {} volumes rebuild at once (threshold {threshold}): a rebuild storm", v.label, rebuilding.len()))
                    .with_evidence(Evidence::field(&obj, "status.robustness", v.volume.status.robustness.clone()))
                    .with_remediation("set concurrent-replica-rebuild-per-node-limit to 1 (0 pauses rebuilds) and change no more volumes until they finish"),
            );
        }
    }
    Verdict::judged(
        findings,
        format!("{} volume(s) rebuilding", rebuilding.len()),
    )
}

fn failed_replicas(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    let Some(lh) = ctx.snap.longhorn.as_ref() else {
        return ctx
            .unreadable(&["replicas.longhorn.io"])
            .unwrap_or_else(|| Verdict::Skipped("Longhorn is not installed".into()));
    };
    if let Some(v) = ctx.unreadable(&["replicas.longhorn.io"]) {
        return v;
    }
    let failed: Vec<_> = lh.replicas.iter().filter(|r| r.is_failed()).collect();
    out.fact(S, "Longhorn replicas failed", failed.len().to_string());
    if failed.len() <= ctx.policy.risks.failed_replica_threshold {
        return Verdict::judged(Vec::new(), format!("{} failed replica(s)", failed.len()));
    }
    let findings = failed
        .iter()
        .map(|r| {
            let obj = r.object_ref();
            let at = r.spec.failed_at.clone().filter(|s| !s.is_empty());
            def.finding(Severity::Warning, &obj, format!(
                "replica {} of volume {} on {} has failed{} (rebuild retries: {})",
                r.name(), r.volume_name().unwrap_or("?"), r.node_id().unwrap_or("no node"),
                at.as_ref().map(|a| format!(" at {a}")).unwrap_or_default(),
                r.spec.rebuild_retry_count.unwrap_or(0)
            ))
            .with_evidence(Evidence::field(&obj, "spec.failedAt", at))
            .with_evidence(Evidence::field(&obj, "status.currentState", r.status.current_state.clone()))
            .with_remediation("once the volume has its healthy replicas, delete the failed replica; repeated retries are the start of a rebuild storm")
        })
        .collect();
    Verdict::judged(findings, String::new())
}

fn lease_transitions(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["leases"]) {
        return v;
    }
    let threshold = ctx.policy.risks.lease_transition_threshold;
    let mut findings = Vec::new();
    let mut seen = 0;
    for lease in ctx
        .snap
        .leases
        .iter()
        .filter(|l| l.metadata.namespace.as_deref() == Some("kube-system"))
    {
        let name = lease.metadata.name.as_deref().unwrap_or_default();
        if !matches!(name, "kube-scheduler" | "kube-controller-manager") {
            continue;
        }
        seen += 1;
        let transitions = lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0);
        out.fact(
            S,
            format!("lease kube-system/{name} transitions"),
            transitions.to_string(),
        );
        if transitions > threshold {
            let obj = ObjectRef::of(lease);
            findings.push(
                def.finding(Severity::Warning, &obj, format!("lease kube-system/{name} has changed hands {transitions} times (threshold {threshold}): leader election is thrashing"))
                    .with_evidence(Evidence::field(&obj, "spec.leaseTransitions", transitions))
                    .with_remediation("check the server's load and clock, and the datastore's latency, before any other step"),
            );
        }
    }
    if seen == 0 {
        return Verdict::Unknown("no control-plane leases in the snapshot".into());
    }
    Verdict::judged(findings, format!("{seen} lease(s) checked"))
}

/// Services the endpoint check watches: those selecting the ingress controller or CoreDNS.
fn watched_services<'a>(ctx: &Ctx<'a>) -> Vec<&'a Service> {
    let mut services: Vec<&Service> = Vec::new();
    for w in ctx.ingress_controllers().into_iter().chain(ctx.coredns()) {
        for s in ctx.services_for(w) {
            if !services.iter().any(|x| std::ptr::eq(*x, s)) {
                services.push(s);
            }
        }
    }
    services
}

fn endpoints(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["endpointslices", "services"]) {
        return v;
    }
    if ctx.snap.endpoint_slices.is_empty() {
        return Verdict::Unknown("the snapshot lists no EndpointSlices".into());
    }
    let services = watched_services(ctx);
    if services.is_empty() {
        return Verdict::Skipped("no Service selects the ingress controller or CoreDNS".into());
    }
    let mut findings = Vec::new();
    for svc in &services {
        let obj = ObjectRef::of(*svc);
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let ready: usize = ctx
            .snap
            .endpoint_slices
            .iter()
            .filter(|s| {
                s.metadata.namespace.as_deref() == Some(ns)
                    && s.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(SERVICE_NAME_LABEL))
                        .is_some_and(|n| n == name)
            })
            .flat_map(|s| s.endpoints.iter())
            // A nil ready condition means unknown, which consumers treat as ready.
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .count();
        out.fact(S, format!("ready endpoints of {obj}"), ready.to_string());
        if ready == 0 {
            findings.push(
                def.finding(
                    Severity::Error,
                    &obj,
                    format!("{obj} has no ready endpoints: its traffic goes nowhere"),
                )
                .with_evidence(Evidence::with_command(
                    &obj,
                    "endpoints[].conditions.ready",
                    0,
                    format!("kubectl get endpointslices -n {ns} -l {SERVICE_NAME_LABEL}={name}"),
                ))
                .with_remediation(
                    "find why the pods are not ready (kubectl describe pods) before any change",
                ),
            );
        }
    }
    Verdict::judged(findings, format!("{} Service(s) checked", services.len()))
}

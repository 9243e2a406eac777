//! 2.2 Ingress: the controller runs one replica per node with required anti-affinity, a
//! hostname spread, strict probes, a PodDisruptionBudget and a rollout that cannot deadlock.

use k8s_openapi::api::core::v1::{Container, Probe};

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::report::{Evidence, Finding, Section, Severity};
use crate::workload::{self, HOSTNAME_KEY, Kind, Rollout, Workload};

const S: Section = Section::Ingress;

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let controller = CheckDef::new(S, "ingress.controller", "An ingress controller is found");
    let defs: [(CheckDef, Judge); 7] = [
        (
            CheckDef::new(
                S,
                "ingress.replicas",
                "The controller runs at least the minimum replicas, or as a DaemonSet on every node",
            ),
            replicas,
        ),
        (
            CheckDef::new(
                S,
                "ingress.anti-affinity",
                "Required pod anti-affinity on kubernetes.io/hostname",
            ),
            anti_affinity,
        ),
        (
            CheckDef::new(
                S,
                "ingress.topology-spread",
                "Topology spread maxSkew 1, DoNotSchedule, on kubernetes.io/hostname",
            ),
            topology_spread,
        ),
        (
            CheckDef::new(
                S,
                "ingress.probes",
                "Strict readiness and conservative liveness probes",
            ),
            probes,
        ),
        (
            CheckDef::new(
                S,
                "ingress.tolerates-cordon",
                "A controller Deployment tolerates the cordon on the secondary",
            ),
            tolerates_cordon,
        ),
        (
            CheckDef::new(
                S,
                "ingress.pdb",
                "A PodDisruptionBudget selects the controller's pods",
            ),
            pdb,
        ),
        (
            CheckDef::new(
                S,
                "ingress.rollout-strategy",
                "The rollout cannot deadlock with required anti-affinity on two nodes",
            ),
            rollout,
        ),
    ];
    if let Some(v) = ctx.unreadable(&["deployments", "daemonsets"]) {
        out.record(&controller, v.clone());
        for (def, _) in &defs {
            out.record(def, v.clone());
        }
        return;
    }
    let found = ctx.ingress_controllers();
    if found.is_empty() {
        let reason = "no ingress controller found (haproxytech, haproxy-ingress, ingress-nginx or traefik); set ingress.controller in posture.yaml to name one";
        out.record(&controller, Verdict::Skipped(reason.into()));
        for (def, _) in &defs {
            out.record(def, Verdict::Skipped(reason.into()));
        }
        return;
    }
    let names: Vec<String> = found.iter().map(|w| w.object.to_string()).collect();
    out.fact(S, "controller", names.join(", "));
    out.record(&controller, Verdict::judged(Vec::new(), names.join(", ")));
    for (def, judge) in &defs {
        if def.id == "ingress.pdb"
            && let Some(v) = ctx.unreadable(&["poddisruptionbudgets"])
        {
            out.record(def, v);
            continue;
        }
        let findings = found.iter().flat_map(|w| judge(ctx, def, w)).collect();
        out.record(
            def,
            Verdict::judged(findings, format!("{} controller(s) checked", found.len())),
        );
    }
}

type Judge = fn(&Ctx<'_>, &CheckDef, &Workload<'_>) -> Vec<Finding>;

fn replicas(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    if w.kind == Kind::DaemonSet {
        return daemon_nodes(ctx, def, w);
    }
    let min = ctx.policy.ingress.min_replicas;
    match w.replicas {
        Some(n) if n < min => vec![def
            .finding(Severity::Error, &w.object, format!("ingress controller {} runs {n} replica(s); losing its node takes ingress down (runbook: {min}, one per node)", w.object))
            .with_evidence(Evidence::field(&w.object, "spec.replicas", n))
            .with_remediation(format!("set spec.replicas to {min} together with required anti-affinity, or run the controller as a DaemonSet"))],
        _ => Vec::new(),
    }
}

/// A DaemonSet is one pod per node only on the nodes its template admits: one pinned to the
/// primary by a node selector, node affinity or an untolerated taint leaves ingress with no
/// endpoint when the primary goes.
fn daemon_nodes(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    let Some(spec) = w.pod_spec() else {
        return Vec::new();
    };
    let labels = w.pod_labels();
    let mut findings = Vec::new();
    for node in &ctx.snap.nodes {
        let rejections = crate::drill::schedule::daemon_rejections(
            &w.object,
            w.namespace(),
            &labels,
            spec,
            node,
        );
        let Some(first) = rejections.first() else {
            continue;
        };
        let why: Vec<&str> = rejections.iter().map(|r| r.detail.as_str()).collect();
        let mut finding = def
            .finding(
                Severity::Error,
                &w.object,
                format!(
                    "ingress controller DaemonSet {} runs no pod on {}: {}; with the other node gone, ingress has no endpoint",
                    w.object,
                    first.node,
                    why.join("; ")
                ),
            )
            .with_remediation(
                "let it run on every node: drop the nodeSelector or node affinity that pins it (for a Helm release, the chart's nodeSelector/affinity values), or tolerate the taint",
            );
        for rejection in &rejections {
            finding = finding.with_evidence(rejection.evidence.clone());
        }
        findings.push(finding);
    }
    findings
}

fn anti_affinity(_: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    if w.kind == Kind::DaemonSet || w.required_anti_affinity_on(HOSTNAME_KEY) {
        return Vec::new();
    }
    let value = serde_json::to_value(w.pod_anti_affinity()).unwrap_or_default();
    vec![def
        .finding(Severity::Warning, &w.object, format!("ingress controller {} has no required pod anti-affinity on {HOSTNAME_KEY}: two replicas may share a node", w.object))
        .with_evidence(Evidence::field(&w.object, "spec.template.spec.affinity.podAntiAffinity", value))
        .with_remediation(format!("add requiredDuringSchedulingIgnoredDuringExecution pod anti-affinity with topologyKey {HOSTNAME_KEY} selecting the controller's own pods"))]
}

fn tolerates_cordon(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    ctx.cordon_blocks(def, w, "ingress controller")
        .into_iter()
        .collect()
}

fn topology_spread(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    if w.kind == Kind::DaemonSet {
        return Vec::new();
    }
    let hard = w
        .spread_on(HOSTNAME_KEY)
        .filter(|c| c.max_skew == 1 && c.when_unsatisfiable == "DoNotSchedule");
    if let Some(constraint) = hard {
        return rollout_safe(ctx, def, w, constraint);
    }
    let value = serde_json::to_value(w.spread_constraints()).unwrap_or_default();
    vec![def
        .finding(Severity::Warning, &w.object, format!("ingress controller {} has no topology spread on {HOSTNAME_KEY} with maxSkew 1 and DoNotSchedule", w.object))
        .with_evidence(Evidence::field(&w.object, "spec.template.spec.topologySpreadConstraints", value))
        .with_remediation(format!("add topologySpreadConstraints: [{{maxSkew: 1, topologyKey: {HOSTNAME_KEY}, whenUnsatisfiable: DoNotSchedule, labelSelector: <the controller's pod labels>}}]"))]
}

/// A hard spread without `matchLabelKeys: [pod-template-hash]` counts the old revision's pods
/// during a rolling update, so the new pods are spread around pods about to go and one can be
/// held Pending; where the control plane supports the field (1.27+), it should be set.
fn rollout_safe(
    ctx: &Ctx<'_>,
    def: &CheckDef,
    w: &Workload<'_>,
    constraint: &k8s_openapi::api::core::v1::TopologySpreadConstraint,
) -> Vec<Finding> {
    let keyed = (constraint.match_label_keys.as_deref().unwrap_or_default())
        .iter()
        .any(|k| k == POD_TEMPLATE_HASH);
    let Some((major, minor)) = crate::facts::control_plane_version(ctx.snap) else {
        return Vec::new();
    };
    if keyed || w.kind != Kind::Deployment || (major, minor) < (1, 27) {
        return Vec::new();
    }
    let value = serde_json::to_value(w.spread_constraints()).unwrap_or_default();
    vec![def
        .finding(Severity::Warning, &w.object, format!("ingress controller {}'s topology spread has no matchLabelKeys [{POD_TEMPLATE_HASH}]: a rolling update counts the pods it is replacing, and a new pod can be held Pending (the field is supported from Kubernetes 1.27; the control plane runs {major}.{minor})", w.object))
        .with_evidence(Evidence::field(&w.object, "spec.template.spec.topologySpreadConstraints", value))
        .with_remediation(format!("add matchLabelKeys: [{POD_TEMPLATE_HASH}] to the {HOSTNAME_KEY} constraint"))]
}

/// The label the Deployment controller puts on each revision's pods.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// The container that runs the controller: the one with a known controller image, else the first.
fn controller_container<'a>(w: &Workload<'a>) -> Option<(usize, &'a Container)> {
    let containers = w.containers();
    containers
        .iter()
        .enumerate()
        .find(|(_, c)| c.image.as_deref().is_some_and(workload::is_ingress_image))
        .or_else(|| containers.iter().enumerate().next())
}

fn probes(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    let Some((index, container)) = controller_container(w) else {
        return Vec::new();
    };
    let policy = &ctx.policy.ingress;
    let path = format!("spec.template.spec.containers[{index}]");
    let probe_value = |p: &Option<Probe>| serde_json::to_value(p).unwrap_or_default();
    let mut findings = Vec::new();
    let missing = |field: &str, why: &str| {
        def.finding(
            Severity::Error,
            &w.object,
            format!(
                "ingress controller {} container {} has no {field}: {why}",
                w.object, container.name
            ),
        )
        .with_evidence(Evidence::field(
            &w.object,
            &format!("{path}.{field}"),
            serde_json::Value::Null,
        ))
        .with_remediation(format!("add a {field} on the controller's health endpoint"))
    };
    match &container.readiness_probe {
        None => findings.push(missing(
            "readinessProbe",
            "a starting or failing replica receives traffic and endpoints churn",
        )),
        Some(p) => {
            let period = p.period_seconds.unwrap_or(10);
            let failures = p.failure_threshold.unwrap_or(3);
            if period > policy.readiness_max_period_seconds
                || failures > policy.readiness_max_failure_threshold
            {
                findings.push(
                    def.finding(Severity::Warning, &w.object, format!(
                        "ingress controller {} readinessProbe is lax (periodSeconds {period}, failureThreshold {failures}; strict is at most {} and {})",
                        w.object, policy.readiness_max_period_seconds, policy.readiness_max_failure_threshold
                    ))
                    .with_evidence(Evidence::field(&w.object, &format!("{path}.readinessProbe"), probe_value(&container.readiness_probe)))
                    .with_remediation(format!("set readinessProbe periodSeconds <= {} and failureThreshold <= {}", policy.readiness_max_period_seconds, policy.readiness_max_failure_threshold)),
                );
            }
        }
    }
    match &container.liveness_probe {
        None => findings.push(missing(
            "livenessProbe",
            "a hung controller is never restarted",
        )),
        Some(p) => {
            let failures = p.failure_threshold.unwrap_or(3);
            if failures < policy.liveness_min_failure_threshold {
                findings.push(
                    def.finding(Severity::Warning, &w.object, format!(
                        "ingress controller {} livenessProbe restarts after {failures} failure(s); a conservative probe waits for at least {}",
                        w.object, policy.liveness_min_failure_threshold
                    ))
                    .with_evidence(Evidence::field(&w.object, &format!("{path}.livenessProbe"), probe_value(&container.liveness_probe)))
                    .with_remediation(format!("set livenessProbe failureThreshold >= {}", policy.liveness_min_failure_threshold)),
                );
            }
        }
    }
    findings
}

fn pdb(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    if ctx.pdb_for(w).is_some() {
        return Vec::new();
    }
    let ns = w.namespace();
    vec![def
        .finding(Severity::Warning, &w.object, format!("no PodDisruptionBudget selects the pods of ingress controller {}: a drain may evict every replica at once", w.object))
        .with_evidence(Evidence::with_command(&w.object, "spec.template.metadata.labels", serde_json::to_value(w.pod_labels()).unwrap_or_default(), format!("kubectl get poddisruptionbudgets -n {ns}")))
        .with_remediation("add a PodDisruptionBudget with maxUnavailable: 1 selecting the controller's pod labels")]
}

fn rollout(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    let Rollout::Rolling {
        max_surge,
        max_unavailable,
    } = &w.rollout
    else {
        return Vec::new();
    };
    let replicas = w.replicas.unwrap_or(1).max(ctx.policy.ingress.min_replicas);
    let surge =
        workload::resolve_count(max_surge.as_deref().unwrap_or("25%"), replicas, true).unwrap_or(1);
    let unavailable =
        workload::resolve_count(max_unavailable.as_deref().unwrap_or("25%"), replicas, false)
            .unwrap_or(0);
    if surge == 0 && unavailable >= 1 {
        return Vec::new();
    }
    let value = serde_json::json!({"maxSurge": max_surge, "maxUnavailable": max_unavailable});
    vec![def
        .finding(Severity::Warning, &w.object, format!(
            "ingress controller {} rolls out with maxSurge {surge} and maxUnavailable {unavailable} (at {replicas} replicas): with required anti-affinity on two nodes the surge pod has no node and the rollout stalls",
            w.object
        ))
        .with_evidence(Evidence::field(&w.object, "spec.strategy.rollingUpdate", value))
        .with_remediation("set strategy RollingUpdate with maxSurge: 0 and maxUnavailable: 1 (or run the controller as a DaemonSet)")]
}

//! 2.3 CoreDNS: two spread replicas with the runbook's resources and health endpoints, the
//! kube-dns Service on the address the nodes resolve through, and a PodDisruptionBudget.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::cluster_dns;
use super::context::Ctx;
use super::quantity;
use super::record::{CheckDef, Recorder, Verdict};
use crate::ownership::{Owner, owner_of};
use crate::report::{Evidence, Finding, Section, Severity};
use crate::workload::{HOSTNAME_KEY, Workload};

const S: Section = Section::Coredns;

type Judge = fn(&Ctx<'_>, &CheckDef, &Workload<'_>) -> Vec<Finding>;

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let found_def = CheckDef::new(
        S,
        "coredns.deployment",
        "A CoreDNS Deployment is found in kube-system",
    );
    let defs: [(CheckDef, Judge); 8] = [
        (
            CheckDef::new(
                S,
                "coredns.replicas",
                "CoreDNS runs the runbook's replica count",
            ),
            replicas,
        ),
        (
            CheckDef::new(
                S,
                "coredns.anti-affinity",
                "Preferred pod anti-affinity on kubernetes.io/hostname",
            ),
            anti_affinity,
        ),
        (
            CheckDef::new(
                S,
                "coredns.topology-spread",
                "Topology spread on kubernetes.io/hostname",
            ),
            topology_spread,
        ),
        (
            CheckDef::new(
                S,
                "coredns.tolerates-cordon",
                "CoreDNS tolerates the cordon on the secondary",
            ),
            tolerates_cordon,
        ),
        (
            CheckDef::new(
                S,
                "coredns.resources",
                "Requests and limits are the runbook's values",
            ),
            resources,
        ),
        (
            CheckDef::new(
                S,
                "coredns.probes",
                "Readiness on /ready:8181 and liveness on /health:8080",
            ),
            probes,
        ),
        (
            CheckDef::new(
                S,
                "coredns.pdb",
                "A PodDisruptionBudget selects the CoreDNS pods",
            ),
            pdb,
        ),
        (
            CheckDef::new(
                S,
                "coredns.packaged-addon",
                "Whether k3s manages CoreDNS as a packaged addon",
            ),
            addon,
        ),
    ];
    let dns_def = CheckDef::new(
        S,
        "coredns.cluster-dns",
        "The kube-dns Service holds the cluster DNS address the nodes use",
    );
    if let Some(v) = ctx.unreadable(&["deployments"]) {
        for def in std::iter::once(&found_def)
            .chain(defs.iter().map(|(d, _)| d))
            .chain([&dns_def])
        {
            out.record(def, v.clone());
        }
        return;
    }
    let found = ctx.coredns();
    if found.is_empty() {
        let reason = "no CoreDNS Deployment (k8s-app: kube-dns or a coredns image) in kube-system";
        for def in std::iter::once(&found_def)
            .chain(defs.iter().map(|(d, _)| d))
            .chain([&dns_def])
        {
            out.record(def, Verdict::Skipped(reason.into()));
        }
        return;
    }
    let names: Vec<String> = found.iter().map(|w| w.object.to_string()).collect();
    out.record(&found_def, Verdict::judged(Vec::new(), names.join(", ")));
    for (def, judge) in &defs {
        if def.id == "coredns.pdb"
            && let Some(v) = ctx.unreadable(&["poddisruptionbudgets"])
        {
            out.record(def, v);
            continue;
        }
        let findings = found.iter().flat_map(|w| judge(ctx, def, w)).collect();
        out.record(def, Verdict::judged(findings, names.join(", ")));
    }
    let verdict = cluster_dns::check(ctx, out, &dns_def, &found);
    out.record(&dns_def, verdict);
}

fn replicas(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    let want = ctx.policy.coredns.replicas;
    let have = w.replicas.unwrap_or(1);
    if have >= want {
        return Vec::new();
    }
    vec![def
        .finding(Severity::Error, &w.object, format!("CoreDNS {} runs {have} replica(s): losing its node stops cluster DNS (runbook: {want}, spread across nodes)", w.object))
        .with_evidence(Evidence::field(&w.object, "spec.replicas", have))
        .with_remediation(format!("set spec.replicas to {want} with preferred anti-affinity and a hostname topology spread"))]
}

fn anti_affinity(_: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    if w.any_anti_affinity_on(HOSTNAME_KEY) {
        return Vec::new();
    }
    let value = serde_json::to_value(w.pod_anti_affinity()).unwrap_or_default();
    vec![def
        .finding(Severity::Warning, &w.object, format!("CoreDNS {} has no pod anti-affinity on {HOSTNAME_KEY}: both replicas may run on one node", w.object))
        .with_evidence(Evidence::field(&w.object, "spec.template.spec.affinity.podAntiAffinity", value))
        .with_remediation(format!("add preferredDuringSchedulingIgnoredDuringExecution pod anti-affinity on {HOSTNAME_KEY} selecting k8s-app: kube-dns"))]
}

fn tolerates_cordon(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    ctx.cordon_blocks(def, w, "CoreDNS").into_iter().collect()
}

fn topology_spread(_: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    if w.spread_on(HOSTNAME_KEY).is_some_and(|c| c.max_skew <= 1) {
        return Vec::new();
    }
    vec![def
        .finding(Severity::Warning, &w.object, format!("CoreDNS {} has no topology spread constraint on {HOSTNAME_KEY} with maxSkew 1", w.object))
        .with_evidence(Evidence::field(&w.object, "spec.template.spec.topologySpreadConstraints", serde_json::to_value(w.spread_constraints()).unwrap_or_default()))
        .with_remediation(format!("add topologySpreadConstraints: [{{maxSkew: 1, topologyKey: {HOSTNAME_KEY}, whenUnsatisfiable: ScheduleAnyway, labelSelector: {{matchLabels: {{k8s-app: kube-dns}}}}}}]"))]
}

/// The CoreDNS container: the one running a coredns image, else the first.
fn dns_container<'a>(w: &Workload<'a>) -> Option<(usize, &'a Container)> {
    let containers = w.containers();
    containers
        .iter()
        .enumerate()
        .find(|(_, c)| c.image.as_deref().is_some_and(|i| i.contains("coredns")))
        .or_else(|| containers.iter().enumerate().next())
}

fn resources(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    let Some((index, c)) = dns_container(w) else {
        return Vec::new();
    };
    let policy = &ctx.policy.coredns;
    let res = c.resources.clone().unwrap_or_default();
    let mut findings = Vec::new();
    for (kind, values, want) in [
        ("requests", &res.requests, &policy.requests),
        ("limits", &res.limits, &policy.limits),
    ] {
        for (resource, wanted) in [("cpu", &want.cpu), ("memory", &want.memory)] {
            let have = values
                .as_ref()
                .and_then(|m| m.get(resource))
                .map(|q| q.0.clone());
            if have.as_deref().is_some_and(|h| quantity::equal(h, wanted)) {
                continue;
            }
            let field =
                format!("spec.template.spec.containers[{index}].resources.{kind}.{resource}");
            let shown = have.clone().unwrap_or_else(|| "unset".into());
            findings.push(
                def.finding(
                    Severity::Warning,
                    &w.object,
                    format!(
                        "CoreDNS {} {kind}.{resource} is {shown}; the runbook wants {wanted}",
                        w.object
                    ),
                )
                .with_evidence(Evidence::field(&w.object, &field, have))
                .with_remediation(format!("set {field} to {wanted}")),
            );
        }
    }
    findings
}

fn http_target(p: &Probe) -> Option<(String, String)> {
    let get = p.http_get.as_ref()?;
    let port = match &get.port {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    Some((get.path.clone().unwrap_or_else(|| "/".into()), port))
}

fn probes(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    let Some((index, c)) = dns_container(w) else {
        return Vec::new();
    };
    let policy = &ctx.policy.coredns;
    let mut findings = Vec::new();
    for (field, probe, path, port) in [
        (
            "readinessProbe",
            &c.readiness_probe,
            &policy.readiness_path,
            policy.readiness_port,
        ),
        (
            "livenessProbe",
            &c.liveness_probe,
            &policy.liveness_path,
            policy.liveness_port,
        ),
    ] {
        let target = probe.as_ref().and_then(http_target);
        // A named port is resolved against the container's ports.
        let resolved = target.as_ref().map(|(p, port_raw)| {
            let number = port_raw.parse::<i32>().ok().or_else(|| {
                c.ports
                    .as_ref()?
                    .iter()
                    .find(|cp| cp.name.as_deref() == Some(port_raw))
                    .map(|cp| cp.container_port)
            });
            (p.clone(), number)
        });
        if resolved
            .as_ref()
            .is_some_and(|(p, n)| p == path && *n == Some(port))
        {
            continue;
        }
        let observed = target
            .map(|(p, port)| format!("{p}:{port}"))
            .unwrap_or_else(|| "none".into());
        let full = format!("spec.template.spec.containers[{index}].{field}");
        findings.push(
            def.finding(
                Severity::Warning,
                &w.object,
                format!(
                    "CoreDNS {} {field} is {observed}; the runbook wants httpGet {path}:{port}",
                    w.object
                ),
            )
            .with_evidence(Evidence::field(
                &w.object,
                &full,
                serde_json::to_value(probe).unwrap_or_default(),
            ))
            .with_remediation(format!(
                "set {full}.httpGet to {{path: {path}, port: {port}}}"
            )),
        );
    }
    findings
}

fn pdb(ctx: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    if ctx.pdb_for(w).is_some() {
        return Vec::new();
    }
    vec![def
        .finding(Severity::Warning, &w.object, format!("no PodDisruptionBudget selects the pods of CoreDNS {}: a drain may evict every replica at once", w.object))
        .with_evidence(Evidence::with_command(&w.object, "spec.template.metadata.labels", serde_json::to_value(w.pod_labels()).unwrap_or_default(), format!("kubectl get poddisruptionbudgets -n {}", w.namespace())))
        .with_remediation("add a PodDisruptionBudget with maxUnavailable: 1 selecting k8s-app: kube-dns")]
}

fn addon(_: &Ctx<'_>, def: &CheckDef, w: &Workload<'_>) -> Vec<Finding> {
    let Some(owner @ Owner::K3sAddon { .. }) = owner_of(w.meta) else {
        return Vec::new();
    };
    vec![def
        .finding(Severity::Info, &w.object, format!("CoreDNS {} is the {}: k3s rewrites it from its packaged manifest, overwriting live patches", w.object, owner.describe()))
        .with_evidence(Evidence::field(&w.object, owner.evidence_field(), serde_json::to_value(w.meta.annotations.as_ref().and_then(|a| a.get("objectset.rio.cattle.io/owner-name"))).unwrap_or_default()))
        .with_remediation("place an empty coredns.yaml.skip in /var/lib/rancher/k3s/server/manifests on the server, or ship the changes as a manifest of your own there, before patching")]
}

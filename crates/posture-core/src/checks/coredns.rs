//! 2.3 CoreDNS: two spread replicas with the runbook's resources and health endpoints, the
//! kube-dns Service on the address the nodes resolve through, and a PodDisruptionBudget.

use k8s_openapi::api::core::v1::{Container, Probe, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::context::Ctx;
use super::quantity;
use super::record::{CheckDef, Recorder, Verdict};
use super::workload::{HOSTNAME_KEY, Workload};
use crate::object::ObjectRef;
use crate::ownership::{Owner, owner_of};
use crate::report::{Evidence, Finding, Section, Severity};
use crate::topology::node_args;

const S: Section = Section::Coredns;
const K3S_DEFAULT_CLUSTER_DNS: &str = "10.43.0.10";

type Judge = fn(&Ctx<'_>, &CheckDef, &Workload<'_>) -> Vec<Finding>;

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let found_def = CheckDef::new(
        S,
        "coredns.deployment",
        "A CoreDNS Deployment is found in kube-system",
    );
    let defs: [(CheckDef, Judge); 7] = [
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
    let verdict = cluster_dns(ctx, out, &dns_def, &found);
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
    let value = serde_json::to_value(
        w.pod_spec()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.pod_anti_affinity.as_ref()),
    )
    .unwrap_or_default();
    vec![def
        .finding(Severity::Warning, &w.object, format!("CoreDNS {} has no pod anti-affinity on {HOSTNAME_KEY}: both replicas may run on one node", w.object))
        .with_evidence(Evidence::field(&w.object, "spec.template.spec.affinity.podAntiAffinity", value))
        .with_remediation(format!("add preferredDuringSchedulingIgnoredDuringExecution pod anti-affinity on {HOSTNAME_KEY} selecting k8s-app: kube-dns"))]
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

/// The address the nodes hand pods as their resolver, and where that came from.
fn expected_cluster_dns(ctx: &Ctx<'_>) -> (String, String) {
    if let Some(dns) = &ctx.policy.coredns.cluster_dns {
        return (dns.clone(), "coredns.clusterDns in posture.yaml".into());
    }
    let all_args: Vec<(String, Vec<String>)> = ctx
        .snap
        .nodes
        .iter()
        .map(|n| (crate::topology::node_name(n).to_owned(), node_args(n)))
        .collect();
    for flag in ["--cluster-dns", "--service-cidr"] {
        for (node, args) in &all_args {
            let Some(value) = flag_value(args, flag) else {
                continue;
            };
            let first = value
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            if flag == "--cluster-dns" {
                return (first, format!("{flag} on node {node}"));
            }
            if let Some(addr) = tenth_address(&first) {
                return (
                    addr,
                    format!("the 10th address of {flag} {first} on node {node}"),
                );
            }
        }
    }
    (K3S_DEFAULT_CLUSTER_DNS.into(), "the k3s default".into())
}

fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            return Some(v.to_owned());
        }
        (a == flag).then(|| args.get(i + 1).cloned()).flatten()
    })
}

/// The 10th address of an IPv4 CIDR, as k3s derives the cluster DNS from the service CIDR.
pub(crate) fn tenth_address(cidr: &str) -> Option<String> {
    let (addr, _) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(ip).checked_add(10)?).to_string())
}

fn kube_dns_service<'a>(ctx: &Ctx<'a>, found: &[&Workload<'_>]) -> Option<&'a Service> {
    let by_label = ctx.snap.services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some("kube-system")
            && s.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get("k8s-app").is_some_and(|v| v == "kube-dns"))
    });
    by_label.or_else(|| {
        found
            .iter()
            .find_map(|w| ctx.services_for(w).into_iter().next())
    })
}

fn cluster_dns(
    ctx: &Ctx<'_>,
    out: &mut Recorder,
    def: &CheckDef,
    found: &[&Workload<'_>],
) -> Verdict {
    if let Some(v) = ctx.unreadable(&["services", "nodes"]) {
        return v;
    }
    let (expected, source) = expected_cluster_dns(ctx);
    out.fact(S, "cluster DNS", format!("{expected} ({source})"));
    let Some(svc) = kube_dns_service(ctx, found) else {
        let obj = ObjectRef::new("v1", "Service", Some("kube-system"), "kube-dns");
        let f = def
            .finding(
                Severity::Error,
                &obj,
                format!("no Service selects the CoreDNS pods, so {expected} answers nothing"),
            )
            .with_evidence(Evidence::with_command(
                &obj,
                "spec.clusterIP",
                serde_json::Value::Null,
                "kubectl -n kube-system get services -l k8s-app=kube-dns",
            ))
            .with_remediation(format!(
                "restore the kube-dns Service with clusterIP {expected}"
            ));
        return Verdict::judged(vec![f], String::new());
    };
    let obj = ObjectRef::of(svc);
    let ip = svc
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap_or_default();
    if ip == expected {
        return Verdict::judged(Vec::new(), format!("{obj} clusterIP {ip} matches {source}"));
    }
    let f = def
        .finding(Severity::Error, &obj, format!("{obj} has clusterIP {ip}, but pods are told to resolve via {expected} ({source})"))
        .with_evidence(Evidence::field(&obj, "spec.clusterIP", ip))
        .with_remediation(format!("recreate the kube-dns Service with clusterIP {expected}, or align k3s --cluster-dns with it"));
    Verdict::judged(vec![f], String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_dns_comes_from_the_service_cidr() {
        assert_eq!(tenth_address("10.43.0.0/16").as_deref(), Some("10.43.0.10"));
        assert_eq!(tenth_address("10.96.0.0/12").as_deref(), Some("10.96.0.10"));
        assert_eq!(tenth_address("fd00::/108"), None);
        let args: Vec<String> = ["server", "--cluster-dns", "10.0.0.53"]
            .map(String::from)
            .into();
        assert_eq!(
            flag_value(&args, "--cluster-dns").as_deref(),
            Some("10.0.0.53")
        );
        let args: Vec<String> = ["server", "--service-cidr=10.96.0.0/12"]
            .map(String::from)
            .into();
        assert_eq!(
            flag_value(&args, "--service-cidr").as_deref(),
            Some("10.96.0.0/12")
        );
    }
}

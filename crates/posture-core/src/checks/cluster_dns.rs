//! 2.3 CoreDNS, resolver side: the kube-dns Service must hold the address the nodes give pods
//! as their resolver (k3s `--cluster-dns`, else derived from `--service-cidr`).

use k8s_openapi::api::core::v1::Service;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::object::ObjectRef;
use crate::report::{Evidence, Section, Severity};
use crate::topology::{node_args, node_name};
use crate::workload::Workload;

const S: Section = Section::Coredns;
const K3S_DEFAULT_CLUSTER_DNS: &str = "10.43.0.10";

/// The address the nodes hand pods as their resolver, and where that came from.
fn expected_cluster_dns(ctx: &Ctx<'_>) -> (String, String) {
    if let Some(dns) = &ctx.policy.coredns.cluster_dns {
        return (dns.clone(), "coredns.clusterDns in posture.yaml".into());
    }
    let all_args: Vec<(String, Vec<String>)> = ctx
        .snap
        .nodes
        .iter()
        .map(|n| (node_name(n).to_owned(), node_args(n)))
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

pub(super) fn check(
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

//! 2.1 k3s control plane: which datastore the servers run, what that means for HA, API health,
//! and whether the scheduler and controller-manager leases are held and renewed.

use k8s_openapi::api::core::v1::Node;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::object::ObjectRef;
use crate::report::{Evidence, Section, Severity};
use crate::snapshot::HealthReport;
use crate::topology::{NodeRole, has_role_label, node_args, node_name, role_of};

const S: Section = Section::ControlPlane;
const LEASES: [&str; 2] = ["kube-scheduler", "kube-controller-manager"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Datastore {
    Sqlite,
    EmbeddedEtcd,
    External,
}

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let def = CheckDef::new(
        S,
        "control-plane.datastore",
        "Datastore and the HA decision",
    );
    let verdict = datastore(ctx, out, &def);
    out.record(&def, verdict);
    for (endpoint, report) in [
        ("/readyz", &ctx.snap.readyz),
        ("/healthz", &ctx.snap.healthz),
    ] {
        let name = endpoint.trim_start_matches('/');
        let def = CheckDef::new(
            S,
            format!("control-plane.{name}"),
            format!("API server {endpoint} passes every check"),
        );
        let verdict = health(out, &def, endpoint, report.as_ref());
        out.record(&def, verdict);
    }
    let def = CheckDef::new(
        S,
        "control-plane.leases",
        "Scheduler and controller-manager leases are held and renewed",
    );
    let verdict = leases(ctx, &def);
    out.record(&def, verdict);
}

fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

/// What one node's labels and k3s arguments say about the datastore.
pub(crate) fn datastore_of(node: &Node) -> Option<Datastore> {
    let args = node_args(node);
    if has_flag(&args, "--datastore-endpoint") {
        return Some(Datastore::External);
    }
    let server = args.first().map(String::as_str) == Some("server");
    if has_role_label(node, "etcd")
        || has_flag(&args, "--cluster-init")
        || (server && has_flag(&args, "--server"))
    {
        return Some(Datastore::EmbeddedEtcd);
    }
    if server {
        return Some(Datastore::Sqlite);
    }
    None
}

fn datastore(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["nodes"]) {
        return v;
    }
    let servers: Vec<&Node> = ctx
        .snap
        .nodes
        .iter()
        .filter(|n| role_of(n) == NodeRole::Server)
        .collect();
    let kinds: Vec<Datastore> = servers.iter().filter_map(|n| datastore_of(n)).collect();
    let kind = if kinds.contains(&Datastore::External) {
        Datastore::External
    } else if kinds.contains(&Datastore::EmbeddedEtcd) {
        Datastore::EmbeddedEtcd
    } else if kinds.contains(&Datastore::Sqlite) {
        Datastore::Sqlite
    } else {
        return Verdict::Unknown(format!(
            "{} server(s), but no k3s.io/node-args annotation or etcd role label tells the datastore; check /var/lib/rancher/k3s/server/db on the server",
            servers.len()
        ));
    };
    let n = servers.len();
    let names: Vec<&str> = servers.iter().map(|s| node_name(s)).collect();
    let (label, decision) = match (kind, n) {
        (Datastore::Sqlite, 1) => (
            "sqlite".to_owned(),
            format!(
                "single-server sqlite on {}: keep the single-writer control plane; the other node stays an agent; HA needs a third server (embedded etcd with 3 servers, approval required)",
                names[0]
            ),
        ),
        (Datastore::Sqlite, _) => (
            "sqlite".to_owned(),
            format!(
                "sqlite reported on {n} servers ({}): sqlite cannot be shared, so each server is its own cluster; verify the datastore on each host",
                names.join(", ")
            ),
        ),
        (Datastore::EmbeddedEtcd, n) if n >= 3 => (
            "embedded etcd".to_owned(),
            format!("embedded etcd with {n} servers: quorum survives the loss of one server"),
        ),
        (Datastore::EmbeddedEtcd, n) => (
            "embedded etcd".to_owned(),
            format!(
                "embedded etcd with {n} server(s): quorum needs 3 servers, so losing any server stops the control plane; add a third server"
            ),
        ),
        (Datastore::External, _) => (
            "external datastore".to_owned(),
            format!(
                "external datastore with {n} server(s): control-plane HA rests on the datastore's own redundancy"
            ),
        ),
    };
    out.fact(S, "datastore", label.clone());
    out.fact(S, "decision", decision.clone());
    let mut findings = Vec::new();
    if kind == Datastore::EmbeddedEtcd && n == 2 {
        let obj = ObjectRef::of(servers[0]);
        findings.push(
            def.finding(Severity::Warning, &obj, format!("{decision}; with two etcd members the control plane is less available than with one"))
                .with_evidence(Evidence::field(&obj, "metadata.annotations.k3s\\.io/node-args", node_args(servers[0]).join(" ")))
                .with_remediation("add a third server, or return the second server to an agent"),
        );
    }
    Verdict::judged(findings, decision)
}

fn health(
    out: &mut Recorder,
    def: &CheckDef,
    endpoint: &str,
    report: Option<&HealthReport>,
) -> Verdict {
    let Some(report) = report else {
        return Verdict::Unknown("not in snapshot".into());
    };
    let checks = report.checks();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    let obj = ObjectRef::new("v1", "APIServer", None, endpoint);
    let command = format!("kubectl get --raw='{endpoint}?verbose'");
    if failed.is_empty() && report.passed() {
        out.fact(S, endpoint, format!("ok ({} checks)", checks.len()));
        return Verdict::judged(Vec::new(), format!("{} check(s) ok", checks.len()));
    }
    out.fact(S, endpoint, format!("failing: {}", failed.join(", ")));
    let remedy = "do not change anything until the API server is healthy; inspect journalctl -u k3s on the server";
    let findings = if failed.is_empty() {
        vec![
            def.finding(
                Severity::Error,
                &obj,
                format!("API server {endpoint} reports failure"),
            )
            .with_evidence(Evidence::with_command(
                &obj,
                "body",
                report.body.clone(),
                command,
            ))
            .with_remediation(remedy),
        ]
    } else {
        failed
            .iter()
            .map(|name| {
                let line = report
                    .body
                    .lines()
                    .find(|l| {
                        l.trim()
                            .strip_prefix("[-]")
                            .is_some_and(|r| r.starts_with(name))
                    })
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                def.finding(
                    Severity::Error,
                    &obj,
                    format!("API server {endpoint} check {name} fails"),
                )
                .with_evidence(Evidence::with_command(
                    &obj,
                    &format!("checks.{name}"),
                    line,
                    command.clone(),
                ))
                .with_remediation(remedy)
            })
            .collect()
    };
    Verdict::judged(findings, String::new())
}

fn leases(ctx: &Ctx<'_>, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["leases"]) {
        return v;
    }
    if ctx.snap.leases.is_empty() {
        return Verdict::Unknown("the snapshot lists no leases".into());
    }
    let Some(now) = ctx.observed_at else {
        return Verdict::Unknown("the snapshot records no time to judge renewals against".into());
    };
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    for name in LEASES {
        let obj = ObjectRef::new("coordination.k8s.io/v1", "Lease", Some("kube-system"), name);
        let lease = ctx.snap.leases.iter().find(|l| {
            l.metadata.namespace.as_deref() == Some("kube-system")
                && l.metadata.name.as_deref() == Some(name)
        });
        let Some(lease) = lease else {
            findings.push(
                def.finding(
                    Severity::Warning,
                    &obj,
                    format!(
                        "lease kube-system/{name} is missing: leader election cannot be verified"
                    ),
                )
                .with_evidence(Evidence::with_command(
                    &obj,
                    "metadata.name",
                    serde_json::Value::Null,
                    "kubectl -n kube-system get leases.coordination.k8s.io",
                ))
                .with_remediation("check that the control plane runs with leader election enabled"),
            );
            continue;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if holder.is_empty() {
            findings.push(
                def.finding(
                    Severity::Error,
                    &obj,
                    format!("lease kube-system/{name} has no holder: no {name} is leading"),
                )
                .with_evidence(Evidence::field(&obj, "spec.holderIdentity", holder.clone()))
                .with_remediation("check the k3s server process and its logs (journalctl -u k3s)"),
            );
            continue;
        }
        let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
        match spec.renew_time.as_ref().map(|t| t.0) {
            Some(renewed) => {
                let age = now.as_second() - renewed.as_second();
                if age > duration {
                    findings.push(
                        def.finding(Severity::Error, &obj, format!("lease kube-system/{name} was last renewed {age}s before the snapshot, beyond its {duration}s duration: the holder has stopped renewing"))
                            .with_evidence(Evidence::field(&obj, "spec.renewTime", renewed.to_string()))
                            .with_evidence(Evidence::field(&obj, "spec.leaseDurationSeconds", duration))
                            .with_remediation("check the k3s server process and its logs (journalctl -u k3s)"),
                    );
                } else {
                    seen.push(format!(
                        "{name} held by {holder}, renewed {age}s before the snapshot"
                    ));
                }
            }
            None => findings.push(
                def.finding(
                    Severity::Error,
                    &obj,
                    format!("lease kube-system/{name} has never been renewed"),
                )
                .with_evidence(Evidence::field(
                    &obj,
                    "spec.renewTime",
                    serde_json::Value::Null,
                ))
                .with_remediation("check the k3s server process and its logs (journalctl -u k3s)"),
            ),
        }
    }
    Verdict::judged(findings, seen.join("; "))
}

//! 2.1 k3s control plane: which datastore the servers run, what that means for HA, API health,
//! and whether the scheduler and controller-manager leases are held and renewed.

use k8s_openapi::api::core::v1::Node;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::host::{HostDatastore, HostFacts};
use crate::object::ObjectRef;
use crate::report::{Evidence, Finding, Section, Severity};
use crate::snapshot::{HealthReport, Snapshot};
use crate::topology::{NodeRole, has_role_label, node_args, node_name, role_of};

const S: Section = Section::ControlPlane;
const LEASES: [&str; 2] = ["kube-scheduler", "kube-controller-manager"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Datastore {
    Sqlite,
    EmbeddedEtcd,
    External,
}

impl Datastore {
    /// The datastore in the words facts and plans use.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::EmbeddedEtcd => "embedded etcd",
            Self::External => "external datastore",
        }
    }
}

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let def = CheckDef::new(
        S,
        "control-plane.datastore",
        "Datastore and the HA decision",
    );
    let verdict = datastore(ctx, out, &def);
    out.record(&def, verdict);
    super::host_facts::check(ctx, out);
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

/// The datastore a server's own files show, when `posture host` read them.
pub(crate) fn datastore_on_host(facts: &HostFacts) -> Option<Datastore> {
    match facts.datastore.kind {
        HostDatastore::Sqlite => Some(Datastore::Sqlite),
        HostDatastore::EmbeddedEtcd => Some(Datastore::EmbeddedEtcd),
        HostDatastore::External => Some(Datastore::External),
        HostDatastore::None | HostDatastore::Unknown => None,
    }
}

/// The host facts read on `node`: by its name, or by the host name k3s recorded for it.
pub(crate) fn host_facts_for<'a>(snap: &'a Snapshot, node: &Node) -> Option<&'a HostFacts> {
    let name = node_name(node);
    let hostname = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("k3s.io/hostname"));
    snap.host_facts
        .iter()
        .find(|f| f.host == name || hostname == Some(&f.host))
}

/// What the cluster's servers run, and whether a host's files showed it.
pub(crate) struct DatastoreReading<'a> {
    pub kind: Datastore,
    pub servers: Vec<&'a Node>,
    /// "path on host" for each server whose files were read.
    pub seen: Vec<String>,
}

/// The cluster's datastore: the servers' files where `posture host` read them, else what the
/// API says about each server.
pub(crate) fn datastore_reading(snap: &Snapshot) -> Option<DatastoreReading<'_>> {
    let servers: Vec<&Node> = snap
        .nodes
        .iter()
        .filter(|n| role_of(n) == NodeRole::Server)
        .collect();
    let mut seen = Vec::new();
    let kinds: Vec<Datastore> = servers
        .iter()
        .filter_map(|node| {
            let facts = host_facts_for(snap, node);
            match facts.and_then(|f| datastore_on_host(f).map(|k| (f, k))) {
                Some((facts, kind)) => {
                    let paths = facts.datastore.seen.join(", ");
                    seen.push(format!("{paths} on {}", facts.host));
                    Some(kind)
                }
                None => datastore_of(node),
            }
        })
        .collect();
    let kind = [
        Datastore::External,
        Datastore::EmbeddedEtcd,
        Datastore::Sqlite,
    ]
    .into_iter()
    .find(|k| kinds.contains(k))?;
    Some(DatastoreReading {
        kind,
        servers,
        seen,
    })
}

fn datastore(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["nodes"]) {
        return v;
    }
    let Some(reading) = datastore_reading(ctx.snap) else {
        let servers = ctx
            .snap
            .nodes
            .iter()
            .filter(|n| role_of(n) == NodeRole::Server)
            .count();
        return Verdict::Unknown(format!(
            "{servers} server(s), but no k3s.io/node-args annotation or etcd role label tells the datastore; run `posture host` on the server and pass its output with --host-facts, or check /var/lib/rancher/k3s/server/db on the server"
        ));
    };
    let DatastoreReading {
        kind,
        servers,
        seen,
    } = reading;
    let n = servers.len();
    let names: Vec<&str> = servers.iter().map(|s| node_name(s)).collect();
    let decision = match (kind, n) {
        (Datastore::Sqlite, 1) => format!(
            "single-server sqlite on {}: keep the single-writer control plane; the other node stays an agent; HA needs a third server (embedded etcd with 3 servers, approval required)",
            names[0]
        ),
        (Datastore::Sqlite, _) => format!(
            "sqlite reported on {n} servers ({}): sqlite cannot be shared, so each server is its own cluster; verify the datastore on each host",
            names.join(", ")
        ),
        (Datastore::EmbeddedEtcd, n) if n >= 3 && n % 2 == 1 => format!(
            "embedded etcd with {n} servers: quorum survives the loss of {} server(s)",
            (n - 1) / 2
        ),
        (Datastore::EmbeddedEtcd, n) if n % 2 == 0 => format!(
            "embedded etcd with {n} servers: quorum needs {} of {n}, so it survives no more losses than {} server(s) would; k3s supports only an odd number of etcd servers",
            n / 2 + 1,
            n - 1
        ),
        (Datastore::EmbeddedEtcd, n) => format!(
            "embedded etcd with {n} server: a single etcd member is a single point of failure like sqlite; HA needs 3 servers"
        ),
        (Datastore::External, _) => format!(
            "external datastore with {n} server(s): control-plane HA rests on the datastore's own redundancy"
        ),
    };
    let label = if seen.is_empty() {
        kind.label().to_owned()
    } else {
        format!("{} (seen: {})", kind.label(), seen.join("; "))
    };
    out.fact(S, "datastore", label);
    out.fact(S, "decision", decision.clone());
    let etcd_servers = if kind == Datastore::EmbeddedEtcd {
        n
    } else {
        0
    };
    if kind != Datastore::External {
        out.fact(S, "ha route", crate::ha::position(kind, etcd_servers));
    }
    let mut findings = Vec::new();
    if kind == Datastore::EmbeddedEtcd && n == 2 {
        findings.push(two_etcd_servers(def, &servers, &seen));
    }
    Verdict::judged(findings, decision)
}

/// Two etcd members need both for quorum: losing either stops the API, which makes the pair
/// less available than one server. There are two ways out, and neither waits.
fn two_etcd_servers(def: &CheckDef, servers: &[&Node], seen: &[String]) -> Finding {
    let first = node_name(servers[0]);
    let second = node_name(servers[1]);
    let obj = ObjectRef::of(servers[1]);
    let mut finding = def
        .finding(
            Severity::Error,
            &obj,
            format!(
                "embedded etcd on two servers ({first}, {second}): etcd needs a majority of its members, 2 of 2, so losing either server stops the API; the pair is less available than one server alone"
            ),
        )
        .with_remediation(format!(
            "either add a third server now (`k3s server --server https://<{first}>:6443` with the cluster token), or take {second} out of etcd: stop k3s on {second}, `kubectl delete node {second}` (k3s removes its etcd member), move /var/lib/rancher/k3s/server/db aside on {second} and rejoin it as an agent (`k3s agent --server https://<{first}>:6443`)"
        ));
    for server in servers.iter().take(2) {
        let obj = ObjectRef::of(*server);
        finding = if has_role_label(server, "etcd") {
            finding.with_evidence(Evidence::field(
                &obj,
                "metadata.labels.node-role\\.kubernetes\\.io/etcd",
                "true",
            ))
        } else {
            finding.with_evidence(Evidence::field(
                &obj,
                "metadata.annotations.k3s\\.io/node-args",
                node_args(server).join(" "),
            ))
        };
    }
    for line in seen {
        finding = finding.with_evidence(Evidence::with_command(
            &obj,
            "host.datastore",
            line.clone(),
            "sudo ls -la /var/lib/rancher/k3s/server/db/",
        ));
    }
    finding
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

/// Which leases k3s holds for this datastore, and how much a missing one matters. k3s runs sqlite
/// without leader election (one server, nothing to elect), so none is expected there; `k3s` elects
/// the server that runs k3s's own controllers, `k3s-etcd` the one that runs its etcd controllers.
fn expected_leases(datastore: Option<Datastore>) -> Vec<(&'static str, Option<Severity>)> {
    let upstream = LEASES.map(|name| (name, Some(Severity::Warning)));
    match datastore {
        Some(Datastore::Sqlite) => LEASES.map(|name| (name, None)).to_vec(),
        Some(Datastore::EmbeddedEtcd) => {
            let mut leases = upstream.to_vec();
            leases.extend([
                ("k3s", Some(Severity::Info)),
                ("k3s-etcd", Some(Severity::Info)),
            ]);
            leases
        }
        Some(Datastore::External) => {
            let mut leases = upstream.to_vec();
            leases.push(("k3s", Some(Severity::Info)));
            leases
        }
        None => upstream.to_vec(),
    }
}

fn leases(ctx: &Ctx<'_>, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["leases"]) {
        return v;
    }
    let datastore = datastore_reading(ctx.snap).map(|r| r.kind);
    let sqlite = datastore == Some(Datastore::Sqlite);
    let without_election = "k3s runs sqlite without leader election: the one server runs every controller, with no lease to renew";
    if ctx.snap.leases.is_empty() {
        if sqlite {
            return Verdict::judged(Vec::new(), without_election);
        }
        return Verdict::Unknown("the snapshot lists no leases".into());
    }
    let Some(now) = ctx.observed_at else {
        return Verdict::Unknown("the snapshot records no time to judge renewals against".into());
    };
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    for (name, missing) in expected_leases(datastore) {
        let obj = ObjectRef::new("coordination.k8s.io/v1", "Lease", Some("kube-system"), name);
        let lease = ctx.snap.leases.iter().find(|l| {
            l.metadata.namespace.as_deref() == Some("kube-system")
                && l.metadata.name.as_deref() == Some(name)
        });
        let Some(lease) = lease else {
            let Some(severity) = missing else { continue };
            let message = if severity == Severity::Warning {
                format!("lease kube-system/{name} is missing: leader election cannot be verified")
            } else {
                format!(
                    "lease kube-system/{name} is missing: k3s holds it on servers that elect a leader (older k3s kept this lock in a ConfigMap of the same name)"
                )
            };
            findings.push(
                def.finding(severity, &obj, message)
                    .with_evidence(Evidence::with_command(
                        &obj,
                        "metadata.name",
                        serde_json::Value::Null,
                        "kubectl -n kube-system get leases.coordination.k8s.io",
                    ))
                    .with_remediation(
                        "check that the control plane runs with leader election enabled",
                    ),
            );
            continue;
        };
        // With sqlite nothing renews a lease: one left from an earlier datastore is only a note.
        let stale = if sqlite {
            Severity::Info
        } else {
            Severity::Error
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if holder.is_empty() {
            findings.push(
                def.finding(
                    stale,
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
                        def.finding(stale, &obj, format!("lease kube-system/{name} was last renewed {age}s before the snapshot, beyond its {duration}s duration: the holder has stopped renewing"))
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
                    stale,
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
    if sqlite && seen.is_empty() && findings.is_empty() {
        seen.push(without_election.to_owned());
    }
    Verdict::judged(findings, seen.join("; "))
}

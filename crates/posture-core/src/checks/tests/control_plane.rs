//! 2.1 control plane: datastore inference, health endpoints, leases.

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Severity};
use crate::snapshot::{HealthReport, Snapshot, SnapshotInfo};

fn decision(snap: &Snapshot) -> String {
    run(snap)
        .facts
        .iter()
        .find(|f| f.name == "decision")
        .map(|f| f.value.clone())
        .unwrap_or_default()
}

#[test]
fn datastore_is_read_from_node_args_and_labels() {
    assert!(decision(&two_nodes()).starts_with("single-server sqlite"));
    let etcd3 = etcd_servers(&["a", "b", "c"]);
    assert!(decision(&etcd3).starts_with("embedded etcd with 3 servers"));
    let external = Snapshot {
        nodes: vec![
            node("a")
                .server()
                .args(&["server", "--datastore-endpoint=postgres://db"])
                .build(),
        ],
        ..Snapshot::default()
    };
    assert!(decision(&external).starts_with("external datastore"));
    let etcd2 = Snapshot {
        nodes: vec![
            node("a")
                .server()
                .args(&["server", "--cluster-init"])
                .build(),
            node("b")
                .server()
                .args(&["server", "--server", "https://a:6443"])
                .build(),
        ],
        ..Snapshot::default()
    };
    let r = run(&etcd2);
    assert_eq!(
        findings(&r, "control-plane.datastore"),
        vec![("b".into(), Severity::Error)]
    );
    let finding = (r.findings.iter())
        .find(|f| f.id == "control-plane.datastore")
        .expect("the datastore finding");
    assert!(
        finding
            .message
            .contains("2 of 2, so losing either server stops the API"),
        "{}",
        finding.message
    );
    let remedy = finding.remediation.as_deref().unwrap_or_default();
    assert!(
        remedy.contains("add a third server") && remedy.contains("take b out of etcd"),
        "{remedy}"
    );
}

#[test]
fn no_role_information_leaves_the_datastore_unknown() {
    let snap = Snapshot {
        nodes: vec![node("a").build()],
        ..Snapshot::default()
    };
    assert_eq!(
        status(&run(&snap), "control-plane.datastore").0,
        CheckStatus::Unknown
    );
}

#[test]
fn health_endpoints_pass_fail_or_are_unknown() {
    let mut snap = two_nodes();
    assert_eq!(
        status(&run(&snap), "control-plane.readyz"),
        (CheckStatus::Unknown, "not in snapshot".into())
    );
    snap.readyz = Some(HealthReport {
        endpoint: "/readyz".into(),
        body: "[+]ping ok\n[+]etcd ok\nreadyz check passed\n".into(),
    });
    assert_eq!(
        status(&run(&snap), "control-plane.readyz").0,
        CheckStatus::Pass
    );
    snap.healthz = Some(HealthReport {
        endpoint: "/healthz".into(),
        body: "[+]ping ok\n[-]poststarthook/x failed: reason withheld\nhealthz check failed\n"
            .into(),
    });
    let r = run(&snap);
    assert_eq!(
        findings(&r, "control-plane.healthz"),
        vec![("/healthz".into(), Severity::Error)]
    );
}

fn at(ts: &str) -> SnapshotInfo {
    SnapshotInfo {
        collected_at: Some(ts.parse().expect("timestamp")),
        ..SnapshotInfo::default()
    }
}

#[test]
fn leases_must_be_held_and_renewed_within_their_duration() {
    let mut snap = etcd_servers(&["a", "b", "c"]);
    snap.info = at("2026-01-01T12:00:00Z");
    snap.leases = vec![
        lease("kube-scheduler", "2026-01-01T11:59:50Z", 15, 1).build(),
        lease("kube-controller-manager", "2026-01-01T11:59:45Z", 15, 1).build(),
        lease("k3s", "2026-01-01T11:59:55Z", 15, 1).build(),
        lease("k3s-etcd", "2026-01-01T11:59:55Z", 15, 1).build(),
    ];
    assert_eq!(
        status(&run(&snap), "control-plane.leases").0,
        CheckStatus::Pass
    );
    // 16 s old against a 15 s lease: stale.
    snap.leases[1] = lease("kube-controller-manager", "2026-01-01T11:59:44Z", 15, 1).build();
    assert_eq!(
        findings(&run(&snap), "control-plane.leases"),
        vec![("kube-controller-manager".into(), Severity::Error)]
    );
    snap.leases[1] = lease("kube-controller-manager", "2026-01-01T11:59:50Z", 15, 1)
        .set("spec.holderIdentity", "".into())
        .build();
    assert_eq!(
        findings(&run(&snap), "control-plane.leases")[0].1,
        Severity::Error
    );
    // The upstream leases missing is a warning; k3s's own, which older k3s kept in ConfigMaps,
    // a note.
    snap.leases.truncate(1);
    assert_eq!(
        findings(&run(&snap), "control-plane.leases"),
        vec![
            ("kube-controller-manager".into(), Severity::Warning),
            ("k3s".into(), Severity::Info),
            ("k3s-etcd".into(), Severity::Info),
        ]
    );
    forbid(&mut snap, "leases.coordination.k8s.io");
    assert_eq!(
        status(&run(&snap), "control-plane.leases").0,
        CheckStatus::Unknown
    );
}

#[test]
fn sqlite_runs_without_leader_election_so_no_lease_is_expected() {
    let mut snap = two_nodes();
    snap.info = at("2026-01-01T12:00:00Z");
    let (status_of, detail) = status(&run(&snap), "control-plane.leases");
    assert_eq!(status_of, CheckStatus::Pass);
    assert!(detail.contains("without leader election"), "{detail}");
    // A lease left from another datastore and no longer renewed is only a note.
    snap.leases = vec![lease("kube-scheduler", "2025-12-01T00:00:00Z", 15, 1).build()];
    assert_eq!(
        findings(&run(&snap), "control-plane.leases"),
        vec![("kube-scheduler".into(), Severity::Info)]
    );
    // With an external datastore k3s elects leaders: the same lease is an error.
    for n in &mut snap.nodes {
        let args = serde_json::to_string(&["server", "--datastore-endpoint=postgres://db"])
            .expect("test input is valid");
        n.metadata
            .annotations
            .get_or_insert_default()
            .insert("k3s.io/node-args".into(), args);
    }
    assert!(
        findings(&run(&snap), "control-plane.leases")
            .contains(&("kube-scheduler".into(), Severity::Error))
    );
}

fn host(name: &str, kind: crate::host::HostDatastore, seen: &str) -> crate::host::HostFacts {
    crate::host::HostFacts {
        host: name.into(),
        role: crate::host::HostRole::Server,
        datastore: crate::host::DatastoreFacts {
            kind,
            seen: vec![seen.into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn fact(report: &crate::report::Report, name: &str) -> String {
    report
        .facts
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.clone())
        .unwrap_or_default()
}

#[test]
fn host_facts_make_the_datastore_certain_and_are_held_against_the_api() {
    use crate::host::HostDatastore;
    let mut snap = two_nodes();
    assert_eq!(
        status(&run(&snap), "control-plane.host-facts").0,
        CheckStatus::Skipped
    );
    let state_db = "/var/lib/rancher/k3s/server/db/state.db";
    snap.host_facts = vec![host("p", HostDatastore::Sqlite, state_db)];
    let r = run(&snap);
    assert_eq!(
        fact(&r, "datastore"),
        format!("sqlite (seen: {state_db} on p)")
    );
    assert_eq!(status(&r, "control-plane.host-facts").0, CheckStatus::Pass);

    // The files show etcd where the API's arguments say sqlite: the files decide, and the
    // disagreement is a finding of its own.
    snap.host_facts = vec![host(
        "p",
        HostDatastore::EmbeddedEtcd,
        "/var/lib/rancher/k3s/server/db/etcd/",
    )];
    let r = run(&snap);
    assert!(fact(&r, "datastore").starts_with("embedded etcd (seen: "));
    assert_eq!(
        findings(&r, "control-plane.host-facts"),
        vec![("p".into(), Severity::Warning)]
    );

    // Facts read on a machine that is not one of the nodes.
    snap.host_facts = vec![host("elsewhere", HostDatastore::Sqlite, state_db)];
    let r = run(&snap);
    assert_eq!(
        findings(&r, "control-plane.host-facts"),
        vec![("elsewhere".into(), Severity::Warning)]
    );
    assert_eq!(
        fact(&r, "datastore"),
        "sqlite",
        "facts of another host decide nothing"
    );
}

#[test]
fn host_facts_match_a_node_by_the_host_name_k3s_recorded() {
    let mut snap = two_nodes();
    for n in &mut snap.nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        n.metadata
            .annotations
            .get_or_insert_default()
            .insert("k3s.io/hostname".into(), format!("{name}.lan"));
    }
    snap.host_facts = vec![host(
        "p.lan",
        crate::host::HostDatastore::Sqlite,
        "/var/lib/rancher/k3s/server/db/state.db",
    )];
    assert_eq!(
        status(&run(&snap), "control-plane.host-facts").0,
        CheckStatus::Pass
    );
}

#[test]
fn two_etcd_servers_seen_on_their_hosts_are_an_error_with_the_hosts_as_evidence() {
    use crate::host::HostDatastore;
    let mut snap = etcd_servers(&["a", "b", "c"]);
    snap.nodes.truncate(2);
    let etcd_dir = "/var/lib/rancher/k3s/server/db/etcd/";
    snap.host_facts = vec![
        host("a", HostDatastore::EmbeddedEtcd, etcd_dir),
        host("b", HostDatastore::EmbeddedEtcd, etcd_dir),
    ];
    let r = run(&snap);
    assert_eq!(
        findings(&r, "control-plane.datastore"),
        vec![("b".into(), Severity::Error)]
    );
    let evidence: Vec<String> = (r.findings.iter())
        .find(|f| f.id == "control-plane.datastore")
        .expect("the datastore finding")
        .evidence
        .iter()
        .map(|e| e.value.to_string())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|v| v.contains(&format!("{etcd_dir} on a"))),
        "{evidence:?}"
    );
}

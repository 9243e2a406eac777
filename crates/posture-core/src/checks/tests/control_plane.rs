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
    let etcd3 = Snapshot {
        nodes: ["a", "b", "c"]
            .iter()
            .map(|n| {
                node(n)
                    .server()
                    .label("node-role.kubernetes.io/etcd", "true")
                    .build()
            })
            .collect(),
        ..Snapshot::default()
    };
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
        vec![("a".into(), Severity::Warning)]
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
    let mut snap = two_nodes();
    snap.info = at("2026-01-01T12:00:00Z");
    snap.leases = vec![
        lease("kube-scheduler", "2026-01-01T11:59:50Z", 15, 1).build(),
        lease("kube-controller-manager", "2026-01-01T11:59:45Z", 15, 1).build(),
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
    snap.leases.truncate(1);
    assert_eq!(
        findings(&run(&snap), "control-plane.leases"),
        vec![("kube-controller-manager".into(), Severity::Warning)]
    );
    forbid(&mut snap, "leases.coordination.k8s.io");
    assert_eq!(
        status(&run(&snap), "control-plane.leases").0,
        CheckStatus::Unknown
    );
}

//! Preconditions: secondary state, pods on it, and app pinning.

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Severity};

const READY: &str = "preconditions.secondary.ready";
const CORDONED: &str = "preconditions.secondary.cordoned";
const DS_ONLY: &str = "preconditions.secondary.daemonsets-only";
const PINNED: &str = "preconditions.workloads.pinned";

#[test]
fn a_ready_cordoned_secondary_passes() {
    let r = run(&two_nodes());
    assert_eq!(status(&r, READY).0, CheckStatus::Pass);
    assert_eq!(status(&r, CORDONED).0, CheckStatus::Pass);
    assert_eq!(status(&r, "preconditions.topology").0, CheckStatus::Pass);
}

#[test]
fn a_not_ready_secondary_is_an_error() {
    let mut snap = two_nodes();
    snap.nodes[1] = node("s").agent().cordoned().not_ready().build();
    assert_eq!(
        findings(&run(&snap), READY),
        vec![("s".into(), Severity::Error)]
    );
}

#[test]
fn a_schedulable_or_untainted_secondary_is_drift() {
    let mut snap = two_nodes();
    snap.nodes[1] = node("s").agent().build();
    assert_eq!(
        findings(&run(&snap), CORDONED),
        vec![("s".into(), Severity::Warning)]
    );
    snap.nodes[1] = node("s")
        .agent()
        .set("spec.unschedulable", true.into())
        .build();
    let r = run(&snap);
    assert_eq!(findings(&r, CORDONED).len(), 1);
    assert!(
        r.findings[0].message.contains("taint")
            || r.findings.iter().any(|f| f.message.contains("taint"))
    );
}

#[test]
fn one_node_or_three_do_not_panic_and_say_so() {
    let one = crate::snapshot::Snapshot {
        nodes: vec![node("p").server().build()],
        ..Default::default()
    };
    let r = run(&one);
    assert_eq!(findings(&r, "preconditions.topology").len(), 1);
    assert_eq!(status(&r, READY).0, CheckStatus::Unknown);
    let mut three = two_nodes();
    three.nodes.push(node("t").agent().build());
    let r = run(&three);
    assert_eq!(findings(&r, "preconditions.topology").len(), 1);
    // Each secondary is still judged.
    assert_eq!(
        findings(&r, CORDONED),
        vec![("t".into(), Severity::Warning)]
    );
}

#[test]
fn only_daemonset_pods_may_run_on_the_secondary() {
    let mut snap = two_nodes();
    snap.pods = vec![
        pod("ls", "csi-1")
            .on("s")
            .owned_by("DaemonSet", "csi")
            .build(),
        pod("apps", "web-1")
            .on("p")
            .owned_by("ReplicaSet", "web-1")
            .build(),
    ];
    assert_eq!(status(&run(&snap), DS_ONLY).0, CheckStatus::Pass);
    snap.pods.push(
        pod("apps", "db-0")
            .on("s")
            .owned_by("StatefulSet", "db")
            .build(),
    );
    assert_eq!(
        findings(&run(&snap), DS_ONLY),
        vec![("db-0".into(), Severity::Warning)]
    );
}

#[test]
fn pods_missing_or_forbidden_make_the_check_unknown() {
    let mut snap = two_nodes();
    assert_eq!(
        status(&run(&snap), DS_ONLY),
        (CheckStatus::Unknown, "the snapshot lists no pods".into())
    );
    forbid(&mut snap, "pods");
    let (s, detail) = status(&run(&snap), DS_ONLY);
    assert_eq!(s, CheckStatus::Unknown);
    assert!(detail.contains("forbidden"), "{detail}");
}

#[test]
fn apps_must_admit_only_the_primary() {
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("apps", "by-hostname")
            .node_selector("kubernetes.io/hostname", "p")
            .build(),
        deployment("apps", "by-affinity")
            .node_affinity_in("kubernetes.io/hostname", &["p"])
            .build(),
        deployment("apps", "unpinned").build(),
        deployment("apps", "too-wide")
            .node_affinity_in("kubernetes.io/hostname", &["p", "s"])
            .build(),
        deployment("apps", "nowhere")
            .node_selector("kubernetes.io/hostname", "gone")
            .build(),
        // Not apps: tolerates the cordon, or lives in a system namespace.
        deployment("apps", "tolerant")
            .tolerate_unschedulable()
            .build(),
        deployment("kube-system", "metrics-server").build(),
    ];
    snap.stateful_sets = vec![stateful_set("apps", "db").build()];
    snap.daemon_sets = vec![daemon_set("apps", "agent").build()];
    let mut got = findings(&run(&snap), PINNED);
    got.sort();
    let want: Vec<(String, Severity)> = ["db", "nowhere", "too-wide", "unpinned"]
        .iter()
        .map(|n| (n.to_string(), Severity::Warning))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_label_only_the_primary_has_pins_too() {
    let mut snap = two_nodes();
    snap.nodes[0] = node("p").server().label("disk", "ssd").build();
    snap.deployments = vec![deployment("apps", "x").node_selector("disk", "ssd").build()];
    assert_eq!(status(&run(&snap), PINNED).0, CheckStatus::Pass);
    snap.nodes[1] = node("s").agent().cordoned().label("disk", "ssd").build();
    assert_eq!(findings(&run(&snap), PINNED).len(), 1);
}

/// A Deployment's ReplicaSet, as the Deployment controller names and owns it.
fn replica_set_of(ns: &str, deployment: &str) -> k8s_openapi::api::apps::v1::ReplicaSet {
    serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": ns, "name": format!("{deployment}-7d9f"),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                "uid": "d", "controller": true}]},
    }))
    .expect("a ReplicaSet")
}

#[test]
fn coredns_and_the_ingress_controller_may_run_on_the_secondary_but_apps_may_not() {
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("kube-system", "coredns")
            .label("k8s-app", "kube-dns")
            .image("rancher/mirrored-coredns-coredns:1.12.0")
            .build(),
        deployment("ingress", "haproxy")
            .image("haproxytech/kubernetes-ingress:3.1.4")
            .build(),
        deployment("apps", "web").build(),
    ];
    snap.replica_sets = vec![
        replica_set_of("kube-system", "coredns"),
        replica_set_of("ingress", "haproxy"),
        replica_set_of("apps", "web"),
    ];
    snap.pods = vec![
        pod("kube-system", "coredns-7d9f-a")
            .on("s")
            .owned_by("ReplicaSet", "coredns-7d9f")
            .build(),
        pod("ingress", "haproxy-7d9f-a")
            .on("s")
            .owned_by("ReplicaSet", "haproxy-7d9f")
            .build(),
        pod("apps", "web-7d9f-a")
            .on("s")
            .owned_by("ReplicaSet", "web-7d9f")
            .build(),
    ];
    assert_eq!(
        findings(&run(&snap), DS_ONLY),
        vec![("web-7d9f-a".into(), Severity::Warning)]
    );
}

//! 2.2 ingress: detection and every HA setting on both sides.

use serde_json::json;

use crate::checks::testkit::*;
use crate::policy::{NamespacedName, Policy};
use crate::report::{CheckStatus, Severity};
use crate::snapshot::Snapshot;

const HAPROXY: &str = "haproxytech/kubernetes-ingress:3.1.4";

/// A controller meeting every runbook target.
fn good() -> Fx<k8s_openapi::api::apps::v1::Deployment> {
    deployment("ingress", "ctl")
        .image(HAPROXY)
        .tolerate_unschedulable()
        .replicas(2)
        .anti_affinity_required()
        .spread(1, "DoNotSchedule")
        .readiness("/healthz", 1042, 5, 2)
        .liveness("/healthz", 1042, 5)
        .rolling(json!(0), json!(1))
}

fn with(d: Fx<k8s_openapi::api::apps::v1::Deployment>) -> Snapshot {
    let mut snap = two_nodes();
    snap.deployments = vec![d.build()];
    snap.pod_disruption_budgets = vec![pdb("ingress", "ctl")];
    snap
}

#[test]
fn a_controller_meeting_the_runbook_passes_every_check() {
    let r = run(&with(good()));
    for c in r.checks.iter().filter(|c| c.id.starts_with("ingress.")) {
        assert_eq!(c.status, CheckStatus::Pass, "{} {:?}", c.id, c.detail);
    }
}

#[test]
fn replicas_below_the_minimum_are_an_error() {
    let r = run(&with(good().replicas(1)));
    assert_eq!(
        findings(&r, "ingress.replicas"),
        vec![("ctl".into(), Severity::Error)]
    );
}

#[test]
fn missing_anti_affinity_and_spread_are_drift() {
    let d = good()
        .set("spec.template.spec.affinity", json!(null))
        .set("spec.template.spec.topologySpreadConstraints", json!(null));
    let r = run(&with(d));
    assert_eq!(
        findings(&r, "ingress.anti-affinity"),
        vec![("ctl".into(), Severity::Warning)]
    );
    assert_eq!(
        findings(&r, "ingress.topology-spread"),
        vec![("ctl".into(), Severity::Warning)]
    );
    // ScheduleAnyway or a larger skew is not the runbook's spread either.
    let d = good()
        .set("spec.template.spec.topologySpreadConstraints", json!(null))
        .spread(1, "ScheduleAnyway");
    assert_eq!(findings(&run(&with(d)), "ingress.topology-spread").len(), 1);
}

#[test]
fn probes_must_exist_and_be_strict() {
    let no_readiness = good().container("readinessProbe", json!(null));
    assert_eq!(
        findings(&run(&with(no_readiness)), "ingress.probes"),
        vec![("ctl".into(), Severity::Error)]
    );
    let no_liveness = good().container("livenessProbe", json!(null));
    assert_eq!(
        findings(&run(&with(no_liveness)), "ingress.probes")[0].1,
        Severity::Error
    );
    let slow = good().readiness("/healthz", 1042, 11, 3);
    assert_eq!(
        findings(&run(&with(slow)), "ingress.probes"),
        vec![("ctl".into(), Severity::Warning)]
    );
    let patient = good().readiness("/healthz", 1042, 10, 4);
    assert_eq!(findings(&run(&with(patient)), "ingress.probes").len(), 1);
    let edge = good()
        .readiness("/healthz", 1042, 10, 3)
        .liveness("/healthz", 1042, 3);
    assert!(findings(&run(&with(edge)), "ingress.probes").is_empty());
    let twitchy = good().liveness("/healthz", 1042, 2);
    assert_eq!(findings(&run(&with(twitchy)), "ingress.probes").len(), 1);
}

#[test]
fn a_pdb_must_select_the_pods() {
    let mut snap = with(good());
    snap.pod_disruption_budgets = vec![pdb("ingress", "other")];
    assert_eq!(
        findings(&run(&snap), "ingress.pdb"),
        vec![("ctl".into(), Severity::Warning)]
    );
    forbid(&mut snap, "poddisruptionbudgets.policy");
    assert_eq!(status(&run(&snap), "ingress.pdb").0, CheckStatus::Unknown);
}

#[test]
fn rollouts_that_surge_deadlock_with_required_anti_affinity() {
    let default_rolling = good().set("spec.strategy", json!(null));
    assert_eq!(
        findings(&run(&with(default_rolling)), "ingress.rollout-strategy").len(),
        1
    );
    let no_unavailable = good().rolling(json!(0), json!(0));
    assert_eq!(
        findings(&run(&with(no_unavailable)), "ingress.rollout-strategy").len(),
        1
    );
    let pct = good().rolling(json!("0%"), json!("50%"));
    assert!(findings(&run(&with(pct)), "ingress.rollout-strategy").is_empty());
    assert!(findings(&run(&with(good().recreate())), "ingress.rollout-strategy").is_empty());
}

#[test]
fn a_daemonset_controller_is_one_per_node_by_construction() {
    let mut snap = two_nodes();
    snap.daemon_sets = vec![
        daemon_set("kube-system", "traefik")
            .image("rancher/mirrored-library-traefik:2.11")
            .readiness("/ping", 9000, 10, 1)
            .liveness("/ping", 9000, 3)
            .build(),
    ];
    snap.pod_disruption_budgets = vec![pdb("kube-system", "traefik")];
    let r = run(&snap);
    for c in r.checks.iter().filter(|c| c.id.starts_with("ingress.")) {
        assert_eq!(c.status, CheckStatus::Pass, "{}", c.id);
    }
}

/// A DaemonSet pinned to the primary (a Helm chart's nodeSelector) or kept off the secondary by
/// a taint runs one pod, not one per node.
#[test]
fn a_daemonset_controller_pinned_to_one_node_is_not_one_per_node() {
    let traefik = || {
        daemon_set("kube-system", "traefik")
            .image("rancher/mirrored-library-traefik:2.11")
            .readiness("/ping", 9000, 10, 1)
            .liveness("/ping", 9000, 3)
    };
    let mut snap = two_nodes();
    snap.daemon_sets = vec![
        traefik()
            .set(
                "spec.template.spec.nodeSelector",
                json!({"kubernetes.io/hostname": "p"}),
            )
            .build(),
    ];
    let report = run(&snap);
    let got: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.id == "ingress.replicas")
        .collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].severity, Severity::Error);
    assert!(
        got[0].message.contains("runs no pod on s"),
        "{}",
        got[0].message
    );
    assert!(
        got[0]
            .evidence
            .iter()
            .any(|e| e.field.contains("nodeSelector")),
        "{:#?}",
        got[0].evidence
    );

    // A taint on the secondary the DaemonSet does not tolerate does the same; the cordon does
    // not (the DaemonSet controller tolerates it).
    let mut tainted = two_nodes();
    tainted.nodes[1] = node("s")
        .agent()
        .cordoned()
        .set(
            "spec.taints",
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                   {"key": "dedicated", "value": "storage", "effect": "NoSchedule"}]),
        )
        .build();
    tainted.daemon_sets = vec![traefik().build()];
    let got = findings(&run(&tainted), "ingress.replicas");
    assert_eq!(got.len(), 1, "{got:?}");
    tainted.daemon_sets = vec![
        traefik()
            .set(
                "spec.template.spec.tolerations",
                json!([{"key": "dedicated", "operator": "Exists"}]),
            )
            .build(),
    ];
    assert!(findings(&run(&tainted), "ingress.replicas").is_empty());
}

#[test]
fn other_controllers_are_found_and_none_is_skipped() {
    let mut snap = two_nodes();
    assert_eq!(
        status(&run(&snap), "ingress.replicas").0,
        CheckStatus::Skipped
    );
    assert_eq!(
        status(&run(&snap), "ingress.controller").0,
        CheckStatus::Skipped
    );
    snap.deployments = vec![
        deployment("ingress-nginx", "controller")
            .image("registry.k8s.io/ingress-nginx/controller:v1.11.3")
            .build(),
    ];
    assert_eq!(
        findings(&run(&snap), "ingress.replicas"),
        vec![("controller".into(), Severity::Error)]
    );
    // The policy names a controller the images do not reveal.
    snap.deployments = vec![deployment("edge", "proxy").image("example/proxy:1").build()];
    assert_eq!(
        status(&run(&snap), "ingress.controller").0,
        CheckStatus::Skipped
    );
    let mut policy = Policy::default();
    policy.ingress.controller = Some(NamespacedName {
        namespace: "edge".into(),
        name: "proxy".into(),
    });
    let r = crate::checks::run(&snap, &policy);
    assert_eq!(
        findings(&r, "ingress.replicas"),
        vec![("proxy".into(), Severity::Error)]
    );
}

#[test]
fn unreadable_workloads_make_ingress_unknown() {
    let mut snap = with(good());
    forbid(&mut snap, "deployments.apps");
    let (s, detail) = status(&run(&snap), "ingress.replicas");
    assert_eq!(s, CheckStatus::Unknown);
    assert!(detail.contains("forbidden"));
}

#[test]
fn a_deployment_must_tolerate_the_cordon_to_reach_the_secondary() {
    let untolerant = good().set("spec.template.spec.tolerations", json!(null));
    assert_eq!(
        findings(&run(&with(untolerant.clone())), "ingress.tolerates-cordon"),
        vec![("ctl".into(), Severity::Warning)]
    );
    // An uncordoned secondary needs no toleration.
    let mut snap = with(untolerant);
    snap.nodes[1] = node("s").agent().build();
    assert!(findings(&run(&snap), "ingress.tolerates-cordon").is_empty());
}

/// From 1.27 a hard spread should key on the revision: judged by the server nodes' version.
#[test]
fn a_hard_spread_without_match_label_keys_is_flagged_where_the_control_plane_supports_it() {
    let id = "ingress.topology-spread";
    let versioned = |version: &str, d: Fx<k8s_openapi::api::apps::v1::Deployment>| {
        let mut snap = with(d);
        snap.nodes[0] = node("p")
            .server()
            .set("status.nodeInfo", json!({"kubeletVersion": version}))
            .build();
        snap
    };
    let got = run(&versioned("v1.31.4+k3s1", good()));
    let messages: Vec<&str> = (got.findings.iter())
        .filter(|f| f.id == id)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0].contains("no matchLabelKeys [pod-template-hash]")
            && messages[0].contains("runs 1.31"),
        "{messages:#?}"
    );
    assert!(findings(&run(&versioned("v1.26.15+k3s1", good())), id).is_empty());
    let mut keyed = versioned("v1.31.4+k3s1", good());
    let spec = (keyed.deployments[0].spec.as_mut())
        .and_then(|s| s.template.spec.as_mut())
        .expect("a pod spec");
    spec.topology_spread_constraints.as_mut().expect("spread")[0].match_label_keys =
        Some(vec!["pod-template-hash".into()]);
    assert!(findings(&run(&keyed), id).is_empty());
    // No version reported: not judged.
    assert!(findings(&run(&with(good())), id).is_empty());
}

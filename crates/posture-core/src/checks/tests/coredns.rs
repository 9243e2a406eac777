//! 2.3 CoreDNS: replicas, spread, resources, probes, cluster DNS, PDB, addon note.

use serde_json::json;

use crate::checks::testkit::*;
use crate::policy::Policy;
use crate::report::{CheckStatus, Severity};
use crate::snapshot::Snapshot;

type D = Fx<k8s_openapi::api::apps::v1::Deployment>;

fn good() -> D {
    deployment("kube-system", "dns")
        .image("rancher/mirrored-coredns-coredns:1.11.3")
        .label("k8s-app", "kube-dns")
        .tolerate_unschedulable()
        .replicas(2)
        .anti_affinity_preferred()
        .spread(1, "ScheduleAnyway")
        .container(
            "resources",
            json!({"requests": {"cpu": "0.05", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "268435456"}}),
        )
        .readiness("/ready", 8181, 2, 3)
        .liveness("/health", 8080, 3)
}

fn with(d: D) -> Snapshot {
    let mut snap = two_nodes();
    snap.deployments = vec![d.build()];
    snap.pod_disruption_budgets = vec![pdb("kube-system", "dns")];
    snap.services = vec![
        service("kube-system", "kube-dns", "dns")
            .label("k8s-app", "kube-dns")
            .set("spec.clusterIP", json!("10.43.0.10"))
            .build(),
    ];
    snap
}

#[test]
fn coredns_meeting_the_runbook_passes() {
    let r = run(&with(good()));
    for c in r.checks.iter().filter(|c| c.id.starts_with("coredns.")) {
        assert_eq!(c.status, CheckStatus::Pass, "{} {:?}", c.id, c.detail);
    }
}

#[test]
fn one_replica_is_an_error() {
    assert_eq!(
        findings(&run(&with(good().replicas(1))), "coredns.replicas"),
        vec![("dns".into(), Severity::Error)]
    );
}

#[test]
fn anti_affinity_and_spread_are_required() {
    let d = good()
        .set("spec.template.spec.affinity", json!(null))
        .set("spec.template.spec.topologySpreadConstraints", json!(null));
    let r = run(&with(d));
    assert_eq!(findings(&r, "coredns.anti-affinity").len(), 1);
    assert_eq!(findings(&r, "coredns.topology-spread").len(), 1);
    // Required anti-affinity is stronger than preferred and also passes.
    let d = good()
        .set("spec.template.spec.affinity", json!(null))
        .anti_affinity_required();
    assert!(findings(&run(&with(d)), "coredns.anti-affinity").is_empty());
}

#[test]
fn resources_compare_as_quantities() {
    let d = good().container(
        "resources",
        json!({"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}}),
    );
    let got = findings(&run(&with(d)), "coredns.resources");
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|(_, s)| *s == Severity::Warning));
}

#[test]
fn probes_must_hit_the_runbook_endpoints() {
    let d = good().readiness("/health", 8181, 2, 3);
    assert_eq!(findings(&run(&with(d)), "coredns.probes").len(), 1);
    let d = good().container("livenessProbe", json!(null));
    assert_eq!(findings(&run(&with(d)), "coredns.probes").len(), 1);
    // A named port resolves through the container's ports.
    let d = good()
        .container("ports", json!([{"name": "ready", "containerPort": 8181}]))
        .container(
            "readinessProbe",
            json!({"httpGet": {"path": "/ready", "port": "ready"}}),
        );
    assert!(findings(&run(&with(d)), "coredns.probes").is_empty());
}

#[test]
fn cluster_dns_comes_from_k3s_args_or_policy() {
    let mut snap = with(good());
    snap.nodes[0] = node("p")
        .server()
        .args(&["server", "--cluster-dns=10.43.0.53"])
        .build();
    assert_eq!(
        findings(&run(&snap), "coredns.cluster-dns"),
        vec![("kube-dns".into(), Severity::Error)]
    );
    snap.nodes[0] = node("p")
        .server()
        .args(&["server", "--service-cidr", "10.43.0.0/16"])
        .build();
    assert!(findings(&run(&snap), "coredns.cluster-dns").is_empty());
    let mut policy = Policy::default();
    policy.coredns.cluster_dns = Some("10.96.0.10".into());
    assert_eq!(
        findings(&crate::checks::run(&snap, &policy), "coredns.cluster-dns").len(),
        1
    );
    snap.services.clear();
    assert_eq!(
        findings(&run(&snap), "coredns.cluster-dns")[0].1,
        Severity::Error
    );
}

#[test]
fn pdb_and_addon_notes() {
    let mut snap = with(
        good()
            .annotate(
                "objectset.rio.cattle.io/owner-gvk",
                "k3s.cattle.io/v1, Kind=Addon",
            )
            .annotate("objectset.rio.cattle.io/owner-name", "coredns"),
    );
    snap.pod_disruption_budgets.clear();
    let r = run(&snap);
    assert_eq!(
        findings(&r, "coredns.pdb"),
        vec![("dns".into(), Severity::Warning)]
    );
    assert_eq!(
        findings(&r, "coredns.packaged-addon"),
        vec![("dns".into(), Severity::Info)]
    );
    assert_eq!(status(&r, "coredns.packaged-addon").0, CheckStatus::Pass);
    assert!(findings(&run(&with(good())), "coredns.packaged-addon").is_empty());
}

#[test]
fn coredns_is_found_by_image_or_label_not_by_name() {
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("kube-system", "resolver")
            .image("coredns/coredns:1.11")
            .build(),
    ];
    assert_eq!(
        status(&run(&snap), "coredns.deployment").0,
        CheckStatus::Pass
    );
    snap.deployments = vec![
        deployment("kube-system", "coredns")
            .image("example/other:1")
            .build(),
    ];
    assert_eq!(
        status(&run(&snap), "coredns.deployment").0,
        CheckStatus::Skipped
    );
}

#[test]
fn coredns_must_tolerate_the_cordon_to_spread() {
    let d = good().set("spec.template.spec.tolerations", json!(null));
    assert_eq!(
        findings(&run(&with(d)), "coredns.tolerates-cordon"),
        vec![("dns".into(), Severity::Warning)]
    );
}

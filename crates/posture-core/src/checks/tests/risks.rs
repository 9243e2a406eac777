//! Risk register: restarts, rebuilds, failed replicas, lease transitions, endpoints.

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Severity};
use crate::snapshot::{Longhorn, SnapshotInfo};

fn at(ts: &str) -> SnapshotInfo {
    SnapshotInfo {
        collected_at: Some(ts.parse().expect("timestamp")),
        ..SnapshotInfo::default()
    }
}

#[test]
fn restarts_count_only_within_the_window() {
    let mut snap = two_nodes();
    snap.info = at("2026-01-01T12:00:00Z");
    snap.pods = vec![
        pod("a", "loop").restarts(3, "2026-01-01T11:30:00Z").build(),
        pod("a", "old").restarts(50, "2026-01-01T10:00:00Z").build(),
        pod("a", "once").restarts(2, "2026-01-01T11:59:00Z").build(),
    ];
    assert_eq!(
        findings(&run(&snap), "risks.restarts"),
        vec![("loop".into(), Severity::Warning)]
    );
    snap.info = SnapshotInfo::default();
    assert_eq!(
        status(&run(&snap), "risks.restarts").0,
        CheckStatus::Unknown
    );
}

#[test]
fn lease_transitions_over_the_threshold_are_thrash() {
    let mut snap = two_nodes();
    snap.leases = vec![
        lease("kube-scheduler", "2026-01-01T12:00:00Z", 15, 10).build(),
        lease("kube-controller-manager", "2026-01-01T12:00:00Z", 15, 11).build(),
    ];
    assert_eq!(
        findings(&run(&snap), "risks.lease-transitions"),
        vec![("kube-controller-manager".into(), Severity::Warning)]
    );
}

fn rebuilding_volumes(n: usize) -> Longhorn {
    let mut lh = Longhorn::default();
    for i in 0..n {
        let v = format!("v{i}");
        lh.volumes.push(volume(&v, 2).build());
        lh.engines
            .push(engine(&v, &[("a", "RW"), ("b", "WO")]).build());
    }
    lh
}

#[test]
fn more_rebuilds_than_the_threshold_are_a_storm() {
    let r = run(&with_longhorn(rebuilding_volumes(1)));
    assert!(findings(&r, "risks.rebuilding").is_empty());
    assert!(
        r.facts
            .iter()
            .any(|f| f.name == "volumes rebuilding" && f.value.starts_with("1:"))
    );
    assert_eq!(
        findings(
            &run(&with_longhorn(rebuilding_volumes(2))),
            "risks.rebuilding"
        )
        .len(),
        2
    );
    assert_eq!(
        status(&run(&two_nodes()), "risks.rebuilding").0,
        CheckStatus::Skipped
    );
}

#[test]
fn failed_replicas_are_reported() {
    let mut lh = Longhorn {
        replicas: vec![replica("v", "v-r-0", "p").build()],
        ..Longhorn::default()
    };
    assert!(findings(&run(&with_longhorn(lh.clone())), "risks.failed-replicas").is_empty());
    lh.replicas
        .push(replica("v", "v-r-1", "s").failed().build());
    assert_eq!(
        findings(&run(&with_longhorn(lh)), "risks.failed-replicas"),
        vec![("v-r-1".into(), Severity::Warning)]
    );
}

#[test]
fn services_need_ready_endpoints() {
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("ing", "ctl")
            .image("haproxytech/kubernetes-ingress:3")
            .build(),
    ];
    snap.services = vec![service("ing", "ctl-svc", "ctl").build()];
    assert_eq!(
        status(&run(&snap), "risks.endpoints").0,
        CheckStatus::Unknown
    );
    snap.endpoint_slices = vec![endpoint_slice("ing", "ctl-svc", &[false, false])];
    assert_eq!(
        findings(&run(&snap), "risks.endpoints"),
        vec![("ctl-svc".into(), Severity::Error)]
    );
    snap.endpoint_slices = vec![endpoint_slice("ing", "ctl-svc", &[false, true])];
    let r = run(&snap);
    assert_eq!(status(&r, "risks.endpoints").0, CheckStatus::Pass);
    assert!(
        r.facts
            .iter()
            .any(|f| f.name.contains("ctl-svc") && f.value == "1")
    );
}

#[test]
fn an_autoscaler_on_coredns_is_a_risk_and_one_elsewhere_is_not() {
    let hpa = |name: &str, target: &str, min: i32| {
        serde_json::from_value::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>(
            serde_json::json!({
                "metadata": {"name": name, "namespace": "kube-system"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                         "minReplicas": min, "maxReplicas": 5},
            }),
        )
        .expect("an HPA")
    };
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("kube-system", "dns")
            .image("rancher/mirrored-coredns-coredns:1.11.3")
            .label("k8s-app", "kube-dns")
            .build(),
        deployment("kube-system", "metrics").build(),
    ];
    snap.horizontal_pod_autoscalers = vec![hpa("metrics", "metrics", 1)];
    let (status_of, detail) = status(&run(&snap), "risks.autoscalers");
    assert_eq!(status_of, CheckStatus::Pass);
    assert!(detail.starts_with("1 autoscaler(s), none"), "{detail}");

    snap.horizontal_pod_autoscalers.push(hpa("dns", "dns", 1));
    let r = run(&snap);
    assert_eq!(
        findings(&r, "risks.autoscalers"),
        vec![("dns".into(), Severity::Warning)]
    );
    let finding = (r.findings.iter())
        .find(|f| f.id == "risks.autoscalers")
        .expect("the finding");
    assert!(
        finding.message.contains("minimum of 1"),
        "{}",
        finding.message
    );
    assert!(
        finding
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains("kubectl -n kube-system patch hpa dns")),
        "{:?}",
        finding.remediation
    );
    forbid(&mut snap, "horizontalpodautoscalers");
    assert_eq!(
        status(&run(&snap), "risks.autoscalers").0,
        CheckStatus::Unknown
    );
}

#[test]
fn a_keda_scaled_object_on_coredns_is_a_risk_and_one_elsewhere_is_not() {
    let scaled = |name: &str, target: &str, min: Option<i64>| {
        let mut so = serde_json::json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"scaleTargetRef": {"name": target}},
        });
        if let Some(min) = min {
            so["spec"]["minReplicaCount"] = serde_json::json!(min);
        }
        so
    };
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("kube-system", "dns")
            .image("rancher/mirrored-coredns-coredns:1.11.3")
            .label("k8s-app", "kube-dns")
            .build(),
        deployment("kube-system", "metrics").build(),
    ];
    snap.gitops.scaled_objects = vec![scaled("metrics", "metrics", None)];
    assert_eq!(
        status(&run(&snap), "risks.autoscalers").0,
        CheckStatus::Pass
    );

    // The target's kind defaults to a Deployment, and the minimum to KEDA's zero.
    snap.gitops
        .scaled_objects
        .push(scaled("dns-keda", "dns", None));
    let r = run(&snap);
    assert_eq!(
        findings(&r, "risks.autoscalers"),
        vec![("dns-keda".into(), Severity::Warning)]
    );
    let finding = (r.findings.iter())
        .find(|f| f.id == "risks.autoscalers")
        .expect("the finding");
    assert!(finding.message.contains("(KEDA)"), "{}", finding.message);
    assert!(
        finding.message.contains("minimum of 0"),
        "{}",
        finding.message
    );
    assert!(
        finding.remediation.as_deref().is_some_and(
            |r| r.contains("apply --pause") && r.contains("autoscaling.keda.sh/paused")
        ),
        "{:?}",
        finding.remediation
    );
    snap.gitops.scaled_objects[1] = scaled("dns-keda", "dns", Some(2));
    let r = run(&snap);
    let finding = (r.findings.iter())
        .find(|f| f.id == "risks.autoscalers")
        .expect("still a finding: it sets the count");
    assert!(
        !finding.message.contains("minimum of"),
        "{}",
        finding.message
    );
}

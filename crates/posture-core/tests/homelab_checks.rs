//! `posture check` on the shared homelab scenario reports every deliberate finding; the fixed
//! variant reports none above info; the broken variants report what they break.

use posture_core::report::{CheckStatus, Report, Severity};
use posture_core::{Policy, checks, load_snapshot_str};

const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");
const FIXED: &str = include_str!("../../../scenarios/homelab-fixed.yaml");
const OTHER_NAMES: &str = include_str!("../../../scenarios/broken-other-names.yaml");
const APPS_DOWN: &str = include_str!("../../../scenarios/homelab-apps-down.yaml");
const NO_LONGHORN: &str = include_str!("../../../scenarios/no-longhorn.yaml");
const STRICT_PDB: &str = include_str!("../../../scenarios/homelab-fixed-strict-pdb.yaml");
const NO_ROOM: &str = include_str!("../../../scenarios/homelab-secondary-unschedulable.yaml");
const CHECKS_DOC: &str = include_str!("../../../docs/checks.md");

fn check(name: &str, text: &str) -> Report {
    let snap = load_snapshot_str(name, text).expect("scenario loads");
    checks::run(&snap, &Policy::default())
}

/// Asserts a finding with `id` on an object named `object` at `severity`.
#[track_caller]
fn assert_finding(report: &Report, id: &str, object: &str, severity: Severity) {
    let found = report
        .findings
        .iter()
        .any(|f| f.id == id && f.object.name == object && f.severity == severity);
    assert!(
        found,
        "expected {severity:?} {id} on {object}; got:\n{}",
        report
            .findings
            .iter()
            .map(|f| format!("  {:?} {} {}", f.severity, f.id, f.object))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[track_caller]
fn status(report: &Report, id: &str) -> (CheckStatus, String) {
    let c = report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("check {id} was not recorded"));
    (c.status, c.detail.clone().unwrap_or_default())
}

const QDRANT_VOL: &str = "pvc-6a1f0c3e-7b2d-4e9a-9c41-0d3b5e8f1a20";
const GITEA_VOL: &str = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31";
const HA_VOL: &str = "pvc-2c44a8f0-91d3-4b7e-8a65-e3f1c2b0d942";
const MEDIA_VOL: &str = "pvc-51aa7c3d-2e6f-4d81-a9b0-c4e5f6a7b864";

#[test]
fn homelab_reports_every_deliberate_finding() {
    use Severity::*;
    let r = check("homelab.yaml", HOMELAB);
    // CoreDNS and HAProxy have 1 replica and no spread; HAProxy has no readinessProbe.
    assert_finding(&r, "coredns.replicas", "coredns", Error);
    assert_finding(&r, "coredns.anti-affinity", "coredns", Warning);
    assert_finding(&r, "coredns.topology-spread", "coredns", Warning);
    assert_finding(&r, "ingress.replicas", "haproxy-kubernetes-ingress", Error);
    assert_finding(
        &r,
        "ingress.anti-affinity",
        "haproxy-kubernetes-ingress",
        Warning,
    );
    assert_finding(
        &r,
        "ingress.topology-spread",
        "haproxy-kubernetes-ingress",
        Warning,
    );
    assert_finding(&r, "ingress.probes", "haproxy-kubernetes-ingress", Error);
    // Neither can put a replica on the cordoned secondary.
    assert_finding(
        &r,
        "ingress.tolerates-cordon",
        "haproxy-kubernetes-ingress",
        Warning,
    );
    assert_finding(&r, "coredns.tolerates-cordon", "coredns", Warning);
    // qdrant has no placement guardrail; the pinned apps pass.
    assert_finding(&r, "preconditions.workloads.pinned", "qdrant", Warning);
    let pinned: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.id == "preconditions.workloads.pinned")
        .collect();
    assert_eq!(pinned.len(), 1, "only qdrant lacks a guardrail");
    // Longhorn runs default-replica-count 3 (per-engine format), soft anti-affinity, auto-balance.
    assert_finding(
        &r,
        "longhorn.setting.default-replica-count",
        "default-replica-count",
        Warning,
    );
    assert_finding(
        &r,
        "longhorn.setting.replica-soft-anti-affinity",
        "replica-soft-anti-affinity",
        Warning,
    );
    assert_finding(
        &r,
        "longhorn.setting.replica-auto-balance",
        "replica-auto-balance",
        Warning,
    );
    assert_finding(
        &r,
        "longhorn.storageclass.replicas",
        "longhorn-storageclass",
        Warning,
    );
    // Volumes with 1, 2 (both on one node) and 3 replicas.
    assert_finding(&r, "longhorn.volume.replica-count", QDRANT_VOL, Error);
    assert_finding(&r, "longhorn.volume.replica-count", GITEA_VOL, Error);
    assert_finding(&r, "longhorn.volume.replica-count", MEDIA_VOL, Error);
    assert_finding(&r, "longhorn.volume.replica-placement", HA_VOL, Error);
    assert_finding(&r, "longhorn.volume.replica-placement", QDRANT_VOL, Error);
    assert_finding(&r, "longhorn.volume.replica-placement", GITEA_VOL, Error);
    // pvc-media is degraded and overrides soft anti-affinity per volume; its third replica failed.
    assert_finding(&r, "longhorn.volume.robustness", MEDIA_VOL, Error);
    assert_finding(&r, "longhorn.volume.overrides", MEDIA_VOL, Warning);
    assert_finding(&r, "longhorn.volume.replica-modes", MEDIA_VOL, Warning);
    assert_finding(
        &r,
        "risks.failed-replicas",
        &format!("{MEDIA_VOL}-r-c27f3c2"),
        Warning,
    );
    // nextcloud is owned by Argo CD; CoreDNS is a k3s packaged addon.
    assert_finding(&r, "ownership.managed", "nextcloud", Info);
    assert_finding(&r, "ownership.managed", "coredns", Info);
    assert_finding(&r, "coredns.packaged-addon", "coredns", Info);

    // What the scenario does not contain is unknown, not fine.
    assert_eq!(
        status(&r, "preconditions.secondary.daemonsets-only"),
        (CheckStatus::Unknown, "the snapshot lists no pods".into())
    );
    assert_eq!(status(&r, "control-plane.readyz").0, CheckStatus::Unknown);
    assert_eq!(status(&r, "control-plane.leases").0, CheckStatus::Pass);
    assert_eq!(
        status(&r, "preconditions.secondary.cordoned").0,
        CheckStatus::Pass
    );
    assert_eq!(status(&r, "coredns.cluster-dns").0, CheckStatus::Pass);
    assert!(
        r.facts
            .iter()
            .any(|f| f.name == "decision" && f.value.starts_with("single-server sqlite")),
        "the decision tree outcome is stated"
    );
    // The nextcloud and ha-config volumes name their PVC and workload.
    assert!(r.findings.iter().any(|f| f.object.name == HA_VOL
        && f.message.contains("PVC apps/ha-config")
        && f.message.contains("home-assistant")));
}

#[test]
fn apps_whose_claims_are_lost_are_errors_with_the_controllers_reasons() {
    use Severity::*;
    let r = check("homelab-apps-down.yaml", APPS_DOWN);
    let apps = [
        ("qdrant-storage", "qdrant-0", "StatefulSet apps/qdrant"),
        (
            "gitea-data",
            "gitea-7d4b9c8f6d-q2x7m",
            "Deployment apps/gitea",
        ),
        (
            "ha-config",
            "home-assistant-5f8c6d9b7c-w4k9t",
            "Deployment apps/home-assistant",
        ),
        (
            "nextcloud-data",
            "nextcloud-6b9d8c7f5d-z8r2p",
            "Deployment apps/nextcloud",
        ),
        (
            "media",
            "jellyfin-84c6d5f7b9-hn2pd",
            "Deployment apps/jellyfin",
        ),
    ];
    for (claim, pod, workload) in apps {
        assert_finding(&r, "preconditions.claims.bound", claim, Error);
        assert_finding(&r, "preconditions.pods.scheduled", pod, Error);
        let lost = r
            .findings
            .iter()
            .find(|f| f.id == "preconditions.claims.bound" && f.object.name == claim)
            .expect("claim finding");
        assert!(
            lost.message.contains("no longer exists")
                && lost.message.contains("ClaimLost")
                && lost.message.contains(&format!("{workload} cannot start")),
            "{}",
            lost.message
        );
        let pending = r
            .findings
            .iter()
            .find(|f| f.id == "preconditions.pods.scheduled" && f.object.name == pod)
            .expect("pod finding");
        assert!(
            pending.message.contains(&format!("({workload}) cannot be scheduled: Unschedulable: 0/2 nodes are available: persistentvolumeclaim \"{claim}\" bound to non-existent persistentvolume"))
                && pending.message.ends_with(&format!("(claim {claim} is Lost)")),
            "{}",
            pending.message
        );
    }
    // CoreDNS runs: only what cannot start is a finding.
    assert_eq!(
        status(&r, "preconditions.pods.scheduled").1,
        "6 pod(s), 5 Pending"
    );
    // Everything else is judged as on the homelab it was made from.
    let key = |f: &posture_core::report::Finding| (f.id.clone(), f.object.clone(), f.severity);
    let base: Vec<_> = check("homelab.yaml", HOMELAB)
        .findings
        .iter()
        .map(key)
        .collect();
    let new: Vec<_> = r
        .findings
        .iter()
        .map(key)
        .filter(|k| !base.contains(k))
        .collect();
    assert!(
        new.iter()
            .all(|(id, _, _)| id == "preconditions.claims.bound"
                || id == "preconditions.pods.scheduled"),
        "{new:?}"
    );
    assert_eq!(new.len(), 10);
    assert!(
        base.iter()
            .all(|k| r.findings.iter().map(key).any(|f| f == *k))
    );
}

#[test]
fn homelab_report_is_pinned() {
    let r = check("homelab.yaml", HOMELAB);
    insta::assert_yaml_snapshot!("homelab_report", r);
}

#[test]
fn fixed_homelab_reports_nothing_above_info() {
    let r = check("homelab-fixed.yaml", FIXED);
    let bad: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .map(|f| format!("{:?} {} {}: {}", f.severity, f.id, f.object, f.message))
        .collect();
    assert!(
        bad.is_empty(),
        "fixed scenario still reports:\n{}",
        bad.join("\n")
    );
    assert_eq!(r.summary.checks_failed, 0);
    // Ownership stays a fact the planner must respect.
    assert_finding(&r, "ownership.managed", "nextcloud", Severity::Info);
    assert_finding(&r, "coredns.packaged-addon", "coredns", Severity::Info);
    for id in [
        "ingress.replicas",
        "ingress.probes",
        "ingress.pdb",
        "ingress.rollout-strategy",
        "coredns.resources",
        "longhorn.volume.replica-placement",
        "risks.endpoints",
    ] {
        assert_eq!(status(&r, id).0, CheckStatus::Pass, "{id}");
    }
}

#[test]
fn other_names_and_ingress_nginx_are_judged_the_same_way() {
    use Severity::*;
    let r = check("broken-other-names.yaml", OTHER_NAMES);
    let facts = |name: &str| {
        r.facts
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.clone())
    };
    assert_eq!(facts("primary").as_deref(), Some("atlas"));
    assert_eq!(facts("secondary").as_deref(), Some("borealis"));
    assert_finding(&r, "preconditions.secondary.cordoned", "borealis", Warning);
    assert_finding(
        &r,
        "preconditions.secondary.daemonsets-only",
        "blog-6d9f8-abcde",
        Warning,
    );
    assert_finding(&r, "preconditions.workloads.pinned", "blog", Warning);
    // sqlite: k3s elects no leader, so a lease no longer renewed is left over, a note.
    assert_finding(&r, "control-plane.leases", "kube-scheduler", Info);
    assert_finding(
        &r,
        "ingress.anti-affinity",
        "ingress-nginx-controller",
        Warning,
    );
    assert_finding(
        &r,
        "ingress.rollout-strategy",
        "ingress-nginx-controller",
        Warning,
    );
    assert_finding(&r, "ingress.probes", "ingress-nginx-controller", Warning);
    assert_eq!(status(&r, "ingress.replicas").0, CheckStatus::Pass);
    assert_finding(&r, "coredns.cluster-dns", "kube-dns", Error);
    assert_eq!(
        status(&r, "coredns.resources").0,
        CheckStatus::Pass,
        "0.05 equals 50m"
    );
    assert_finding(
        &r,
        "longhorn.setting.default-replica-count",
        "default-replica-count",
        Warning,
    );
    assert_eq!(
        status(&r, "longhorn.setting.replica-soft-anti-affinity").0,
        CheckStatus::Pass
    );
    assert_finding(
        &r,
        "longhorn.node-drain-policy",
        "node-drain-policy",
        Warning,
    );
    assert_finding(&r, "longhorn.volume.replica-placement", "pvc-blog", Error);
    assert_finding(&r, "longhorn.volume.replica-modes", "pvc-blog", Warning);
    assert_finding(&r, "longhorn.volume.overrides", "pvc-blog", Warning);
    assert_eq!(
        status(&r, "longhorn.storageclass.replicas").0,
        CheckStatus::Pass
    );
    assert_finding(&r, "risks.restarts", "blog-6d9f8-abcde", Warning);
    assert_finding(&r, "risks.lease-transitions", "kube-scheduler", Warning);
    assert_finding(&r, "risks.endpoints", "ingress-nginx-controller", Error);
    assert!(
        !r.findings
            .iter()
            .any(|f| f.id == "risks.endpoints" && f.object.name == "kube-dns")
    );
    assert!(facts("volumes rebuilding").is_some_and(|v| v.starts_with("1:")));
}

#[test]
fn a_cluster_without_longhorn_skips_the_section() {
    use Severity::*;
    let r = check("no-longhorn.yaml", NO_LONGHORN);
    for c in r.checks.iter().filter(|c| c.id.starts_with("longhorn.")) {
        assert_eq!(c.status, CheckStatus::Skipped, "{}", c.id);
        assert_eq!(c.detail.as_deref(), Some("Longhorn is not installed"));
    }
    let (s, detail) = status(&r, "preconditions.secondary.daemonsets-only");
    assert_eq!(s, CheckStatus::Unknown);
    assert!(detail.contains("forbidden"), "{detail}");
    assert_eq!(status(&r, "risks.restarts").0, CheckStatus::Unknown);
    assert_finding(&r, "control-plane.datastore", "n2", Error);
    assert_finding(&r, "control-plane.readyz", "/readyz", Error);
    assert_finding(&r, "preconditions.secondary.ready", "n2", Error);
    assert_eq!(
        status(&r, "control-plane.leases"),
        (CheckStatus::Unknown, "the snapshot lists no leases".into())
    );
    // A DaemonSet controller is one per node by construction.
    for id in [
        "ingress.replicas",
        "ingress.anti-affinity",
        "ingress.topology-spread",
        "ingress.rollout-strategy",
        "ingress.pdb",
    ] {
        assert_eq!(status(&r, id).0, CheckStatus::Pass, "{id}");
    }
    assert_finding(&r, "ingress.probes", "traefik", Warning);
    assert_eq!(status(&r, "coredns.deployment").0, CheckStatus::Skipped);
}

#[test]
fn every_check_id_is_documented() {
    for report in [
        check("a", HOMELAB),
        check("b", NO_LONGHORN),
        check("c", APPS_DOWN),
    ] {
        for c in &report.checks {
            let documented = match c.id.strip_prefix("longhorn.setting.") {
                Some(setting) => {
                    CHECKS_DOC.contains("`longhorn.setting.<name>`") && CHECKS_DOC.contains(setting)
                }
                None => CHECKS_DOC.contains(&format!("`{}`", c.id)),
            };
            assert!(documented, "{} is missing from docs/checks.md", c.id);
        }
    }
}

/// A budget with `minAvailable` equal to the ingress controller's two replicas blocks every drain;
/// the converged homelab's budgets (`maxUnavailable: 1`) do not.
#[test]
fn a_budget_that_forbids_every_eviction_of_the_ingress_is_an_error() {
    let strict = check("homelab-fixed-strict-pdb.yaml", STRICT_PDB);
    assert_finding(
        &strict,
        "preconditions.drain-budgets",
        "haproxy-kubernetes-ingress",
        Severity::Error,
    );
    let fixed = check("homelab-fixed.yaml", FIXED);
    assert_eq!(
        status(&fixed, "preconditions.drain-budgets").0,
        CheckStatus::Pass
    );
}

/// Scheduling disabled on the secondary's Longhorn node: no volume stage could finish.
#[test]
fn a_secondary_longhorn_node_that_takes_no_replicas_is_an_error() {
    let report = check("homelab-secondary-unschedulable.yaml", NO_ROOM);
    assert_finding(
        &report,
        "longhorn.secondary.room",
        "worker-1",
        Severity::Error,
    );
    let homelab = check("homelab.yaml", HOMELAB);
    assert_eq!(
        status(&homelab, "longhorn.secondary.room").0,
        CheckStatus::Pass
    );
}

//! Preconditions: claims the apps use are bound and every pod can be scheduled.

use serde_json::{Value, json};

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Finding, Severity};

const CLAIMS: &str = "preconditions.claims.bound";
const PODS: &str = "preconditions.pods.scheduled";

fn evidence(f: &Finding, field: &str) -> Option<(Value, String)> {
    f.evidence
        .iter()
        .find(|e| e.field == field)
        .map(|e| (e.value.clone(), e.command.clone()))
}

#[test]
fn bound_claims_and_running_pods_pass() {
    let mut snap = two_nodes();
    snap.persistent_volume_claims = vec![pvc("apps", "data", "Bound", Some("pv-1"))];
    snap.persistent_volumes = vec![pv("pv-1", "Bound")];
    snap.pods = vec![
        pod("apps", "web-1")
            .mounts("data")
            .scheduled("Running", "True", "", "")
            .build(),
        // Scheduled, still pulling images or attaching volumes: not the scheduler's problem.
        pod("apps", "web-2")
            .scheduled("Pending", "True", "", "")
            .build(),
    ];
    let r = run(&snap);
    assert_eq!(status(&r, CLAIMS).0, CheckStatus::Pass);
    assert_eq!(
        status(&r, PODS),
        (CheckStatus::Pass, "2 pod(s), 1 Pending".into())
    );
}

#[test]
fn a_lost_claim_is_an_error_naming_its_missing_volume_the_event_and_who_mounts_it() {
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("apps", "gitea")
            .template_mounts("gitea-data")
            .build(),
    ];
    snap.persistent_volume_claims = vec![pvc("apps", "gitea-data", "Lost", Some("pvc-1"))];
    snap.events = vec![
        event(
            "PersistentVolumeClaim",
            "apps",
            "gitea-data",
            "Normal",
            "Provisioning",
            "old",
            "2026-01-01T09:00:00Z",
        ),
        event(
            "PersistentVolumeClaim",
            "apps",
            "gitea-data",
            "Warning",
            "ClaimLost",
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
            "2026-01-01T10:00:00Z",
        ),
        event(
            "PersistentVolumeClaim",
            "apps",
            "other",
            "Warning",
            "ClaimLost",
            "not this one",
            "2026-01-01T11:00:00Z",
        ),
    ];
    let r = run(&snap);
    assert_eq!(
        findings(&r, CLAIMS),
        vec![("gitea-data".into(), Severity::Error)]
    );
    let f = r.findings.iter().find(|f| f.id == CLAIMS).expect("finding");
    assert!(
        f.message.contains("pvc-1 no longer exists"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("ClaimLost: Bound claim has lost"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("Deployment apps/gitea cannot start"),
        "{}",
        f.message
    );
    assert_eq!(
        evidence(f, "status.phase"),
        Some((
            json!("Lost"),
            "kubectl get persistentvolumeclaim gitea-data -n apps -o jsonpath='{.status.phase}'"
                .into()
        ))
    );
    assert_eq!(
        evidence(f, "metadata.name"),
        Some((Value::Null, "kubectl get persistentvolume pvc-1".into()))
    );
    let (message, command) = evidence(f, "message").expect("the claim's event");
    assert_eq!(
        message,
        json!("Bound claim has lost its PersistentVolume. Data on the volume is lost!")
    );
    assert_eq!(
        command,
        "kubectl get events -n apps --field-selector involvedObject.kind=PersistentVolumeClaim,involvedObject.name=gitea-data"
    );
    assert!(
        f.remediation
            .as_deref()
            .is_some_and(|r| r.starts_with("kubectl describe pvc -n apps gitea-data"))
    );

    // With the volume still there (Released, say), its phase is the evidence instead.
    snap.persistent_volumes = vec![pv("pvc-1", "Released")];
    let r = run(&snap);
    let f = r.findings.iter().find(|f| f.id == CLAIMS).expect("finding");
    assert_eq!(
        evidence(f, "status.phase").map(|e| e.0),
        Some(json!("Lost"))
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.object.kind == "PersistentVolume" && e.value == json!("Released"))
    );
}

#[test]
fn a_pending_claim_is_an_error_only_when_something_mounts_it() {
    let mut snap = two_nodes();
    snap.persistent_volume_claims = vec![
        // Waiting for its first consumer, and nothing consumes it yet.
        pvc("apps", "spare", "Pending", None),
        pvc("apps", "used-by-pod", "Pending", None),
        pvc("apps", "data-db-0", "Pending", None),
    ];
    snap.pods = vec![pod("apps", "job-x").mounts("used-by-pod").build()];
    snap.stateful_sets = vec![
        stateful_set("apps", "db")
            .push(
                "spec.volumeClaimTemplates",
                json!({"metadata": {"name": "data"}}),
            )
            .build(),
    ];
    let r = run(&snap);
    let mut got = findings(&r, CLAIMS);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("data-db-0".into(), Severity::Error),
            ("used-by-pod".into(), Severity::Error)
        ]
    );
    let db = r
        .findings
        .iter()
        .find(|f| f.object.name == "data-db-0")
        .expect("finding");
    assert!(
        db.message.contains("StatefulSet apps/db cannot start"),
        "{}",
        db.message
    );
    let job = r
        .findings
        .iter()
        .find(|f| f.object.name == "used-by-pod")
        .expect("finding");
    assert!(
        job.message.contains("Pod apps/job-x cannot start"),
        "{}",
        job.message
    );
    assert!(
        job.evidence.iter().all(|e| e.field != "message"),
        "no event, no event evidence"
    );
}

#[test]
fn an_unschedulable_pod_is_an_error_with_the_schedulers_reason_and_message() {
    let mut snap = two_nodes();
    snap.persistent_volume_claims = vec![pvc("apps", "gitea-data", "Lost", Some("pvc-1"))];
    let message = r#"0/2 nodes are available: persistentvolumeclaim "gitea-data" bound to non-existent persistentvolume "pvc-1"."#;
    snap.pods = vec![
        pod("apps", "gitea-7d9f-a")
            .owned_by("ReplicaSet", "gitea-7d9f")
            .mounts("gitea-data")
            .scheduled("Pending", "False", "Unschedulable", message)
            .build(),
        pod("apps", "web-1")
            .scheduled("Running", "True", "", "")
            .build(),
    ];
    let r = run(&snap);
    assert_eq!(
        findings(&r, PODS),
        vec![("gitea-7d9f-a".into(), Severity::Error)]
    );
    let f = r.findings.iter().find(|f| f.id == PODS).expect("finding");
    assert!(
        f.message
            .contains("(ReplicaSet gitea-7d9f) cannot be scheduled: Unschedulable: 0/2 nodes"),
        "{}",
        f.message
    );
    assert!(
        f.message.ends_with("(claim gitea-data is Lost)"),
        "{}",
        f.message
    );
    let path = r#"status.conditions[?(@.type=="PodScheduled")]"#;
    assert_eq!(
        evidence(f, "status.phase").map(|e| e.0),
        Some(json!("Pending"))
    );
    assert_eq!(
        evidence(f, &format!("{path}.reason")),
        Some((
            json!("Unschedulable"),
            format!("kubectl get pod gitea-7d9f-a -n apps -o jsonpath='{{.{path}.reason}}'")
        ))
    );
    assert_eq!(
        evidence(f, &format!("{path}.message")).map(|e| e.0),
        Some(json!(message))
    );
}

#[test]
fn unreadable_claims_or_pods_make_the_checks_unknown() {
    let mut snap = two_nodes();
    assert_eq!(
        status(&run(&snap), CLAIMS),
        (CheckStatus::Pass, "0 claim(s) checked".into())
    );
    assert_eq!(
        status(&run(&snap), PODS),
        (CheckStatus::Unknown, "the snapshot lists no pods".into())
    );
    forbid(&mut snap, "persistentvolumeclaims");
    forbid(&mut snap, "pods");
    let r = run(&snap);
    for id in [CLAIMS, PODS] {
        let (s, detail) = status(&r, id);
        assert_eq!(s, CheckStatus::Unknown, "{id}");
        assert!(detail.contains("forbidden"), "{detail}");
    }
}

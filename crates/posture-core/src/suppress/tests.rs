use super::*;
use crate::checks::testkit::{deployment, two_nodes};
use crate::policy::Policy;

/// A cluster whose one app is not pinned to the primary: a `preconditions.workloads.pinned`
/// warning on `Deployment apps/web`.
fn unpinned(annotations: &[(&str, &str)]) -> Snapshot {
    let mut web = deployment("apps", "web");
    for (key, value) in annotations {
        web = web.annotate(key, value);
    }
    let mut snap = two_nodes();
    snap.deployments = vec![web.build()];
    snap
}

const PINNED: &str = "preconditions.workloads.pinned";

fn status(report: &Report, id: &str) -> (CheckStatus, Option<String>) {
    let check = report
        .checks
        .iter()
        .find(|c| c.id == id)
        .expect("the check ran");
    (check.status, check.detail.clone())
}

#[test]
fn without_suppression_the_finding_stands() {
    let report = crate::checks::run(&unpinned(&[]), &Policy::default());
    assert!(report.findings.iter().any(|f| f.id == PINNED));
    assert!(report.suppressed.is_empty());
    assert_eq!(status(&report, PINNED).0, CheckStatus::Fail);
}

#[test]
fn an_annotation_suppresses_with_its_reason_and_the_check_passes_saying_so() {
    let snap = unpinned(&[
        (
            IGNORE_ANNOTATION,
            "ingress.probes, preconditions.workloads.*",
        ),
        (
            IGNORE_REASON_ANNOTATION,
            "web is stateless and may run anywhere",
        ),
    ]);
    let report = crate::checks::run(&snap, &Policy::default());
    assert!(!report.findings.iter().any(|f| f.id == PINNED));
    let suppressed = &report.suppressed[0];
    assert_eq!(suppressed.finding.id, PINNED);
    assert_eq!(suppressed.finding.object.name, "web");
    assert_eq!(suppressed.suppressed_by, SuppressedBy::Annotation);
    assert_eq!(suppressed.reason, "web is stateless and may run anywhere");
    assert_eq!(
        status(&report, PINNED),
        (CheckStatus::Pass, Some("1 finding(s) suppressed".into()))
    );
    assert_eq!(report.summary.suppressed, 1);
    assert_eq!(report.summary.warnings, 0);
    // In the JSON report too.
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["suppressed"][0]["suppressedBy"], "annotation");
    assert_eq!(json["suppressed"][0]["id"], PINNED);
}

#[test]
fn an_annotation_without_a_reason_still_suppresses_and_says_one_is_missing() {
    let report = crate::checks::run(
        &unpinned(&[("posture.io/ignore", PINNED)]),
        &Policy::default(),
    );
    assert_eq!(
        report.suppressed.len(),
        1,
        "the posture.io/ key is read too"
    );
    assert!(report.suppressed[0].reason.contains("no reason given"));
}

#[test]
fn an_annotation_naming_other_checks_suppresses_nothing() {
    let report = crate::checks::run(
        &unpinned(&[(IGNORE_ANNOTATION, "ingress.probes,preconditions.workloads")]),
        &Policy::default(),
    );
    assert!(report.suppressed.is_empty());
}

#[test]
fn the_policy_list_suppresses_what_it_names_and_only_that() {
    let policy = Policy::from_yaml(
        "posture.yaml",
        "suppress:\n- check: preconditions.workloads.pinned\n  kind: Deployment\n  namespace: apps\n  name: web\n  reason: moved by hand\n",
    )
    .expect("valid");
    let report = crate::checks::run(&unpinned(&[]), &policy);
    assert_eq!(report.suppressed.len(), 1);
    assert_eq!(report.suppressed[0].suppressed_by, SuppressedBy::Policy);
    assert_eq!(report.suppressed[0].reason, "moved by hand");

    let other = Policy::from_yaml(
        "posture.yaml",
        "suppress:\n- {check: preconditions.workloads.pinned, name: api, reason: not web}\n",
    )
    .expect("valid");
    let report = crate::checks::run(&unpinned(&[]), &other);
    assert!(report.suppressed.is_empty());
    assert!(report.findings.iter().any(|f| f.id == PINNED));
}

#[test]
fn a_policy_suppression_needs_a_check_and_a_reason() {
    let error = Policy::from_yaml("posture.yaml", "suppress:\n- {check: '', reason: ' '}\n")
        .expect_err("refused");
    assert!(
        error.message.contains("suppress[0].check"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("suppress[0].reason"),
        "{}",
        error.message
    );
    let error =
        Policy::from_yaml("posture.yaml", "suppress:\n- {check: x}\n").expect_err("refused");
    assert!(error.message.contains("reason"), "{}", error.message);
}

/// A Longhorn volume and its PersistentVolume share a name, as do a Longhorn node and its
/// Kubernetes node: an ignore annotation on one (the PersistentVolume, the Longhorn node)
/// suppresses the findings about that object alone, and a name in another namespace matches
/// nothing.
#[test]
fn an_annotation_suppresses_only_on_the_object_that_carries_it() {
    let meta = |name: &str, namespace: Option<&str>, ignore: bool| {
        let mut meta = serde_json::json!({"name": name, "namespace": namespace});
        if ignore {
            meta["annotations"] = serde_json::json!({IGNORE_ANNOTATION: "x.*"});
        }
        meta
    };
    let object = |api_version: &str, kind: &str, name: &str, namespace: Option<&str>| {
        ObjectRef::new(api_version, kind, namespace, name)
    };
    let mut snap = two_nodes();
    snap.persistent_volumes = vec![
        serde_json::from_value(serde_json::json!({"metadata": meta("pvc-1", None, true)}))
            .expect("a PV"),
    ];
    let node = snap.nodes[0].metadata.name.clone().expect("a named node");
    snap.longhorn = Some(crate::snapshot::Longhorn {
        volumes: vec![
            serde_json::from_value(serde_json::json!({
                "metadata": meta("pvc-1", Some("longhorn-system"), false),
            }))
            .expect("a volume"),
        ],
        nodes: vec![
            serde_json::from_value(serde_json::json!({
                "metadata": meta(&node, Some("longhorn-system"), true),
            }))
            .expect("a Longhorn node"),
        ],
        ..crate::snapshot::Longhorn::default()
    });
    snap.deployments = vec![
        deployment("apps", "web")
            .annotate(IGNORE_ANNOTATION, "x.*")
            .build(),
    ];
    let about = |object: ObjectRef| Finding {
        id: "x.y".into(),
        section: crate::report::Section::Longhorn,
        severity: Severity::Warning,
        object,
        message: String::new(),
        evidence: Vec::new(),
        remediation: None,
    };
    let mut report = Report::new("test");
    report.findings = vec![
        about(object("v1", "PersistentVolume", "pvc-1", None)),
        about(object(
            "longhorn.io/v1beta2",
            "Volume",
            "pvc-1",
            Some("longhorn-system"),
        )),
        about(object("v1", "Node", &node, None)),
        about(object(
            "longhorn.io/v1beta2",
            "Node",
            &node,
            Some("longhorn-system"),
        )),
        about(object("apps/v1", "Deployment", "web", Some("apps"))),
        about(object("apps/v1", "Deployment", "web", Some("other"))),
    ];
    let report = apply(report, &snap, &[]);
    let kinds = |findings: Vec<&Finding>| {
        findings
            .into_iter()
            .map(|f| format!("{}", f.object))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(report.suppressed.iter().map(|s| &s.finding).collect()),
        kinds(vec![
            &about(object("v1", "PersistentVolume", "pvc-1", None)),
            &about(object(
                "longhorn.io/v1beta2",
                "Node",
                &node,
                Some("longhorn-system")
            )),
            &about(object("apps/v1", "Deployment", "web", Some("apps"))),
        ])
    );
    assert_eq!(report.findings.len(), 3);
}

use super::*;
use serde_json::json;

fn workload(
    kind: &str,
    namespace: &str,
    name: &str,
    tracking: Option<&str>,
) -> (ObjectRef, ObjectMeta) {
    let annotations = tracking.map(|app| {
        [(
            "argocd.argoproj.io/tracking-id".to_owned(),
            format!("{app}:apps/{kind}:{namespace}/{name}"),
        )]
        .into_iter()
        .collect()
    });
    (
        ObjectRef::new("apps/v1", kind, Some(namespace), name),
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            annotations,
            ..ObjectMeta::default()
        },
    )
}

fn app(name: &str, automated: bool, history: &[(i64, &str)]) -> Value {
    let history: Vec<Value> = history
        .iter()
        .map(|(id, rev)| json!({"id": id, "revision": rev, "deployedAt": format!("2026-11-2{id}T10:00:00Z")}))
        .collect();
    let mut policy = json!({});
    if automated {
        policy = json!({"automated": {"prune": true, "selfHeal": true}});
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"syncPolicy": policy},
        "status": {"sync": {"status": "Synced", "revision": history.last().map(|h| h["revision"].clone())},
                   "health": {"status": "Degraded"}, "history": history},
    })
}

#[test]
fn an_owned_workload_brings_its_application_with_the_previous_revision() {
    let workloads = vec![
        workload("Deployment", "apps", "cloud", Some("cloud")),
        workload("Deployment", "apps", "plain", None),
    ];
    let apps = vec![
        app("cloud", true, &[(3, "c3"), (1, "a1"), (2, "b2")]),
        app("other", false, &[(1, "x")]),
    ];
    let found = relate(&apps, &workloads, None);
    assert_eq!(found.rule, WorkloadRule::ArgoOwned);
    assert_eq!(found.applications.len(), 1);
    let cloud = &found.applications[0];
    assert_eq!(cloud.workloads, vec![workloads[0].0.clone()]);
    assert_eq!(cloud.rollback_to, Some(2));
    assert_eq!(
        cloud.history.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        cloud.commands,
        vec![
            "argocd app set argocd/cloud --sync-policy none",
            "argocd app rollback argocd/cloud 2",
            "kubectl -n argocd get application cloud -o yaml",
        ]
    );
}

#[test]
fn without_an_earlier_revision_there_is_no_rollback_command() {
    let workloads = vec![workload("StatefulSet", "db", "pg", Some("argocd_pg"))];
    let found = relate(&[app("pg", false, &[(1, "only")])], &workloads, None);
    let pg = &found.applications[0];
    assert_eq!(pg.rollback_to, None);
    assert!(!pg.automated_sync);
    assert_eq!(
        pg.commands,
        vec!["kubectl -n argocd get application pg -o yaml"]
    );
    assert!(
        pg.notes[0].contains("no earlier revision"),
        "{:?}",
        pg.notes
    );
}

#[test]
fn alerts_narrow_the_applications_to_the_alerted_workloads() {
    let workloads = vec![
        workload("Deployment", "apps", "cloud", Some("cloud")),
        workload("Deployment", "apps", "wiki", Some("wiki")),
    ];
    let apps = vec![
        app("cloud", false, &[(1, "a"), (2, "b")]),
        app("wiki", false, &[]),
    ];
    let alerts = vec!["apps/wiki-5d8f9-abcde/wiki".to_owned()];
    let found = relate(&apps, &workloads, Some(&alerts));
    assert_eq!(found.rule, WorkloadRule::NamedInAlerts);
    let names: Vec<&str> = found.applications.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["wiki"]);
}

#[test]
fn with_no_tracked_workload_every_application_is_listed() {
    let workloads = vec![workload("Deployment", "apps", "plain", None)];
    let found = relate(
        &[app("lonely", false, &[(1, "a"), (2, "b")])],
        &workloads,
        None,
    );
    assert_eq!(found.rule, WorkloadRule::EveryApplication);
    assert_eq!(found.applications[0].rollback_to, Some(1));
    assert!(found.applications[0].workloads.is_empty());
}

#[test]
fn automated_sync_switched_off_by_enabled_false_is_not_automated() {
    let mut off = app("x", true, &[]);
    off["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
    let found = relate(&[off], &[], None);
    assert!(!found.applications[0].automated_sync);
}

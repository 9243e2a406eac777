//! The `--act` reports rendered from the homelab-argo scenario's objects, without a cluster.

use posture_kube::watch::act::argo::{ArgoFindings, relate, workloads_of};
use posture_kube::watch::act::restore::select;
use serde::Deserialize;
use serde_json::Value;

const SCENARIO: &str = include_str!("../../../../../../scenarios/homelab-argo.yaml");

fn objects_of_kind(kind: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(SCENARIO)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .filter(|v| v["kind"] == kind)
        .collect()
}

fn snapshot() -> posture_core::Snapshot {
    posture_core::load_snapshot_str("homelab-argo.yaml", SCENARIO).expect("the scenario loads")
}

#[test]
fn argo_rollback_names_the_application_its_workload_history_and_commands() {
    let found = relate(
        &objects_of_kind("Application"),
        &workloads_of(&snapshot()),
        None,
    );
    let text = super::argo::render(&ArgoFindings::Installed(found));
    insta::assert_snapshot!(text);
}

#[test]
fn argo_rollback_without_argo_cd_says_so() {
    assert_eq!(
        super::argo::render(&ArgoFindings::NotInstalled),
        "argo-rollback: Argo CD is not installed (applications.argoproj.io not served); nothing to roll back\n"
    );
    let forbidden = super::argo::render(&ArgoFindings::Forbidden {
        message: "no".into(),
    });
    assert!(forbidden.contains("forbidden"), "{forbidden}");
}

#[test]
fn snapshot_restore_lists_the_degraded_volume_with_snapshots_backups_and_steps() {
    let backups = objects_of_kind("Backup");
    let plan = select(
        &snapshot(),
        &posture_core::Policy::default(),
        &objects_of_kind("Snapshot"),
        Some(&backups),
        None,
    );
    insta::assert_snapshot!(super::restore::render(&plan));
}

#[test]
fn the_json_report_carries_the_same_facts() {
    let found = ArgoFindings::Installed(relate(
        &objects_of_kind("Application"),
        &workloads_of(&snapshot()),
        None,
    ));
    let json: Value =
        serde_json::from_str(&super::json(&found).expect("serializes")).expect("JSON");
    assert_eq!(json["argocd"], "installed");
    assert_eq!(json["applications"][0]["rollbackTo"], 5);
    assert_eq!(
        json["applications"][0]["commands"][1],
        "argocd app rollback argocd/nextcloud 5"
    );
    let not_installed = super::json(&ArgoFindings::NotInstalled).expect("serializes");
    assert!(
        not_installed.contains(r#""argocd": "not-installed""#),
        "{not_installed}"
    );
}

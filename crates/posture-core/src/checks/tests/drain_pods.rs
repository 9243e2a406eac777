//! Pods a drain deletes for good (no controller) or with their emptyDir data.

use serde_json::json;

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Severity};
use crate::snapshot::Snapshot;

const ID: &str = "preconditions.drain-pods";

fn owned(name: &str, kind: &str) -> Fx<k8s_openapi::api::core::v1::Pod> {
    pod("apps", name).set(
        "metadata.ownerReferences",
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": "x", "uid": "u", "controller": true}]),
    )
}

fn with(pods: Vec<k8s_openapi::api::core::v1::Pod>) -> Snapshot {
    let mut snap = two_nodes();
    snap.pods = pods;
    snap
}

#[test]
fn pods_that_come_back_without_losing_data_pass() {
    let report = run(&with(vec![
        owned("web-1", "ReplicaSet").build(),
        // A DaemonSet's scratch space and a static pod are not a drain's to evict.
        owned("agent", "DaemonSet")
            .push("spec.volumes", json!({"name": "tmp", "emptyDir": {}}))
            .build(),
        pod("kube-system", "etcd-a")
            .annotate("kubernetes.io/config.mirror", "abc")
            .build(),
        // Finished pods are not evicted either.
        pod("apps", "job-done")
            .set("status.phase", json!("Succeeded"))
            .build(),
    ]));
    assert_eq!(status(&report, ID).0, CheckStatus::Pass);
}

#[test]
fn an_unmanaged_pod_warns_and_emptydir_data_is_noted() {
    let report = run(&with(vec![
        pod("apps", "debug-shell").build(),
        owned("cache-1", "ReplicaSet")
            .push("spec.volumes", json!({"name": "scratch", "emptyDir": {}}))
            .build(),
    ]));
    assert_eq!(
        findings(&report, ID),
        [
            ("debug-shell".to_owned(), Severity::Warning),
            ("cache-1".to_owned(), Severity::Info)
        ]
    );
    let note = report
        .findings
        .iter()
        .find(|f| f.id == ID && f.severity == Severity::Info)
        .expect("the emptyDir note");
    assert!(note.message.contains("--delete-emptydir-data") && note.message.contains("scratch"));
}

#[test]
fn without_pods_the_check_cannot_judge() {
    assert_eq!(status(&run(&with(Vec::new())), ID).0, CheckStatus::Unknown);
}

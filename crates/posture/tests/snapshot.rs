//! `posture snapshot` against a fake API server, and `check` of what it saved.

mod common;

use axum::http::StatusCode;
use common::{FakeApi, posture, run};
use serde_json::{Value, json};

async fn fake_cluster() -> String {
    FakeApi::default()
        .respond("/readyz", StatusCode::OK, "[+]ping ok\nreadyz check passed\n")
        .respond("/healthz", StatusCode::OK, "[+]ping ok\nhealthz check passed\n")
        .list("/api/v1/nodes", json!([{"metadata": {"name": "n1", "managedFields": [{"manager": "k3s"}]}}]))
        .list("/api/v1/namespaces", json!([{"metadata": {"name": "kube-system"}}]))
        .respond(
            "/api/v1/pods",
            StatusCode::FORBIDDEN,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}"#,
        )
        .list("/apis/longhorn.io/v1beta2/volumes", json!([{"metadata": {"name": "pvc-1", "namespace": "longhorn-system"},
               "spec": {"numberOfReplicas": 2}}]))
        .serve()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_snapshots_check_like_the_cluster_they_came_from() {
    let server = fake_cluster().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::kubeconfig(dir.path(), &server);
    let config = config.to_string_lossy().into_owned();
    let saved = dir.path().join("saved.yaml");
    let saved = saved.to_string_lossy().into_owned();

    let out = run(posture(&[
        "snapshot",
        "--kubeconfig",
        &config,
        "-o",
        &saved,
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("to {saved}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unreadable: pods (forbidden)"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(&saved).expect("saved file");
    assert!(!text.contains("managedFields"));
    assert!(
        text.contains("\"collectedAt\": \"2026-11-24T16:04:42Z\""),
        "{text}"
    );
    assert!(
        posture_core::load::is_json_stream(&text),
        "every document is written as JSON, for the fast path: {text}"
    );

    let out = run(posture(&[
        "check",
        "--snapshot",
        &saved,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(
        report["source"],
        server.as_str(),
        "the saved provenance names the API server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_to_stdout_pipes_into_check() {
    let server = fake_cluster().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::kubeconfig(dir.path(), &server);
    let config = config.to_string_lossy().into_owned();

    let out = run(posture(&["snapshot", "--kubeconfig", &config, "-o", "-"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "---\n{\n  \"apiVersion\": \"posture.dev/v1\",\n  \"kind\": \"SnapshotInfo\","
        ),
        "{}",
        out.stdout
    );
    let snapshot = posture_core::load_snapshot_str("stdout", &out.stdout).expect("loads back");
    assert_eq!(snapshot.nodes.len(), 1);
    assert_eq!(snapshot.unreadable("pods"), Some("forbidden"));
    assert!(snapshot.longhorn.is_some_and(|lh| lh.volumes.len() == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn live_check_reads_the_cluster() {
    let server = fake_cluster().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::kubeconfig(dir.path(), &server);
    let config = config.to_string_lossy().into_owned();
    let out = run(posture(&[
        "check",
        "--kubeconfig",
        &config,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(report["source"], server.as_str());
}

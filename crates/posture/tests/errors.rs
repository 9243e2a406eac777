//! What a person sees when the API server answers with an error: one line and a hint, the
//! answer as `<code> <reason>: <message>`, never Rust's `Debug` text.

mod common;

use axum::http::StatusCode;
use common::{FakeApi, kubeconfig, posture, run};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_error_is_one_line_with_code_reason_and_message() {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "resourceVersion: Invalid value: \"x\": strconv.ParseUint: parsing \"x\"",
        "reason": "BadRequest", "code": 400
    });
    let server = FakeApi::default()
        .respond("/readyz", StatusCode::OK, "ok")
        .respond("/api/v1/pods", StatusCode::BAD_REQUEST, &status.to_string())
        .serve()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(dir.path(), &server);
    let mut command = posture(&[
        "watch",
        "-o",
        "json",
        "--kubeconfig",
        config.to_str().expect("utf-8"),
    ]);
    command.kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run(command))
        .await
        .expect("posture finished");
    assert_eq!(out.code, 3, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].ends_with(
            ": 400 BadRequest: resourceVersion: Invalid value: \"x\": strconv.ParseUint: parsing \"x\""
        ),
        "{}",
        out.stderr
    );
    for debug in ["Status {", "ApiError", "Some(", "ServiceError"] {
        assert!(!out.stderr.contains(debug), "{debug} in {}", out.stderr);
    }
    assert!(lines[1].starts_with("hint: "), "{}", out.stderr);
}

#[tokio::test]
async fn documents_nested_100000_deep_are_refused_before_parsing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = dir.path().join("deep.yaml");
    let depth = 100_000;
    std::fs::write(
        &deep,
        format!(
            "kind: List\nitems: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    )
    .expect("write");
    let deep = deep.to_str().expect("utf-8");
    let homelab = "scenarios/homelab.yaml";
    for args in [
        &["check", "--snapshot", deep][..],
        &["plan", "--snapshot", deep],
        &["--config", deep, "check", "--snapshot", homelab],
        &["twin", "serve", "--scenario", deep],
    ] {
        let out = run(posture(args)).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{deep}:2:")),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("nested more than 256 levels deep"),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
    }
}

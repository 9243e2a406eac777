//! A server that never answers, or throttles every request, ends the run within its deadline
//! with an error that says which it was.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use common::{Output, kubeconfig, posture, run};

/// Far beyond any deadline the tests set: reaching it means posture hung.
const HANG_GUARD: Duration = Duration::from_secs(90);

async fn run_guarded(command: tokio::process::Command) -> Output {
    tokio::time::timeout(HANG_GUARD, run(command))
        .await
        .expect("posture finished instead of hanging")
}

/// Accepts connections and reads nothing, writes nothing, closes nothing.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_a_server_that_never_answers_exits_3_naming_the_timeout() {
    let server = silent_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(dir.path(), &server);
    let out = run_guarded(posture(&[
        "check",
        "--request-timeout",
        "2s",
        "--kubeconfig",
        config.to_str().expect("utf-8"),
    ]))
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("did not answer within the request timeout of 2s"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_against_a_server_that_never_answers_exits_3_too() {
    let server = silent_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(dir.path(), &server);
    let out = run_guarded(posture(&[
        "snapshot",
        "-o",
        "-",
        "--request-timeout",
        "1",
        "--kubeconfig",
        config.to_str().expect("utf-8"),
    ]))
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("request timeout of 1s"),
        "{}",
        out.stderr
    );
}

/// Answers every request `429 Too Many Requests` with `Retry-After: 1`, as an API server whose
/// priority and fairness limits are exhausted does; counts the requests.
async fn throttling_server(requests: Arc<AtomicUsize>) -> String {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Too many requests, please try again later.",
        "reason": "TooManyRequests", "details": {"retryAfterSeconds": 1}, "code": 429
    })
    .to_string();
    let app = Router::new().fallback(move || {
        let body = body.clone();
        requests.fetch_add(1, Ordering::SeqCst);
        async move {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, "1"),
                    (header::CONTENT_TYPE, "application/json"),
                ],
                body,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_under_constant_throttling_gives_up_within_its_budget_and_says_throttled() {
    let requests = Arc::new(AtomicUsize::new(0));
    let server = throttling_server(Arc::clone(&requests)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(dir.path(), &server);
    let out = run_guarded(posture(&[
        "check",
        "--kubeconfig",
        config.to_str().expect("utf-8"),
    ]))
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let stderr = out.stderr.to_lowercase();
    assert!(stderr.contains("throttling"), "{}", out.stderr);
    assert!(stderr.contains("429 too many requests"), "{}", out.stderr);
    for blame in ["permission", "forbidden", "rbac", "auth can-i", "get/list"] {
        assert!(!stderr.contains(blame), "blames {blame}: {}", out.stderr);
    }
    // The first request is tried at most five times, a second of Retry-After apart.
    let seen = requests.load(Ordering::SeqCst);
    assert!((2..=5).contains(&seen), "{seen} requests");
}

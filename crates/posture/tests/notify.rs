//! `posture watch --notify URL` and `--metrics ADDR`: raised and cleared alerts reach a local
//! HTTP receiver in Alertmanager's webhook format (or the template's), a receiver that never
//! answers holds up no detection, and the metrics follow the alerts.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use posture_core::detect::{Signal, SignalKind, header_line};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use common::{posture, run};

/// A crash loop that starts at 12:00, ends at 12:05 and clears ten minutes later.
fn recording(dir: &std::path::Path) -> String {
    let at = |m: i64| {
        "2026-11-23T12:00:00Z"
            .parse::<jiff::Timestamp>()
            .expect("time")
            + jiff::SignedDuration::from_mins(m)
    };
    let crash = |active| SignalKind::CrashLoopBackOff {
        pod: "apps/web-1".into(),
        workload: "apps/web".into(),
        container: "web".into(),
        active,
    };
    let mut lines = vec![header_line()];
    lines.push(Signal::new(at(0), crash(true)).to_line());
    lines.push(Signal::new(at(5), crash(false)).to_line());
    for m in 6..40 {
        lines.push(Signal::new(at(m), SignalKind::Tick).to_line());
    }
    let path = dir.join("signals.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("recording written");
    path.display().to_string()
}

#[derive(Clone, Default)]
struct Received {
    bodies: Arc<Mutex<Vec<(String, String)>>>,
}

/// A receiver answering 200 to every POST, keeping (content type, body).
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                kept.bodies.lock().expect("lock").push((content_type, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raised_and_cleared_alerts_reach_the_receiver_in_alertmanagers_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replay = recording(dir.path());
    let (url, received) = receiver().await;
    let out = run(posture(&["watch", "--replay", &replay, "--notify", &url])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("RAISED crash-loop"), "{}", out.stdout);
    let bodies = received.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let documents: Vec<Value> = bodies
        .iter()
        .map(|(content_type, body)| {
            assert_eq!(content_type, "application/json");
            serde_json::from_str(body).expect("JSON")
        })
        .collect();
    assert_eq!(documents[0]["status"], "firing");
    assert_eq!(documents[1]["status"], "resolved");
    for document in &documents {
        assert_eq!(document["version"], "4");
        assert_eq!(document["alerts"][0]["labels"]["alertname"], "crash-loop");
        assert_eq!(document["alerts"][0]["labels"]["subject"], "apps/web-1/web");
    }
    assert_eq!(documents[1]["alerts"][0]["endsAt"], "2026-11-23T12:15:00Z");

    // A template makes the body, here Slack's.
    let (url, received) = receiver().await;
    let out = run(posture(&[
        "watch",
        "--replay",
        &replay,
        "--notify",
        &url,
        "--notify-template",
        r#"{"text":"{text}","id":"{id}"}"#,
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bodies = received.bodies.lock().expect("lock").clone();
    let first: Value = serde_json::from_str(&bodies[0].1).expect("the template is JSON");
    assert_eq!(first["id"], "crash-loop/apps/web-1/web");
    assert!(
        first["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("FIRING crash-loop apps/web-1/web")),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_up_no_detection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replay = recording(dir.path());
    // Takes each request and never answers it.
    let arrived = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&arrived);
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            let counted = Arc::clone(&counted);
            async move {
                *counted.lock().expect("lock") += 1;
                std::future::pending::<&'static str>().await
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut watch = posture(&[
        "watch",
        "--replay",
        &replay,
        "--notify",
        &url,
        "--notify-timeout",
        "2s",
    ]);
    watch
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = watch.spawn().expect("watch starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.expect("stdout reads") {
        let cleared = line.contains("CLEARED crash-loop");
        seen.push(line);
        if cleared {
            break;
        }
    }
    // Every alert was detected and printed while the receiver still held the first post.
    assert!(
        seen.iter().any(|l| l.contains("RAISED crash-loop")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains("CLEARED crash-loop")),
        "{seen:?}"
    );
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("watch ends once the notifier gives up")
        .expect("exits");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("alert(s) not delivered"), "{stderr}");
    assert!(
        *arrived.lock().expect("lock") >= 1,
        "the receiver was asked"
    );
}

//! Runs the built binary the way a person would, and a small fake API server for it to read.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The workspace root: scenario paths in commands and outputs are relative to it.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `posture ARGS` from the workspace root, without colour and without the caller's kubeconfig.
/// A test that fails before it stops the process still stops it: a process left behind would
/// keep talking to whatever server takes its twin's port next.
pub fn posture(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_posture"));
    command
        .args(args)
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

pub async fn run(mut command: tokio::process::Command) -> Output {
    let output = command.output().await.expect("the binary runs");
    Output {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// The real kubectl against `kubeconfig`, `stdin` written to its input when given; the test
/// fails with kubectl's own words when kubectl does.
pub async fn kubectl_with(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("kubectl")
        .args(["--kubeconfig", kubeconfig])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input
            .write_all(text.as_bytes())
            .await
            .expect("stdin written");
    }
    drop(input);
    let output = child.wait_with_output().await.expect("kubectl runs");
    let out = Output {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(
        out.code, 0,
        "kubectl {args:?}: {}{}",
        out.stdout, out.stderr
    );
    out
}

/// `kubectl --kubeconfig KUBECONFIG ARGS...`, which must succeed.
pub async fn kubectl(kubeconfig: &str, args: &[&str]) -> Output {
    kubectl_with(kubeconfig, args, None).await
}

/// An autoscaling/v2 HorizontalPodAutoscaler on k3s' CoreDNS Deployment, from one replica to
/// `max`, as a manifest for `kubectl apply -f -`.
pub fn coredns_hpa(max: u32) -> String {
    format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: coredns, namespace: kube-system}}\n\
         spec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: coredns}}\n  minReplicas: 1\n  maxReplicas: {max}\n"
    )
}

/// A kubeconfig whose only context, `lab`, points at `server`.
pub fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: '{server}'}}\n\
         users:\n- name: me\n  user: {{token: t}}\ncontexts:\n- name: lab\n  context: {{cluster: fake, user: me}}\n\
         current-context: lab\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// Answers each path with a fixed status and JSON body, and a fixed `Date`; unknown paths 404.
#[derive(Default)]
pub struct FakeApi {
    routes: HashMap<String, (StatusCode, String)>,
}

impl FakeApi {
    pub fn list(mut self, path: &str, items: Value) -> Self {
        let body = json!({"kind": "List", "apiVersion": "v1", "items": items});
        self.routes
            .insert(path.to_owned(), (StatusCode::OK, body.to_string()));
        self
    }
    pub fn respond(mut self, path: &str, status: StatusCode, body: &str) -> Self {
        self.routes
            .insert(path.to_owned(), (status, body.to_owned()));
        self
    }

    /// Serves on a free loopback port until the test's runtime ends; returns the base URL.
    pub async fn serve(self) -> String {
        async fn answer(State(api): State<Arc<FakeApi>>, request: Request) -> Response {
            let (status, body) = api
                .routes
                .get(request.uri().path())
                .cloned()
                .unwrap_or((StatusCode::NOT_FOUND, "404 page not found".to_owned()));
            (
                status,
                [(header::DATE, "Tue, 24 Nov 2026 16:04:42 GMT")],
                body,
            )
                .into_response()
        }
        let app = Router::new().fallback(answer).with_state(Arc::new(self));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        format!("http://{addr}")
    }
}

/// A twin serving `scenarios/<file>` with its clock at `speed`, and a kubeconfig for it.
pub struct ServedScenario {
    pub twin: posture_twin::api::RunningTwin,
    pub dir: tempfile::TempDir,
    pub kubeconfig: String,
}

pub async fn serve_scenario(file: &str, speed: f64) -> ServedScenario {
    let text = std::fs::read_to_string(workspace().join("scenarios").join(file))
        .expect("the scenario exists");
    let mut twin = posture_twin::Twin::new("2026-11-23T12:00:00Z".parse().expect("timestamp"));
    twin.load_scenario(file, &text).expect("the scenario loads");
    serve_twin(twin, speed).await
}

/// `twin` served with its clock at `speed`, and a kubeconfig for it.
pub async fn serve_twin(twin: posture_twin::Twin, speed: f64) -> ServedScenario {
    let twin = posture_twin::api::serve(
        twin,
        posture_twin::api::ServeOptions {
            speed,
            ..posture_twin::api::ServeOptions::default()
        },
    )
    .await
    .expect("the twin serves");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&path).expect("kubeconfig");
    ServedScenario {
        twin,
        kubeconfig: path.display().to_string(),
        dir,
    }
}

/// `GET path` over plain HTTP/1.0 from a local server posture runs (metrics), the body.
pub async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response read");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

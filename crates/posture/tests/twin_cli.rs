//! `posture twin ...` as a person uses it: serve in one process, then fault and advance it and
//! read it with kubectl from others.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{posture, run};
use tokio::io::{AsyncBufReadExt, BufReader};

/// `posture --kubeconfig KUBECONFIG twin ARGS...`, run to completion.
async fn twin(kubeconfig: &str, args: &[&str]) -> common::Output {
    let mut all = vec!["--kubeconfig", kubeconfig, "twin"];
    all.extend_from_slice(args);
    run(posture(&all)).await
}

async fn kubectl_nodes(kubeconfig: &str) -> String {
    common::kubectl(kubeconfig, &["get", "nodes", "--no-headers"])
        .await
        .stdout
}

fn status_of<'a>(nodes: &'a str, node: &str) -> &'a str {
    nodes
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("{node} not in\n{nodes}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_twin_takes_faults_and_time_from_other_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let mut serve = posture(&[
        "twin",
        "serve",
        "--speed",
        "0",
        "--kubeconfig-out",
        kubeconfig,
    ]);
    serve
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut server = serve.spawn().expect("serve starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read stdout") {
        let done = line.starts_with("posture twin fault");
        printed.push(line);
        if done {
            break;
        }
    }
    assert!(
        printed[0].starts_with("twin serving at http://127.0.0.1:"),
        "{printed:?}"
    );
    assert!(
        printed.contains(&format!("export KUBECONFIG={kubeconfig}")),
        "{printed:?}"
    );
    assert!(printed.iter().any(|l| l.starts_with("kubectl get nodes")));

    assert_eq!(
        status_of(&kubectl_nodes(kubeconfig).await, "worker-1"),
        "Ready,SchedulingDisabled"
    );
    // The scenario leaves out the namespaces every k3s cluster has; plans need kube-system's uid.
    common::kubectl(
        kubeconfig,
        &["get", "namespace", "kube-system", "-o", "name"],
    )
    .await;
    let stop = twin(kubeconfig, &["fault", "stop-node", "worker-1"]).await;
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert_eq!(stop.stdout.trim(), "injected stop-node worker-1");
    for missing in [
        &["fault", "stop-node", "nosuchnode"][..],
        &["fault", "crash-loop", "default/nosuchpod"],
    ] {
        let out = twin(kubeconfig, missing).await;
        assert_eq!(out.code, 2, "{missing:?}: {}", out.stderr);
        assert!(!out.stdout.contains("injected"), "{}", out.stdout);
        assert!(out.stderr.contains("no such object"), "{}", out.stderr);
        assert!(out.stderr.contains("\"nosuch"), "{}", out.stderr);
    }
    let advance = twin(kubeconfig, &["advance", "60"]).await;
    assert_eq!(advance.code, 0, "{}", advance.stderr);
    assert!(
        advance.stdout.starts_with("twin time is now "),
        "{}",
        advance.stdout
    );
    assert_eq!(
        status_of(&kubectl_nodes(kubeconfig).await, "worker-1"),
        "NotReady,SchedulingDisabled"
    );

    let start = twin(kubeconfig, &["fault", "start-node", "worker-1"]).await;
    assert_eq!(start.code, 0, "{}", start.stderr);
    let advance = twin(kubeconfig, &["advance", "5"]).await;
    assert_eq!(advance.code, 0, "{}", advance.stderr);
    assert_eq!(
        status_of(&kubectl_nodes(kubeconfig).await, "worker-1"),
        "Ready,SchedulingDisabled"
    );

    let errors = twin(
        kubeconfig,
        &["fault", "api-errors", "1.0", "--status", "429"],
    )
    .await;
    assert_eq!(errors.code, 0, "{}", errors.stderr);
    let clear = twin(kubeconfig, &["fault", "clear"]).await;
    assert_eq!(clear.code, 0, "{}", clear.stderr);
    assert!(kubectl_nodes(kubeconfig).await.contains("miniserver"));

    let pid = server.id().expect("running").to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let stopped = server.wait_with_output().await.expect("serve exits");
    assert_eq!(stopped.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("twin stopped"));
}

#[tokio::test]
async fn control_commands_without_a_twin_are_cluster_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = common::kubeconfig(dir.path(), "http://127.0.0.1:9");
    let out = run(posture(&[
        "--kubeconfig",
        kubeconfig.to_str().expect("utf-8"),
        "twin",
        "advance",
        "10",
    ]))
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("http://127.0.0.1:9"), "{}", out.stderr);
}

#[tokio::test]
async fn bad_fault_arguments_are_usage_errors() {
    for args in [
        &["twin", "fault", "api-errors", "1.5"][..],
        &["twin", "fault", "api-errors", "0.5", "--status", "503"],
        &["twin", "fault", "crash-loop", "no-namespace"],
    ] {
        let out = run(posture(args)).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
}

#[tokio::test]
async fn unreadable_or_invalid_scenarios_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.yaml");
    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(
        &invalid,
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
    )
    .expect("write");
    for (path, reason) in [(&missing, "cannot read scenario"), (&invalid, "Gadget")] {
        let out = run(posture(&[
            "twin",
            "serve",
            "--scenario",
            path.to_str().expect("utf-8"),
        ]))
        .await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&*path.to_string_lossy()),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains(reason), "{}", out.stderr);
    }
}

#[tokio::test]
async fn generated_scenarios_have_the_size_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.yaml");
    let out = run(posture(&[
        "twin",
        "generate",
        "--nodes",
        "3",
        "--pods",
        "25",
        "--volumes",
        "4",
        "--replicas-per-volume",
        "2",
        "-o",
        file.to_str().expect("utf-8"),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(Path::new(&file)).expect("written");
    assert_eq!(
        text.matches("\nkind: Node\n").count(),
        3 * 2,
        "core and Longhorn nodes"
    );
    assert_eq!(
        text.matches("\nkind: Deployment\n").count(),
        3,
        "10 + 10 + 5 pods"
    );

    let kubeconfig = dir.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let mut serve = posture(&[
        "twin",
        "serve",
        "--speed",
        "0",
        "--scenario",
        file.to_str().expect("utf-8"),
        "--kubeconfig-out",
        kubeconfig,
    ]);
    serve.stdout(Stdio::piped()).kill_on_drop(true);
    let mut server = serve.spawn().expect("serve starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let first = lines.next_line().await.expect("read").expect("a line");
    assert!(first.starts_with("twin serving at "), "{first}");
    assert_eq!(kubectl_nodes(kubeconfig).await.lines().count(), 3);
}

#[tokio::test]
async fn a_scenario_can_come_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("three-nodes.yaml");
    let out = run(posture(&[
        "twin",
        "generate",
        "--nodes",
        "3",
        "-o",
        file.to_str().expect("utf-8"),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let kubeconfig = dir.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let mut serve = posture(&[
        "twin",
        "serve",
        "--speed",
        "0",
        "--scenario",
        "-",
        "--kubeconfig-out",
        kubeconfig,
    ]);
    serve
        .stdin(std::fs::File::open(&file).expect("scenario"))
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut server = serve.spawn().expect("serve starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let first = lines.next_line().await.expect("read").expect("a line");
    assert!(first.starts_with("twin serving at "), "{first}");
    // The homelab cluster served without a scenario has two.
    assert_eq!(kubectl_nodes(kubeconfig).await.lines().count(), 3);
}

#[tokio::test]
async fn serving_beyond_loopback_is_refused_unless_asked() {
    let out = run(posture(&["twin", "serve", "--addr", "0.0.0.0:0"])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("not a loopback address"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--allow-remote"), "{}", out.stderr);
}

/// The status line of a raw HTTP/1.1 request to `addr`, with an optional bearer token.
async fn status_line(addr: &str, method: &str, path: &str, token: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = r#"{"type":"stop-node","node":"worker-1"}"#;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: twin\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        if method == "POST" { body.len() } else { 0 },
        if method == "POST" { body } else { "" }
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_served_beyond_loopback_requires_the_token_it_writes_into_the_kubeconfig() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let mut serve = posture(&[
        "twin",
        "serve",
        "--addr",
        "0.0.0.0:0",
        "--allow-remote",
        "--speed",
        "0",
        "--kubeconfig-out",
        kubeconfig,
    ]);
    serve.stdout(Stdio::piped()).kill_on_drop(true);
    let mut server = serve.spawn().expect("serve starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let first = lines
        .next_line()
        .await
        .expect("stdout")
        .expect("a first line");
    let port = first.rsplit(':').next().expect("a port").to_owned();
    let mut warned = false;
    while let Ok(Some(line)) = lines.next_line().await {
        warned |= line.contains("bearer token");
        if line.starts_with("posture twin fault") {
            break;
        }
    }
    assert!(warned, "serve says the token is needed");
    let text = std::fs::read_to_string(kubeconfig).expect("kubeconfig written");
    let token = text
        .split("token: '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the kubeconfig carries a token")
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(kubeconfig)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the kubeconfig is private: {mode:o}");
    }

    let addr = format!("127.0.0.1:{port}");
    for (method, path) in [("GET", "/api/v1/nodes"), ("POST", "/twin/v1/faults")] {
        let refused = status_line(&addr, method, path, None).await;
        assert!(refused.contains(" 401 "), "{method} {path}: {refused}");
        let wrong = status_line(&addr, method, path, Some("not-the-token")).await;
        assert!(wrong.contains(" 401 "), "{method} {path}: {wrong}");
    }
    let allowed = status_line(&addr, "GET", "/api/v1/nodes", Some(&token)).await;
    assert!(allowed.contains(" 200 "), "{allowed}");
    let check = run(posture(&[
        "--kubeconfig",
        kubeconfig,
        "check",
        "-o",
        "json",
    ]))
    .await;
    assert!(matches!(check.code, 0 | 1), "{}", check.stderr);
    let fault = twin(kubeconfig, &["fault", "stop-node", "worker-1"]).await;
    assert_eq!(fault.code, 0, "{}", fault.stderr);
}

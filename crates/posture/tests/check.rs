//! `posture check` as a person runs it: output, exit codes and error messages.

mod common;

use common::{posture, run};
use serde_json::Value;

const HOMELAB: &str = "scenarios/homelab.yaml";
const APPS_DOWN: &str = "scenarios/homelab-apps-down.yaml";

#[tokio::test]
async fn homelab_human_report() {
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains('\u{1b}'),
        "no colour when NO_COLOR is set or stdout is a pipe"
    );
    insta::assert_snapshot!(out.stdout);
}

#[tokio::test]
async fn homelab_json_report() {
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(report["schema"], "posture.dev/v1/report");
    insta::assert_snapshot!(out.stdout);
}

/// Lost claims and unschedulable pods are errors: the default `--fail-on error` fails, and the
/// Preconditions section names each claim and pod with the controllers' reasons.
#[tokio::test]
async fn apps_that_cannot_start_fail_the_check() {
    let out = run(posture(&["check", "--snapshot", APPS_DOWN])).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let preconditions = out
        .stdout
        .split("\n2.1 k3s control plane")
        .next()
        .expect("a Preconditions section");
    insta::assert_snapshot!(preconditions);

    let json = run(posture(&[
        "check",
        "--snapshot",
        APPS_DOWN,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    let report: Value = serde_json::from_str(&json.stdout).expect("valid JSON");
    let errors = |id: &str| {
        report["findings"]
            .as_array()
            .expect("findings array")
            .iter()
            .filter(|f| f["id"] == id && f["severity"] == "error")
            .count()
    };
    assert_eq!(errors("preconditions.claims.bound"), 5);
    assert_eq!(errors("preconditions.pods.scheduled"), 5);
}

#[tokio::test]
async fn yaml_output_is_the_same_report() {
    let json = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    let yaml = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "-o",
        "yaml",
        "--fail-on",
        "never",
    ]))
    .await;
    assert!(
        yaml.stdout.starts_with("schema: posture.dev/v1/report\n"),
        "{}",
        yaml.stdout
    );
    let from_yaml: Value = serde_norway::from_str(&yaml.stdout).expect("valid YAML");
    let from_json: Value = serde_json::from_str(&json.stdout).expect("valid JSON");
    assert_eq!(from_yaml, from_json);
}

/// The exit code follows `--fail-on` and the severities the report holds, whatever checks exist.
#[tokio::test]
async fn exit_code_follows_fail_on() {
    let json = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    let report: Value = serde_json::from_str(&json.stdout).expect("valid JSON");
    let severities: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter_map(|f| f["severity"].as_str())
        .collect();
    for (fail_on, reached) in [
        ("error", severities.contains(&"error")),
        ("warning", severities.iter().any(|s| *s != "info")),
        ("info", !severities.is_empty()),
    ] {
        let out = run(posture(&[
            "check",
            "--snapshot",
            HOMELAB,
            "--fail-on",
            fail_on,
        ]))
        .await;
        assert_eq!(
            out.code,
            i32::from(reached),
            "--fail-on {fail_on}: {}",
            out.stderr
        );
    }
    let default = run(posture(&["check", "--snapshot", HOMELAB])).await;
    assert_eq!(
        default.code,
        i32::from(severities.contains(&"error")),
        "default is --fail-on error"
    );
}

#[tokio::test]
async fn snapshots_can_come_from_stdin() {
    let mut command = posture(&[
        "check",
        "--snapshot",
        "-",
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    command.stdin(std::fs::File::open(common::workspace().join(HOMELAB)).expect("scenario"));
    let out = run(command).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(report["source"], "<stdin>");
}

#[tokio::test]
async fn malformed_snapshot_names_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "apiVersion: v1\nkind: Node\nmetadata: {name: [\n").expect("write");
    let path = path.to_string_lossy().into_owned();
    let out = run(posture(&["check", "--snapshot", &path])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let error = out.stderr.lines().next().expect("an error line");
    assert!(error.starts_with("error: invalid snapshot: "), "{error}");
    let position = error.split_once(&format!("{path}:")).expect("file named").1;
    let mut parts = position.splitn(3, ':');
    let (line, column) = (parts.next(), parts.next());
    assert!(line.is_some_and(|l| l.parse::<usize>().is_ok()), "{error}");
    assert!(
        column.is_some_and(|c| c.parse::<usize>().is_ok()),
        "{error}"
    );
    assert!(
        out.stderr
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("hint: ")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"));
}

#[tokio::test]
async fn missing_snapshot_file_is_an_input_error() {
    let out = run(posture(&["check", "--snapshot", "no/such/file.yaml"])).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("error: cannot read snapshot no/such/file.yaml: "),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn unknown_config_key_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("posture.yaml");
    std::fs::write(&config, "coredns:\n  replicaz: 3\n").expect("write");
    let config = config.to_string_lossy().into_owned();
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--config",
        &config,
    ]))
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("replicaz"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{config}: line 2")),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn missing_config_file_is_a_config_error() {
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--config",
        "nope.yaml",
    ]))
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("error: cannot read config file nope.yaml: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: check the path given to --config"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let out = run(posture(&["check", "--fail-on", "sometimes"])).await;
    assert_eq!(out.code, 2);
    let out = run(posture(&["frobnicate"])).await;
    assert_eq!(out.code, 2);
}

#[tokio::test]
async fn help_documents_exit_codes() {
    for args in [&["--help"][..], &["check", "--help"]] {
        let out = run(posture(args)).await;
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Exit codes:"), "{}", out.stdout);
        assert!(
            out.stdout.contains("3  cluster unreachable"),
            "{}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn unreachable_cluster_exits_3_naming_server_and_context() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::kubeconfig(dir.path(), "http://127.0.0.1:1");
    let config = config.to_string_lossy().into_owned();
    let out = run(posture(&["check", "--kubeconfig", &config])).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let error = out.stderr.lines().next().expect("an error line");
    assert!(
        error.starts_with("error: cannot reach the API server http://127.0.0.1:1 (context lab)"),
        "{error}"
    );
    assert!(
        out.stderr
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("hint: ")),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
}

#[tokio::test]
async fn unknown_context_is_a_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::kubeconfig(dir.path(), "http://127.0.0.1:1");
    let config = config.to_string_lossy().into_owned();
    let out = run(posture(&[
        "check",
        "--kubeconfig",
        &config,
        "--context",
        "elsewhere",
    ]))
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("elsewhere"), "{}", out.stderr);
}

/// `cargo install` puts `kubectl-posture` beside `posture`: the real kubectl finds it on the
/// PATH and runs it as `kubectl posture`, whose usage lines say so.
#[tokio::test]
async fn the_real_kubectl_runs_the_installed_plugin() {
    let plugin = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-posture"));
    let dir = plugin.parent().expect("the binaries' directory");
    let path = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("a PATH");
    let kubectl = |args: &[&str]| {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .args(args)
            .current_dir(common::workspace())
            .env("PATH", &path)
            .env("NO_COLOR", "1");
        command
    };
    let out = run(kubectl(&["plugin", "list"])).await;
    assert!(out.stdout.contains("kubectl-posture"), "{}", out.stdout);
    let out = run(kubectl(&["posture", "--help"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Usage: kubectl posture"),
        "{}",
        out.stdout
    );
    let out = run(kubectl(&[
        "posture",
        "check",
        "--snapshot",
        "scenarios/homelab.yaml",
        "-o",
        "json",
    ]))
    .await;
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("a JSON report");
    assert!(report["findings"].as_array().is_some_and(|f| !f.is_empty()));
}

/// An empty file or empty stdin is not a cluster: a CI job fed the wrong input must not go green.
#[tokio::test]
async fn an_empty_snapshot_is_an_input_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").expect("write");
    let empty = empty.to_string_lossy().into_owned();
    let out = run(posture(&["check", "--snapshot", &empty])).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stdout.is_empty(), "no report: {}", out.stdout);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].starts_with("error: invalid snapshot: "),
        "{}",
        out.stderr
    );
    assert!(lines[0].contains("no Node"), "{}", out.stderr);
    assert!(lines[1].starts_with("hint: "), "{}", out.stderr);

    let out = run(posture(&["check", "--snapshot", "-"])).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .starts_with("error: invalid snapshot: <stdin>: no Node"),
        "{}",
        out.stderr
    );
}

/// Objects that are not of a cluster (no Node among them) are refused the same way.
#[tokio::test]
async fn a_snapshot_without_nodes_is_an_input_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("pods.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system, uid: u}\n",
    )
    .expect("write");
    let file = file.to_string_lossy().into_owned();
    let out = run(posture(&["check", "--snapshot", &file])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// `--fail-on unknown` fails the run on a check that could not be judged; by default unknown
/// checks do not change the exit code.
#[tokio::test]
async fn fail_on_unknown_fails_on_unknown_checks() {
    const FIXED: &str = "scenarios/homelab-fixed.yaml";
    let out = run(posture(&["check", "--snapshot", FIXED])).await;
    assert_eq!(out.code, 0, "no error findings: {}", out.stderr);
    assert!(out.stdout.contains(" unknown, "), "{}", out.stdout);
    let out = run(posture(&[
        "check",
        "--snapshot",
        FIXED,
        "--fail-on",
        "unknown",
    ]))
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = run(posture(&[
        "check",
        "--snapshot",
        FIXED,
        "--fail-on",
        "never,unknown",
    ]))
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    // Severities still count alongside: homelab has errors and unknown checks.
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--fail-on",
        "warning,unknown",
    ]))
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
}

/// The package has two binaries, so `cargo run` (README's first command) needs to know which.
#[test]
fn cargo_run_runs_posture() {
    let manifest = std::fs::read_to_string(common::workspace().join("crates/posture/Cargo.toml"))
        .expect("the manifest");
    assert!(
        manifest
            .lines()
            .any(|l| l.trim() == "default-run = \"posture\""),
        "{manifest}"
    );
}

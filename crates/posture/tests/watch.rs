//! `posture watch` against a served twin whose virtual time runs 60 times as fast as real time:
//! `--until-stable` exit codes, log and JSON lines, and a recording that replays to the same
//! alerts. The twin's clock drives time; the timeouts only guard against hangs.

mod common;

use std::time::Duration;

use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions, serve};
use posture_twin::fault::Fault;

use common::{Output, posture, run};

const GUARD: Duration = Duration::from_secs(120);

async fn fast_twin() -> (RunningTwin, tempfile::TempDir, String) {
    let start: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
    let twin = serve(
        Twin::homelab(start),
        ServeOptions {
            speed: 60.0,
            ..ServeOptions::default()
        },
    )
    .await
    .expect("the twin serves");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let kubeconfig = kubeconfig.display().to_string();
    (twin, dir, kubeconfig)
}

async fn watch(kubeconfig: &str, extra: &[&str]) -> Output {
    let mut args = vec!["watch", "--kubeconfig", kubeconfig, "--tick-ms", "50"];
    args.extend_from_slice(extra);
    tokio::time::timeout(GUARD, run(posture(&args)))
        .await
        .expect("posture watch exits before the guard")
}

fn crash_loop_gitea(twin: &RunningTwin) {
    crash_loop(twin, "apps", "gitea-");
}

/// Puts the first pod in `namespace` whose name starts with `prefix` in a crash loop.
fn crash_loop(twin: &RunningTwin, namespace: &str, prefix: &str) {
    let pod = twin.with_twin(|t| {
        let pods = posture_twin::resources::by_plural("", "pods").expect("registered");
        t.store
            .list(pods, Some(namespace))
            .map(|(key, _)| key.name.clone())
            .find(|name| name.starts_with(prefix))
            .expect("a pod to crash")
    });
    twin.inject(&Fault::CrashLoop {
        namespace: namespace.into(),
        pod,
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn until_stable_exits_zero_on_a_quiet_twin() {
    let (_twin, _dir, kubeconfig) = fast_twin().await;
    let out = watch(&kubeconfig, &["--until-stable", "2m"]).await;
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("stable: no alert from"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn until_stable_exits_one_when_a_crash_loop_alerts_and_the_recording_replays() {
    let (twin, dir, kubeconfig) = fast_twin().await;
    crash_loop_gitea(&twin);
    let recording = dir.path().join("signals.jsonl");
    let recording = recording.display().to_string();
    let out = watch(
        &kubeconfig,
        &["--until-stable", "30m", "--record", &recording],
    )
    .await;
    assert_eq!(
        out.code, 1,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let raised: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(" RAISED "))
        .collect();
    // Nothing owns gitea: there is no Argo CD Application to roll back.
    assert!(
        out.stdout
            .contains("  act: posture watch --act pin-to-primary"),
        "each raised alert names its counter-moves: {}",
        out.stdout
    );
    assert!(!out.stdout.contains("argo-rollback"), "{}", out.stdout);
    assert!(
        raised
            .iter()
            .any(|l| l.contains(" RAISED restart-loop apps/gitea-")
                || l.contains(" RAISED crash-loop apps/gitea-")),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("unstable: "), "{}", out.stderr);

    let replayed = run(posture(&["watch", "--replay", &recording])).await;
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert_eq!(
        replayed.stdout, out.stdout,
        "a recording reproduces the alerts seen live"
    );

    let json = run(posture(&["watch", "--replay", &recording, "-o", "json"])).await;
    let alerts: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
        .collect();
    assert_eq!(alerts.len(), raised.len());
    assert_eq!(alerts[0]["type"], "raised");
}

/// CoreDNS belongs to k3s: its crash loop is undone in the manifest k3s re-applies, not by an
/// Argo CD rollback.
#[tokio::test(flavor = "multi_thread")]
async fn a_coredns_crash_loop_offers_the_k3s_manifest_and_no_argo_rollback() {
    let (twin, _dir, kubeconfig) = fast_twin().await;
    crash_loop(&twin, "kube-system", "coredns-");
    let out = watch(&kubeconfig, &["--until-stable", "30m"]).await;
    assert_eq!(
        out.code, 1,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout
            .contains(" RAISED crash-loop kube-system/coredns-")
            || out
                .stdout
                .contains(" RAISED restart-loop kube-system/coredns-"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "  act: k3s packaged addon coredns: revert the change in /var/lib/rancher/k3s/server/manifests/coredns.yaml"
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("argo-rollback"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_of_another_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.jsonl");
    std::fs::write(&path, "{\"schema\":\"posture.dev/v0/signals\"}\n").expect("write");
    let out = run(posture(&["watch", "--replay", &path.display().to_string()])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("posture.dev/v0/signals"),
        "{}",
        out.stderr
    );
}

fn setting(twin: &RunningTwin, name: &str) -> serde_json::Value {
    twin.with_twin(|t| {
        let settings =
            posture_twin::resources::by_plural("longhorn.io", "settings").expect("registered");
        t.store
            .list(settings, Some("longhorn-system"))
            .find(|(key, _)| key.name == name)
            .map(|(_, s)| s["value"].clone())
            .expect("the setting exists")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn act_dry_runs_without_approval_and_journals_with_it() {
    let (twin, dir, kubeconfig) = fast_twin().await;
    let name = "replica-auto-balance";
    let before = setting(&twin, name);
    let journal = dir.path().join("act.journal").display().to_string();
    let args = |approve: bool| {
        let mut args = vec![
            "watch",
            "--kubeconfig",
            kubeconfig.as_str(),
            "--act",
            "disable-auto-balance",
            "--journal",
            journal.as_str(),
        ];
        if approve {
            args.push("--approve");
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };

    let dry = run(posture(
        &args(false).iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .await;
    // Without a terminal to ask on, an unapproved act is a usage error, as for apply.
    assert_eq!(dry.code, 2, "{}", dry.stderr);
    assert!(dry.stderr.contains("--approve"), "{}", dry.stderr);
    assert!(dry.stdout.contains("dry run accepted"), "{}", dry.stdout);
    assert!(dry.stdout.contains(r#""op":"test""#), "{}", dry.stdout);
    assert!(dry.stderr.contains("not applied"), "{}", dry.stderr);
    assert_eq!(setting(&twin, name), before);

    let done = run(posture(
        &args(true).iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(setting(&twin, name), "disabled");
    let text = std::fs::read_to_string(&journal).expect("journal written");
    assert!(text.contains(r#""record":"applied""#), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pin_to_primary_pins_the_unplaced_workload_with_approval() {
    let (twin, dir, kubeconfig) = fast_twin().await;
    let journal = dir.path().join("pin.journal").display().to_string();
    let out = run(posture(&[
        "watch",
        "--kubeconfig",
        &kubeconfig,
        "--act",
        "pin-to-primary",
        "--approve",
        "--journal",
        &journal,
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("StatefulSet apps/qdrant"),
        "{}",
        out.stdout
    );
    let selector = twin.with_twin(|t| {
        let sets = posture_twin::resources::by_plural("apps", "statefulsets").expect("registered");
        t.store
            .list(sets, Some("apps"))
            .find(|(key, _)| key.name == "qdrant")
            .map(|(_, s)| s["spec"]["template"]["spec"]["nodeSelector"].clone())
            .expect("qdrant")
    });
    assert_eq!(selector["kubernetes.io/hostname"], "miniserver");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_show_a_crash_loop_as_an_active_alert() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (twin, _dir, kubeconfig) = fast_twin().await;
    let mut command = posture(&[
        "watch",
        "--kubeconfig",
        &kubeconfig,
        "--tick-ms",
        "50",
        "-o",
        "json",
        "--metrics",
        "127.0.0.1:0",
    ]);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("watch starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = tokio::time::timeout(GUARD, async {
        while let Some(line) = stderr.next_line().await.expect("stderr reads") {
            if let Some(url) = line.strip_prefix("metrics: http://") {
                return url.trim_end_matches("/metrics").to_owned();
            }
        }
        panic!("no metrics address announced");
    })
    .await
    .expect("the address is announced");
    let before = common::http_get(&addr, "/metrics").await;
    assert!(
        before.contains("posture_alerts_active{detector=\"crash-loop\"} 0"),
        "{before}"
    );
    assert_eq!(common::http_get(&addr, "/healthz").await, "ok\n");

    crash_loop_gitea(&twin);
    // The JSON alert on stdout says the detectors saw it; the metrics then say so too.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    tokio::time::timeout(GUARD, async {
        while let Some(line) = stdout.next_line().await.expect("stdout reads") {
            if line.contains("\"type\":\"raised\"") && line.contains("crash-loop") {
                return;
            }
        }
        panic!("no crash-loop alert");
    })
    .await
    .expect("a crash-loop alert is raised");
    let after = common::http_get(&addr, "/metrics").await;
    assert!(
        after.contains("posture_alerts_active{detector=\"crash-loop\"} 1"),
        "{after}"
    );
    assert!(
        after.contains("posture_alerts_raised_total{detector=\"crash-loop\"} 1"),
        "{after}"
    );
    assert!(after.contains("posture_signals_total "), "{after}");
    child.kill().await.expect("killed");
}

//! The same findings come from a live API as from the saved file: the real binary checks the
//! homelab twin over HTTP and the homelab scenario file, and their findings agree wherever the
//! file holds the data they need.

mod common;

use std::collections::BTreeSet;

use common::{ServedScenario, kubectl, kubectl_with, posture, run, serve_twin, workspace};
use posture_twin::Twin;
use serde_json::Value;

/// Sections whose checks read only what the scenario file holds (no pods, health endpoints or
/// EndpointSlices), so file and live must agree finding for finding.
const COMPARABLE: [&str; 5] = [
    "preconditions.workloads.",
    "ingress.",
    "coredns.",
    "longhorn.",
    "ownership.",
];

async fn homelab() -> ServedScenario {
    serve_twin(
        Twin::homelab("2026-11-24T12:00:00Z".parse().expect("valid time")),
        0.0,
    )
    .await
}

fn findings(report: &Value) -> BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().expect("id").to_owned(),
                f["object"].to_string(),
            )
        })
        .filter(|(id, _)| COMPARABLE.iter().any(|prefix| id.starts_with(prefix)))
        .collect()
}

fn check_status(report: &Value, id: &str) -> String {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().expect("status").to_owned())
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_check_of_the_twin_finds_what_the_file_check_finds() {
    let lab = homelab().await;
    let kubeconfig = lab.kubeconfig.as_str();

    let nodes = kubectl(kubeconfig, &["get", "nodes", "-o", "name"]).await;
    assert_eq!(
        nodes.stdout.lines().count(),
        2,
        "kubectl sees the twin's two nodes"
    );

    let live = run(posture(&[
        "check",
        "-o",
        "json",
        "--kubeconfig",
        kubeconfig,
    ]))
    .await;
    let file = run(posture(&[
        "check",
        "--snapshot",
        "scenarios/homelab.yaml",
        "-o",
        "json",
    ]))
    .await;
    assert_eq!(live.code, 1, "{}", live.stderr);
    assert_eq!(file.code, 1, "{}", file.stderr);
    assert!(workspace().join("scenarios/homelab.yaml").exists());
    let live: Value = serde_json::from_str(&live.stdout).expect("live JSON report");
    let file: Value = serde_json::from_str(&file.stdout).expect("file JSON report");

    let (live_findings, file_findings) = (findings(&live), findings(&file));
    assert!(!file_findings.is_empty());
    let only_live: Vec<_> = live_findings.difference(&file_findings).collect();
    let only_file: Vec<_> = file_findings.difference(&live_findings).collect();
    assert!(
        only_live.is_empty() && only_file.is_empty(),
        "only live: {only_live:#?}\nonly in the file: {only_file:#?}"
    );

    // What the file cannot tell, the live API can: the secondary's pods are all DaemonSet pods,
    // and the API server's health endpoints answer.
    assert_eq!(
        check_status(&file, "preconditions.secondary.daemonsets-only"),
        "unknown"
    );
    assert_eq!(
        check_status(&live, "preconditions.secondary.daemonsets-only"),
        "pass"
    );
    assert_eq!(live["summary"]["checks_unknown"], 0, "{:#}", live["checks"]);
    lab.twin.shutdown().await;
}

/// An autoscaler made with the real kubectl on the twin is found by a live check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autoscaler_kubectl_puts_on_coredns_is_found_live() {
    let lab = homelab().await;
    let kubeconfig = lab.kubeconfig.as_str();
    kubectl_with(
        kubeconfig,
        &["apply", "-f", "-"],
        Some(&common::coredns_hpa(3)),
    )
    .await;
    let out = run(posture(&[
        "check",
        "--kubeconfig",
        kubeconfig,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(check_status(&report, "risks.autoscalers"), "fail");
    let found = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| f["id"] == "risks.autoscalers" && f["object"]["name"] == "coredns");
    assert!(found, "{}", out.stdout);
}

/// `kubectl annotate` with `posture.dev/ignore` moves the finding to `suppressed`, with its
/// reason, and the human report shows it under "Suppressed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignore_annotation_kubectl_sets_suppresses_the_finding_and_shows_it() {
    let lab = homelab().await;
    let kubeconfig = lab.kubeconfig.as_str();
    let check = |format: &'static str| {
        run(posture(&[
            "check",
            "--kubeconfig",
            kubeconfig,
            "-o",
            format,
            "--fail-on",
            "warning",
        ]))
    };
    let before: Value = serde_json::from_str(&check("json").await.stdout).expect("JSON report");
    assert_eq!(
        check_status(&before, "preconditions.workloads.pinned"),
        "fail"
    );

    kubectl(
        kubeconfig,
        &[
            "-n",
            "apps",
            "annotate",
            "statefulset",
            "qdrant",
            "posture.dev/ignore=preconditions.workloads.pinned",
            "posture.dev/ignore-reason=qdrant moves with its volume, by hand",
        ],
    )
    .await;
    let after: Value = serde_json::from_str(&check("json").await.stdout).expect("JSON report");
    assert!(
        !after["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["id"] == "preconditions.workloads.pinned" && f["object"]["name"] == "qdrant")
    );
    let suppressed = &after["suppressed"][0];
    assert_eq!(suppressed["object"]["name"], "qdrant", "{after:#}");
    assert_eq!(suppressed["suppressedBy"], "annotation");
    assert_eq!(
        suppressed["reason"],
        "qdrant moves with its volume, by hand"
    );
    assert_eq!(after["summary"]["suppressed"], 1);

    let human = check("human").await.stdout;
    assert!(human.contains("Suppressed"), "{human}");
    assert!(human.contains("qdrant moves with its volume"), "{human}");
    assert!(human.contains("(1 suppressed)"), "{human}");
}

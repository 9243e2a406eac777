//! The policy file through the binary: a value out of bounds, or a node the cluster does not
//! have, is an error naming the key and its bound (exit 2), and nothing is judged or planned.

mod common;

use common::{posture, run};

const HOMELAB: &str = "scenarios/homelab.yaml";

struct Config {
    _dir: tempfile::TempDir,
    path: String,
}

fn config(text: &str) -> Config {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("posture.yaml");
    std::fs::write(&path, text).expect("write");
    Config {
        path: path.to_string_lossy().into_owned(),
        _dir: dir,
    }
}

/// Runs `check` and `plan -o` with the policy; both must refuse with `expected` in the error.
async fn refused(policy: &str, expected: &str) {
    let config = config(policy);
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--config",
        &config.path,
    ]))
    .await;
    assert_eq!(out.code, 2, "check with {policy:?}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "no report: {}", out.stdout);
    let error = out.stderr.lines().next().unwrap_or_default();
    assert!(
        error.starts_with(&format!("error: invalid config: {}: ", config.path)),
        "{}",
        out.stderr
    );
    assert!(error.contains(expected), "{policy:?}: {}", out.stderr);

    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.json");
    let out = run(posture(&[
        "plan",
        "--snapshot",
        HOMELAB,
        "--config",
        &config.path,
        "-o",
        &plan.to_string_lossy(),
    ]))
    .await;
    assert_eq!(out.code, 2, "plan with {policy:?}: {}", out.stderr);
    assert!(out.stderr.contains(expected), "{}", out.stderr);
    assert!(!plan.exists(), "no plan written for {policy:?}");
    assert!(out.stdout.is_empty(), "nothing planned: {}", out.stdout);
}

#[tokio::test]
async fn zero_replicas_per_volume_is_refused() {
    refused(
        "longhorn: {replicasPerVolume: 0}\n",
        "longhorn.replicasPerVolume: 0 is out of bounds (must be 2 to 20",
    )
    .await;
}

#[tokio::test]
async fn one_replica_per_volume_needs_a_reason() {
    refused(
        "longhorn: {replicasPerVolume: 1}\n",
        "set longhorn.allowFewerReplicas: {reason:",
    )
    .await;
}

#[tokio::test]
async fn negative_ingress_replicas_are_refused() {
    refused(
        "ingress: {minReplicas: -5}\n",
        "ingress.minReplicas: -5 is out of bounds (must be 1 to 100)",
    )
    .await;
}

#[tokio::test]
async fn a_detector_raising_on_nothing_is_refused() {
    refused(
        "detect: {restarts: {raiseCount: 0, windowSeconds: 600, clearAfterSeconds: 600}}\n",
        "detect.restarts.raiseCount: 0 is out of bounds (must be 1 to 10000)",
    )
    .await;
}

#[tokio::test]
async fn a_primary_the_cluster_does_not_have_is_refused() {
    refused(
        "topology: {primary: nosuchnode}\n",
        "topology.primary: no node \"nosuchnode\" in the cluster",
    )
    .await;
}

#[tokio::test]
async fn primary_equal_to_secondary_is_refused() {
    refused(
        "topology: {primary: worker-1, secondary: worker-1}\n",
        "topology.secondary: \"worker-1\" is also topology.primary",
    )
    .await;
}

#[tokio::test]
async fn more_replicas_than_nodes_are_refused() {
    refused(
        "longhorn: {replicasPerVolume: 3}\n",
        "longhorn.replicasPerVolume: 3 is more than the cluster's 2 nodes",
    )
    .await;
}

/// An explained override is accepted (the core's tests show the plan still keeps every existing
/// volume's replicas).
#[tokio::test]
async fn an_explained_override_is_accepted() {
    let config = config(
        "longhorn:\n  replicasPerVolume: 1\n  settings: {default-replica-count: \"1\"}\n  allowFewerReplicas: {reason: scratch data}\n",
    );
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--config",
        &config.path,
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
}

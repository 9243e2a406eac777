//! `deploy/`: the manifests are accepted by the API server's dry run (the real kubectl against
//! the twin), the CRD file is what `posture crd` prints, and the operator's ClusterRole reads no
//! Secrets and writes nothing.

mod common;

use common::{posture, run, workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifests_pass_a_server_dry_run_and_the_crd_file_is_current() {
    let crd = run(posture(&["crd"])).await.stdout;
    let file =
        std::fs::read_to_string(workspace().join("deploy/crd.yaml")).expect("deploy/crd.yaml");
    assert_eq!(
        file, crd,
        "deploy/crd.yaml is stale: posture crd > deploy/crd.yaml"
    );

    let lab = common::serve_scenario("homelab.yaml", 1.0).await;
    let twin = &lab.twin;
    let kubeconfig = std::path::PathBuf::from(&lab.kubeconfig);
    let deploy = workspace().join("deploy");
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "kubectl {args:?}: {text}");
        text
    };
    // As on a real server, a dry run of namespaced objects needs their namespace to exist, and
    // of custom resources their CRD: those two go in first, for real.
    kubectl(&[
        "apply",
        "-f",
        &deploy.join("crd.yaml").display().to_string(),
    ]);
    kubectl(&["create", "namespace", "posture"]);
    let out = kubectl(&[
        "apply",
        "--dry-run=server",
        "-f",
        &deploy.join("posture-operator.yaml").display().to_string(),
        "-f",
        &deploy.join("posture-cronjob.yaml").display().to_string(),
        "-f",
        &deploy.join("posture-enforce.yaml").display().to_string(),
    ]);
    for object in [
        "serviceaccount/posture",
        "clusterrole.rbac.authorization.k8s.io/posture-read",
        "role.rbac.authorization.k8s.io/posture-operator",
        "deployment.apps/posture-operator",
        "poddisruptionbudget.policy/posture-operator",
        "service/posture-operator",
        "cronjob.batch/posture-check",
        "clusterrole.rbac.authorization.k8s.io/posture-enforce",
    ] {
        assert!(
            out.contains(&format!("{object} created (server dry run)")),
            "{object} missing: {out}"
        );
    }
    // The dry run created nothing.
    let deployment = twin.with_twin(|t| {
        let deployments =
            posture_twin::resources::by_plural("apps", "deployments").expect("served");
        t.store
            .get(&posture_twin::store::ObjectKey::new(
                deployments,
                "posture",
                "posture-operator",
            ))
            .is_some()
    });
    assert!(!deployment, "a dry run created the Deployment");
}

#[test]
fn the_operator_reads_no_secrets_and_writes_only_events_cluster_wide() {
    let text = ["posture-operator.yaml", "posture-cronjob.yaml"]
        .map(|file| {
            std::fs::read_to_string(workspace().join("deploy").join(file)).expect("manifests")
        })
        .join("\n---\n");
    let mut in_cluster_role = false;
    for document in text.split("\n---\n") {
        assert!(
            !document.contains("secrets"),
            "a rule names Secrets:\n{document}"
        );
        in_cluster_role |= is_kind(document, "ClusterRole");
        if is_kind(document, "ClusterRole") && document.contains("name: posture-events") {
            // Its one write: Events.
            assert!(document.contains("resources: [events]"), "{document}");
            assert_eq!(document.matches("resources:").count(), 1, "{document}");
        } else if is_kind(document, "ClusterRole") {
            for verb in ["create", "update", "patch", "delete"] {
                assert!(
                    !document.contains(verb),
                    "the ClusterRole grants {verb}:\n{document}"
                );
            }
        }
        if is_kind(document, "Deployment") || is_kind(document, "CronJob") {
            assert!(document.contains("readOnlyRootFilesystem: true"));
            assert!(document.contains("runAsNonRoot: true"));
        }
    }
    assert!(in_cluster_role);
}

/// The document's own kind (a top-level line), not a kind it refers to.
fn is_kind(document: &str, kind: &str) -> bool {
    document.lines().any(|l| l == format!("kind: {kind}"))
}

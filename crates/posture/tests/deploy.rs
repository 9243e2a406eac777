//! `deploy/`: the manifests are accepted by the API server's dry run (the real kubectl against
//! the twin), the CRD file is what `posture crd` prints, and the operator's ClusterRole reads no
//! Secrets and writes nothing. The Helm chart, rendered by Helm's own Go SDK, holds the same
//! objects, refuses bad values, and passes the same dry run.

mod common;

use common::{posture, run, workspace};

/// `kubectl ARGS` against the twin, which must succeed: what it printed, both streams.
async fn run_kubectl(kubeconfig: &str, args: &[&str]) -> String {
    let out = common::kubectl(kubeconfig, args).await;
    format!("{}{}", out.stdout, out.stderr)
}

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
    let deploy = workspace().join("deploy");
    // As on a real server, a dry run of namespaced objects needs their namespace to exist, and
    // of custom resources their CRD: those two go in first, for real.
    run_kubectl(
        &lab.kubeconfig,
        &[
            "apply",
            "-f",
            &deploy.join("crd.yaml").display().to_string(),
        ],
    )
    .await;
    run_kubectl(&lab.kubeconfig, &["create", "namespace", "posture"]).await;
    let out = run_kubectl(
        &lab.kubeconfig,
        &[
            "apply",
            "--dry-run=server",
            "-f",
            &deploy.join("posture-operator.yaml").display().to_string(),
            "-f",
            &deploy.join("posture-cronjob.yaml").display().to_string(),
            "-f",
            &deploy.join("posture-enforce.yaml").display().to_string(),
        ],
    )
    .await;
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

/// Labels Helm's conventions add to the chart's objects and the plain manifests do without.
const CHART_LABELS: [&str; 5] = [
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
];

/// `deploy/helm/posture` rendered by Helm's own Go SDK (scripts/helm-template.py, with the
/// helm-python-sdk package from PyPI): `Ok(yaml)`, `Err(helm's message)`, or `None` when the
/// package is missing outside CI.
fn helm_template(values: &serde_json::Value) -> Option<Result<String, String>> {
    let out = std::process::Command::new("python3")
        .arg(workspace().join("scripts/helm-template.py"))
        .arg(workspace().join("deploy/helm/posture"))
        .args([
            "--name",
            "posture",
            "--namespace",
            "posture",
            "--values-json",
        ])
        .arg(values.to_string())
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Some(Ok(String::from_utf8(out.stdout).expect("UTF-8"))),
        Some(3) => {
            assert!(
                std::env::var_os("POSTURE_REQUIRE_CI_TOOLS").is_none(),
                "{stderr}"
            );
            eprintln!("skipped: {stderr}");
            None
        }
        _ => Some(Err(stderr)),
    }
}

/// Every document of a YAML stream, keyed by kind, namespace and name; the chart's own labels
/// taken out, and a labels map left empty by that dropped.
fn objects(yaml: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut out = std::collections::BTreeMap::new();
    for document in serde_norway::Deserializer::from_str(yaml) {
        let mut object: serde_json::Value =
            serde::Deserialize::deserialize(document).expect("a YAML document");
        if object.is_null() {
            continue;
        }
        if let Some(metadata) = object["metadata"].as_object_mut() {
            if let Some(labels) = metadata.get_mut("labels").and_then(|l| l.as_object_mut()) {
                labels.retain(|k, _| !CHART_LABELS.contains(&k.as_str()));
            }
            if metadata
                .get("labels")
                .is_some_and(|l| l.as_object().is_some_and(serde_json::Map::is_empty))
            {
                metadata.remove("labels");
            }
        }
        let key = format!(
            "{}/{}/{}",
            object["kind"].as_str().unwrap_or_default(),
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
        assert!(
            out.insert(key.clone(), object).is_none(),
            "{key} twice in one stream"
        );
    }
    out
}

fn deploy_files(files: &[&str]) -> String {
    files
        .iter()
        .map(|f| std::fs::read_to_string(workspace().join("deploy").join(f)).expect("deploy/"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Where the two differ, the first object that does, both ways round.
fn assert_same_objects(
    chart: &std::collections::BTreeMap<String, serde_json::Value>,
    plain: &std::collections::BTreeMap<String, serde_json::Value>,
) {
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>(),
        "the chart and deploy/ render different objects"
    );
    for (key, object) in chart {
        assert_eq!(
            object, &plain[key],
            "{key} differs between the chart and deploy/"
        );
    }
}

#[test]
fn the_helm_chart_renders_the_objects_of_the_plain_manifests() {
    // Everything on: the operator, the CronJob and the Namespace, as deploy/ has them.
    let Some(rendered) = helm_template(&serde_json::json!({
        "namespace": {"create": true},
        "cronjob": {"enabled": true},
    })) else {
        return;
    };
    let chart = objects(&rendered.expect("the chart renders"));
    let plain = objects(&deploy_files(&[
        "crd.yaml",
        "posture-operator.yaml",
        "posture-cronjob.yaml",
    ]));
    assert_same_objects(&chart, &plain);

    // With enforce: the write roles of posture-enforce.yaml, and the flag deploy/ says to add.
    let Some(rendered) = helm_template(&serde_json::json!({
        "namespace": {"create": true},
        "operator": {"enforce": ["ingress", "coredns"]},
    })) else {
        return;
    };
    let chart = objects(&rendered.expect("the chart renders with enforce"));
    let mut plain = objects(&deploy_files(&[
        "crd.yaml",
        "posture-operator.yaml",
        "posture-enforce.yaml",
    ]));
    let args = plain
        .get_mut("Deployment/posture/posture-operator")
        .and_then(|d| d["spec"]["template"]["spec"]["containers"][0]["args"].as_array_mut())
        .expect("the operator's args");
    args.extend(["--enforce".into(), "ingress,coredns".into()]);
    assert_same_objects(&chart, &plain);

    // The defaults, as Helm users install: no Namespace (--create-namespace), no CronJob.
    let Some(rendered) = helm_template(&serde_json::json!({})) else {
        return;
    };
    let chart = objects(&rendered.expect("the chart renders with its defaults"));
    assert!(!chart.contains_key("Namespace//posture"));
    assert!(!chart.contains_key("CronJob/posture/posture-check"));
    assert!(!chart.contains_key("ClusterRole//posture-enforce"));
    assert!(chart.contains_key("Deployment/posture/posture-operator"));
}

#[test]
fn the_helm_chart_refuses_a_section_it_cannot_enforce() {
    let Some(rendered) = helm_template(&serde_json::json!({
        "operator": {"enforce": ["ingres"]},
    })) else {
        return;
    };
    let why = rendered.expect_err("a misspelt section renders nothing");
    assert!(
        why.contains("/operator/enforce/0") && why.contains("'ingress'"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helm_chart_passes_a_server_dry_run() {
    let Some(rendered) = helm_template(&serde_json::json!({
        "cronjob": {"enabled": true},
        "operator": {"enforce": ["ingress"]},
    })) else {
        return;
    };
    let rendered = rendered.expect("the chart renders");
    let lab = common::serve_scenario("homelab.yaml", 1.0).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let stream = dir.path().join("chart.yaml");
    std::fs::write(&stream, &rendered).expect("written");
    // helm install --create-namespace, then the CRD from crds/ before the templates.
    run_kubectl(&lab.kubeconfig, &["create", "namespace", "posture"]).await;
    run_kubectl(
        &lab.kubeconfig,
        &[
            "apply",
            "-f",
            &workspace()
                .join("deploy/helm/posture/crds/posturereports.posture.dev.yaml")
                .display()
                .to_string(),
        ],
    )
    .await;
    let out = run_kubectl(
        &lab.kubeconfig,
        &[
            "apply",
            "--dry-run=server",
            "-f",
            &stream.display().to_string(),
        ],
    )
    .await;
    for object in [
        "deployment.apps/posture-operator created",
        "cronjob.batch/posture-check created",
        "clusterrole.rbac.authorization.k8s.io/posture-enforce created",
        "role.rbac.authorization.k8s.io/posture-lock created",
    ] {
        assert!(out.contains(object), "{object} missing: {out}");
    }
}

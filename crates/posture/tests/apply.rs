//! `posture plan`, `apply` and `rollback` as a person runs them, against a served twin.

mod common;

use common::{posture, run};
use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions, serve};

struct Lab {
    twin: RunningTwin,
    dir: tempfile::TempDir,
    kubeconfig: String,
    /// A policy file for the sped-up twin (see [`FAST_CLOCK_POLICY`]).
    config: String,
}

/// At 200x a lease's 15 s is 75 ms of real time, and the debug-built twin, sharing two cores
/// with the test, delivers renewals in bunches when the machine is busy; so the flap gate judges
/// lease renew gaps a hundred times as loosely. Every other threshold is the runbook's.
const FAST_CLOCK_POLICY: &str = "detect:\n  leases:\n    renewGapFactor: 100\n";

async fn lab() -> Lab {
    lab_with(false).await
}

/// A homelab twin; `other_cluster` gives it a kube-system uid of its own, as another cluster has.
async fn lab_with(other_cluster: bool) -> Lab {
    let start = "2026-11-23T12:00:00Z".parse().expect("timestamp");
    let twin = serve(
        Twin::homelab(start),
        ServeOptions {
            speed: 200.0,
            ..ServeOptions::default()
        },
    )
    .await
    .expect("the twin serves");
    if other_cluster {
        // Another cluster: kube-system recreated, so it carries a uid of its own.
        twin.with_twin(|t| {
            let namespaces = posture_twin::resources::by_plural("", "namespaces").expect("served");
            let key = posture_twin::store::ObjectKey::new(namespaces, "", "kube-system");
            let old = t.store.delete(&key, false).expect("kube-system exists");
            let mut fresh = old.clone();
            fresh["metadata"] = serde_json::json!({"name": "kube-system"});
            let now = t.now();
            t.store
                .create(namespaces, fresh, now, false)
                .expect("kube-system recreated");
        });
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let config = dir.path().join("posture.yaml");
    std::fs::write(&config, FAST_CLOCK_POLICY).expect("policy file");
    Lab {
        twin,
        kubeconfig: kubeconfig.to_string_lossy().into_owned(),
        config: config.to_string_lossy().into_owned(),
        dir,
    }
}

impl Lab {
    /// The binary with `args`, pointed at this lab's twin and policy file.
    fn posture(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = posture(args);
        command.args(["--kubeconfig", &self.kubeconfig, "--config", &self.config]);
        command
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_then_apply_approved_then_the_cluster_needs_nothing() {
    let lab = lab().await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "--allow-owned", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("~ Volume longhorn-system/"),
        "{}",
        out.stdout
    );

    let out = run(lab.posture(&["apply", &plan, "--approve"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(std::path::Path::new(&format!("{plan}.journal")).exists());

    let again = lab.path("again.json");
    let out = run(lab.posture(&["plan", "--allow-owned", "-o", &again])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let replan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&again).expect("plan")).expect("json");
    assert_eq!(replan["stages"], serde_json::json!([]), "{}", out.stdout);
    assert!(out.stdout.contains("Nothing to change"), "{}", out.stdout);

    // Rollback from the first journal undoes it.
    let out = run(lab.posture(&[
        "rollback",
        "--journal",
        &format!("{plan}.journal"),
        "--approve",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_without_approve_on_a_pipe_refuses_and_a_tampered_plan_is_refused() {
    let lab = lab().await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = run(lab.posture(&["apply", &plan])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--approve"), "{}", out.stderr);

    let text = std::fs::read_to_string(&plan).expect("plan");
    let tampered = text.replacen("\"summary\": \"", "\"summary\": \"edited: ", 1);
    assert_ne!(text, tampered);
    std::fs::write(&plan, tampered).expect("write");
    let out = run(lab.posture(&["apply", &plan, "--approve"])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("sha256"), "{}", out.stderr);
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_for_another_cluster_is_refused_before_any_write() {
    let planned = lab().await;
    let other = lab_with(true).await;
    let plan = planned.path("plan.json");
    let out = run(planned.posture(&["plan", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = other.twin.with_twin(|t| t.store.resource_version());

    let out = run(other.posture(&["apply", &plan, "--approve"])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("wrong cluster"), "{}", out.stderr);
    let writes = other.twin.with_twin(|t| {
        t.store
            .history()
            .filter(|c| c.resource_version > before)
            .filter(|c| !matches!(c.key.plural, "pods" | "nodes" | "leases" | "events"))
            .filter(|c| c.key.group != "longhorn.io" || c.key.plural == "settings")
            .count()
    });
    assert_eq!(writes, 0, "apply wrote to the wrong cluster");
    planned.twin.shutdown().await;
    other.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_one_stage_at_a_time_then_resume_to_the_end() {
    let lab = lab().await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "--section", "preconditions,ingress", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = run(lab.posture(&["apply", &plan, "--approve", "--stage", "1"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("stopped before stage"),
        "{}",
        out.stderr
    );

    let out = run(lab.posture(&["apply", &plan, "--approve"])).await;
    assert_eq!(
        out.code, 2,
        "an existing journal needs --resume: {}",
        out.stderr
    );

    let out = run(lab.posture(&["apply", &plan, "--approve", "--resume"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("applied"), "{}", out.stderr);
    lab.twin.shutdown().await;
}

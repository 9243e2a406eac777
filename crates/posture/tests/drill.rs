//! `posture drill NODE`: the what-if from a saved snapshot, and from a served twin together with
//! the API server's dry-run drain, which changes nothing.

mod common;

use serde_json::Value;

use common::{posture, run, serve_scenario};

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_only_server_is_unsafe_and_says_why() {
    let out = run(posture(&[
        "drill",
        "miniserver",
        "--snapshot",
        "scenarios/homelab.yaml",
    ]))
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("drill miniserver: unsafe"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[drill.control-plane.api]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[drill.volume.faulted]"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_the_cluster_lacks_is_a_usage_error_naming_the_nodes() {
    let out = run(posture(&[
        "drill",
        "nosuch",
        "--snapshot",
        "scenarios/homelab.yaml",
    ]))
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("miniserver, worker-1"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_drill_asks_the_server_and_changes_nothing() {
    let common::ServedScenario {
        twin,
        dir: _dir,
        kubeconfig,
    } = serve_scenario("homelab.yaml", 0.0).await;
    let before = twin.with_twin(|t| t.store.resource_version());
    let out = run(posture(&[
        "drill",
        "worker-1",
        "--kubeconfig",
        &kubeconfig,
        "-o",
        "json",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let what: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(what["verdict"], "safe-degraded", "{}", out.stdout);
    assert_eq!(what["pods"]["from"], "listed");
    let answers = what["server"].as_array().expect("the server was asked");
    assert!(!answers.is_empty(), "{}", out.stdout);
    assert!(
        answers
            .iter()
            .all(|a| a["answer"]["answer"] == "evicts" || a["answer"]["answer"] == "skipped"),
        "{}",
        out.stdout
    );
    assert_eq!(
        twin.with_twin(|t| t.store.resource_version()),
        before,
        "a what-if wrote to the cluster"
    );
    twin.shutdown().await;
}

/// The converged homelab with a budget that allows no disruption of the ingress: the analysis
/// and the server's refused eviction both block the drill.
#[tokio::test(flavor = "multi_thread")]
async fn a_budget_the_server_enforces_makes_a_live_drill_unsafe() {
    let common::ServedScenario {
        twin,
        dir: _dir,
        kubeconfig,
    } = serve_scenario("homelab-fixed-strict-pdb.yaml", 0.0).await;
    let before = twin.with_twin(|t| t.store.resource_version());
    let out = run(posture(&["drill", "worker-1", "--kubeconfig", &kubeconfig])).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("drill worker-1: unsafe"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[drill.server.refuses]"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("429 TooManyRequests"), "{}", out.stdout);
    assert!(out.stdout.contains("would be evicted"), "{}", out.stdout);
    assert_eq!(twin.with_twin(|t| t.store.resource_version()), before);
    twin.shutdown().await;
}

/// The budget a drill of the converged homelab stops on is what `check` flags and `plan`
/// fixes: after `apply` the drill is `safe-degraded`, and `rollback` puts the budget back.
#[tokio::test(flavor = "multi_thread")]
async fn check_plan_and_apply_clear_the_budget_the_drill_stops_on() {
    let common::ServedScenario {
        twin,
        dir,
        kubeconfig,
    } = serve_scenario("homelab-fixed-strict-pdb.yaml", 60.0).await;
    let plan_file = dir.path().join("plan.json").display().to_string();
    let journal = format!("{plan_file}.journal");
    let cli = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
        all.extend_from_slice(args);
        run(posture(&all))
    };
    let budget = || {
        twin.with_twin(|t| {
            let pdbs = posture_twin::resources::by_plural("policy", "poddisruptionbudgets")
                .expect("served");
            let key = posture_twin::store::ObjectKey::new(
                pdbs,
                "haproxy-controller",
                "haproxy-kubernetes-ingress",
            );
            t.store.get(&key).expect("the budget")["spec"].clone()
        })
    };
    let before = budget();
    let checked = cli(&["check", "-o", "json"]).await;
    assert_eq!(checked.code, 1, "{}", checked.stderr);
    assert!(checked.stdout.contains("preconditions.drain-budgets"));
    let planned = cli(&["plan", "--section", "ingress", "-o", &plan_file]).await;
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let applied = cli(&["apply", &plan_file, "--approve"]).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(budget()["maxUnavailable"], 1);
    let drilled = cli(&["drill", "worker-1"]).await;
    assert_eq!(drilled.code, 0, "{}\n{}", drilled.stdout, drilled.stderr);
    assert!(
        drilled.stdout.starts_with("drill worker-1: safe-degraded"),
        "{}",
        drilled.stdout
    );
    let undone = cli(&["rollback", "--journal", &journal, "--approve"]).await;
    assert_eq!(undone.code, 0, "{}", undone.stderr);
    assert_eq!(budget(), before);
    twin.shutdown().await;
}

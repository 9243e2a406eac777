//! `posture host` on fixture trees of each kind of k3s server, and `check --host-facts` of what
//! it printed.

mod common;

use common::{posture, run};
use serde_json::Value;

const FIXTURES: &str = "crates/posture/tests/fixtures/host";
const HOMELAB: &str = "scenarios/homelab.yaml";

async fn host_facts(tree: &str) -> Value {
    let root = format!("{FIXTURES}/{tree}");
    let out = run(posture(&["host", "--root", &root, "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains("fixture-token-never-printed")
            && !out.stdout.contains("fixture-password"),
        "a secret was printed:\n{}",
        out.stdout
    );
    let document: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(document["kind"], "HostFacts");
    document["spec"].clone()
}

#[tokio::test]
async fn each_kind_of_server_is_recognised_from_its_files() {
    let db = "/var/lib/rancher/k3s/server/db";
    let sqlite = host_facts("sqlite").await;
    assert_eq!(sqlite["host"], "miniserver");
    assert_eq!(sqlite["role"], "server");
    assert_eq!(sqlite["datastore"]["kind"], "sqlite");
    assert_eq!(sqlite["datastore"]["seen"][0], format!("{db}/state.db"));
    assert_eq!(sqlite["config"]["settings"]["token"]["value"], "(set)");
    assert_eq!(
        sqlite["config"]["settings"]["disable"]["value"],
        serde_json::json!(["traefik", "servicelb"])
    );

    let etcd_1 = host_facts("etcd-1").await;
    assert_eq!(etcd_1["datastore"]["kind"], "embedded-etcd");
    assert_eq!(
        etcd_1["datastore"]["etcd"]["membersAtJoin"],
        serde_json::json!(["server-1-4f1c2a9e"])
    );
    assert_eq!(
        etcd_1["datastore"]["sqliteMigrated"]["path"],
        format!("{db}/state.db.migrated")
    );
    assert_eq!(
        etcd_1["datastore"]["etcd"]["snapshots"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        etcd_1["config"]["settings"]["cluster-init"]["value"],
        true.to_string()
    );

    let etcd_3 = host_facts("etcd-3").await;
    assert_eq!(etcd_3["datastore"]["kind"], "embedded-etcd");
    assert_eq!(
        etcd_3["datastore"]["etcd"]["membersAtJoin"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    // The drop-in joins the server and appends to the main file's list; README is not read.
    assert_eq!(
        etcd_3["config"]["files"],
        serde_json::json!([
            "/etc/rancher/k3s/config.yaml",
            "/etc/rancher/k3s/config.yaml.d/50-join.yaml"
        ])
    );
    assert_eq!(
        etcd_3["config"]["settings"]["server"]["value"],
        "https://192.168.1.10:6443"
    );
    assert_eq!(
        etcd_3["addons"]["disabled"],
        serde_json::json!(["traefik", "servicelb"])
    );

    let external = host_facts("external").await;
    assert_eq!(external["datastore"]["kind"], "external");
    assert_eq!(
        external["datastore"]["endpoint"],
        "postgres://****@db.lan:5432/k3s?sslmode=require"
    );
    assert_eq!(external["config"]["settings"]["token"]["value"], "(set)");

    let skip = host_facts("coredns-skip").await;
    assert_eq!(
        skip["addons"]["skipped"],
        serde_json::json!(["coredns.yaml"])
    );
    assert_eq!(
        skip["addons"]["corednsCustom"],
        serde_json::json!(["coredns-custom.yaml"])
    );
    assert!(
        skip["addons"]["present"]
            .as_array()
            .expect("test input is valid")
            .contains(&"metrics-server/".into())
    );
}

#[tokio::test]
async fn check_rests_the_datastore_on_the_hosts_files_and_reports_a_disagreement() {
    let dir = tempfile::tempdir().expect("temp dir");
    let save = |tree: &str| {
        let path = dir.path().join(format!("{tree}.yaml"));
        let root = format!("{FIXTURES}/{tree}");
        let path_text = path.to_string_lossy().into_owned();
        async move {
            let out = run(posture(&["host", "--root", &root])).await;
            assert_eq!(out.code, 0, "{}", out.stderr);
            std::fs::write(&path, out.stdout).expect("write facts");
            path_text
        }
    };
    let sqlite = save("sqlite").await;
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--host-facts",
        &sqlite,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON report");
    let fact = |report: &Value, name: &str| {
        report["facts"]
            .as_array()
            .and_then(|facts| facts.iter().find(|f| f["name"] == name))
            .map(|f| f["value"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        fact(&report, "datastore"),
        "sqlite (seen: /var/lib/rancher/k3s/server/db/state.db, /var/lib/rancher/k3s/server/db/state.db-wal, /var/lib/rancher/k3s/server/db/state.db-shm on miniserver)"
    );
    let check = |report: &Value, id: &str| {
        report["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|c| c["id"] == id))
            .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(check(&report, "control-plane.host-facts"), "pass");

    // The etcd server's files against the homelab, whose API says sqlite on a server of
    // another name: the facts match no node.
    let etcd = save("etcd-1").await;
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--host-facts",
        &etcd,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]))
    .await;
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(check(&report, "control-plane.host-facts"), "fail");

    // A file that is not host facts changes nothing and says why.
    let out = run(posture(&[
        "check",
        "--snapshot",
        HOMELAB,
        "--host-facts",
        HOMELAB,
    ]))
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("holds no HostFacts document"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn a_missing_root_is_a_usage_error() {
    let out = run(posture(&["host", "--root", "/nonexistent/host"])).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read host root /nonexistent/host"),
        "{}",
        out.stderr
    );
}

/// The plan's delivery of the CoreDNS Deployment change (`live` or `sourceFile`).
fn coredns_delivery(plan: &Value) -> String {
    plan["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["changes"].as_array().into_iter().flatten())
        .find(|c| c["object"]["kind"] == "Deployment" && c["object"]["name"] == "coredns")
        .map(|c| {
            c["delivery"]["type"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_that_sees_coredns_skipped_on_the_server_changes_it_live() {
    let start = "2026-11-23T12:00:00Z".parse().expect("timestamp");
    let lab = common::serve_twin(posture_twin::Twin::homelab(start), 0.0).await;
    let (dir, kubeconfig) = (&lab.dir, lab.kubeconfig.clone());
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    let out = run(posture(&[
        "host",
        "--root",
        &format!("{FIXTURES}/coredns-skip"),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let facts = path("miniserver.facts.yaml");
    std::fs::write(&facts, out.stdout).expect("write facts");

    let plan_with = |extra: Vec<String>, file: String| {
        let kubeconfig = kubeconfig.clone();
        async move {
            let mut args = vec![
                "plan",
                "--kubeconfig",
                &kubeconfig,
                "--section",
                "coredns",
                "-o",
                &file,
            ];
            args.extend(extra.iter().map(String::as_str));
            let out = run(posture(&args)).await;
            assert_eq!(out.code, 0, "{}", out.stderr);
            let plan: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).expect("plan file"))
                    .expect("JSON plan");
            (plan, out.stdout)
        }
    };
    let (plan, _) = plan_with(Vec::new(), path("owned.json")).await;
    assert_eq!(coredns_delivery(&plan), "sourceFile");
    let (plan, shown) = plan_with(vec!["--host-facts".into(), facts], path("skipped.json")).await;
    assert_eq!(coredns_delivery(&plan), "live");
    assert!(shown.contains("coredns.yaml.skip on miniserver"), "{shown}");
}

#[tokio::test]
async fn the_ha_route_is_written_for_the_cluster_and_refuses_to_end_at_two_servers() {
    let out = run(posture(&["plan", "--ha", "--snapshot", HOMELAB])).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("--third-server NAME"), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    let out = run(posture(&[
        "plan",
        "--ha",
        "--snapshot",
        HOMELAB,
        "--third-server",
        "server-3",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("## Step 2: Convert miniserver to embedded etcd (manual)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--server https://192.168.1.10:6443"));

    let out = run(posture(&[
        "plan",
        "--ha",
        "--snapshot",
        HOMELAB,
        "--third-server",
        "server-3",
        "--format",
        "json",
    ]))
    .await;
    let plan: Value = serde_json::from_str(&out.stdout).expect("JSON HA plan");
    assert_eq!(plan["schema"], "posture.dev/v1/ha-plan");
    assert_eq!(plan["servers"]["second"]["name"], "worker-1");
    assert!(
        plan["steps"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["manual"] == true))
    );
}

//! `posture drill NODE --node-loss|--drain --approve` on a served, sped-up twin: the drill takes
//! the node away, watches the success criteria for the window, and restores the cluster through
//! the restore gate. Every wait is on the drill's own progress (its lines on stderr) or its exit,
//! never on wall time.

mod common;

use std::process::Stdio;

use posture_twin::fault::Fault;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use common::{posture, serve_scenario};

/// Fast enough that a 10-minute window takes seconds, slow enough that a busy test machine
/// does not stretch the detectors' grace periods (a renew gap the watch sees late is confirmed
/// by reading the lease, but other detectors have no such second look).
const SPEED: f64 = 30.0;

fn node_spec(twin: &posture_twin::api::RunningTwin, node: &str) -> Value {
    twin.with_twin(|t| {
        let (_, found) = t
            .store
            .list(
                posture_twin::resources::by_plural("", "nodes").expect("served"),
                None,
            )
            .find(|(_, n)| n["metadata"]["name"] == node)
            .expect("the node exists");
        found["spec"].clone()
    })
}

/// Runs the drill; `on_line` sees each stderr line as it comes, with the drill's process id, and
/// may act on the twin or the process.
async fn drill(
    kubeconfig: &str,
    args: &[&str],
    mut on_line: impl FnMut(&str, u32),
) -> (i32, Value, String) {
    let mut all = vec!["drill", "worker-1", "--kubeconfig", kubeconfig, "--approve"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let mut command = posture(&all);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary runs");
    let pid = child.id().expect("running");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    while let Some(line) = lines.next_line().await.expect("stderr reads") {
        on_line(&line, pid);
        seen.push_str(&line);
        seen.push('\n');
    }
    let output = child.wait_with_output().await.expect("the drill exits");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}): {stdout}\n{seen}"));
    (output.status.code().expect("exited"), report, seen)
}

/// Every Longhorn volume has a running, unfailed replica on each node.
fn one_healthy_replica_per_node(twin: &posture_twin::api::RunningTwin) -> Result<(), String> {
    twin.with_twin(|t| {
        let replicas: Vec<Value> = t
            .store
            .list(
                posture_twin::resources::by_plural("longhorn.io", "replicas").expect("served"),
                None,
            )
            .map(|(_, r)| r.clone())
            .collect();
        let volumes: Vec<String> = t
            .store
            .list(
                posture_twin::resources::by_plural("longhorn.io", "volumes").expect("served"),
                None,
            )
            .map(|(_, v)| {
                v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        for volume in volumes {
            for node in ["miniserver", "worker-1"] {
                let healthy = replicas.iter().any(|r| {
                    r["spec"]["volumeName"] == volume.as_str()
                        && r["spec"]["nodeID"] == node
                        && r["status"]["currentState"] == "running"
                        && r["spec"]["failedAt"]
                            .as_str()
                            .unwrap_or_default()
                            .is_empty()
                });
                if !healthy {
                    return Err(format!("{volume} has no healthy replica on {node}"));
                }
            }
        }
        Ok(())
    })
}

fn criterion<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["criteria"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["criterion"] == id))
        .unwrap_or_else(|| panic!("criterion {id} judged: {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_loss_drill_passes_and_leaves_the_node_and_volumes_as_they_were() {
    let served = serve_scenario("homelab-fixed.yaml", SPEED).await;
    let before = node_spec(&served.twin, "worker-1");
    let (code, report, stderr) = drill(
        &served.kubeconfig,
        &["--node-loss", "--window", "10m", "--settle", "5m"],
        |_, _| {},
    )
    .await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["outcome"], "passed");
    assert!(
        report["criteria"]
            .as_array()
            .expect("criteria")
            .iter()
            .all(|c| c["passed"] == true),
        "{report:#}"
    );
    assert!(stderr.contains("stopped worker-1"), "{stderr}");
    // During the window the node was down; afterwards it is back exactly as it was.
    let during = &report["placement"][1];
    assert_eq!(during["phase"], "during");
    let worker = (during["nodes"].as_array().expect("nodes").iter())
        .find(|n| n["node"] == "worker-1")
        .expect("worker-1 pictured");
    assert_ne!(worker["ready"], true, "{during:#}");
    assert_eq!(node_spec(&served.twin, "worker-1"), before);
    one_healthy_replica_per_node(&served.twin).expect("volumes restored");
    served.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_thrash_during_the_window_aborts_naming_leader_elections_and_restores() {
    let served = serve_scenario("homelab-fixed.yaml", SPEED).await;
    let before = node_spec(&served.twin, "worker-1");
    let twin = &served.twin;
    let mut injected = false;
    let (code, report, stderr) = drill(
        &served.kubeconfig,
        &["--node-loss", "--window", "10m", "--settle", "2m"],
        |line, _| {
            if !injected && line.contains("observing for") {
                injected = true;
                twin.inject(&Fault::LeaseThrash {
                    namespace: "kube-system".into(),
                    name: "kube-controller-manager".into(),
                    period_seconds: 5,
                });
            }
        },
    )
    .await;
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(report["outcome"], "aborted", "{report:#}");
    assert_eq!(
        report["abortedBy"]["criterion"], "leader-elections-steady",
        "{report:#}"
    );
    assert_eq!(
        criterion(&report, "leader-elections-steady")["passed"],
        false
    );
    assert_eq!(criterion(&report, "no-restart-loops")["passed"], true);
    assert!(stderr.contains("started worker-1"), "{stderr}");
    assert_eq!(node_spec(&served.twin, "worker-1"), before);
    one_healthy_replica_per_node(&served.twin).expect("volumes restored");
    served.twin.shutdown().await;
}

/// With two nodes and strict replica anti-affinity nothing is rebuilt while the node is down:
/// failing rebuilds show when it comes back. The drill names the criterion, brings the node
/// back exactly as it was, and says which volumes the failing rebuilds keep degraded.
#[tokio::test(flavor = "multi_thread")]
async fn failing_rebuilds_as_the_node_returns_fail_the_drill_naming_the_rebuild_criterion() {
    let served = serve_scenario("homelab-fixed.yaml", SPEED).await;
    let before = node_spec(&served.twin, "worker-1");
    let twin = &served.twin;
    let mut injected = false;
    let (code, report, stderr) = drill(
        &served.kubeconfig,
        &[
            "--node-loss",
            "--window",
            "10m",
            "--settle",
            "2m",
            "--restore-within",
            "10m",
        ],
        |line, _| {
            if !injected && line.contains("observing for") {
                injected = true;
                twin.inject(&Fault::FailRebuilds { volume: None });
            }
        },
    )
    .await;
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(report["outcome"], "failed", "{report:#}");
    let rebuilds = criterion(&report, "rebuilds-within-limits");
    assert_eq!(rebuilds["passed"], false, "{report:#}");
    assert!(
        rebuilds["evidence"][0]
            .as_str()
            .is_some_and(|e| e.contains("rebuild-repeated")),
        "{rebuilds:#}"
    );
    let unrestored = report["unrestored"].as_array().expect("unrestored");
    assert!(
        unrestored.iter().any(|u| u
            .as_str()
            .is_some_and(|u| u.contains("no healthy replica on worker-1"))),
        "{report:#}"
    );
    assert_eq!(node_spec(&served.twin, "worker-1"), before);
    served.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drain_drill_keeps_pods_off_the_node_and_spreads_them_back_afterwards() {
    let served = serve_scenario("homelab-fixed.yaml", SPEED).await;
    let before = node_spec(&served.twin, "worker-1");
    // An HPA on CoreDNS, which has a pod on the node: `--pause` pins it for the drill.
    common::kubectl_with(
        &served.kubeconfig,
        &["apply", "-f", "-"],
        Some(&common::coredns_hpa(4)),
    )
    .await;
    let hpa_bounds = |twin: &posture_twin::api::RunningTwin| {
        let rt = posture_twin::resources::by_plural("autoscaling", "horizontalpodautoscalers")
            .expect("served");
        let key = posture_twin::store::ObjectKey::new(rt, "kube-system", "coredns");
        let hpa = twin
            .with_twin(|t| t.store.get(&key).cloned())
            .expect("the HPA exists");
        (
            hpa["spec"]["minReplicas"].clone(),
            hpa["spec"]["maxReplicas"].clone(),
        )
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("drill.journal");
    let mut pinned_during = None;
    let (code, report, stderr) = drill(
        &served.kubeconfig,
        &[
            "--pause",
            "--drain",
            "--window",
            "10m",
            "--settle",
            "2m",
            "--journal",
            &journal.display().to_string(),
        ],
        |line, _| {
            if line.contains("cordoned worker-1") {
                pinned_during = Some(hpa_bounds(&served.twin));
            }
        },
    )
    .await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    // CoreDNS asks for two replicas: pinned there while the node was drained, then restored.
    let two = serde_json::json!(2);
    assert_eq!(pinned_during, Some((two.clone(), two)), "{stderr}");
    assert!(
        stderr.contains("paused HorizontalPodAutoscaler kube-system/coredns: pinned at 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("restored 1 paused autoscaler(s)"),
        "{stderr}"
    );
    assert_eq!(
        hpa_bounds(&served.twin),
        (serde_json::json!(1), serde_json::json!(4))
    );
    let pods_on = |phase: &Value, node: &str| -> Vec<String> {
        (phase["nodes"].as_array().expect("nodes").iter())
            .find(|n| n["node"] == node)
            .map(|n| {
                (n["pods"].as_array().expect("pods").iter())
                    .map(|p| p.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (first, during, after) = (
        &report["placement"][0],
        &report["placement"][1],
        &report["placement"][2],
    );
    assert!(!pods_on(first, "worker-1").is_empty(), "{first:#}");
    assert_eq!(
        pods_on(during, "worker-1"),
        Vec::<String>::new(),
        "{during:#}"
    );
    for app in ["haproxy-controller/", "kube-system/coredns"] {
        for node in ["miniserver", "worker-1"] {
            assert!(
                pods_on(after, node).iter().any(|p| p.starts_with(app)),
                "{app} not back on {node}: {after:#}"
            );
        }
    }
    // The drill's cordon and taint were journaled, and undone.
    assert_eq!(node_spec(&served.twin, "worker-1"), before);
    let journal = std::fs::read_to_string(&journal).expect("journal written");
    assert!(journal.contains("posture.dev/drill"), "{journal}");
    assert!(journal.contains("\"rollback\":true"), "{journal}");
    served.twin.shutdown().await;
}

/// Refusals change nothing: the control-plane node, an unsafe what-if, and no approval.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_is_refused_on_the_server_node_when_unsafe_or_unapproved() {
    let served = serve_scenario("homelab.yaml", 0.0).await;
    let before = served.twin.with_twin(|t| t.store.resource_version());
    let refused = |args: &'static [&'static str]| {
        let kubeconfig = served.kubeconfig.clone();
        async move {
            let mut all = vec!["drill", "--kubeconfig", kubeconfig.as_str()];
            all.extend_from_slice(args);
            common::run(posture(&all)).await
        }
    };
    let server = refused(&["miniserver", "--node-loss", "--approve"]).await;
    assert_eq!(server.code, 2, "{}", server.stderr);
    assert!(
        server.stderr.contains("runs the control plane"),
        "{}",
        server.stderr
    );
    let unapproved = refused(&["worker-1", "--drain"]).await;
    assert_eq!(unapproved.code, 2, "{}", unapproved.stderr);
    assert!(
        unapproved.stderr.contains("pass --approve"),
        "{}",
        unapproved.stderr
    );
    assert_eq!(
        served.twin.with_twin(|t| t.store.resource_version()),
        before,
        "a refused drill wrote to the cluster"
    );
    served.twin.shutdown().await;

    let strict = serve_scenario("homelab-fixed-strict-pdb.yaml", 0.0).await;
    let mut args = vec![
        "drill",
        "worker-1",
        "--node-loss",
        "--approve",
        "--kubeconfig",
    ];
    args.push(&strict.kubeconfig);
    let unsafe_drill = common::run(posture(&args)).await;
    assert_eq!(unsafe_drill.code, 2, "{}", unsafe_drill.stderr);
    assert!(
        unsafe_drill.stderr.contains("the what-if is unsafe"),
        "{}",
        unsafe_drill.stderr
    );
    strict.twin.shutdown().await;
}

/// Ctrl-C in the window aborts the drill and still restores: the node comes back as it was.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_in_the_window_aborts_and_restores_the_node() {
    let served = serve_scenario("homelab-fixed.yaml", SPEED).await;
    let before = node_spec(&served.twin, "worker-1");
    let mut sent = false;
    let (code, report, stderr) = drill(
        &served.kubeconfig,
        &["--node-loss", "--window", "10m", "--settle", "2m"],
        |line, pid| {
            if !sent && line.contains("observing for") {
                sent = true;
                let status = std::process::Command::new("kill")
                    .args(["-INT", &pid.to_string()])
                    .status()
                    .expect("kill runs");
                assert!(status.success());
            }
        },
    )
    .await;
    assert_eq!(code, 130, "{report:#}\n{stderr}");
    assert_eq!(report["outcome"], "aborted", "{report:#}");
    assert_eq!(report["interrupted"], true, "{report:#}");
    assert!(stderr.contains("started worker-1"), "{stderr}");
    assert_eq!(node_spec(&served.twin, "worker-1"), before);
    one_healthy_replica_per_node(&served.twin).expect("volumes restored");
    served.twin.shutdown().await;
}

fn probe_pods_left(twin: &posture_twin::api::RunningTwin) -> usize {
    twin.with_twin(|t| {
        t.store
            .list(
                posture_twin::resources::by_plural("", "pods").expect("served"),
                Some("default"),
            )
            .filter(|(_, p)| p["metadata"]["labels"]["posture.dev/probe"] == "drill")
            .count()
    })
}

/// `--probe`: a one-shot pod on the surviving node resolves the ingress Service and fetches from
/// it every 15 s; each answers, and none is left behind.
#[tokio::test(flavor = "multi_thread")]
async fn probes_from_the_surviving_node_answer_through_a_node_loss() {
    let served = serve_scenario("homelab-fixed.yaml", SPEED).await;
    let (code, report, stderr) = drill(
        &served.kubeconfig,
        &["--node-loss", "--probe", "--window", "3m", "--settle", "1m"],
        |_, _| {},
    )
    .await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let dns = criterion(&report, "dns-and-ingress-serve");
    let probes = dns["evidence"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .find(|e| e.contains("probes"))
        })
        .unwrap_or_else(|| panic!("probe evidence: {dns:#}"));
    let (answered, rest) = probes.split_once(" of ").expect("N of M");
    let total: u32 = rest
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("M");
    // One every 15 s of cluster time at most; at 30x the watch's half-second tick is 15 s
    // itself, so a probe's result and the next start may fall a tick apart.
    assert!(
        (5..=13).contains(&total),
        "3 minutes hold 6 to 12 probes: {probes}"
    );
    assert_eq!(answered, total.to_string(), "{probes}");
    assert!(stderr.contains("probe default/posture-probe-"), "{stderr}");
    assert_eq!(probe_pods_left(&served.twin), 0);
    served.twin.shutdown().await;
}

/// The ingress Service goes away in the window: its endpoints cannot say so (they go with it),
/// but the probes stop resolving it, and two failures in a row abort the drill.
#[tokio::test(flavor = "multi_thread")]
async fn failing_probes_abort_the_drill_naming_dns_and_ingress() {
    let served = serve_scenario("homelab-fixed.yaml", SPEED).await;
    let twin = &served.twin;
    let mut removed = false;
    let (code, report, stderr) = drill(
        &served.kubeconfig,
        &[
            "--node-loss",
            "--probe",
            "--window",
            "10m",
            "--settle",
            "1m",
        ],
        |line, _| {
            if !removed && line.contains("probe default/posture-probe-") {
                removed = true;
                twin.with_twin(|t| {
                    let services =
                        posture_twin::resources::by_plural("", "services").expect("served");
                    let key = t
                        .store
                        .list(services, Some("haproxy-controller"))
                        .map(|(k, _)| k.clone())
                        .next()
                        .expect("the ingress Service");
                    t.store.delete(&key, false).expect("deleted");
                });
            }
        },
    )
    .await;
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(report["outcome"], "aborted", "{report:#}");
    assert_eq!(report["abortedBy"]["criterion"], "dns-and-ingress-serve");
    assert_eq!(report["abortedBy"]["detector"], "probe");
    assert!(
        report["abortedBy"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2 probes in a row failed")),
        "{report:#}"
    );
    assert_eq!(probe_pods_left(&served.twin), 0);
    served.twin.shutdown().await;
}

//! `posture operator` on a served twin: two instances, one leads; the leader stopped, the other
//! takes over; a fault injected into the twin shows in `/metrics` and in the PostureReport
//! within one period. The CRD goes in with the real kubectl, from `posture crd`.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use posture_twin::api::RunningTwin;
use posture_twin::fault::Fault;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use common::posture;

/// Guards against a hang; every wait below ends on what it waits for.
const GUARD: Duration = Duration::from_secs(90);
const LEASE: &str = "2s";

fn stored(twin: &RunningTwin, group: &str, plural: &str, name: &str) -> Option<Value> {
    let rt = posture_twin::resources::by_plural(group, plural).expect("served");
    let key = posture_twin::store::ObjectKey::new(rt, "kube-system", name);
    twin.with_twin(|t| t.store.get(&key).cloned())
}

fn holder(twin: &RunningTwin) -> Option<String> {
    stored(twin, "coordination.k8s.io", "leases", "posture-operator")
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
}

async fn until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Instance {
    child: tokio::process::Child,
    metrics: String,
}

/// The PostureReport CRD, from `posture crd`, through the real kubectl.
async fn install_crd(kubeconfig: &str) {
    let crd = common::run(posture(&["crd"])).await.stdout;
    common::kubectl_with(kubeconfig, &["apply", "-f", "-"], Some(&crd)).await;
}

async fn start(kubeconfig: &str, identity: &str) -> Instance {
    start_with(kubeconfig, identity, &["--interval", "1s"]).await
}

async fn start_with(kubeconfig: &str, identity: &str, more: &[&str]) -> Instance {
    let mut args = vec![
        "operator",
        "--kubeconfig",
        kubeconfig,
        "--identity",
        identity,
        "--lease-duration",
        LEASE,
        "--metrics",
        "127.0.0.1:0",
    ];
    args.extend(more);
    let mut command = posture(&args);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the operator starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let metrics = tokio::time::timeout(GUARD, async {
        while let Some(line) = lines.next_line().await.expect("stderr reads") {
            if let Some((_, url)) = line.split_once("metrics: http://") {
                return url.trim_end_matches("/metrics").to_owned();
            }
        }
        panic!("no metrics address announced");
    })
    .await
    .expect("the operator announces itself");
    // Keep draining stderr so the operator never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Instance { child, metrics }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_leads_the_other_takes_over_and_a_fault_shows_within_a_period() {
    let lab = common::serve_scenario("homelab.yaml", 1.0).await;
    let (twin, kubeconfig) = (&lab.twin, lab.kubeconfig.as_str());
    install_crd(kubeconfig).await;

    let a = start(kubeconfig, "a").await;
    let b = start(kubeconfig, "b").await;
    let leader = until("a leader", || holder(twin)).await;
    let (mut lead, standby) = if leader == "a" { (a, b) } else { (b, a) };
    let report = until("a PostureReport with status", || {
        stored(twin, "posture.dev", "posturereports", "cluster")
            .filter(|r| r["status"]["lastCheckTime"].is_string())
    })
    .await;
    assert_eq!(report["spec"]["writer"], leader.as_str());
    // One leader only: the standby says so.
    let standby_metrics = common::http_get(&standby.metrics, "/metrics").await;
    assert!(
        standby_metrics.contains("posture_leader 0"),
        "{standby_metrics}"
    );
    assert!(
        common::http_get(&lead.metrics, "/metrics")
            .await
            .contains("posture_leader 1")
    );

    // The leader dies without a word: the standby takes over once the record is stale.
    lead.child.kill().await.expect("killed");
    let killed = Instant::now();
    let successor = until("a new leader", || holder(twin).filter(|h| *h != leader)).await;
    let took = killed.elapsed();
    eprintln!("took over after {took:?} (lease {LEASE})");
    let lease =
        stored(twin, "coordination.k8s.io", "leases", "posture-operator").expect("the lease");
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    let mut survivor = standby;
    let checked = until("the new leader's report", || {
        stored(twin, "posture.dev", "posturereports", "cluster")
            .filter(|r| r["spec"]["writer"] == successor.as_str())
    })
    .await;
    assert!(
        checked["status"]["conditions"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );

    // A node stops; once the control plane marks it NotReady, the next check says so.
    twin.inject(&Fault::StopNode {
        node: "worker-1".into(),
    });
    twin.advance(jiff::SignedDuration::from_mins(2));
    let condition = until("Preconditions to fail naming worker-1", || {
        let report = stored(twin, "posture.dev", "posturereports", "cluster")?;
        let conditions = report["status"]["conditions"].as_array()?.clone();
        conditions.into_iter().find(|c| {
            c["type"] == "Preconditions"
                && c["status"] == "False"
                && c["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("worker-1"))
        })
    })
    .await;
    assert_eq!(condition["reason"], "Findings", "{condition}");
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = common::http_get(&survivor.metrics, "/metrics").await;
        if metrics.lines().any(|l| {
            l.starts_with("posture_findings{section=\"preconditions\",severity=\"error\"} ")
                && !l.ends_with(" 0")
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.lines().any(|l| l
            .starts_with("posture_findings{section=\"preconditions\",severity=\"error\"} ")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    // Each Longhorn volume's robustness and replicas per node.
    assert!(
        metrics.contains("posture_volume_robustness{volume=\"pvc-"),
        "{metrics}"
    );
    assert!(
        metrics.contains("posture_volume_replicas{volume=\"pvc-"),
        "{metrics}"
    );
    // And a Warning Event on the node, from the operator.
    let event = until("an Event about worker-1", || {
        twin.with_twin(|t| {
            let events = posture_twin::resources::by_plural("events.k8s.io", "events")?;
            t.store
                .list(events, None)
                .map(|(_, e)| e.clone())
                .find(|e| {
                    e["regarding"]["name"] == "worker-1"
                        && e["reportingController"] == "posture-operator"
                })
        })
    })
    .await;
    assert_eq!(event["type"], "Warning", "{event}");
    assert_eq!(event["reason"], "PreconditionsSecondaryReady", "{event}");
    survivor.child.kill().await.expect("killed");
}

/// The metric `name{labels}`'s value in `text`, if listed.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `posture_checks_total` once it reaches `at_least` (the report is written just before the
/// check is counted).
async fn checks_counted(instance: &Instance, at_least: f64) -> f64 {
    let deadline = Instant::now() + GUARD;
    loop {
        let text = common::http_get(&instance.metrics, "/metrics").await;
        let counted = metric(&text, "posture_checks_total").unwrap_or(0.0);
        if counted >= at_least {
            return counted;
        }
        assert!(Instant::now() < deadline, "never {at_least} checks: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With an hour between periodic checks, a change the watch sees still reaches the report in
/// seconds: a stopped node, then a crash loop, whose alert the leader's detectors raise and
/// `/metrics` and the report both show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_watch_sees_brings_the_check_forward_and_alerts_reach_the_report() {
    let lab = common::serve_scenario("homelab.yaml", 1.0).await;
    let (twin, kubeconfig) = (&lab.twin, lab.kubeconfig.as_str());
    install_crd(kubeconfig).await;
    let mut lead = start_with(
        kubeconfig,
        "solo",
        &["--interval", "1h", "--debounce", "500ms"],
    )
    .await;
    let first = until("the first report", || {
        stored(twin, "posture.dev", "posturereports", "cluster")
            .filter(|r| r["status"]["lastCheckTime"].is_string())
    })
    .await;
    let before = checks_counted(&lead, 1.0).await;

    let started = Instant::now();
    twin.inject(&Fault::StopNode {
        node: "worker-1".into(),
    });
    twin.advance(jiff::SignedDuration::from_mins(2));
    until("a check after the node went NotReady", || {
        let report = stored(twin, "posture.dev", "posturereports", "cluster")?;
        (report["status"]["lastCheckTime"] != first["status"]["lastCheckTime"]
            && report["status"]["findings"]
                .as_array()?
                .iter()
                .any(|f| f.as_str().is_some_and(|f| f.contains("worker-1"))))
        .then_some(())
    })
    .await;
    eprintln!(
        "checked {:?} after the fault (interval 1h)",
        started.elapsed()
    );
    checks_counted(&lead, before + 1.0).await;

    // A crash loop: the detectors raise it, /metrics counts it, the report lists it.
    twin.inject(&Fault::StartNode {
        node: "worker-1".into(),
    });
    let pod = twin.with_twin(|t| {
        let pods = posture_twin::resources::by_plural("", "pods").expect("served");
        t.store
            .list(pods, Some("apps"))
            .find(|(_, p)| p["metadata"]["labels"]["app"] == "gitea")
            .and_then(|(_, p)| p["metadata"]["name"].as_str().map(str::to_owned))
            .expect("a gitea pod")
    });
    twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod: pod.clone(),
    });
    let deadline = Instant::now() + GUARD;
    let metrics = loop {
        twin.advance(jiff::SignedDuration::from_secs(30));
        let text = common::http_get(&lead.metrics, "/metrics").await;
        let active = metric(&text, "posture_alerts_active{detector=\"crash-loop\"}").unwrap_or(0.0)
            + metric(&text, "posture_alerts_active{detector=\"restart-loop\"}").unwrap_or(0.0);
        if active > 0.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "no alert raised: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(metric(&metrics, "posture_signals_total").is_some_and(|n| n > 0.0));
    let alerts = until("the alert in the report", || {
        let report = stored(twin, "posture.dev", "posturereports", "cluster")?;
        let alerts = report["status"]["alerts"].as_array()?.clone();
        alerts
            .iter()
            .any(|a| a.as_str().is_some_and(|a| a.contains(&pod)))
            .then_some(alerts)
    })
    .await;
    assert!(!alerts.is_empty());
    lead.child.kill().await.expect("killed");
}

/// `--once`, as the CronJob in `deploy/` runs it: one check, the report written, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_writes_the_report_and_exits() {
    let lab = common::serve_scenario("homelab.yaml", 1.0).await;
    let (twin, kubeconfig) = (&lab.twin, lab.kubeconfig.as_str());
    install_crd(kubeconfig).await;
    let out = common::run(posture(&[
        "operator",
        "--kubeconfig",
        kubeconfig,
        "--once",
        "--identity",
        "cron",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("wrote kube-system/cluster"),
        "{}",
        out.stderr
    );
    let report = stored(twin, "posture.dev", "posturereports", "cluster").expect("the report");
    assert_eq!(report["spec"]["writer"], "cron");
    assert!(
        report["status"]["errors"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    // No election happened.
    assert!(holder(twin).is_none());
}

/// `--enforce ingress,longhorn`: the ingress stage is applied through the engine, and the
/// Longhorn stages, which the runbook marks APPROVAL REQUIRED, are left and named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_applies_the_named_sections_but_never_a_stage_needing_approval() {
    // Fast enough that rollouts finish in real seconds; lease renew gaps judged loosely, as
    // the apply tests do at this speed.
    let lab = common::serve_scenario("homelab.yaml", 200.0).await;
    let (twin, kubeconfig) = (&lab.twin, lab.kubeconfig.as_str());
    install_crd(kubeconfig).await;
    let policy = lab.dir.path().join("posture.yaml");
    std::fs::write(&policy, "detect:\n  leases:\n    renewGapFactor: 100\n").expect("policy");
    let replicas = || {
        twin.with_twin(|t| {
            let deployments =
                posture_twin::resources::by_plural("apps", "deployments").expect("served");
            t.store
                .get(&posture_twin::store::ObjectKey::new(
                    deployments,
                    "haproxy-controller",
                    "haproxy-kubernetes-ingress",
                ))
                .and_then(|d| d["spec"]["replicas"].as_i64())
        })
    };
    let setting = || {
        twin.with_twin(|t| {
            let settings =
                posture_twin::resources::by_plural("longhorn.io", "settings").expect("served");
            t.store
                .get(&posture_twin::store::ObjectKey::new(
                    settings,
                    "longhorn-system",
                    "default-replica-count",
                ))
                .map(|s| s["value"].clone())
        })
    };
    assert_eq!(replicas(), Some(1));
    let longhorn_before = setting();
    let journals = lab.dir.path().join("journals");
    let out = common::run(posture(&[
        "operator",
        "--kubeconfig",
        kubeconfig,
        "--config",
        &policy.display().to_string(),
        "--once",
        "--enforce",
        "ingress,longhorn",
        "--journal-dir",
        &journals.display().to_string(),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("enforce: applied"), "{}", out.stderr);
    assert!(
        out.stderr.contains("left for approval: 2.4 Longhorn"),
        "{}",
        out.stderr
    );
    assert_eq!(replicas(), Some(2), "the ingress stage was applied");
    assert_eq!(setting(), longhorn_before, "no Longhorn stage was applied");
    let journal = std::fs::read_dir(&journals)
        .expect("the journal directory")
        .next()
        .expect("a journal")
        .expect("an entry");
    let text = std::fs::read_to_string(journal.path()).expect("journal");
    assert!(text.contains("\"record\":\"applied\""), "{text}");
    let report = stored(twin, "posture.dev", "posturereports", "cluster").expect("the report");
    assert!(
        report["status"]["lastEnforcement"]
            .as_str()
            .is_some_and(|e| e.starts_with("applied")),
        "{report}"
    );
}

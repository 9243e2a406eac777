//! `posture plan`, `apply` and `rollback` as a person runs them, against a served twin.

mod common;

use common::{posture, run};
use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions, serve};
use serde_json::{Value, json};

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

async fn lab_with(other_cluster: bool) -> Lab {
    lab_at(other_cluster, 200.0).await
}

/// A homelab twin whose clock runs `speed` times real time; `other_cluster` gives it a
/// kube-system uid of its own, as another cluster has.
async fn lab_at(other_cluster: bool, speed: f64) -> Lab {
    let start = "2026-11-23T12:00:00Z".parse().expect("timestamp");
    lab_serving(Twin::homelab(start), other_cluster, speed).await
}

async fn lab_serving(twin: Twin, other_cluster: bool, speed: f64) -> Lab {
    let twin = serve(
        twin,
        ServeOptions {
            speed,
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
    // Without a terminal every stage still leaves a timestamped start and end line.
    let stages: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&plan).expect("plan"))
            .expect("json")["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_owned())
            .collect();
    assert!(!stages.is_empty());
    for stage in &stages {
        for event in ["started", "done"] {
            let line = stamped_line(&out.stderr, &format!("stage {stage} {event}"));
            assert!(
                line.is_some(),
                "no {event} line for {stage}: {}",
                out.stderr
            );
        }
    }

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
    assert!(
        stamped_line(&out.stderr, "rollback started").is_some(),
        "{}",
        out.stderr
    );
    assert!(
        stamped_line(&out.stderr, "rolled back ").is_some(),
        "{}",
        out.stderr
    );
    lab.twin.shutdown().await;
}

/// The line of `stderr` that starts with an RFC 3339 time followed by `text`.
fn stamped_line<'s>(stderr: &'s str, text: &str) -> Option<&'s str> {
    stderr.lines().find(|line| {
        line.split_once(' ').is_some_and(|(time, rest)| {
            time.parse::<jiff::Timestamp>().is_ok() && rest.starts_with(text)
        })
    })
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
    // Nothing was applied, so no journal was left to refuse the next try.
    assert!(
        !std::path::Path::new(&format!("{plan}.journal")).exists(),
        "{}",
        out.stderr
    );
    let out = run(planned.posture(&["apply", &plan, "--approve"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
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

#[tokio::test(flavor = "multi_thread")]
async fn sigint_mid_stage_releases_the_lock_and_the_printed_resume_command_finishes() {
    // Slow enough that a stage's rollout takes real seconds, so the signal lands mid-stage.
    let lab = lab_at(false, 10.0).await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "--allow-owned", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let journal = format!("{plan}.journal");

    let mut apply = lab.posture(&["apply", &plan, "--approve"]);
    apply
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = apply.spawn().expect("apply starts");
    let pid = child.id().expect("a pid").to_string();
    // Wait until a write of the first stage has landed and been journaled.
    first_write_journaled(&journal).await;
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let output = child.wait_with_output().await.expect("apply exits");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    // The lock is released, and the journal has no write in doubt.
    let leases =
        posture_twin::resources::by_plural("coordination.k8s.io", "leases").expect("served");
    let lock = posture_twin::store::ObjectKey::new(leases, "kube-system", "posture-lock");
    assert!(
        lab.twin.with_twin(|t| t.store.get(&lock).is_none()),
        "the lock is left: {stderr}"
    );
    let parsed =
        posture_core::apply::journal::parse_journal(&std::fs::read(&journal).expect("journal"))
            .expect("a consistent journal");
    let state = posture_core::apply::journal::replay(&parsed.records);
    assert!(state.in_doubt.is_none(), "a write in doubt: {stderr}");
    assert!(!state.applied.is_empty());

    // The printed command goes on to the end.
    let resume = stderr
        .lines()
        .find_map(|line| line.strip_prefix("go on with:  "))
        .expect("a resume command");
    let words: Vec<&str> = resume.split_whitespace().collect();
    assert_eq!(words[..2], ["posture", "apply"], "{resume}");
    let mut args = words[1..].to_vec();
    args.push("--approve");
    let out = run(lab.posture(&args)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("applied; journal"), "{}", out.stderr);
    lab.twin.shutdown().await;
}

/// `posture snapshot -o - | posture plan --snapshot -`: a piped snapshot plans as the live
/// cluster it was saved from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_piped_into_plan_plans_as_the_live_cluster() {
    let lab = lab_at(false, 0.0).await;
    let saved = run(lab.posture(&["snapshot", "-o", "-"])).await;
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let snapshot = lab.path("snapshot.yaml");
    std::fs::write(&snapshot, &saved.stdout).expect("write snapshot");

    let live = run(lab.posture(&["plan"])).await;
    assert_eq!(live.code, 0, "{}", live.stderr);
    let mut piped = lab.posture(&["plan", "--snapshot", "-"]);
    piped.stdin(std::fs::File::open(&snapshot).expect("snapshot"));
    let piped = run(piped).await;
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(!piped.stdout.is_empty());
    assert_eq!(piped.stdout, live.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_is_waited_for_with_lock_timeout_and_show_prints_the_saved_plan() {
    use tokio::io::AsyncBufReadExt;
    let lab = lab().await;
    let plan = lab.path("plan.json");
    let planned = run(lab.posture(&["plan", "--allow-owned", "-o", &plan])).await;
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let shown = run(posture(&["show", &plan])).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(
        shown.stdout, planned.stdout,
        "show prints what plan printed"
    );

    // Another run holds the lock, renewed just now for an hour.
    let leases =
        posture_twin::resources::by_plural("coordination.k8s.io", "leases").expect("served");
    let renewed = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string();
    let holder = "someone@elsewhere/1";
    lab.twin.with_twin(|t| {
        let now = t.now();
        t.store
            .create(
                leases,
                serde_json::json!({
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": "posture-lock", "namespace": "kube-system"},
                    "spec": {"holderIdentity": holder, "leaseDurationSeconds": 3600,
                             "acquireTime": renewed, "renewTime": renewed},
                }),
                now,
                false,
            )
            .expect("the lock is created");
    });
    let refused = run(lab.posture(&["apply", &plan, "--approve"])).await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains(holder), "{}", refused.stderr);

    let mut apply = lab.posture(&[
        "apply",
        &plan,
        "--approve",
        "--lock-timeout",
        "5m",
        "--journal",
        &lab.path("waited.journal"),
    ]);
    apply
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = apply.spawn().expect("apply starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let waiting = async {
        while let Some(line) = lines.next_line().await.expect("stderr reads") {
            if line.contains("waiting up to 300s for the cluster lock held by someone@elsewhere/1")
            {
                return;
            }
        }
        panic!("apply ended without waiting for the lock");
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), waiting)
        .await
        .expect("apply waits for the lock");
    // The other run lets go: this one takes the lock and applies.
    let lock = posture_twin::store::ObjectKey::new(leases, "kube-system", "posture-lock");
    lab.twin
        .with_twin(|t| t.store.delete(&lock, false))
        .expect("the lock is deleted");
    let rest = async {
        let mut text = String::new();
        while let Some(line) = lines.next_line().await.expect("stderr reads") {
            text.push_str(&line);
            text.push('\n');
        }
        text
    };
    let stderr = rest.await;
    let status = child.wait().await.expect("apply exits");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stage ingress done"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn show_live_sees_an_owner_delivered_change_arrive() {
    let lab = lab().await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("waiting for the owner (k3s packaged addon coredns)"),
        "{}",
        out.stdout
    );
    let shown = run(lab.posture(&["show", &plan, "--live"])).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown
            .stdout
            .contains("Deployment kube-system/coredns: waiting for the owner (/spec/replicas"),
        "{}",
        shown.stdout
    );

    // The owner applies the change (here by hand, as k3s would from its manifest).
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).expect("plan")).expect("JSON plan");
    let change = saved["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["changes"].as_array().into_iter().flatten())
        .find(|c| c["delivery"]["type"] == "sourceFile")
        .expect("an owner-delivered change");
    let forward: Vec<&serde_json::Value> = change["action"]["forward"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|op| op["op"] != "test")
        .collect();
    let forward = serde_json::to_string(&forward).expect("JSON");
    let name = change["object"]["name"].as_str().expect("a name");
    common::kubectl(
        &lab.kubeconfig,
        &[
            "-n",
            "kube-system",
            "patch",
            "deployment",
            name,
            "--type",
            "json",
            "-p",
            &forward,
        ],
    )
    .await;
    let shown = run(lab.posture(&["show", &plan, "--live"])).await;
    assert!(
        shown
            .stdout
            .contains("Deployment kube-system/coredns: arrived"),
        "{}",
        shown.stdout
    );
}

/// Returns once the run writing `journal` has journaled a write as applied: the point at which
/// a test interrupts it mid-run. The journal is the run's own record, read as it grows.
async fn first_write_journaled(journal: &str) {
    let landed = async {
        loop {
            let text = std::fs::read_to_string(journal).unwrap_or_default();
            if text.contains("\"record\":\"applied\"") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), landed)
        .await
        .expect("a change of the plan lands");
}

/// The homelab with Argo CD self-heal on the ingress controller, Flux on qdrant and an HPA on
/// CoreDNS, read from the twin's store: (Argo CD's automated policy, suspend, HPA min, HPA max).
fn fighters(lab: &Lab) -> (Value, Value, Value, Value) {
    let get = |group: &str, plural: &str, namespace: &str, name: &str| {
        let rt = posture_twin::resources::by_plural(group, plural).expect("served");
        let key = posture_twin::store::ObjectKey::new(rt, namespace, name);
        lab.twin
            .with_twin(|t| t.store.get(&key).cloned())
            .expect("exists")
    };
    let app = get("argoproj.io", "applications", "argocd", "ingress");
    let ks = get(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "flux-system",
        "apps",
    );
    let hpa = get(
        "autoscaling",
        "horizontalpodautoscalers",
        "kube-system",
        "coredns",
    );
    (
        app["spec"]["syncPolicy"]["automated"].clone(),
        ks["spec"]["suspend"].clone(),
        hpa["spec"]["minReplicas"].clone(),
        hpa["spec"]["maxReplicas"].clone(),
    )
}

fn as_installed() -> (Value, Value, Value, Value) {
    (
        json!({"prune": true, "selfHeal": true}),
        Value::Null,
        json!(1),
        json!(3),
    )
}

async fn gitops_lab(speed: f64) -> Lab {
    let start = "2026-11-23T12:00:00Z".parse().expect("timestamp");
    lab_serving(Twin::homelab_gitops(start), false, speed).await
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_pause_says_what_it_paused_and_restores_it_when_the_run_stops() {
    let lab = gitops_lab(200.0).await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "--allow-owned", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(lab.posture(&["apply", &plan, "--approve", "--pause", "--stage", "2"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for paused in [
        "pausing Application argocd/ingress: automated sync off",
        "pausing Kustomization flux-system/apps: suspended",
        "pinned at 2 replica(s)",
        "restored 3 pause(s)",
        "stopped before stage",
    ] {
        assert!(
            out.stderr.contains(paused),
            "{paused:?} missing:\n{}",
            out.stderr
        );
    }
    assert_eq!(fighters(&lab), as_installed());
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_what_a_killed_paused_run_left_paused() {
    // Slow enough that the first stage's rollout takes real seconds, so the kill lands mid-run.
    let lab = gitops_lab(10.0).await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "--allow-owned", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let journal = format!("{plan}.journal");
    let mut apply = lab.posture(&["apply", &plan, "--approve", "--pause"]);
    apply
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = apply.spawn().expect("apply starts");
    first_write_journaled(&journal).await;
    child.kill().await.expect("killed");
    let paused = fighters(&lab);
    assert_eq!(
        paused.0,
        Value::Null,
        "automated sync is still off after the kill"
    );
    assert_eq!(
        paused.1,
        json!(true),
        "Flux is still suspended after the kill"
    );

    // The killed run's lock stays until its lease expires; the person frees it as the lock's
    // own warning says.
    common::kubectl(
        &lab.kubeconfig,
        &["-n", "kube-system", "delete", "lease", "posture-lock"],
    )
    .await;

    let out = run(lab.posture(&["rollback", "--approve", "--journal", &journal])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("then restoring 3 pause(s)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("restored 3 pause(s)"), "{}", out.stderr);
    assert_eq!(fighters(&lab), as_installed());
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_names_the_repository_and_path_of_argo_and_flux_owned_changes() {
    let lab = gitops_lab(0.0).await;
    let plan = lab.path("plan.json");
    let out = run(lab.posture(&["plan", "-o", &plan])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    for source in [
        "source: Argo CD Application argocd/ingress: repo https://git.example.lan/homelab/infra.git, path ingress/haproxy, revision main",
        "source: Flux Kustomization flux-system/apps: path ./apps of GitRepository homelab",
    ] {
        assert!(text.contains(source), "{source:?} missing:\n{text}");
    }
    // The check sees the HPA on CoreDNS.
    let out = run(lab.posture(&["check", "-o", "json"])).await;
    let report: Value = serde_json::from_str(&out.stdout).expect("a JSON report");
    let autoscaler = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "risks.autoscalers")
        .expect("the HPA on CoreDNS is found");
    assert!(
        autoscaler["message"]
            .as_str()
            .is_some_and(|m| m.contains("HorizontalPodAutoscaler kube-system/coredns")),
        "{autoscaler}"
    );
    lab.twin.shutdown().await;
}

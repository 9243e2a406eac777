//! `posture watch --act` against a served twin: Argo CD rollback and snapshot restore print the
//! cluster's own objects and commands, and `posture rollback` undoes what an act journaled.

mod common;

use posture_twin::api::RunningTwin;
use posture_twin::store::ObjectKey;
use serde_json::{Value, json};

use common::{FakeApi, Output, posture, run, workspace};

struct Lab {
    twin: RunningTwin,
    dir: tempfile::TempDir,
    kubeconfig: String,
}

/// A twin serving `scenarios/<file>`.
async fn lab(file: &str) -> Lab {
    let served = common::serve_scenario(file, 0.0).await;
    Lab {
        twin: served.twin,
        dir: served.dir,
        kubeconfig: served.kubeconfig,
    }
}

impl Lab {
    fn journal(&self) -> String {
        self.dir.path().join("act.journal").display().to_string()
    }

    async fn posture(&self, args: &[&str]) -> Output {
        let mut all = vec!["--kubeconfig", self.kubeconfig.as_str()];
        all.extend_from_slice(args);
        run(posture(&all)).await
    }

    async fn act(&self, action: &str, extra: &[&str]) -> Output {
        let journal = self.journal();
        let mut args = vec!["watch", "--act", action, "--journal", journal.as_str()];
        args.extend_from_slice(extra);
        self.posture(&args).await
    }

    async fn rollback(&self) -> Output {
        let journal = self.journal();
        self.posture(&["rollback", "--journal", &journal, "--approve"])
            .await
    }

    fn key(group: &str, plural: &str, namespace: &str, name: &str) -> ObjectKey {
        let rt = posture_twin::resources::by_plural(group, plural).expect("served");
        ObjectKey::new(rt, namespace, name)
    }

    fn get(&self, key: &ObjectKey) -> Value {
        self.twin
            .with_twin(|t| t.store.get(key).cloned())
            .expect("the object exists")
    }

    /// Edits an object as someone else would, and lets the controllers react.
    fn edit(&self, key: &ObjectKey, change: impl FnOnce(&mut Value)) {
        self.twin.with_twin(|t| {
            assert!(t.store.modify(key, change), "the object exists");
            t.settle();
        });
    }

    fn node(&self) -> ObjectKey {
        Self::key("", "nodes", "", "worker-1")
    }

    fn setting(&self) -> ObjectKey {
        Self::key(
            "longhorn.io",
            "settings",
            "longhorn-system",
            "concurrent-replica-rebuild-per-node-limit",
        )
    }

    /// An uncordoned node as a real API server stores it: without `unschedulable` (a Go
    /// zero value with omitempty), not with `unschedulable: false`.
    fn uncordon(&self) {
        self.edit(&self.node(), |n| {
            if let Some(spec) = n["spec"].as_object_mut() {
                spec.remove("unschedulable");
            }
        });
    }
}

fn unschedulable(node: &Value) -> bool {
    node["spec"]["unschedulable"] == json!(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_rollback_prints_the_owning_application_its_history_and_commands() {
    let lab = lab("homelab-argo.yaml").await;
    let out = lab.act("argo-rollback", &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for expected in [
        "Application argocd/nextcloud",
        "Deployment apps/nextcloud",
        "automated sync: on",
        "id 5  revision 5c8a1e3f9b2d7c4a6e0f1b8d3a5c7e9f2b4d6a8c  deployed 2026-11-16T09:05:00Z  <- rollback target",
        "argocd app set argocd/nextcloud --sync-policy none",
        "argocd app rollback argocd/nextcloud 5",
        "kubectl -n argocd get application nextcloud -o yaml",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in\n{}",
            out.stdout
        );
    }
    // The Application that owns no workload here is not involved.
    assert!(!out.stdout.contains("dashboards"), "{}", out.stdout);

    let json = lab.act("argo-rollback", &["-o", "json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let report: Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(report["argocd"], "installed");
    assert_eq!(report["rule"], "argo-owned");
    assert_eq!(report["applications"][0]["rollbackTo"], 5);
    assert_eq!(
        report["applications"][0]["workloads"][0]["name"],
        "nextcloud"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_rollback_without_argo_cd_says_it_is_not_installed() {
    let lab = lab("homelab.yaml").await;
    let out = lab.act("argo-rollback", &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "argo-rollback: Argo CD is not installed (applications.argoproj.io not served); nothing to roll back\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_restore_prints_the_degraded_volume_its_snapshots_and_revert_steps() {
    let lab = lab("homelab-argo.yaml").await;
    let out = lab.act("snapshot-restore", &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let volume = "pvc-51aa7c3d-2e6f-4d81-a9b0-c4e5f6a7b864";
    for expected in [
        format!("Volume {volume}"),
        "pvc apps/media".into(),
        "used by Deployment apps/jellyfin (1 replica(s))".into(),
        "snap-media-20261122  created 2026-11-22T03:00:00Z  ready  <- revert target".into(),
        "backup-media-20261121  of snapshot snap-media-20261121  Completed".into(),
        "kubectl -n apps scale deploy/jellyfin --replicas=0".into(),
        "kubectl -n longhorn-system port-forward svc/longhorn-frontend 8080:80".into(),
        format!(
            "curl -X POST 'http://localhost:8080/v1/volumes/{volume}?action=snapshotRevert' -H 'Content-Type: application/json' -d '{{\"name\":\"snap-media-20261122\"}}'"
        ),
        "kubectl -n apps scale deploy/jellyfin --replicas=1".into(),
    ] {
        assert!(
            out.stdout.contains(&expected),
            "{expected:?} in\n{}",
            out.stdout
        );
    }
    // Only the degraded volume is involved without alerts.
    assert!(
        out.stdout.starts_with("snapshot-restore: 1 volume"),
        "{}",
        out.stdout
    );

    let json = lab.act("snapshot-restore", &["-o", "json"]).await;
    let report: Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(report["rule"], "not-healthy");
    assert_eq!(report["longhornNamespace"], "longhorn-system");
    assert_eq!(report["volumes"][0]["revertTo"], "snap-media-20261122");
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_restore_without_snapshots_says_there_is_nothing_to_revert_to() {
    let lab = lab("homelab.yaml").await;
    let out = lab.act("snapshot-restore", &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("snapshots: none"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("no Longhorn snapshot of this volume exists"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_undoes_a_recordon_and_a_second_rollback_changes_nothing() {
    let lab = lab("homelab.yaml").await;
    lab.uncordon();
    let before = lab.get(&lab.node());
    assert!(!unschedulable(&before));

    let act = lab.act("cordon-secondary", &["--approve"]).await;
    assert_eq!(act.code, 0, "{}", act.stderr);
    assert!(unschedulable(&lab.get(&lab.node())));

    let first = lab.rollback().await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("rolled back"), "{}", first.stderr);
    let after = lab.get(&lab.node());
    assert!(!unschedulable(&after));
    assert_eq!(after["spec"], before["spec"]);

    let second = lab.rollback().await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains("nothing to roll back"),
        "{}",
        second.stderr
    );
    let again = lab.get(&lab.node());
    assert_eq!(
        again["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_refuses_to_uncordon_a_node_recordoned_with_another_taint() {
    let lab = lab("homelab.yaml").await;
    lab.uncordon();
    let act = lab.act("cordon-secondary", &["--approve"]).await;
    assert_eq!(act.code, 0, "{}", act.stderr);
    // Someone uncordons and cordons again, this time with a taint of their own.
    lab.uncordon();
    lab.edit(&lab.node(), |n| {
        n["spec"]["unschedulable"] = json!(true);
        n["spec"]["taints"] = json!([
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            {"key": "maintenance", "value": "disk", "effect": "NoSchedule"},
        ]);
    });
    let theirs = lab.get(&lab.node());

    let out = lab.rollback().await;
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("conflict on"), "{}", out.stderr);
    assert!(out.stderr.contains("maintenance"), "{}", out.stderr);
    assert_eq!(lab.get(&lab.node())["spec"], theirs["spec"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_act_without_approval_and_without_a_terminal_is_a_usage_error() {
    let lab = lab("homelab.yaml").await;
    let original = lab.get(&lab.setting())["value"].clone();
    let out = lab.act("stop-rebuilds", &[]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.contains("dry run accepted"), "{}", out.stdout);
    // Said before anyone is asked: a limit of 0 also stops eviction and data locality.
    assert!(
        out.stdout.contains("note: with the limit at 0")
            && out.stdout.contains("replica eviction")
            && out.stdout.contains("data locality"),
        "{}",
        out.stdout
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].contains("not applied"), "{}", out.stderr);
    assert!(lines[1].contains("--approve"), "{}", out.stderr);
    assert_eq!(lab.get(&lab.setting())["value"], original);
    assert!(!std::path::Path::new(&lab.journal()).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_undoes_a_setting_act_but_not_a_setting_changed_since() {
    let lab = lab("homelab.yaml").await;
    let original = lab.get(&lab.setting())["value"].clone();
    let act = lab.act("stop-rebuilds", &["--approve"]).await;
    assert_eq!(act.code, 0, "{}", act.stderr);
    assert_eq!(lab.get(&lab.setting())["value"], "0");

    let undone = lab.rollback().await;
    assert_eq!(undone.code, 0, "{}", undone.stderr);
    assert_eq!(lab.get(&lab.setting())["value"], original);

    let again = lab.act("stop-rebuilds", &["--approve"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    lab.edit(&lab.setting(), |s| s["value"] = json!("3"));
    let refused = lab.rollback().await;
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    assert!(refused.stderr.contains("conflict on"), "{}", refused.stderr);
    assert_eq!(lab.get(&lab.setting())["value"], "3");
}

#[test]
fn the_argo_scenario_is_the_homelab_scenario_plus_its_additions() {
    let read = |file: &str| {
        std::fs::read_to_string(workspace().join("scenarios").join(file)).expect("scenario")
    };
    assert!(read("homelab-argo.yaml").contains(&read("homelab.yaml")));
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_rollback_says_when_listing_applications_is_forbidden() {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": "applications.argoproj.io is forbidden: User \"me\" cannot list resource \"applications\"",
    });
    let server = FakeApi::default()
        .respond(
            "/apis/argoproj.io/v1alpha1/applications",
            axum::http::StatusCode::FORBIDDEN,
            &status.to_string(),
        )
        .serve()
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = common::kubeconfig(dir.path(), &server)
        .display()
        .to_string();
    let out = run(posture(&[
        "watch",
        "--kubeconfig",
        &kubeconfig,
        "--act",
        "argo-rollback",
    ]))
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("argo-rollback: forbidden:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("cannot list resource"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_rollback_undoes_every_act_of_a_journal_newest_first() {
    let lab = lab("homelab.yaml").await;
    lab.uncordon();
    let node_before = lab.get(&lab.node());
    let setting_before = lab.get(&lab.setting())["value"].clone();
    for action in ["cordon-secondary", "stop-rebuilds"] {
        let out = lab.act(action, &["--approve"]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let out = lab.rollback().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("rolling back 2 change(s)"),
        "{}",
        out.stderr
    );
    let newest_first = out
        .stderr
        .find("Setting")
        .zip(out.stderr.find("Node worker-1"))
        .is_some_and(|(setting, node)| setting < node);
    assert!(newest_first, "{}", out.stderr);
    assert_eq!(lab.get(&lab.node())["spec"], node_before["spec"]);
    assert_eq!(lab.get(&lab.setting())["value"], setting_before);
}

/// A counter-move that places by the policy's topology refuses a node the cluster does not have
/// (exit 2), before anything is dry-run or written.
#[tokio::test]
async fn placing_acts_refuse_a_policy_naming_a_node_the_cluster_lacks() {
    let lab = lab("homelab.yaml").await;
    let config = lab.dir.path().join("posture.yaml");
    std::fs::write(&config, "topology: {secondary: nosuchnode}\n").expect("write");
    let config = config.display().to_string();
    for action in ["cordon-secondary", "pin-to-primary"] {
        let out = lab.act(action, &["--config", &config, "--approve"]).await;
        assert_eq!(out.code, 2, "{action}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr
                .contains("topology.secondary: no node \"nosuchnode\" in the cluster"),
            "{action}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{action}: {}", out.stdout);
    }
    assert!(
        !std::path::Path::new(&lab.journal()).exists(),
        "nothing journaled"
    );
}

/// The server carries out the counter-move's PATCH and never answers it: the engine reads the
/// setting back, journals the write as applied, and `posture rollback` undoes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_counter_move_whose_reply_is_lost_is_journaled_as_applied_and_rolled_back() {
    use posture_core::apply::journal::Record;

    let lab = lab("homelab.yaml").await;
    let original = lab.get(&lab.setting())["value"].clone();
    lab.twin.inject(&posture_twin::fault::Fault::LostReplies {
        plural: "settings".into(),
    });
    let act = lab
        .act("stop-rebuilds", &["--approve", "--request-timeout", "1s"])
        .await;
    lab.twin.inject(&posture_twin::fault::Fault::ClearAll);
    assert_eq!(act.code, 0, "{}", act.stderr);
    assert_eq!(lab.get(&lab.setting())["value"], "0");
    let journal =
        posture_kube::journal::read_journal(std::path::Path::new(&lab.journal())).expect("journal");
    let applied = journal
        .records
        .iter()
        .filter(|r| matches!(r, Record::Applied { .. }))
        .count();
    assert_eq!(applied, 1, "{:#?}", journal.records);

    let undone = lab.rollback().await;
    assert_eq!(undone.code, 0, "{}", undone.stderr);
    assert_eq!(lab.get(&lab.setting())["value"], original);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_act_while_another_posture_holds_the_lock_is_refused_naming_the_holder() {
    let lab = lab("homelab.yaml").await;
    let original = lab.get(&lab.setting())["value"].clone();
    // The lock is judged by this machine's clock: alice renewed it just now.
    let now = jiff::Timestamp::now().to_string();
    lab.twin.with_twin(|t| {
        let leases =
            posture_twin::resources::by_plural("coordination.k8s.io", "leases").expect("served");
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "posture-lock", "namespace": "kube-system"},
            "spec": {"holderIdentity": "alice@laptop/42", "leaseDurationSeconds": 3600,
                     "acquireTime": now, "renewTime": now}
        });
        let at = t.now();
        t.store
            .create(leases, lease, at, false)
            .expect("alice holds the lock");
    });
    let act = lab.act("stop-rebuilds", &["--approve"]).await;
    assert_ne!(act.code, 0, "{}", act.stderr);
    assert!(act.stderr.contains("alice@laptop/42"), "{}", act.stderr);
    assert!(!act.stderr.contains("Status {"), "{}", act.stderr);
    assert_eq!(lab.get(&lab.setting())["value"], original);
}

//! What apply refuses and how it survives: stale plans, a held lock, API errors, a flapping
//! volume, and a run that dies half way.

#[path = "apply/support.rs"]
mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use posture_core::apply::journal::{Record, resume_from};
use posture_core::apply::{ApplyState, Halt, Mode};
use posture_core::plan::{Plan, PlanOptions};
use posture_core::{Section, Severity};
use posture_kube::apply::Approver;
use posture_kube::journal::{JournalFile, read_journal};
use posture_twin::api::RunningTwin;
use posture_twin::fault::Fault;
use posture_twin::store::ObjectKey;
use serde_json::json;

use support::{Lab, lab};

fn sections(sections: &[Section]) -> PlanOptions {
    PlanOptions {
        sections: sections.to_vec(),
        allow_owned: true,
        ..PlanOptions::default()
    }
}

fn applied_per_change(lab: &Lab, journal: &str) -> BTreeMap<String, usize> {
    let parsed = read_journal(&lab.journal_path(journal)).expect("journal");
    let mut count = BTreeMap::new();
    for record in parsed.records {
        if let Record::Applied { change, .. } = record {
            *count.entry(change).or_default() += 1;
        }
    }
    count
}

fn live_changes(plan: &Plan) -> usize {
    plan.stages
        .iter()
        .flat_map(|s| &s.changes)
        .filter(|c| c.is_live())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_made_stale_by_someone_else_is_refused_and_nothing_is_written() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Coredns])).await;
    assert!(!plan.stages.is_empty());
    let deployments: Api<Deployment> = Api::namespaced(lab.client.clone(), "kube-system");
    deployments
        .patch(
            "coredns",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("someone scales coredns");
    let before = deployments.get("coredns").await.expect("coredns");

    let outcome = lab.apply(&plan, "stale.journal", lab.settings()).await;
    assert!(
        matches!(&outcome.state, ApplyState::Halted(Halt::StageFailed { .. })),
        "{outcome:?}"
    );
    let after = deployments.get("coredns").await.expect("coredns");
    assert_eq!(after.spec, before.spec, "apply wrote to a changed object");
    assert!(applied_per_change(&lab, "stale.journal").is_empty());
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_fails_on_the_lock_naming_its_holder() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Coredns])).await;
    let leases: Api<Lease> = Api::namespaced(lab.client.clone(), "kube-system");
    let lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "posture-lock", "namespace": "kube-system"},
        "spec": {"holderIdentity": "alice@laptop/42", "leaseDurationSeconds": 3600,
                 "renewTime": jiff::Timestamp::now().to_string()}
    }))
    .expect("lease");
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("another run holds the lock");

    let outcome = lab.apply(&plan, "locked.journal", lab.settings()).await;
    match &outcome.state {
        ApplyState::Halted(Halt::LockUnavailable(who)) => {
            assert!(who.contains("alice@laptop/42"), "{who}")
        }
        other => panic!("expected the lock to be refused, got {other:?}"),
    }
    assert!(applied_per_change(&lab, "locked.journal").is_empty());
    let lease = leases.get("posture-lock").await.expect("lease kept");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("alice@laptop/42")
    );
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_released_after_a_run() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Ingress])).await;
    let outcome = lab.apply(&plan, "a.journal", lab.settings()).await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    let leases: Api<Lease> = Api::namespaced(lab.client.clone(), "kube-system");
    assert!(leases.get_opt("posture-lock").await.expect("get").is_none());
    lab.twin.shutdown().await;
}

async fn apply_through(status: u16) {
    let lab = lab().await;
    let plan = lab
        .plan(sections(&[Section::Ingress, Section::Longhorn]))
        .await;
    lab.twin.inject(&Fault::ApiErrors { rate: 0.2, status });
    let outcome = lab.apply(&plan, "errors.journal", lab.settings()).await;
    lab.twin.inject(&Fault::ClearAll);
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    let applied = applied_per_change(&lab, "errors.journal");
    assert_eq!(applied.len(), live_changes(&plan));
    assert!(applied.values().all(|n| *n == 1), "{applied:?}");
    let snapshot = lab.snapshot().await;
    let report = posture_core::checks::run(&snapshot, &posture_core::Policy::default());
    let bad: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .filter(|f| matches!(f.section, Section::Ingress | Section::Longhorn))
        .map(|f| format!("{}: {}", f.id, f.message))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_do_not_stop_apply_nor_make_it_write_twice() {
    apply_through(500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_does_not_stop_apply_nor_make_it_write_twice() {
    apply_through(429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_that_never_rebuilds_halts_its_stage_and_rolls_it_back() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Longhorn])).await;
    lab.twin.inject(&Fault::FailRebuilds { volume: None });
    // The flap gate, not the (generous) post-condition timeout, stops the stage.
    let outcome = lab.apply(&plan, "flap.journal", lab.settings()).await;
    match &outcome.state {
        ApplyState::Halted(Halt::StageFailed {
            stage,
            rolled_back,
            reason,
        }) => {
            assert!(stage.starts_with("volume/"), "{stage}");
            assert!(reason.starts_with("flapping: rebuild-repeated"), "{reason}");
            assert!(rolled_back);
        }
        other => panic!("expected the volume stage to fail, got {other:?}"),
    }
    let queue = lab.still_applied(&plan, "flap.journal");
    assert!(
        queue.iter().all(|c| !c.stage.starts_with("volume/")),
        "the failed volume stage left changes applied: {queue:?}"
    );
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_that_died_resumes_to_the_end() {
    let lab = lab().await;
    let plan = lab
        .plan(sections(&[Section::Ingress, Section::Longhorn]))
        .await;
    let mut settings = lab.settings();
    settings.stop_after_records = Some(3);
    let outcome = lab.apply(&plan, "died.journal", settings).await;
    assert!(outcome.stopped);

    let (mut journal, parsed) =
        JournalFile::open(&lab.journal_path("died.journal")).expect("reopen");
    let point = resume_from(&plan, &parsed).expect("resume point");
    let outcome = lab
        .run(&plan, &mut journal, lab.settings(), Mode::Apply(point))
        .await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    drop(journal);
    let applied = applied_per_change(&lab, "died.journal");
    assert_eq!(applied.len(), live_changes(&plan));
    assert!(applied.values().all(|n| *n == 1), "{applied:?}");
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_that_died_rolls_back_to_what_it_found() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Coredns])).await;
    let deployments: Api<Deployment> = Api::namespaced(lab.client.clone(), "kube-system");
    let before = deployments.get("coredns").await.expect("coredns");
    let mut settings = lab.settings();
    settings.stop_after_records = Some(3);
    let outcome = lab.apply(&plan, "died.journal", settings).await;
    assert!(outcome.stopped);

    let (undone, outcome) = lab.roll_back(&plan, "died.journal").await;
    assert!(undone > 0);
    assert_eq!(
        outcome.state,
        ApplyState::Halted(Halt::RolledBack),
        "{outcome:?}"
    );
    let after = deployments.get("coredns").await.expect("coredns");
    assert_eq!(
        after.spec.map(|s| s.template),
        before.spec.map(|s| s.template)
    );
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_stops_at_an_object_someone_changed_since() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Ingress])).await;
    let outcome = lab.apply(&plan, "c.journal", lab.settings()).await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    let deployments: Api<Deployment> = Api::namespaced(lab.client.clone(), "haproxy-controller");
    deployments
        .patch(
            "haproxy-kubernetes-ingress",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("someone scales the ingress");

    let (_, outcome) = lab.roll_back(&plan, "c.journal").await;
    assert!(
        matches!(
            outcome.state,
            ApplyState::Halted(Halt::RollbackConflict { .. })
        ),
        "{outcome:?}"
    );
    assert!(!outcome.conflicts.is_empty());
    let now = deployments
        .get("haproxy-kubernetes-ingress")
        .await
        .expect("ingress");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(3));
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lock_is_taken_over_only_when_asked() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Ingress])).await;
    let leases: Api<Lease> = Api::namespaced(lab.client.clone(), "kube-system");
    let an_hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "posture-lock", "namespace": "kube-system"},
        "spec": {"holderIdentity": "bob@ci/7", "leaseDurationSeconds": 60,
                 "renewTime": an_hour_ago.to_string()}
    }))
    .expect("lease");
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("a dead run left its lock");

    let outcome = lab.apply(&plan, "first.journal", lab.settings()).await;
    match &outcome.state {
        ApplyState::Halted(Halt::LockUnavailable(why)) => {
            assert!(why.contains("bob@ci/7") && why.contains("expired"), "{why}")
        }
        other => panic!("expected the expired lock to be refused, got {other:?}"),
    }

    let mut settings = lab.settings();
    settings.lock.break_expired = true;
    let outcome = lab.apply(&plan, "second.journal", settings).await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    lab.twin.shutdown().await;
}

/// Hands the cluster lock to another run as the second stage is approved, the way a run that
/// took over an expired lock does: the Lease replaced in place, same uid, another holder.
struct TakeOverOnSecondStage<'t> {
    twin: &'t RunningTwin,
    approved: usize,
}

impl Approver for TakeOverOnSecondStage<'_> {
    fn approve(&mut self, _plan: &Plan, _stage: &str) -> bool {
        self.approved += 1;
        if self.approved == 2 {
            self.twin.with_twin(|t| {
                let leases = posture_twin::resources::by_plural("coordination.k8s.io", "leases")
                    .expect("registered");
                let key = ObjectKey::new(leases, "kube-system", "posture-lock");
                assert!(t.store.modify(&key, |lease| {
                    lease["spec"]["holderIdentity"] = json!("mallory@elsewhere/7");
                }));
            });
        }
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_taken_over_mid_apply_stops_the_run_before_its_next_write() {
    let lab = lab().await;
    let plan = lab
        .plan(sections(&[Section::Ingress, Section::Longhorn]))
        .await;
    assert!(plan.stages.len() >= 2, "{:?}", plan.stages);
    let mut approver = TakeOverOnSecondStage {
        twin: &lab.twin,
        approved: 0,
    };
    let outcome = lab
        .apply_approving(&plan, "taken.journal", &mut approver)
        .await;
    let ApplyState::Halted(Halt::LockLost(reason)) = &outcome.state else {
        panic!("expected the run to stop on the lost lock, got {outcome:?}");
    };
    assert!(reason.contains("mallory@elsewhere/7"), "{reason}");
    // Nothing of the second stage was written, and the other run's lock was left alone.
    let second = &plan.stages[1].id;
    let applied = lab.still_applied(&plan, "taken.journal");
    assert!(applied.iter().all(|c| &c.stage != second), "{applied:?}");
    let leases: Api<Lease> = Api::namespaced(lab.client.clone(), "kube-system");
    let lease = leases
        .get("posture-lock")
        .await
        .expect("the other run's lock stays");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("mallory@elsewhere/7")
    );
    lab.twin.shutdown().await;
}

/// A third of requests fail, the lock's release among them: however apply and rollback end
/// (the twin spreads its errors evenly, so a retried write can meet one every time), each
/// releases the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_released_after_apply_and_rollback_under_api_errors() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Ingress])).await;
    let leases: Api<Lease> = Api::namespaced(lab.client.clone(), "kube-system");
    let errors = Fault::ApiErrors {
        rate: 0.3,
        status: 500,
    };
    lab.twin.inject(&errors);
    let applied = lab.apply(&plan, "errors.journal", lab.settings()).await;
    lab.twin.inject(&Fault::ClearAll);
    assert!(
        leases.get_opt("posture-lock").await.expect("get").is_none(),
        "the apply ended {applied:?} and left its lock"
    );

    lab.twin.inject(&errors);
    let (_, rolled_back) = lab.roll_back(&plan, "errors.journal").await;
    lab.twin.inject(&Fault::ClearAll);
    assert!(
        leases.get_opt("posture-lock").await.expect("get").is_none(),
        "the rollback ended {rolled_back:?} and left its lock"
    );
    lab.twin.shutdown().await;
}

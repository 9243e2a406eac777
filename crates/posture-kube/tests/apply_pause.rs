//! `apply --pause` against a served twin with Argo CD, Flux and an HPA that would fight the
//! plan: what is paused while the stages run, and that it is restored however the run ends.

#[path = "apply/support.rs"]
mod support;

use posture_core::apply::journal::{JournalHeader, resume_point};
use posture_core::apply::{ApplyOptions, ApplyState, Halt, Mode};
use posture_core::plan::{Plan, PlanOptions};
use posture_kube::apply::pause::{PausedRun, still_paused};
use posture_kube::apply::{Approver, Engine};
use posture_kube::journal::JournalFile;
use posture_twin::Twin;
use posture_twin::api::RunningTwin;
use serde_json::{Value, json};

use support::{Lab, lab_of, start_time};

/// What would fight the plan, read straight from the twin's store.
#[derive(Debug, Clone, PartialEq)]
struct Fighters {
    /// The Application's `spec.syncPolicy.automated`: null while paused.
    automated: Value,
    suspend: Value,
    hpa_bounds: (Value, Value),
}

fn stored(twin: &RunningTwin, group: &str, plural: &str, namespace: &str, name: &str) -> Value {
    let rt = posture_twin::resources::by_plural(group, plural).expect("served");
    let key = posture_twin::store::ObjectKey::new(rt, namespace, name);
    twin.with_twin(|t| t.store.get(&key).cloned())
        .expect("the object exists")
}

fn fighters(twin: &RunningTwin) -> Fighters {
    let app = stored(twin, "argoproj.io", "applications", "argocd", "ingress");
    let ks = stored(
        twin,
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "flux-system",
        "apps",
    );
    let hpa = stored(
        twin,
        "autoscaling",
        "horizontalpodautoscalers",
        "kube-system",
        "coredns",
    );
    Fighters {
        automated: app["spec"]["syncPolicy"]["automated"].clone(),
        suspend: ks["spec"]["suspend"].clone(),
        hpa_bounds: (
            hpa["spec"]["minReplicas"].clone(),
            hpa["spec"]["maxReplicas"].clone(),
        ),
    }
}

const AS_INSTALLED: fn() -> Fighters = || Fighters {
    automated: json!({"prune": true, "selfHeal": true}),
    suspend: Value::Null,
    hpa_bounds: (json!(1), json!(3)),
};

/// Approves every stage; at the plan's second stage, reads what would fight it, and may then
/// meddle or decline.
struct AtStageTwo<'t> {
    twin: &'t RunningTwin,
    second: String,
    seen: Option<Fighters>,
    then: Then,
}

#[derive(Clone, Copy, PartialEq)]
enum Then {
    Go,
    Decline,
    /// Someone raises the HPA's ceiling by hand.
    RaiseHpaByHand,
}

impl Approver for AtStageTwo<'_> {
    fn approve(&mut self, _plan: &Plan, stage: &str) -> bool {
        if stage != self.second {
            return true;
        }
        self.seen = Some(fighters(self.twin));
        match self.then {
            Then::Go => true,
            Then::Decline => false,
            Then::RaiseHpaByHand => {
                let rt =
                    posture_twin::resources::by_plural("autoscaling", "horizontalpodautoscalers")
                        .expect("served");
                let key = posture_twin::store::ObjectKey::new(rt, "kube-system", "coredns");
                self.twin.with_twin(|t| {
                    let mut hpa = t.store.get(&key).cloned().expect("exists");
                    hpa["spec"]["maxReplicas"] = json!(5);
                    t.store.update(&key, hpa, false).expect("updated");
                });
                true
            }
        }
    }
}

async fn gitops_lab() -> (Lab, Plan) {
    let lab = lab_of(Twin::homelab_gitops(start_time())).await;
    let plan = lab
        .plan(PlanOptions {
            allow_owned: true,
            ..PlanOptions::default()
        })
        .await;
    (lab, plan)
}

async fn run_paused(lab: &Lab, plan: &Plan, approver: &mut AtStageTwo<'_>) -> PausedRun {
    let header = JournalHeader::for_plan(plan);
    let path = lab.journal_path("plan.json.journal");
    let mut file = JournalFile::create(&path, &header).expect("journal");
    let point = resume_point(plan, &header, &[]).expect("resume point");
    let mut engine = Engine {
        client: lab.client.clone(),
        server: lab.server.clone(),
        options: ApplyOptions {
            auto_approve: false,
            ..ApplyOptions::default()
        },
        settings: lab.settings(),
        journal: &mut file,
        approver,
    };
    engine
        .run_paused(
            plan,
            Mode::Apply(point),
            &lab.journal_path("plan.json.journal.pause"),
        )
        .await
        .expect("the paused run runs")
}

fn approver<'t>(lab: &'t Lab, plan: &Plan, then: Then) -> AtStageTwo<'t> {
    AtStageTwo {
        twin: &lab.twin,
        second: plan.stages[1].id.clone(),
        seen: None,
        then,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_sync_flux_and_the_hpa_are_paused_while_the_stages_run_and_restored_after() {
    let (lab, plan) = gitops_lab().await;
    assert_eq!(fighters(&lab.twin), AS_INSTALLED());
    let mut approver = approver(&lab, &plan, Then::Go);
    let run = run_paused(&lab, &plan, &mut approver).await;
    assert_eq!(run.outcome.state, ApplyState::Done, "{:?}", run.outcome);
    let paused: Vec<String> = run.held.iter().map(|h| h.object.to_string()).collect();
    assert_eq!(run.held.len(), 3, "{paused:?}");
    // While stage 2 ran: Argo CD's automated sync off, Flux suspended, the HPA held at the two replicas the
    // plan gives CoreDNS.
    assert_eq!(
        approver.seen,
        Some(Fighters {
            automated: Value::Null,
            suspend: json!(true),
            hpa_bounds: (json!(2), json!(2)),
        })
    );
    assert_eq!(run.restored, Ok(3));
    assert_eq!(fighters(&lab.twin), AS_INSTALLED());
    assert_eq!(
        still_paused(&lab.journal_path("plan.json.journal.pause")).expect("journal"),
        0
    );
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halted_run_restores_the_pause() {
    let (lab, plan) = gitops_lab().await;
    let mut approver = approver(&lab, &plan, Then::Decline);
    let run = run_paused(&lab, &plan, &mut approver).await;
    assert!(
        matches!(run.outcome.state, ApplyState::Halted(Halt::Declined { .. })),
        "{:?}",
        run.outcome.state
    );
    assert_eq!(approver.seen.map(|f| f.automated), Some(Value::Null));
    assert_eq!(run.restored, Ok(3));
    assert_eq!(fighters(&lab.twin), AS_INSTALLED());
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_someone_changed_meanwhile_is_not_overwritten_by_the_restore() {
    let (lab, plan) = gitops_lab().await;
    let mut approver = approver(&lab, &plan, Then::RaiseHpaByHand);
    let run = run_paused(&lab, &plan, &mut approver).await;
    assert_eq!(run.outcome.state, ApplyState::Done, "{:?}", run.outcome);
    let why = run
        .restored
        .expect_err("the restore stops at the changed HPA");
    assert!(why.contains("2 of 3 restored"), "{why}");
    assert!(why.contains("HorizontalPodAutoscaler"), "{why}");
    // The person's ceiling stands (the pinned floor with it); the others are restored.
    let now = fighters(&lab.twin);
    assert_eq!(now.hpa_bounds, (json!(2), json!(5)));
    assert_eq!(now.automated, AS_INSTALLED().automated);
    assert_eq!(now.suspend, Value::Null);
    lab.twin.shutdown().await;
}

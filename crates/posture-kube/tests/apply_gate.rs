//! Every stage is gated on `posture watch`'s detectors: a flap anywhere in the cluster while a
//! stage runs halts it and rolls it back; alerts that were already active are shown, not blamed.

#[path = "apply/support.rs"]
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::wait::await_condition;
use posture_core::Section;
use posture_core::apply::{ApplyState, Halt};
use posture_core::plan::{Plan, PlanOptions};
use posture_kube::apply::Approver;
use posture_twin::api::RunningTwin;
use posture_twin::fault::Fault;

use support::lab;

/// A guard against hangs only; nothing waits for it to pass.
const GUARD: Duration = Duration::from_secs(60);

fn sections(sections: &[Section]) -> PlanOptions {
    PlanOptions {
        sections: sections.to_vec(),
        allow_owned: true,
        ..PlanOptions::default()
    }
}

/// Approves every stage, injecting `fault` as the first one is approved: the fault starts after
/// the gate has seen the cluster as it was.
struct FaultOnApproval<'t> {
    twin: &'t RunningTwin,
    fault: Option<Fault>,
}

impl Approver for FaultOnApproval<'_> {
    fn approve(&mut self, _plan: &Plan, _stage: &str) -> bool {
        if let Some(fault) = self.fault.take() {
            self.twin.inject(&fault);
        }
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_thrash_during_a_stage_halts_that_stage_and_rolls_it_back() {
    let lab = lab().await;
    let plan = lab.plan(sections(&[Section::Longhorn])).await;
    // Rebuilds slow enough that the stage is still waiting when the thrash shows.
    lab.twin.inject(&Fault::SlowRebuilds { factor: 1000 });
    let mut approver = FaultOnApproval {
        twin: &lab.twin,
        fault: Some(Fault::LeaseThrash {
            namespace: "kube-system".into(),
            name: "kube-scheduler".into(),
            period_seconds: 30,
        }),
    };
    let outcome = tokio::time::timeout(
        GUARD,
        lab.apply_approving(&plan, "thrash.journal", &mut approver),
    )
    .await
    .expect("the apply ends");
    let ApplyState::Halted(Halt::StageFailed {
        stage,
        reason,
        rolled_back,
    }) = &outcome.state
    else {
        panic!("expected a stage to fail, got {outcome:?}");
    };
    assert!(plan.stage(stage).is_some(), "{stage}");
    assert!(
        reason.starts_with("flapping: lease-thrash kube-system/kube-scheduler"),
        "{reason}"
    );
    assert!(rolled_back);
    let queue = lab.still_applied(&plan, "thrash.journal");
    assert!(
        queue.iter().all(|c| &c.stage != stage),
        "the failed stage left changes applied: {queue:?}"
    );
    lab.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_from_before_the_apply_is_noted_and_does_not_halt_it() {
    let lab = lab().await;
    let pods: Api<Pod> = Api::namespaced(lab.client.clone(), "apps");
    let pod = pods
        .list(&ListParams::default())
        .await
        .expect("apps pods")
        .items
        .into_iter()
        .find_map(|p| p.metadata.name)
        .expect("an app pod");
    lab.twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod: pod.clone(),
    });
    let backing_off = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        == Some("CrashLoopBackOff")
                })
            })
    };
    tokio::time::timeout(GUARD, await_condition(pods, &pod, backing_off))
        .await
        .expect("the pod backs off in time")
        .expect("watching the pod");
    let plan = lab.plan(sections(&[Section::Ingress])).await;
    let outcome = lab.apply(&plan, "standing.journal", lab.settings()).await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    // Listed in back-off, it is an active alert; listed between two back-offs, a container
    // restarting: either way the note names it.
    let expected = format!("apps/{pod}/");
    assert!(
        outcome.notes.iter().any(|n| n.contains(&expected)),
        "{:?}",
        outcome.notes
    );
    lab.twin.shutdown().await;
}

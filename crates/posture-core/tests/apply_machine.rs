//! The apply state machine driven against a fake cluster: happy path, faults, rollback.

mod support;

use posture_core::apply::journal::{JournalHeader, Record, ResumePoint, replay, resume_point};
use posture_core::apply::{ApplyOptions, ApplyState, Effect, Event, Halt, Mode, step};
use serde_json::json;
use support::{WriteFault, contents, synthetic_plan};

fn fresh() -> ApplyState {
    ApplyState::Ready(Mode::Apply(ResumePoint::At {
        stage: 0,
        change: 0,
        applied_in_stage: Vec::new(),
    }))
}

fn applied_count(journal: &[Record], change: &str) -> usize {
    journal
        .iter()
        .filter(|r| matches!(r, Record::Applied { change: c, .. } if c == change))
        .count()
}

#[test]
fn applies_every_stage_and_journals_each_write() {
    let (plan, mut cluster) = synthetic_plan(&[2, 1], true);
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert_eq!(end, ApplyState::Done);
    assert_eq!(cluster.writes, 5);
    assert_eq!(
        cluster.objects[&support::object("o0-1")]["spec"]["n"],
        json!(2)
    );
    let state = replay(&cluster.journal);
    assert_eq!(state.applied.len(), 5);
    assert_eq!(
        state.completed_stages,
        vec!["s0".to_string(), "s1".to_string()]
    );
    // Intent before Applied, for every write.
    for (i, r) in cluster.journal.iter().enumerate() {
        if let Record::Applied { change, .. } = r {
            assert!(
                matches!(&cluster.journal[i - 1], Record::Intent { change: c, .. } if c == change)
            );
        }
    }
}

#[test]
fn the_first_step_asks_for_nothing_but_the_cluster_identity() {
    let (plan, _) = synthetic_plan(&[1], false);
    let (effects, state) = step(&plan, &ApplyOptions::default(), fresh(), Event::Start);
    assert_eq!(effects, vec![Effect::ReadClusterIdentity]);
    assert!(matches!(state, ApplyState::VerifyingCluster(_)));
}

#[test]
fn a_tampered_plan_or_another_cluster_is_refused_before_any_write() {
    let (mut plan, mut cluster) = synthetic_plan(&[1], false);
    let mut other = plan.clone();
    other.stages[0].title = "edited".into();
    let end = cluster.drive(&other, &ApplyOptions::default(), fresh());
    assert!(matches!(end, ApplyState::Halted(Halt::PlanInvalid(_))));
    cluster.identity = Some(posture_core::plan::ClusterIdentity {
        server: "https://other:6443".into(),
        kube_system_uid: "someone-else".into(),
    });
    plan.sha256 = plan.content_hash();
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert!(matches!(end, ApplyState::Halted(Halt::WrongCluster(_))));
    assert_eq!(cluster.writes, 0);
    assert!(cluster.journal.is_empty());
}

#[test]
fn declining_a_stage_writes_nothing() {
    let (plan, mut cluster) = synthetic_plan(&[1], false);
    cluster.decline = true;
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert!(matches!(end, ApplyState::Halted(Halt::Declined { .. })));
    assert_eq!(cluster.writes, 0);
}

#[test]
fn a_stale_plan_stops_the_stage_and_rolls_back_what_it_applied() {
    let (plan, mut cluster) = synthetic_plan(&[3], false);
    let before = contents(&cluster);
    // Someone edits the second object after the plan was made.
    cluster
        .objects
        .get_mut(&support::object("o0-1"))
        .expect("object")["spec"]["n"] = json!(7);
    let mut expected = before.clone();
    expected.get_mut(&support::object("o0-1")).expect("object")["spec"]["n"] = json!(7);
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert!(matches!(
        end,
        ApplyState::Halted(Halt::StageFailed {
            rolled_back: true,
            ..
        })
    ));
    assert_eq!(
        contents(&cluster),
        expected,
        "the first change was undone, the edit kept"
    );
    assert!(replay(&cluster.journal).applied.is_empty());
    // The third change was never attempted.
    assert!(
        !cluster
            .journal
            .iter()
            .any(|r| matches!(r, Record::Intent { change, .. } if change == "s0#3"))
    );
}

#[test]
fn no_rollback_on_failure_leaves_applied_changes() {
    let (plan, mut cluster) = synthetic_plan(&[2], false);
    cluster
        .objects
        .get_mut(&support::object("o0-1"))
        .expect("object")["spec"]["n"] = json!(7);
    let opts = ApplyOptions {
        no_rollback_on_failure: true,
        ..ApplyOptions::default()
    };
    let end = cluster.drive(&plan, &opts, fresh());
    assert!(matches!(
        end,
        ApplyState::Halted(Halt::StageFailed {
            rolled_back: false,
            ..
        })
    ));
    assert_eq!(replay(&cluster.journal).applied.len(), 1);
}

#[test]
fn a_timed_out_write_that_landed_is_not_sent_again() {
    let (plan, mut cluster) = synthetic_plan(&[2], false);
    cluster.write_faults.insert(0, WriteFault::LandThenTimeout);
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert_eq!(end, ApplyState::Done);
    assert_eq!(cluster.writes, 2);
    assert_eq!(applied_count(&cluster.journal, "s0#1"), 1);
    assert_eq!(cluster.sleeps, 1);
}

#[test]
fn a_timed_out_write_that_did_not_land_is_retried_after_a_read() {
    let (plan, mut cluster) = synthetic_plan(&[1], false);
    cluster.write_faults.insert(0, WriteFault::TimeoutNoLand);
    cluster.write_faults.insert(1, WriteFault::Throttle);
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert_eq!(end, ApplyState::Done);
    assert_eq!(cluster.writes, 1);
    assert_eq!(cluster.sleeps, 2);
}

#[test]
fn retries_are_bounded_and_back_off() {
    let (plan, mut cluster) = synthetic_plan(&[1], false);
    for i in 0..10 {
        cluster.write_faults.insert(i, WriteFault::Throttle);
    }
    let opts = ApplyOptions::default();
    let end = cluster.drive(&plan, &opts, fresh());
    assert!(matches!(end, ApplyState::Halted(Halt::StageFailed { .. })));
    assert_eq!(cluster.sleeps as u32, opts.max_attempts - 1);
}

#[test]
fn a_post_condition_timeout_rolls_the_stage_back() {
    let (plan, mut cluster) = synthetic_plan(&[2], true);
    let before = contents(&cluster);
    cluster.post_conditions = [true, true, false].into();
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert!(matches!(
        end,
        ApplyState::Halted(Halt::StageFailed {
            rolled_back: true,
            ..
        })
    ));
    assert_eq!(
        contents(&cluster),
        before,
        "the created PDB is deleted again"
    );
}

#[test]
fn rollback_undoes_everything_newest_first() {
    let (plan, mut cluster) = synthetic_plan(&[2, 2], true);
    let before = contents(&cluster);
    assert_eq!(
        cluster.drive(&plan, &ApplyOptions::default(), fresh()),
        ApplyState::Done
    );
    let queue = replay(&cluster.journal).rollback_queue();
    assert_eq!(queue[0].change, "s1#3");
    let end = cluster.drive(
        &plan,
        &ApplyOptions::default(),
        ApplyState::Ready(Mode::Rollback(queue)),
    );
    assert_eq!(end, ApplyState::Halted(Halt::RolledBack));
    assert_eq!(contents(&cluster), before);
    assert!(replay(&cluster.journal).applied.is_empty());
}

/// One change on a Deployment as the ingress stage makes it: more replicas, a rollout strategy,
/// and the only nodeSelector key removed.
fn unpinning_plan() -> (posture_core::plan::Plan, support::FakeCluster) {
    use posture_core::plan::patch::{Edit, build, path};
    let (mut plan, mut cluster) = synthetic_plan(&[1], false);
    let object = support::object("o0-0");
    let doc = json!({"metadata": {"name": "o0-0", "namespace": "apps"}, "spec": {
        "replicas": 1,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"spec": {"nodeSelector": {"kubernetes.io/hostname": "a"}, "containers": [{"name": "c"}]}},
    }});
    let built = build(
        &doc,
        &[
            Edit::Set(path(&["spec", "replicas"]), json!(2)),
            Edit::Set(
                path(&["spec", "strategy"]),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
            ),
            Edit::Remove(path(&[
                "spec",
                "template",
                "spec",
                "nodeSelector",
                "kubernetes.io/hostname",
            ])),
        ],
    )
    .expect("builds")
    .expect("a change");
    cluster.objects.insert(object, doc);
    plan.stages[0].changes[0].action = posture_core::plan::Action::Patch {
        forward: built.forward,
        inverse: built.inverse,
    };
    plan.sha256 = plan.content_hash();
    (plan, cluster)
}

#[test]
fn rollback_restores_a_map_the_server_dropped_and_the_strategy_last() {
    let (plan, mut cluster) = unpinning_plan();
    cluster.drops_empty = true;
    let before = contents(&cluster);
    assert_eq!(
        cluster.drive(&plan, &ApplyOptions::default(), fresh()),
        ApplyState::Done
    );
    let object = support::object("o0-0");
    assert!(
        cluster.objects[&object]
            .pointer("/spec/template/spec/nodeSelector")
            .is_none(),
        "the emptied map is dropped"
    );
    // The journaled inverse tests what the server stored: the map is absent.
    let Some(Record::Applied {
        inverse: posture_core::apply::journal::Operation::Patch { patch },
        ..
    }) = cluster
        .journal
        .iter()
        .find(|r| matches!(r, Record::Applied { .. }))
    else {
        panic!("an applied patch")
    };
    let ops = serde_json::to_value(patch).expect("json");
    assert!(
        ops.as_array().expect("ops").contains(
            &json!({"op": "test", "path": "/spec/template/spec/nodeSelector", "value": null})
        ),
        "{ops}"
    );

    let queue = replay(&cluster.journal).rollback_queue();
    let end = cluster.drive(
        &plan,
        &ApplyOptions::default(),
        ApplyState::Ready(Mode::Rollback(queue)),
    );
    assert_eq!(end, ApplyState::Halted(Halt::RolledBack));
    assert_eq!(contents(&cluster), before);
    // Two writes: the template and replicas under posture's strategy, then the strategy.
    let writes: Vec<Vec<String>> = cluster
        .journal
        .iter()
        .filter_map(|r| match r {
            Record::Intent {
                rollback: true,
                operation: posture_core::apply::journal::Operation::Patch { patch },
                ..
            } => Some(
                patch
                    .0
                    .iter()
                    .filter(|op| !matches!(op, json_patch::PatchOperation::Test(_)))
                    .map(|op| op.path().to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(
        writes,
        vec![
            vec![
                "/spec/template/spec/nodeSelector".to_owned(),
                "/spec/replicas".to_owned()
            ],
            vec!["/spec/strategy".to_owned()],
        ]
    );
}

#[test]
fn a_rollback_stuck_on_a_rollout_stops_and_a_second_run_finishes_it() {
    let (plan, mut cluster) = unpinning_plan();
    cluster.drops_empty = true;
    let before = contents(&cluster);
    assert_eq!(
        cluster.drive(&plan, &ApplyOptions::default(), fresh()),
        ApplyState::Done
    );
    // The apply's post-condition was met; the rollback's first rollout wait times out.
    cluster.post_conditions = [false].into_iter().collect();
    let queue = replay(&cluster.journal).rollback_queue();
    let end = cluster.drive(
        &plan,
        &ApplyOptions::default(),
        ApplyState::Ready(Mode::Rollback(queue)),
    );
    assert!(
        matches!(end, ApplyState::Halted(Halt::RolloutStuck { ref change, .. }) if change == "s0#1"),
        "{end:?}"
    );
    assert_eq!(
        replay(&cluster.journal).applied.len(),
        1,
        "not yet rolled back"
    );
    // Run again: the first write already landed (its tests fail, its effect shows), so the
    // rollback waits for the rollout again and goes on with the strategy.
    let queue = replay(&cluster.journal).rollback_queue();
    let end = cluster.drive(
        &plan,
        &ApplyOptions::default(),
        ApplyState::Ready(Mode::Rollback(queue)),
    );
    assert_eq!(end, ApplyState::Halted(Halt::RolledBack));
    assert_eq!(contents(&cluster), before);
    assert!(cluster.conflicts.is_empty(), "{:?}", cluster.conflicts);
}

#[test]
fn rollback_never_clobbers_a_concurrent_edit() {
    let (plan, mut cluster) = synthetic_plan(&[2], false);
    assert_eq!(
        cluster.drive(&plan, &ApplyOptions::default(), fresh()),
        ApplyState::Done
    );
    cluster
        .objects
        .get_mut(&support::object("o0-1"))
        .expect("object")["spec"]["n"] = json!(9);
    let queue = replay(&cluster.journal).rollback_queue();
    let end = cluster.drive(
        &plan,
        &ApplyOptions::default(),
        ApplyState::Ready(Mode::Rollback(queue)),
    );
    assert!(
        matches!(end, ApplyState::Halted(Halt::RollbackConflict { ref change }) if change == "s0#2")
    );
    assert_eq!(
        cluster.objects[&support::object("o0-1")]["spec"]["n"],
        json!(9)
    );
    let (object, expected, actual) = &cluster.conflicts[0];
    assert_eq!(object.name, "o0-1");
    assert_eq!(expected, &json!({"/spec/n": 2}));
    assert_eq!(actual, &json!({"/spec/n": 9}));
}

#[test]
fn resuming_after_a_crash_mid_write_reads_before_writing() {
    let (plan, mut cluster) = synthetic_plan(&[2], false);
    let header = JournalHeader::for_plan(&plan);
    assert_eq!(
        cluster.drive(&plan, &ApplyOptions::default(), fresh()),
        ApplyState::Done
    );
    // Cut the journal right after the second Intent: the write landed, the record did not.
    let cut = cluster
        .journal
        .iter()
        .position(|r| matches!(r, Record::Intent { change, .. } if change == "s0#2"))
        .expect("intent");
    let prefix = cluster.journal[..=cut].to_vec();
    let point = resume_point(&plan, &header, &prefix).expect("resumes");
    assert!(matches!(
        point,
        ResumePoint::InDoubt {
            stage: 0,
            change: 1,
            ..
        }
    ));
    let (effects, _) = step(
        &plan,
        &ApplyOptions::default(),
        ApplyState::Locking(Mode::Apply(point)),
        Event::LockAcquired,
    );
    assert_eq!(
        effects,
        vec![Effect::Read {
            object: support::object("o0-1")
        }]
    );
}

#[test]
fn a_flap_while_waiting_rolls_the_stage_back() {
    let (plan, _) = synthetic_plan(&[1], false);
    let posture_core::plan::Action::Patch { inverse, .. } = &plan.stages[0].changes[0].action
    else {
        panic!("patch");
    };
    let applied = posture_core::apply::journal::AppliedChange {
        stage: "s0".into(),
        change: "s0#1".into(),
        object: support::object("o0-0"),
        resource_version: None,
        inverse: posture_core::apply::journal::Operation::Patch {
            patch: inverse.clone(),
        },
    };
    let waiting = ApplyState::WaitingPostCondition(posture_core::apply::Progress {
        at: posture_core::apply::Cursor {
            stage: 0,
            change: 0,
        },
        applied: vec![applied.clone()],
        attempt: 0,
    });
    let (effects, state) = step(
        &plan,
        &ApplyOptions::default(),
        waiting,
        Event::FlapDetected("volume robustness oscillates".into()),
    );
    assert!(
        matches!(&effects[0], Effect::Journal(Record::Failed { reason, .. }) if reason.contains("flapping"))
    );
    assert_eq!(
        effects[1],
        Effect::DryRun {
            object: support::object("o0-0"),
            operation: applied.inverse.clone(),
        }
    );
    assert!(matches!(state, ApplyState::RollingBack(_)));
}

#[test]
fn a_journal_that_cannot_be_written_stops_everything() {
    let (plan, _) = synthetic_plan(&[1], false);
    let (effects, state) = step(
        &plan,
        &ApplyOptions::default(),
        fresh(),
        Event::JournalFailed("disk full".into()),
    );
    assert_eq!(effects, vec![Effect::ReleaseLock]);
    assert_eq!(
        state,
        ApplyState::Halted(Halt::JournalFailed("disk full".into()))
    );
}

#[test]
fn a_failed_stage_left_applied_must_be_rolled_back_before_resuming() {
    let (plan, mut cluster) = synthetic_plan(&[2], false);
    cluster
        .objects
        .get_mut(&support::object("o0-1"))
        .expect("object")["spec"]["n"] = json!(7);
    let opts = ApplyOptions {
        no_rollback_on_failure: true,
        ..ApplyOptions::default()
    };
    cluster.drive(&plan, &opts, fresh());
    let header = JournalHeader::for_plan(&plan);
    let point = resume_point(&plan, &header, &cluster.journal).expect("resumes");
    assert_eq!(point, ResumePoint::NeedsRollback { stage: "s0".into() });
    let end = cluster.drive(&plan, &opts, ApplyState::Ready(Mode::Apply(point)));
    assert_eq!(
        end,
        ApplyState::Halted(Halt::NeedsRollback { stage: "s0".into() })
    );
}

#[test]
fn a_journal_for_another_plan_is_refused() {
    let (plan, _) = synthetic_plan(&[1], false);
    let (other, _) = synthetic_plan(&[2], false);
    let header = JournalHeader::for_plan(&other);
    assert!(matches!(
        resume_point(&plan, &header, &[]),
        Err(posture_core::apply::journal::JournalError::PlanMismatch { .. })
    ));
}

#[test]
fn a_resumed_stage_asks_again_then_waits_for_the_change_that_landed_last() {
    let (plan, mut cluster) = synthetic_plan(&[2], false);
    assert_eq!(
        cluster.drive(&plan, &ApplyOptions::default(), fresh()),
        ApplyState::Done
    );
    let cut = cluster
        .journal
        .iter()
        .position(|r| matches!(r, Record::Applied { change, .. } if change == "s0#1"))
        .expect("applied");
    let header = JournalHeader::for_plan(&plan);
    let point = resume_point(&plan, &header, &cluster.journal[..=cut]).expect("resumes");
    let opts = ApplyOptions::default();
    let (effects, state) = step(
        &plan,
        &opts,
        ApplyState::Locking(Mode::Apply(point)),
        Event::LockAcquired,
    );
    assert!(matches!(&effects[..], [Effect::AskApproval { stage, .. }] if stage == "s0"));
    let (effects, state) = step(&plan, &opts, state, Event::Approved);
    assert_eq!(
        effects,
        vec![Effect::WaitFor(
            plan.stages[0].changes[0].post_condition.clone()
        )]
    );
    let (effects, _) = step(&plan, &opts, state, Event::PostConditionMet);
    assert!(matches!(&effects[..], [Effect::DryRun { object, .. }] if object.name == "o0-1"));
}

#[test]
fn api_answers_are_classified_by_status() {
    use posture_core::apply::ApiFailure;
    assert!(matches!(
        ApiFailure::from_status(Some(422), "test failed"),
        ApiFailure::TestFailed(_)
    ));
    assert!(matches!(
        ApiFailure::from_status(Some(409), "conflict"),
        ApiFailure::TestFailed(_)
    ));
    assert_eq!(
        ApiFailure::from_status(Some(429), ""),
        ApiFailure::Throttled
    );
    assert!(matches!(
        ApiFailure::from_status(None, "timeout"),
        ApiFailure::Unavailable(_)
    ));
    assert!(matches!(
        ApiFailure::from_status(Some(503), ""),
        ApiFailure::Unavailable(_)
    ));
    assert!(matches!(
        ApiFailure::from_status(Some(403), "forbidden"),
        ApiFailure::Rejected(_)
    ));
}

#[test]
fn a_write_in_doubt_is_read_back_even_after_the_retry_budget() {
    // Found by the random-fault property: the last permitted write lands but its answer is lost.
    let (plan, mut cluster) = synthetic_plan(&[2], false);
    cluster.write_faults = [
        (1, WriteFault::Throttle),
        (2, WriteFault::Throttle),
        (3, WriteFault::TimeoutNoLand),
        (4, WriteFault::LandThenTimeout),
    ]
    .into();
    let end = cluster.drive(&plan, &ApplyOptions::default(), fresh());
    assert_eq!(end, ApplyState::Done);
    assert_eq!(applied_count(&cluster.journal, "s0#2"), 1);
    assert_eq!(
        cluster.objects[&support::object("o0-1")]["spec"]["n"],
        json!(2)
    );
}

#[test]
fn a_written_journal_parses_back_to_the_same_resume_point_and_rollback_queue() {
    use posture_core::apply::journal::{
        encode_line, parse_journal, resume_from, rollback_queue_for,
    };
    let (plan, mut cluster) = synthetic_plan(&[1, 2], true);
    assert_eq!(
        cluster.drive(&plan, &ApplyOptions::default(), fresh()),
        ApplyState::Done
    );
    let header = JournalHeader::for_plan(&plan);
    let mut text = encode_line(&header);
    for record in &cluster.journal {
        text.push_str(&encode_line(record));
    }
    let parsed = parse_journal(text.as_bytes()).expect("parses");
    assert_eq!(parsed.records, cluster.journal);
    assert_eq!(resume_from(&plan, &parsed), Ok(ResumePoint::Done));
    let queue = rollback_queue_for(&plan, &parsed).expect("same plan");
    assert_eq!(queue.len(), 5);
    assert_eq!(queue[0].change, "s1#3");
}

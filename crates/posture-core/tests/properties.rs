//! Property tests: patches undo exactly, journals resume exactly, bad files never panic.

mod support;

use posture_core::apply::journal::{
    JournalHeader, Operation, Record, encode_line, parse_journal, resume_point,
};
use posture_core::apply::{ApplyOptions, ApplyState, Mode};
use posture_core::plan::Plan;
use posture_core::plan::patch::{Edit, PatchBuildError, build, starts_with_tests};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{FakeCluster, contents, synthetic_plan};

fn key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just("x/y"), Just("t~")].prop_map(String::from)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..4).prop_map(|n| json!(n)),
        prop_oneof![Just("x"), Just("y")].prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn edit() -> impl Strategy<Value = Edit> {
    let path = || prop::collection::vec(key(), 1..4);
    prop_oneof![
        (path(), json_value()).prop_map(|(p, v)| Edit::Set(p, v)),
        path().prop_map(Edit::Remove),
        path().prop_map(Edit::Pin),
    ]
}

proptest! {
    #[test]
    fn forward_then_inverse_gives_back_the_original(
        doc in json_object(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        match build(&doc, &edits) {
            Ok(Some(built)) => {
                prop_assert!(starts_with_tests(&built.forward));
                prop_assert!(starts_with_tests(&built.inverse));
                let mut after = doc.clone();
                json_patch::patch(&mut after, &built.forward).expect("forward applies");
                prop_assert_eq!(&after, &built.after);
                json_patch::patch(&mut after, &built.inverse).expect("inverse applies");
                prop_assert_eq!(&after, &doc);
                // The forward patch cannot apply twice: its tests pin what it replaces.
                let mut twice = built.after.clone();
                let again = json_patch::patch(&mut twice, &built.forward);
                prop_assert!(again.is_err() || twice == built.after);
            }
            Ok(None) => {}
            Err(e) => prop_assert!(matches!(e, PatchBuildError::NotAnObject { .. }), "{e}"),
        }
    }

    #[test]
    fn resuming_from_any_journal_prefix_finishes_without_repeating_a_write(
        shape in prop::collection::vec(1usize..3, 1..4),
        with_create in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        landed in any::<bool>(),
    ) {
        let (plan, mut full) = synthetic_plan(&shape, with_create);
        let header = JournalHeader::for_plan(&plan);
        let opts = ApplyOptions::default();
        let start = ApplyState::Ready(Mode::Apply(
            resume_point(&plan, &header, &[]).expect("fresh journal"),
        ));
        prop_assert_eq!(full.drive(&plan, &opts, start), ApplyState::Done);
        let complete = full.journal.clone();
        let k = cut.index(complete.len() + 1);
        let prefix = &complete[..k];

        // The cluster as it stood when the journal was cut.
        let (_, mut cluster) = synthetic_plan(&shape, with_create);
        let mut pending: Option<(String, Operation)> = None;
        for record in prefix {
            match record {
                Record::Intent { change, operation, .. } => {
                    pending = Some((change.clone(), operation.clone()));
                }
                Record::Applied { .. } => {
                    let (change, op) = pending.take().expect("intent before applied");
                    land(&plan, &mut cluster, &change, &op);
                }
                _ => {}
            }
        }
        if landed && let Some((change, op)) = pending {
            land(&plan, &mut cluster, &change, &op);
        }

        cluster.journal = prefix.to_vec();
        let point = resume_point(&plan, &header, prefix).expect("resumes");
        let end = cluster.drive(&plan, &opts, ApplyState::Ready(Mode::Apply(point)));
        prop_assert_eq!(end, ApplyState::Done);
        prop_assert_eq!(contents(&cluster), contents(&full));
        for change in plan.stages.iter().flat_map(|s| &s.changes) {
            let applied = cluster
                .journal
                .iter()
                .filter(|r| matches!(r, Record::Applied { change: c, .. } if *c == change.id))
                .count();
            prop_assert_eq!(applied, 1, "change {} applied {} times", change.id, applied);
        }
    }

    #[test]
    fn random_bytes_never_panic_the_journal_or_plan_readers(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_journal(&bytes);
        let _ = Plan::from_json(&bytes);
    }

    #[test]
    fn truncated_journals_keep_every_committed_record(cut in any::<prop::sample::Index>()) {
        let text = sample_journal();
        let k = cut.index(text.len() + 1);
        let committed_lines = text[..k].matches('\n').count();
        match parse_journal(&text.as_bytes()[..k]) {
            Ok(parsed) => {
                prop_assert_eq!(parsed.records.len(), committed_lines - 1);
                prop_assert_eq!(parsed.torn_tail.is_some(), !text[..k].ends_with('\n') && k > 0);
            }
            Err(e) => prop_assert!(committed_lines == 0, "{e}"),
        }
    }

    #[test]
    fn truncated_plans_are_errors(cut in any::<prop::sample::Index>()) {
        let (plan, _) = synthetic_plan(&[2, 1], true);
        let text = plan.to_json_pretty();
        let k = cut.index(text.len());
        prop_assert!(Plan::from_json(&text.as_bytes()[..k]).is_err());
    }
}

fn land(plan: &Plan, cluster: &mut FakeCluster, change: &str, op: &Operation) {
    let object = plan
        .stages
        .iter()
        .flat_map(|s| &s.changes)
        .find(|c| c.id == change)
        .expect("change in plan")
        .object
        .clone();
    let result = cluster.attempt(&object, op).expect("lands");
    cluster.commit(&object, result);
}

fn sample_journal() -> String {
    let (plan, mut cluster) = synthetic_plan(&[2, 1], true);
    assert_eq!(
        cluster.drive(
            &plan,
            &ApplyOptions::default(),
            ApplyState::Ready(Mode::Apply(posture_core::apply::journal::ResumePoint::At {
                stage: 0,
                change: 0,
                applied_in_stage: Vec::new()
            }))
        ),
        ApplyState::Done
    );
    let mut text = encode_line(&JournalHeader::for_plan(&plan));
    for record in &cluster.journal {
        text.push_str(&encode_line(record));
    }
    text
}

#[test]
fn corruption_before_the_last_line_is_an_error_with_its_line_number() {
    let text = sample_journal();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{not json";
    let broken = lines.join("\n") + "\n";
    assert_eq!(
        parse_journal(broken.as_bytes())
            .map(|_| ())
            .map_err(|e| match e {
                posture_core::apply::journal::JournalError::Corrupt { line, .. } => line,
                _ => 0,
            }),
        Err(3)
    );
}

fn write_fault() -> impl Strategy<Value = Option<support::WriteFault>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(support::WriteFault::LandThenTimeout)),
        1 => Just(Some(support::WriteFault::TimeoutNoLand)),
        1 => Just(Some(support::WriteFault::Throttle)),
    ]
}

proptest! {
    #[test]
    fn under_random_faults_apply_ends_consistent(
        shape in prop::collection::vec(1usize..3, 1..4),
        with_create in any::<bool>(),
        faults in prop::collection::vec(write_fault(), 0..24),
        posts in prop::collection::vec(prop::bool::weighted(0.85), 0..12),
    ) {
        let opts = ApplyOptions::default();
        let (plan, mut expected) = synthetic_plan(&shape, with_create);
        let original = contents(&expected);
        prop_assert_eq!(
            expected.drive(&plan, &opts, ApplyState::Ready(Mode::Apply(
                posture_core::apply::journal::ResumePoint::At { stage: 0, change: 0, applied_in_stage: Vec::new() }
            ))),
            ApplyState::Done
        );
        let (_, mut cluster) = synthetic_plan(&shape, with_create);
        cluster.write_faults = faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.map(|f| (i, f)))
            .collect();
        cluster.post_conditions = posts.into_iter().collect();
        let end = cluster.drive(&plan, &opts, ApplyState::Ready(Mode::Apply(
            posture_core::apply::journal::ResumePoint::At { stage: 0, change: 0, applied_in_stage: Vec::new() }
        )));
        // Every Applied follows its Intent, and no change is applied twice without a rollback
        // in between.
        let mut live = std::collections::BTreeSet::new();
        for (i, record) in cluster.journal.iter().enumerate() {
            match record {
                Record::Applied { change, .. } => {
                    let after_intent = matches!(&cluster.journal[i - 1], Record::Intent { change: c, .. } if c == change);
                    prop_assert!(after_intent, "applied without intent");
                    prop_assert!(live.insert(change.clone()), "{} applied twice", change);
                }
                Record::RolledBack { change, .. } => {
                    prop_assert!(live.remove(change));
                }
                _ => {}
            }
        }
        match end {
            ApplyState::Done => prop_assert_eq!(contents(&cluster), contents(&expected)),
            ApplyState::Halted(posture_core::apply::Halt::StageFailed { stage, rolled_back, .. }) => {
                // A rolled-back stage leaves none of its changes applied and its objects as they
                // were; the objects of every later stage are untouched.
                let state = posture_core::apply::journal::replay(&cluster.journal);
                if rolled_back {
                    prop_assert!(state.applied.iter().all(|a| a.stage != stage));
                }
                let index = plan.stages.iter().position(|s| s.id == stage).expect("stage");
                let now = contents(&cluster);
                let first = if rolled_back { index } else { index + 1 };
                for later in &plan.stages[first..] {
                    for change in &later.changes {
                        prop_assert_eq!(now.get(&change.object), original.get(&change.object));
                    }
                }
            }
            ApplyState::Halted(posture_core::apply::Halt::RolloutStuck { change, .. }) => {
                // A stage's rollback stopped waiting for a rollout: the inverse itself landed.
                let object = &plan
                    .stages
                    .iter()
                    .flat_map(|s| &s.changes)
                    .find(|c| c.id == change)
                    .expect("change in plan")
                    .object;
                let now = contents(&cluster);
                prop_assert_eq!(now.get(object), original.get(object));
            }
            other => prop_assert!(false, "unexpected end {:?}", other),
        }
    }
}

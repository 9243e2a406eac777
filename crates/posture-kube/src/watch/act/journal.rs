//! `watch --act` journals as plans. `posture rollback` runs the apply machine over a plan, and a
//! journal an act wrote has no plan file: its header names `act:<action>` instead of a plan hash.
//! The plan is rebuilt from the journal's own records (each change's forward patch from its
//! intent, its inverse from its outcome), so the machine's rules hold unchanged: every inverse is
//! dry-run first and pinned by its `test`s, and an object someone changed since is never
//! overwritten.

use posture_core::Section;
use posture_core::apply::journal::{
    AppliedChange, JournalHeader, Operation, ParsedJournal, Record, replay,
};
use posture_core::plan::{Change, ObservedVersion, Plan, Stage};

/// The header's `planSha256` of a journal `watch --act` wrote starts with this.
pub const ACT_JOURNAL_PREFIX: &str = "act:";

/// True for a journal `watch --act` wrote.
pub fn is_act_journal(header: &JournalHeader) -> bool {
    header.plan_sha256.starts_with(ACT_JOURNAL_PREFIX)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActJournalError {
    #[error("journal belongs to plan {0}, not to `watch --act`")]
    NotAnActJournal(String),
    #[error("journal records change {0} as applied but not the patch that applied it")]
    NoIntent(String),
    #[error(
        "journal records change {0} as something other than a patch; `watch --act` only patches"
    )]
    NotAPatch(String),
}

/// The plan the journal's still-applied changes form, and the rollback queue (newest first).
pub fn rollback_plan(
    journal: &ParsedJournal,
) -> Result<(Plan, Vec<AppliedChange>), ActJournalError> {
    if !is_act_journal(&journal.header) {
        return Err(ActJournalError::NotAnActJournal(
            journal.header.plan_sha256.clone(),
        ));
    }
    let state = replay(&journal.records);
    let mut stages: Vec<Stage> = Vec::new();
    let mut observed = Vec::new();
    for applied in &state.applied {
        let forward = journal
            .records
            .iter()
            .rev()
            .find_map(|record| match record {
                Record::Intent {
                    change,
                    operation,
                    rollback: false,
                    ..
                } if change == &applied.change => Some(operation),
                _ => None,
            })
            .ok_or_else(|| ActJournalError::NoIntent(applied.change.clone()))?;
        let (Operation::Patch { patch: forward }, Operation::Patch { patch: inverse }) =
            (forward, &applied.inverse)
        else {
            return Err(ActJournalError::NotAPatch(applied.change.clone()));
        };
        let change = Change::live_patch(
            applied.change.clone(),
            format!("{} on {}", applied.stage, applied.object),
            applied.object.clone(),
            applied.resource_version.clone(),
            forward.clone(),
            inverse.clone(),
        );
        observed.push(ObservedVersion {
            object: applied.object.clone(),
            resource_version: applied.resource_version.clone(),
        });
        match stages.iter_mut().find(|s| s.id == applied.stage) {
            Some(stage) => stage.changes.push(change),
            None => stages.push(Stage {
                id: applied.stage.clone(),
                section: Section::Risks,
                title: if applied.stage == posture_core::pause::PAUSE_STAGE {
                    "apply --pause".to_owned()
                } else {
                    format!("watch --act {}", applied.stage.trim_start_matches("act-"))
                },
                runbook_approval_required: false,
                rationale: "the runbook's Act during a storm, undone".into(),
                changes: vec![change],
            }),
        }
    }
    let plan = Plan::outside_planner(
        journal.header.cluster.clone(),
        journal.header.plan_sha256.clone(),
        observed,
        stages,
    );
    Ok((plan, state.rollback_queue()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_core::ObjectRef;
    use posture_core::apply::journal::{JOURNAL_SCHEMA, encode_line, parse_journal};
    use posture_core::plan::patch::{Edit, build, path};
    use posture_core::plan::{Action, ClusterIdentity};
    use serde_json::json;

    fn journal(header: &str, records: &[Record]) -> ParsedJournal {
        let mut text = encode_line(&JournalHeader {
            schema: JOURNAL_SCHEMA.into(),
            plan_sha256: header.into(),
            cluster: ClusterIdentity {
                server: "https://lab:6443".into(),
                kube_system_uid: "uid-1".into(),
            },
        });
        for record in records {
            text.push_str(&encode_line(record));
        }
        parse_journal(text.as_bytes()).expect("parses")
    }

    fn cordon_records() -> (Vec<Record>, json_patch::Patch, json_patch::Patch) {
        let node = json!({"metadata": {"name": "n2"}, "spec": {"unschedulable": false}});
        let pinned = build(
            &node,
            &[Edit::Set(path(&["spec", "unschedulable"]), json!(true))],
        )
        .expect("builds")
        .expect("a change");
        let object = ObjectRef::new("v1", "Node", None, "n2");
        let records = vec![
            Record::Intent {
                stage: "act-recordon-secondary".into(),
                change: "n2".into(),
                object: object.clone(),
                operation: Operation::Patch {
                    patch: pinned.forward.clone(),
                },
                rollback: false,
            },
            Record::Applied {
                stage: "act-recordon-secondary".into(),
                change: "n2".into(),
                object,
                resource_version: Some("7".into()),
                inverse: Operation::Patch {
                    patch: pinned.inverse.clone(),
                },
            },
            Record::StageComplete {
                stage: "act-recordon-secondary".into(),
            },
        ];
        (records, pinned.forward, pinned.inverse)
    }

    #[test]
    fn an_applied_act_becomes_a_verified_one_change_plan_and_queue() {
        let (records, forward, inverse) = cordon_records();
        let (plan, queue) =
            rollback_plan(&journal("act:recordon-secondary", &records)).expect("an act journal");
        assert!(plan.verify().is_ok());
        assert_eq!(plan.cluster.kube_system_uid, "uid-1");
        assert_eq!(plan.stages.len(), 1);
        let change = &plan.stages[0].changes[0];
        assert_eq!(change.id, "n2");
        assert_eq!(change.action, Action::Patch { forward, inverse });
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].change, "n2");
    }

    #[test]
    fn a_rolled_back_act_leaves_nothing_to_undo() {
        let (mut records, _, _) = cordon_records();
        records.push(Record::RolledBack {
            stage: "act-recordon-secondary".into(),
            change: "n2".into(),
        });
        let (plan, queue) =
            rollback_plan(&journal("act:recordon-secondary", &records)).expect("an act journal");
        assert!(plan.stages.is_empty());
        assert!(queue.is_empty());
    }

    #[test]
    fn a_plan_journal_is_not_an_act_journal() {
        let (records, _, _) = cordon_records();
        assert_eq!(
            rollback_plan(&journal("abc123", &records)).map(|_| ()),
            Err(ActJournalError::NotAnActJournal("abc123".into()))
        );
    }
}

//! `apply` and `rollback` end to end against a served homelab twin.

#[path = "apply/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};

use posture_core::apply::ApplyState;
use posture_core::plan::{Plan, PlanOptions};
use posture_core::{ObjectRef, Severity};
use serde_json::Value;

use support::{Lab, lab};

fn all_sections() -> PlanOptions {
    PlanOptions {
        allow_owned: true,
        ..PlanOptions::default()
    }
}

fn touched(plan: &Plan) -> BTreeSet<ObjectRef> {
    plan.stages
        .iter()
        .flat_map(|s| &s.changes)
        .filter(|c| c.is_live())
        .map(|c| c.object.clone())
        .collect()
}

/// What a rollback restores: spec, labels and annotations; for Longhorn volumes the spec only.
fn restorable(object: &ObjectRef, value: &Value) -> Value {
    let mut spec = value.get("spec").cloned().unwrap_or(Value::Null);
    // Where a volume is attached is Longhorn's business, not the plan's.
    if object.kind == "Volume"
        && let Some(map) = spec.as_object_mut()
    {
        map.remove("nodeID");
    }
    serde_json::json!({
        "spec": spec,
        "labels": value.pointer("/metadata/labels"),
        "annotations": value.pointer("/metadata/annotations"),
        "data": value.get("data"),
        "value": value.get("value"),
    })
}

async fn restorable_state(lab: &Lab, objects: &BTreeSet<ObjectRef>) -> BTreeMap<ObjectRef, Value> {
    let mut out = BTreeMap::new();
    for object in objects {
        let value = lab.get(object).await;
        out.insert(
            object.clone(),
            value.map(|v| restorable(object, &v)).unwrap_or(Value::Null),
        );
    }
    out
}

/// Replays the twin's history: the most replicas rebuilding at once on one node.
fn most_rebuilds_per_node(lab: &Lab) -> usize {
    lab.twin.with_twin(|t| {
        let mut node_of: BTreeMap<String, String> = BTreeMap::new();
        let mut rebuilding: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut most = 0;
        for change in t.store.history() {
            match change.key.plural {
                "replicas" => {
                    if let Some(node) = change
                        .object
                        .pointer("/spec/nodeID")
                        .and_then(Value::as_str)
                    {
                        node_of.insert(change.key.name.clone(), node.to_owned());
                    }
                }
                "engines" => {
                    let wo: BTreeSet<String> = change
                        .object
                        .pointer("/status/replicaModeMap")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .filter(|(_, mode)| mode.as_str() == Some("WO"))
                                .map(|(r, _)| r.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    rebuilding.insert(change.key.name.clone(), wo);
                }
                _ => continue,
            }
            let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
            for replica in rebuilding.values().flatten() {
                let node = node_of.get(replica).map(String::as_str).unwrap_or("?");
                *per_node.entry(node).or_default() += 1;
            }
            most = most.max(per_node.values().copied().max().unwrap_or(0));
        }
        most
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_meets_the_runbook_and_rollback_restores_every_object() {
    let lab = lab().await;
    let plan = lab.plan(all_sections()).await;
    assert!(!plan.stages.is_empty(), "the homelab needs changes");
    let objects = touched(&plan);
    let before = restorable_state(&lab, &objects).await;

    let outcome = lab.apply(&plan, "apply.journal", lab.settings()).await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");

    // The runbook's checks pass on what is live now: every section, not only those applied.
    let snapshot = lab.snapshot().await;
    let report = posture_core::checks::run(&snapshot, &posture_core::Policy::default());
    let bad: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| format!("{} {}: {}", f.id, f.object, f.message))
        .collect();
    assert!(bad.is_empty(), "findings left after apply: {bad:#?}");

    // Every volume: healthy, one replica on each node.
    let longhorn = snapshot.longhorn.as_ref().expect("longhorn");
    let nodes: BTreeSet<String> = snapshot
        .nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    for volume in &longhorn.volumes {
        assert_eq!(
            volume.status.robustness.as_deref(),
            Some("healthy"),
            "{}",
            volume.name()
        );
        let on: Vec<&str> = longhorn
            .replicas
            .iter()
            .filter(|r| r.volume_name() == Some(volume.name()) && !r.is_failed())
            .filter_map(|r| r.node_id())
            .collect();
        let on_set: BTreeSet<String> = on.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(on.len(), nodes.len(), "{}: {on:?}", volume.name());
        assert_eq!(on_set, nodes, "{}", volume.name());
    }
    assert!(
        most_rebuilds_per_node(&lab) <= 1,
        "two rebuilds at once on one node"
    );

    // Rollback: every touched object is back to what the plan found.
    let (undone, outcome) = lab.roll_back(&plan, "apply.journal").await;
    assert!(undone > 0);
    assert!(
        matches!(
            outcome.state,
            ApplyState::Halted(posture_core::apply::Halt::RolledBack)
        ),
        "{outcome:?}"
    );
    assert!(outcome.conflicts.is_empty(), "{:?}", outcome.conflicts);
    let after = restorable_state(&lab, &objects).await;
    for (object, was) in &before {
        assert_eq!(&after[object], was, "{object} differs after rollback");
    }
    // Rollback waited for the rollouts its inverses started: every workload has finished
    // rolling out and no pod is left Pending.
    let snapshot = lab.snapshot().await;
    let mut unfinished = Vec::new();
    for d in &snapshot.deployments {
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = d.status.clone().unwrap_or_default();
        let counts = [
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
        ];
        if counts.iter().any(|c| c.unwrap_or(0) != want) {
            unfinished.push(format!(
                "{}: want {want}, have {counts:?}",
                ObjectRef::of(d)
            ));
        }
    }
    for s in &snapshot.stateful_sets {
        let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = s.status.clone().unwrap_or_default();
        if status.ready_replicas.unwrap_or(0) != want || status.replicas != want {
            unfinished.push(format!("{}: want {want}", ObjectRef::of(s)));
        }
    }
    let pending: Vec<String> = snapshot
        .pods
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
        .map(|p| ObjectRef::of(p).to_string())
        .collect();
    assert!(
        unfinished.is_empty(),
        "rollouts left unfinished: {unfinished:#?}"
    );
    assert!(pending.is_empty(), "pods left Pending: {pending:#?}");

    // Apply again from a fresh plan, then a third plan is empty.
    let plan = lab.plan(all_sections()).await;
    let outcome = lab.apply(&plan, "again.journal", lab.settings()).await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    let replan = lab.plan(all_sections()).await;
    assert!(
        replan.stages.is_empty(),
        "re-plan: {:#?}",
        replan.stages.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
    lab.twin.shutdown().await;
}

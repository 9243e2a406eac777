//! A fake cluster that carries out the apply machine's effects, with scripted faults.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use posture_core::apply::journal::{Operation, Record};
use posture_core::apply::{ApiFailure, ApplyOptions, ApplyState, Effect, Event, step};
use posture_core::object::ObjectRef;
use posture_core::plan::patch::{Edit, apply_as_server, build, path};
use posture_core::plan::{
    Action, Change, ClusterIdentity, Delivery, PLAN_SCHEMA, Plan, PlanOptions, PostCondition, Stage,
};
use posture_core::report::Section;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// The write lands but the answer times out.
    LandThenTimeout,
    /// The request times out without landing.
    TimeoutNoLand,
    Throttle,
}

#[derive(Debug, Default)]
pub struct FakeCluster {
    pub objects: BTreeMap<ObjectRef, Value>,
    pub journal: Vec<Record>,
    pub conflicts: Vec<(ObjectRef, Value, Value)>,
    pub writes: usize,
    pub sleeps: usize,
    /// Faults for the nth write call (0-based), counting retries.
    pub write_faults: BTreeMap<usize, WriteFault>,
    /// Post-conditions answered, in order: `false` is a timeout. Empty means met.
    pub post_conditions: VecDeque<bool>,
    pub decline: bool,
    pub identity: Option<ClusterIdentity>,
    /// Store objects as a real API server does, without the maps and lists a patch emptied.
    pub drops_empty: bool,
    write_calls: usize,
    rv: u64,
}

impl FakeCluster {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Applies an operation to a copy of the store; `Err` for a failed test/precondition.
    pub fn attempt(&self, object: &ObjectRef, op: &Operation) -> Result<Option<Value>, String> {
        match op {
            Operation::Patch { patch } => {
                let mut doc = self.objects.get(object).cloned().ok_or("not found")?;
                apply_as_server(&mut doc, patch).map_err(|e| e.to_string())?;
                if self.drops_empty {
                    drop_empty(&mut doc);
                }
                Ok(Some(doc))
            }
            Operation::Create { manifest } => {
                if self.objects.contains_key(object) {
                    return Err("already exists".into());
                }
                Ok(Some(manifest.clone()))
            }
            Operation::Delete { uid } => {
                let doc = self.objects.get(object).ok_or("not found")?;
                let actual = doc.pointer("/metadata/uid").and_then(Value::as_str);
                if uid.is_some() && actual != uid.as_deref() {
                    return Err("uid precondition failed".into());
                }
                Ok(None)
            }
        }
    }

    pub fn commit(
        &mut self,
        object: &ObjectRef,
        result: Option<Value>,
    ) -> (Option<String>, Option<String>) {
        match result {
            None => {
                self.objects.remove(object);
                (None, None)
            }
            Some(mut doc) => {
                let rv = self.next_rv();
                doc["metadata"]["resourceVersion"] = json!(rv);
                if doc.pointer("/metadata/uid").is_none() {
                    doc["metadata"]["uid"] = json!(format!("uid-{}-{rv}", object.name));
                }
                let uid = doc
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.objects.insert(object.clone(), doc);
                (Some(rv), uid)
            }
        }
    }

    /// Carries out one effect; returns the event it produces, if any.
    fn perform(&mut self, plan: &Plan, effect: &Effect) -> Option<Event> {
        match effect {
            Effect::ReadClusterIdentity => Some(Event::ClusterIdentity(
                self.identity
                    .clone()
                    .unwrap_or_else(|| plan.cluster.clone()),
            )),
            Effect::AcquireLock => Some(Event::LockAcquired),
            Effect::ReleaseLock | Effect::Skip { .. } => None,
            Effect::AskApproval { .. } => Some(if self.decline {
                Event::Declined
            } else {
                Event::Approved
            }),
            Effect::DryRun { object, operation } => Some(match self.attempt(object, operation) {
                Ok(_) => Event::DryRunSucceeded,
                Err(e) => Event::Failed(ApiFailure::TestFailed(e)),
            }),
            Effect::Write { object, operation } => {
                let call = self.write_calls;
                self.write_calls += 1;
                let fault = self.write_faults.get(&call).copied();
                if fault == Some(WriteFault::Throttle) {
                    return Some(Event::Failed(ApiFailure::Throttled));
                }
                if fault == Some(WriteFault::TimeoutNoLand) {
                    return Some(Event::Failed(ApiFailure::Unavailable("timeout".into())));
                }
                match self.attempt(object, operation) {
                    Err(e) => Some(Event::Failed(ApiFailure::TestFailed(e))),
                    Ok(result) => {
                        self.writes += 1;
                        let (resource_version, uid) = self.commit(object, result);
                        if fault == Some(WriteFault::LandThenTimeout) {
                            Some(Event::Failed(ApiFailure::Unavailable("timeout".into())))
                        } else {
                            Some(Event::WriteSucceeded {
                                resource_version,
                                uid,
                                object: self.objects.get(object).cloned(),
                            })
                        }
                    }
                }
            }
            Effect::Read { object } => Some(Event::ObjectRead(self.objects.get(object).cloned())),
            Effect::Journal(record) => {
                self.journal.push(record.clone());
                None
            }
            Effect::WaitFor(_) => Some(match self.post_conditions.pop_front() {
                Some(false) => Event::PostConditionTimedOut,
                _ => Event::PostConditionMet,
            }),
            Effect::Sleep(_) => {
                self.sleeps += 1;
                Some(Event::Slept)
            }
            Effect::ShowConflict {
                object,
                expected,
                actual,
            } => {
                self.conflicts
                    .push((object.clone(), expected.clone(), actual.clone()));
                None
            }
        }
    }

    /// Drives the machine from `state` until it stops asking for anything.
    pub fn drive(&mut self, plan: &Plan, opts: &ApplyOptions, mut state: ApplyState) -> ApplyState {
        let mut event = Event::Start;
        for _ in 0..10_000 {
            let (effects, next) = step(plan, opts, state, event);
            state = next;
            let mut produced = None;
            for effect in &effects {
                if let Some(e) = self.perform(plan, effect) {
                    produced = Some(e);
                }
            }
            match produced {
                Some(e) => event = e,
                None => return state,
            }
        }
        panic!("machine did not stop");
    }
}

/// Leaves out every empty map and list, as Go's `omitempty` does for the map and slice
/// fields of the built-in types.
pub fn drop_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(drop_empty);
            map.retain(|_, v| {
                !matches!(v, Value::Object(m) if m.is_empty())
                    && !matches!(v, Value::Array(a) if a.is_empty())
            });
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

pub fn identity() -> ClusterIdentity {
    ClusterIdentity {
        server: "https://fake:6443".into(),
        kube_system_uid: "uid-kube-system".into(),
    }
}

pub fn object(name: &str) -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", Some("apps"), name)
}

pub fn initial_object(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "apps"}, "spec": {"n": 0}})
}

/// A plan of `shape[i]` changes in stage i; change j of a stage sets `/spec/n` of its own
/// object to j + 1 (objects are per stage and change), plus an optional create per stage.
pub fn synthetic_plan(shape: &[usize], with_create: bool) -> (Plan, FakeCluster) {
    let mut cluster = FakeCluster::default();
    let mut stages = Vec::new();
    for (si, &n) in shape.iter().enumerate() {
        let mut changes = Vec::new();
        for ci in 0..n {
            let name = format!("o{si}-{ci}");
            let obj = object(&name);
            let doc = initial_object(&name);
            let built = build(&doc, &[Edit::Set(path(&["spec", "n"]), json!(ci + 1))])
                .expect("builds")
                .expect("a change");
            cluster.objects.insert(obj.clone(), doc);
            changes.push(Change {
                id: format!("s{si}#{}", ci + 1),
                summary: String::new(),
                object: obj.clone(),
                resource_version: None,
                owner: None,
                delivery: Delivery::Live,
                action: Action::Patch {
                    forward: built.forward,
                    inverse: built.inverse,
                },
                post_condition: PostCondition::ObjectExists { object: obj },
            });
        }
        if with_create {
            let obj = ObjectRef::new(
                "policy/v1",
                "PodDisruptionBudget",
                Some("apps"),
                format!("pdb{si}"),
            );
            changes.push(Change {
                id: format!("s{si}#{}", n + 1),
                summary: String::new(),
                object: obj.clone(),
                resource_version: None,
                owner: None,
                delivery: Delivery::Live,
                action: Action::Create {
                    manifest: json!({"metadata": {"name": obj.name, "namespace": "apps",
                        "labels": {"app.kubernetes.io/managed-by": "posture"}}}),
                },
                post_condition: PostCondition::ObjectExists { object: obj },
            });
        }
        stages.push(Stage {
            id: format!("s{si}"),
            section: Section::Longhorn,
            title: format!("stage {si}"),
            runbook_approval_required: true,
            rationale: String::new(),
            changes,
        });
    }
    let mut plan = Plan {
        schema: PLAN_SCHEMA.into(),
        cluster: identity(),
        source: "synthetic".into(),
        options: PlanOptions::default(),
        primary: Some("a".into()),
        secondary: Some("b".into()),
        observed: Vec::new(),
        stages,
        notes: Vec::new(),
        blockers: Vec::new(),
        sha256: String::new(),
    };
    plan.sha256 = plan.content_hash();
    (plan, cluster)
}

/// Objects without the bookkeeping the fake adds (resourceVersion, uid).
pub fn contents(cluster: &FakeCluster) -> BTreeMap<ObjectRef, Value> {
    cluster
        .objects
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("resourceVersion");
                meta.remove("uid");
            }
            (k.clone(), v)
        })
        .collect()
}

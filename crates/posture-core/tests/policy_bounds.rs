//! No policy that validation accepts can plan data loss: over the whole key space, in and out of
//! bounds, every accepted policy's plan for the homelab keeps each volume's redundancy and never
//! asks Longhorn for fewer than two replicas unless the policy explains why.

use std::collections::{BTreeMap, BTreeSet};

use posture_core::plan::{Action, ClusterIdentity, Plan, PlanInputs, PlanOptions, plan};
use posture_core::policy::Policy;
use posture_core::policy::validate::leaves;
use posture_core::{Snapshot, load_snapshot_str};
use proptest::prelude::*;
use serde_json::{Value, json};

const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");

fn homelab() -> Snapshot {
    load_snapshot_str("homelab.yaml", HOMELAB).expect("scenario loads")
}

fn inputs() -> PlanInputs {
    PlanInputs {
        cluster: ClusterIdentity {
            server: "https://192.168.1.10:6443".into(),
            kube_system_uid: "3f1c0d2e-0000-4000-8000-000000000001".into(),
        },
        options: PlanOptions::default(),
    }
}

/// Per volume, the number of distinct nodes holding a healthy replica: its redundancy now.
fn redundancy(snapshot: &Snapshot) -> BTreeMap<String, usize> {
    let lh = snapshot.longhorn.as_ref().expect("homelab runs Longhorn");
    lh.volumes
        .iter()
        .map(|v| {
            let nodes: BTreeSet<&str> = lh
                .replicas
                .iter()
                .filter(|r| r.volume_name() == Some(v.name()) && !r.is_failed())
                .filter_map(|r| r.node_id())
                .collect();
            (v.name().to_owned(), nodes.len())
        })
        .collect()
}

/// Every value a forward patch sets at `path` on an object of `kind`, with the object's name.
fn set_values<'a>(plan: &'a Plan, kind: &'a str, path: &'a str) -> Vec<(String, Value)> {
    plan.stages
        .iter()
        .flat_map(|s| &s.changes)
        .filter(|c| c.object.kind == kind)
        .filter_map(|c| match &c.action {
            Action::Patch { forward, .. } => Some((c, forward)),
            Action::Create { .. } => None,
        })
        .flat_map(|(c, forward)| {
            let ops = serde_json::to_value(forward).expect("patch serializes");
            ops.as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|op| {
                    matches!(op["op"].as_str(), Some("add" | "replace"))
                        && op["path"].as_str() == Some(path)
                })
                .map(|op| (c.object.name.clone(), op["value"].clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A replica count as Longhorn writes it: a number, a string, or per data engine as JSON.
fn counts(value: &Value) -> Vec<i64> {
    match value {
        Value::Number(n) => n.as_i64().into_iter().collect(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(per_engine)) => per_engine.values().flat_map(counts).collect(),
            _ => s.trim().parse().into_iter().collect(),
        },
        _ => Vec::new(),
    }
}

/// The property itself: `Err` names the change that would lower redundancy.
fn plan_keeps_redundancy(snapshot: &Snapshot, policy: &Policy) -> Result<(), String> {
    let plan = plan(snapshot, policy, &inputs()).map_err(|e| format!("cannot plan: {e}"))?;
    let floor_new = if policy.longhorn.allow_fewer_replicas.is_some() {
        1
    } else {
        2
    };
    let healthy = redundancy(snapshot);
    for (volume, value) in set_values(&plan, "Volume", "/spec/numberOfReplicas") {
        let n = value
            .as_i64()
            .ok_or(format!("{volume}: {value} is not a count"))?;
        let floor = healthy[&volume] as i64;
        if n < floor || n < floor_new.min(floor.max(1)) || n < 1 {
            return Err(format!(
                "volume {volume}: numberOfReplicas -> {n}, but {floor} nodes hold a healthy replica"
            ));
        }
    }
    for (name, value) in set_values(&plan, "Setting", "/value") {
        if name == "default-replica-count" {
            for n in counts(&value) {
                if n < floor_new {
                    return Err(format!("setting {name} -> {n}"));
                }
            }
        }
    }
    for (name, value) in set_values(&plan, "ConfigMap", "/data/storageclass.yaml") {
        let manifest: Value = serde_norway::from_str(value.as_str().unwrap_or_default())
            .map_err(|e| format!("{name}: {e}"))?;
        for n in counts(&manifest["parameters"]["numberOfReplicas"]) {
            if n < floor_new {
                return Err(format!("StorageClass from {name}: numberOfReplicas -> {n}"));
            }
        }
    }
    Ok(())
}

/// What validation says, and if it accepts, whether the plan keeps every volume's redundancy.
fn judge(yaml: &str) -> Result<bool, String> {
    let Ok(policy) = Policy::from_yaml("p.yaml", yaml) else {
        return Ok(false);
    };
    let snapshot = homelab();
    if policy.validate_for(&snapshot).is_err() {
        return Ok(false);
    }
    plan_keeps_redundancy(&snapshot, &policy).map(|()| true)
}

/// Candidate values for a key, in and out of bounds, by the kind of its default.
fn candidates(key: &str, default: &Value) -> Vec<Value> {
    match key {
        "topology.primary" | "topology.secondary" => vec![
            json!("miniserver"),
            json!("worker-1"),
            json!("nosuchnode"),
            json!(""),
            Value::Null,
        ],
        "longhorn.settings.default-replica-count" => {
            ["-1", "0", "1", "2", "3", "20", "21", "x", "{\"v1\":\"1\"}"]
                .iter()
                .map(|s| json!(s))
                .collect()
        }
        "longhorn.allowFewerReplicas" => vec![
            Value::Null,
            json!({"reason": ""}),
            json!({"reason": "scratch volumes, restored from backup"}),
        ],
        "ingress.controller" => vec![
            Value::Null,
            json!({"namespace": "ingress", "name": "haproxy"}),
            json!({"namespace": "", "name": ""}),
        ],
        "detect.leases.renewGapFactor" => vec![
            json!(0.0),
            json!(0.5),
            json!(1.0),
            json!(2.5),
            json!(100.0),
            json!(1000.0),
            json!(-1.0),
        ],
        _ => match default {
            Value::Number(_) => [-5i64, 0, 1, 2, 3, 5, 20, 21, 65535, 70000, 2_592_001]
                .iter()
                .map(|n| json!(n))
                .collect(),
            Value::String(_) => ["", "/ready", "ready", "50m", "lots", "10.43.0.10", "a/b"]
                .iter()
                .map(|s| json!(s))
                .collect(),
            Value::Array(_) => vec![
                json!([]),
                json!(["block-if-contains-last-replica"]),
                json!(["always-allow"]),
                json!(["nonsense"]),
                json!(["kube-system"]),
                json!(["default/web"]),
            ],
            _ => vec![Value::Null],
        },
    }
}

/// Keys whose values decide replica counts and placement: changed often.
const HOT: &[&str] = &[
    "topology.primary",
    "topology.secondary",
    "longhorn.replicasPerVolume",
    "longhorn.settings.default-replica-count",
    "longhorn.allowFewerReplicas",
];

/// Every key of the policy (leaves of the default, optional keys whole) with its default.
fn key_space() -> Vec<(String, Value)> {
    let tree = serde_json::to_value(Policy::default()).expect("serializes");
    leaves(&tree)
        .into_iter()
        .filter(|(key, _)| !key.ends_with("[]"))
        .collect()
}

fn set(tree: &mut Value, key: &str, value: Value) {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        node = &mut node[*part];
    }
    node[parts[parts.len() - 1]] = value;
}

/// A policy file: the defaults with some keys changed, each to a value in or out of bounds.
fn policy_yaml() -> impl Strategy<Value = String> {
    let keys = key_space();
    let choices: Vec<BoxedStrategy<Option<Value>>> = keys
        .iter()
        .map(|(key, default)| {
            let values = candidates(key, default);
            let change = proptest::sample::select(values).prop_map(Some);
            let weight = if HOT.contains(&key.as_str()) { 2 } else { 40 };
            prop_oneof![weight => Just(None), 1 => change].boxed()
        })
        .collect();
    choices.prop_map(move |picked| {
        let mut tree = serde_json::to_value(Policy::default()).expect("serializes");
        for ((key, _), value) in keys.iter().zip(picked) {
            if let Some(value) = value {
                set(&mut tree, key, value);
            }
        }
        serde_norway::to_string(&tree).expect("yaml")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_accepted_policy_plans_below_a_volumes_redundancy(yaml in policy_yaml()) {
        match judge(&yaml) {
            Err(e) => prop_assert!(false, "{e}\npolicy:\n{yaml}"),
            Ok(accepted) => if std::env::var_os("POLICY_BOUNDS_TRACE").is_some() {
                eprintln!("accepted={accepted}");
            }
        }
    }
}

/// The replica keys in every combination, so accepted policies are surely among the cases.
#[test]
fn every_combination_of_replica_keys_is_safe_or_rejected() {
    let overrides = [
        "",
        "  allowFewerReplicas: {reason: ''}\n",
        "  allowFewerReplicas: {reason: scratch}\n",
    ];
    let mut accepted = 0;
    for replicas in [-1, 0, 1, 2, 3, 21] {
        for setting in ["0", "1", "2", "3", "x"] {
            for allow in overrides {
                let yaml = format!(
                    "longhorn:\n  replicasPerVolume: {replicas}\n  settings: {{default-replica-count: \"{setting}\"}}\n{allow}"
                );
                match judge(&yaml) {
                    Ok(true) => accepted += 1,
                    Ok(false) => {}
                    Err(e) => panic!("{e}\npolicy:\n{yaml}"),
                }
            }
        }
    }
    // Two nodes: 2 and "2" always; 1 and "1" only with an override that gives a reason.
    // Without it: (2, "2"). With it: (2 or 1) x ("2" or "1").
    assert_eq!(accepted, 1 + 2 * 2, "accepted combinations");
}

#[test]
fn one_replica_with_an_override_never_lowers_an_existing_volume() {
    let policy = Policy::from_yaml(
        "p.yaml",
        "longhorn:\n  replicasPerVolume: 1\n  settings: {default-replica-count: \"1\"}\n  allowFewerReplicas: {reason: scratch}\n",
    )
    .expect("explained override");
    let snapshot = homelab();
    plan_keeps_redundancy(&snapshot, &policy).expect("keeps redundancy");
    let plan = plan(&snapshot, &policy, &inputs()).expect("plans");
    assert!(set_values(&plan, "Volume", "/spec/numberOfReplicas").is_empty());
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("never lowers a volume's redundancy")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn nodes_the_cluster_does_not_have_are_rejected() {
    let snapshot = homelab();
    let policy =
        Policy::from_yaml("p.yaml", "topology: {primary: nosuchnode}\n").expect("in bounds");
    let err = policy.validate_for(&snapshot).expect_err("no such node");
    assert_eq!(err[0].key, "topology.primary");
    assert!(
        err[0].message.contains("no node \"nosuchnode\""),
        "{}",
        err[0]
    );
    let policy =
        Policy::from_yaml("p.yaml", "longhorn: {replicasPerVolume: 3}\n").expect("in bounds");
    let err = policy.validate_for(&snapshot).expect_err("more than nodes");
    assert_eq!(err[0].key, "longhorn.replicasPerVolume");
}

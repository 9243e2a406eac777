//! Inverses that hold on a real API server.
//!
//! A plan's inverse is built against the object as posture expects it after the forward patch.
//! A real API server stores something else: it drops maps and lists a patch emptied (Go's
//! `omitempty`), leaves out zero values, and defaults fields the patch did not send. An inverse
//! that tests `nodeSelector == {}` then fails forever against an object that has no
//! `nodeSelector` at all. So the inverse that is journaled is rebuilt ([`rebase`]) on the object
//! the server answered the write with: its `test`s pin what the server really stored, and a
//! restore under a parent the server dropped restores that parent whole.
//!
//! "Absent" is tested as `{"op": "test", "path": P, "value": null}`: the API server's JSON patch
//! implementation passes such a test when P's parent exists and P does not (and fails it when P
//! holds anything but null), which is exactly the "test absent" JSON Patch lacks.

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation, TestOperation,
};
use serde_json::{Map, Value};

use super::journal::Operation;
use crate::object::ObjectRef;
use crate::plan::{Placement, PostCondition};

fn tokens(pointer: &PointerBuf) -> Vec<String> {
    pointer.tokens().map(|t| t.decoded().into_owned()).collect()
}

fn pointer(tokens: &[String]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().map(String::as_str))
}

fn lookup<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    doc.pointer(pointer(tokens).as_str())
}

/// How many leading tokens of `path` exist in `doc`.
fn existing_depth(doc: &Value, path: &[String]) -> usize {
    (0..=path.len())
        .rev()
        .find(|&n| lookup(doc, &path[..n]).is_some())
        .unwrap_or(0)
}

/// Rebuilds `planned` (an inverse as planned) on `stored`, the object as the API server
/// stored it after the forward write. Every mutation of the plan's inverse is kept; its
/// `test`s are replaced by tests of what `stored` holds. A restore whose parent the server
/// dropped (an emptied map or list) becomes one `add` of the shallowest missing ancestor,
/// holding everything the inverse restores under it.
///
/// Whether a mutation is an `add`, a `replace` or a `remove` is decided on the object as the
/// mutations before it leave it (they run in order); what the `test`s expect is what `stored`
/// holds (they all run first).
pub fn rebase(planned: &Patch, stored: &Value) -> Patch {
    let mut tests: Vec<PatchOperation> = Vec::new();
    let mut mutations: Vec<PatchOperation> = Vec::new();
    let mut working = stored.clone();
    // Missing ancestors being rebuilt: (path, value so far, index of its `add` in mutations);
    // `None` once the ancestor itself is removed again.
    let mut rebuilt: Vec<(Vec<String>, Option<Value>, usize)> = Vec::new();
    for op in &planned.0 {
        let (path, value) = match op {
            PatchOperation::Add(a) => (tokens(&a.path), Some(&a.value)),
            PatchOperation::Replace(r) => (tokens(&r.path), Some(&r.value)),
            PatchOperation::Remove(r) => (tokens(&r.path), None),
            // Tests are rebuilt; move and copy are never planned.
            _ => continue,
        };
        if let Some((root, whole, _)) = rebuilt.iter_mut().find(|(root, ..)| path.starts_with(root))
        {
            let within = &path[root.len()..];
            match value {
                Some(value) => set_within(whole, within, value.clone()),
                // Undoing an add under (or of) the rebuilt ancestor: take it out again.
                None => remove_within(whole, within),
            }
            continue;
        }
        let depth = existing_depth(&working, &path);
        if depth + 1 < path.len() {
            // An ancestor is gone: the server dropped what the forward patch emptied.
            let Some(value) = value else { continue };
            let root = path[..=depth].to_vec();
            let mut whole = Some(skeleton(&path[depth + 1]));
            set_within(&mut whole, &path[depth + 1..], value.clone());
            test_stored(&mut tests, stored, &root);
            mutations.push(PatchOperation::Add(AddOperation {
                path: pointer(&root),
                value: Value::Null,
            }));
            rebuilt.push((root, whole, mutations.len() - 1));
            continue;
        }
        let parent = &path[..path.len().saturating_sub(1)];
        let mutation = if !path.is_empty() && lookup(&working, parent).is_some_and(Value::is_array)
        {
            // In a list an `add` at an index inserts (a replace would not): keep the operation
            // as planned and pin the whole list.
            test_stored(&mut tests, stored, parent);
            op.clone()
        } else {
            let present = lookup(&working, &path).is_some();
            if value.is_none() && !present {
                // Removing what the server already left out needs nothing.
                continue;
            }
            test_stored(&mut tests, stored, &path);
            match (value, present) {
                (None, false) => continue,
                (None, true) => PatchOperation::Remove(RemoveOperation {
                    path: pointer(&path),
                }),
                (Some(value), true) => PatchOperation::Replace(ReplaceOperation {
                    path: pointer(&path),
                    value: value.clone(),
                }),
                (Some(value), false) => PatchOperation::Add(AddOperation {
                    path: pointer(&path),
                    value: value.clone(),
                }),
            }
        };
        let _ = json_patch::patch(&mut working, std::slice::from_ref(&mutation));
        mutations.push(mutation);
    }
    let mut dropped = Vec::new();
    for (_, whole, index) in rebuilt {
        match whole {
            // Rebuilt and then removed again: the ancestor stays absent, as it is now.
            None => dropped.push(index),
            Some(whole) => {
                if let Some(PatchOperation::Add(add)) = mutations.get_mut(index) {
                    add.value = whole;
                }
            }
        }
    }
    tests.extend(
        mutations
            .into_iter()
            .enumerate()
            .filter(|(index, _)| !dropped.contains(index))
            .map(|(_, op)| op),
    );
    Patch(tests)
}

/// Tests what `stored` holds at `path` (null: absent). A path whose parent `stored` lacks is
/// not tested: an earlier mutation creates that parent, and its own test pins the ancestor.
fn test_stored(tests: &mut Vec<PatchOperation>, stored: &Value, path: &[String]) {
    let parent_stored = path.is_empty() || lookup(stored, &path[..path.len() - 1]).is_some();
    if parent_stored {
        test(
            tests,
            path,
            lookup(stored, path).cloned().unwrap_or(Value::Null),
        );
    }
}

/// Adds a `test` of `path` unless one is there already.
fn test(tests: &mut Vec<PatchOperation>, path: &[String], value: Value) {
    let path = pointer(path);
    if !tests.iter().any(|op| *op.path() == path) {
        tests.push(PatchOperation::Test(TestOperation { path, value }));
    }
}

/// An empty container for the token that goes into it: an array for an index, else an object.
fn skeleton(token: &str) -> Value {
    if token == "-" || token.parse::<usize>().is_ok() {
        Value::Array(Vec::new())
    } else {
        Value::Object(Map::new())
    }
}

/// Sets `path` under `doc`, creating missing containers (and `doc` itself when it was removed);
/// an index past the end appends.
fn set_within(doc: &mut Option<Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *doc = Some(value);
        return;
    };
    let mut at = doc.get_or_insert_with(|| skeleton(&path[0]));
    for (i, token) in parents.iter().enumerate() {
        let next = skeleton(&path[i + 1]);
        at = match at {
            Value::Object(map) => map.entry(token.clone()).or_insert(next),
            Value::Array(items) => {
                let index = token
                    .parse::<usize>()
                    .unwrap_or(items.len())
                    .min(items.len());
                if index == items.len() {
                    items.push(next);
                }
                &mut items[index]
            }
            _ => return,
        };
    }
    match at {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let index = last
                .parse::<usize>()
                .unwrap_or(items.len())
                .min(items.len());
            items.insert(index, value);
        }
        _ => {}
    }
}

/// Removes `path` under `doc` if it is there; an empty path removes `doc` itself.
fn remove_within(doc: &mut Option<Value>, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        *doc = None;
        return;
    };
    let Some(mut at) = doc.as_mut() else { return };
    for token in parents {
        let next = match at {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        let Some(next) = next else { return };
        at = next;
    }
    match at {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) => {
            if let Some(index) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// True when `doc` shows the patch's mutations: every added or replaced value is there (the
/// server may have added defaults inside it, and may have left out empty maps, empty lists and
/// zero values), every removed path is gone. Decides, from an object read back, whether a
/// write landed, whatever the server normalized.
///
/// The mutations are replayed onto `doc` itself (a step that no longer applies is skipped), so
/// a later operation on a path wins over an earlier one as it did on the server; `doc` shows
/// the patch when every mutated path already holds what the replay puts there.
pub fn effect_holds(patch: &Patch, doc: &Value) -> bool {
    let mutations: Vec<&PatchOperation> = patch
        .0
        .iter()
        .filter(|op| !matches!(op, PatchOperation::Test(_)))
        .collect();
    let mut replayed = doc.clone();
    for op in &mutations {
        let _ = json_patch::patch(&mut replayed, std::slice::from_ref(*op));
    }
    !mutations.is_empty()
        && mutations.iter().all(|op| {
            let path = op.path().as_str();
            match replayed.pointer(path) {
                Some(wanted) => shows(doc.pointer(path), wanted),
                None => doc.pointer(path).is_none_or(is_empty_or_zero),
            }
        })
}

/// True when `actual` carries everything `wanted` says, allowing for what a server adds
/// (defaults) and leaves out (empty maps and lists, zero values).
fn shows(actual: Option<&Value>, wanted: &Value) -> bool {
    match (wanted, actual) {
        (Value::Object(want), Some(Value::Object(have))) => {
            want.iter().all(|(key, value)| shows(have.get(key), value))
        }
        (Value::Array(want), Some(Value::Array(have))) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| shows(Some(h), w))
        }
        (wanted, None) => is_empty_or_zero(wanted),
        (wanted, Some(actual)) => wanted == actual,
    }
}

fn is_empty_or_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_empty_or_zero),
    }
}

/// The writes a rollback makes for one change, in order.
///
/// A Deployment's inverse that restores the rollout strategy together with the pod template
/// runs in two writes: the template (and replicas) first, still under the strategy posture set,
/// then the strategy. Posture's strategies are chosen so a rollout cannot deadlock (with
/// required anti-affinity on two nodes a surge pod has nowhere to go, so an old pod goes first:
/// maxSurge 0). Restoring the old strategy in the same write would let the rollout surge a new
/// pod that the old pods' anti-affinity keeps from scheduling, while the old ones wait for it.
pub fn rollback_writes(object: &ObjectRef, inverse: &Operation) -> Vec<Operation> {
    let Operation::Patch { patch } = inverse else {
        return vec![inverse.clone()];
    };
    if object.kind != "Deployment" {
        return vec![inverse.clone()];
    }
    let under_strategy = |op: &PatchOperation| op.path().as_str().starts_with("/spec/strategy");
    let touches = |op: &PatchOperation| !matches!(op, PatchOperation::Test(_));
    let strategy = patch.0.iter().any(|op| touches(op) && under_strategy(op));
    let rest = patch.0.iter().any(|op| touches(op) && !under_strategy(op));
    if !(strategy && rest) {
        return vec![inverse.clone()];
    }
    let (first, last): (Vec<PatchOperation>, Vec<PatchOperation>) =
        patch.0.iter().cloned().partition(|op| !under_strategy(op));
    vec![
        Operation::Patch {
            patch: Patch(first),
        },
        Operation::Patch { patch: Patch(last) },
    ]
}

/// What a rollback waits for after writing `object`, as the server answered the write: a
/// workload's rollout to complete with the replicas it now asks for.
pub fn rollout_after(object: &ObjectRef, written: Option<&Value>) -> Option<PostCondition> {
    if !matches!(
        object.kind.as_str(),
        "Deployment" | "StatefulSet" | "DaemonSet"
    ) {
        return None;
    }
    let written = written?;
    let replicas = if object.kind == "DaemonSet" {
        written
            .pointer("/status/desiredNumberScheduled")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    } else {
        written
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    };
    Some(PostCondition::RolloutComplete {
        workload: object.clone(),
        replicas: i32::try_from(replicas).unwrap_or(i32::MAX),
        placement: Placement::Anywhere,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(ops: Value) -> Patch {
        serde_json::from_value(ops).expect("a patch")
    }

    fn ops(patch: &Patch) -> Value {
        serde_json::to_value(patch).expect("json")
    }

    #[test]
    fn a_restore_under_a_dropped_map_adds_the_map_whole() {
        // The forward patch removed the only nodeSelector key; the server dropped the map.
        let planned = patch(json!([
            {"op": "test", "path": "/spec/nodeSelector", "value": {}},
            {"op": "add", "path": "/spec/nodeSelector/kubernetes.io~1hostname", "value": "a"},
        ]));
        let stored = json!({"spec": {"containers": []}});
        assert_eq!(
            ops(&rebase(&planned, &stored)),
            json!([
                {"op": "test", "path": "/spec/nodeSelector", "value": null},
                {"op": "add", "path": "/spec/nodeSelector", "value": {"kubernetes.io/hostname": "a"}},
            ])
        );
    }

    #[test]
    fn several_restores_under_one_dropped_parent_become_one_add() {
        let planned = patch(json!([
            {"op": "add", "path": "/spec/tolerations/0", "value": {"key": "a"}},
            {"op": "add", "path": "/spec/tolerations/1", "value": {"key": "b"}},
            {"op": "add", "path": "/spec/nodeSelector/x", "value": "1"},
            {"op": "add", "path": "/spec/nodeSelector/y", "value": "2"},
        ]));
        let stored = json!({"spec": {}});
        assert_eq!(
            ops(&rebase(&planned, &stored)),
            json!([
                {"op": "test", "path": "/spec/tolerations", "value": null},
                {"op": "test", "path": "/spec/nodeSelector", "value": null},
                {"op": "add", "path": "/spec/tolerations", "value": [{"key": "a"}, {"key": "b"}]},
                {"op": "add", "path": "/spec/nodeSelector", "value": {"x": "1", "y": "2"}},
            ])
        );
    }

    #[test]
    fn present_paths_are_tested_with_what_the_server_stored() {
        // The server defaulted maxSurge inside the strategy the forward patch set.
        let planned = patch(json!([
            {"op": "test", "path": "/spec/strategy", "value": {"type": "RollingUpdate"}},
            {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}},
            {"op": "remove", "path": "/spec/paused"},
        ]));
        let stored = json!({"spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "paused": true,
        }});
        assert_eq!(
            ops(&rebase(&planned, &stored)),
            json!([
                {"op": "test", "path": "/spec/strategy", "value": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}},
                {"op": "test", "path": "/spec/paused", "value": true},
                {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}},
                {"op": "remove", "path": "/spec/paused"},
            ])
        );
    }

    #[test]
    fn removing_what_the_server_left_out_needs_nothing() {
        // The forward patch added an empty map; the server never stored it.
        let planned = patch(json!([{"op": "remove", "path": "/spec/nodeSelector"}]));
        assert!(rebase(&planned, &json!({"spec": {}})).0.is_empty());
    }

    #[test]
    fn an_insert_into_a_list_tests_the_list_and_keeps_the_insert() {
        let planned = patch(json!([
            {"op": "add", "path": "/spec/tolerations/1", "value": {"key": "b"}},
        ]));
        let stored = json!({"spec": {"tolerations": [{"key": "a"}, {"key": "c"}]}});
        assert_eq!(
            ops(&rebase(&planned, &stored)),
            json!([
                {"op": "test", "path": "/spec/tolerations", "value": [{"key": "a"}, {"key": "c"}]},
                {"op": "add", "path": "/spec/tolerations/1", "value": {"key": "b"}},
            ])
        );
    }

    #[test]
    fn an_effect_shows_through_defaults_and_dropped_empties() {
        let forward = patch(json!([
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/spec/probe", "value": {"httpGet": {"port": 80}, "initialDelaySeconds": 0}},
            {"op": "remove", "path": "/spec/nodeSelector/k"},
            {"op": "replace", "path": "/spec/tolerations", "value": []},
        ]));
        let stored = json!({"spec": {
            "replicas": 2,
            "probe": {"httpGet": {"port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1},
        }});
        assert!(effect_holds(&forward, &stored));
        let not_yet = json!({"spec": {"replicas": 1, "nodeSelector": {"k": "v"}}});
        assert!(!effect_holds(&forward, &not_yet));
    }

    #[test]
    fn a_deployment_inverse_restores_its_strategy_last() {
        let deployment = ObjectRef::new("apps/v1", "Deployment", Some("ns"), "web");
        let inverse = Operation::Patch {
            patch: patch(json!([
                {"op": "test", "path": "/spec/replicas", "value": 2},
                {"op": "test", "path": "/spec/strategy", "value": {"type": "RollingUpdate"}},
                {"op": "replace", "path": "/spec/replicas", "value": 1},
                {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}},
            ])),
        };
        let writes = rollback_writes(&deployment, &inverse);
        assert_eq!(writes.len(), 2);
        let Operation::Patch { patch: last } = &writes[1] else {
            panic!("a patch")
        };
        assert!(
            last.0
                .iter()
                .all(|op| op.path().as_str() == "/spec/strategy")
        );
        let daemon_set = ObjectRef::new("apps/v1", "DaemonSet", Some("ns"), "web");
        assert_eq!(rollback_writes(&daemon_set, &inverse).len(), 1);
    }
}

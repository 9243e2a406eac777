//! Pinned JSON Patches (RFC 6902): every forward patch and every inverse opens with `test`
//! operations on the values it expects, so a concurrent edit makes the patch fail instead of
//! being overwritten.
//!
//! JSON Patch has no "test absent". Where a patch adds a path that does not exist, it tests the
//! nearest ancestor that does exist, whole: if anyone has since added the path (or anything else
//! under that ancestor) the test fails. That is stricter than needed, which is the safe side.
//! The one exception is an object's own `metadata`: it holds the `resourceVersion` and
//! `managedFields` every write to the object changes (a controller's status update included), so
//! a test of it whole would refuse the patch for nothing. There the missing member is tested
//! absent instead, as `null`, which the API server's JSON patch passes exactly when the member is
//! missing (see [`apply_as_server`]).
//!
//! # Caveats
//! A `test` compares values as the snapshot serialized them. Fields the typed model does not know
//! are missing there, so on an API server newer than the model a test on a whole ancestor can
//! fail against the live object: the plan is then refused as stale, never misapplied.

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation, TestOperation,
};
use serde_json::Value;

/// One edit the planner wants on an object, addressed by path tokens (unescaped).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Make the path hold this value, creating missing parent objects.
    Set(Vec<String>, Value),
    /// Remove the path if present.
    Remove(Vec<String>),
    /// Test the path's observed value without changing it (e.g. a container's name before
    /// editing it by index).
    Pin(Vec<String>),
}

/// Path tokens from string slices.
pub fn path(tokens: &[&str]) -> Vec<String> {
    tokens.iter().map(|t| (*t).to_owned()).collect()
}

/// A forward patch and the patch that undoes it, both pinned.
#[derive(Debug, Clone, PartialEq)]
pub struct PinnedPatch {
    pub forward: Patch,
    pub inverse: Patch,
    /// The document after the forward patch.
    pub after: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum PatchBuildError {
    #[error("cannot edit {path}: a parent is not an object")]
    NotAnObject { path: String },
    #[error("failed to verify the built patch at {path}")]
    Verify {
        path: String,
        #[source]
        source: json_patch::PatchError,
    },
    #[error("the inverse of the patch at {path} does not restore the original object")]
    NotReversible { path: String },
}

pub(crate) fn pointer(tokens: &[String]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().map(String::as_str))
}

fn lookup<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    doc.pointer(pointer(tokens).as_str())
}

/// Deepest prefix of `tokens` (possibly all of it) that exists in `doc`.
fn existing_prefix(doc: &Value, tokens: &[String]) -> usize {
    (0..=tokens.len())
        .rev()
        .find(|&n| lookup(doc, &tokens[..n]).is_some())
        .unwrap_or(0)
}

/// Builds the pinned forward and inverse patches for `edits` on `observed`. `None` when the
/// object already looks the way the edits want it.
pub fn build(observed: &Value, edits: &[Edit]) -> Result<Option<PinnedPatch>, PatchBuildError> {
    let mut working = observed.clone();
    let mut pins: Vec<Vec<String>> = Vec::new();
    let mut mutations: Vec<PatchOperation> = Vec::new();
    let mut undo: Vec<PatchOperation> = Vec::new();
    for edit in edits {
        match edit {
            Edit::Pin(tokens) => pins.push(pin_path(observed, tokens)),
            Edit::Set(tokens, value) => {
                let existing = existing_prefix(&working, tokens);
                let (op, inverse) = if existing == tokens.len() {
                    let current = lookup(&working, tokens).cloned().unwrap_or(Value::Null);
                    if &current == value {
                        continue;
                    }
                    (
                        PatchOperation::Replace(ReplaceOperation {
                            path: pointer(tokens),
                            value: value.clone(),
                        }),
                        PatchOperation::Replace(ReplaceOperation {
                            path: pointer(tokens),
                            value: current,
                        }),
                    )
                } else {
                    if !lookup(&working, &tokens[..existing]).is_some_and(Value::is_object) {
                        return Err(PatchBuildError::NotAnObject {
                            path: pointer(tokens).to_string(),
                        });
                    }
                    let at = &tokens[..=existing];
                    let nested = tokens[existing + 1..]
                        .iter()
                        .rev()
                        .fold(value.clone(), |inner, key| {
                            Value::Object([(key.clone(), inner)].into_iter().collect())
                        });
                    (
                        PatchOperation::Add(AddOperation {
                            path: pointer(at),
                            value: nested,
                        }),
                        PatchOperation::Remove(RemoveOperation { path: pointer(at) }),
                    )
                };
                pins.push(pin_path(observed, tokens));
                apply_one(&mut working, &op)?;
                mutations.push(op);
                undo.push(inverse);
            }
            Edit::Remove(tokens) => {
                let Some(current) = lookup(&working, tokens).cloned() else {
                    continue;
                };
                let op = PatchOperation::Remove(RemoveOperation {
                    path: pointer(tokens),
                });
                pins.push(pin_path(observed, tokens));
                apply_one(&mut working, &op)?;
                mutations.push(op);
                undo.push(PatchOperation::Add(AddOperation {
                    path: pointer(tokens),
                    value: current,
                }));
            }
        }
    }
    if mutations.is_empty() {
        return Ok(None);
    }
    undo.reverse();
    let forward = pinned(observed, &pins, mutations);
    let inverse_pins: Vec<Vec<String>> = undo
        .iter()
        .map(|op| pin_path(&working, &tokens_of(op)))
        .collect();
    let inverse = pinned(&working, &inverse_pins, undo);

    // Self-check: forward lands on `working`, the inverse brings back the original.
    let mut check = observed.clone();
    apply_as_server(&mut check, &forward).map_err(|source| PatchBuildError::Verify {
        path: source.path.to_string(),
        source,
    })?;
    apply_as_server(&mut check, &inverse).map_err(|source| PatchBuildError::Verify {
        path: source.path.to_string(),
        source,
    })?;
    if &check != observed {
        return Err(PatchBuildError::NotReversible {
            path: forward
                .0
                .last()
                .map(|op| op.path().to_string())
                .unwrap_or_default(),
        });
    }
    Ok(Some(PinnedPatch {
        forward,
        inverse,
        after: working,
    }))
}

fn tokens_of(op: &PatchOperation) -> Vec<String> {
    op.path()
        .tokens()
        .map(|t| t.decoded().into_owned())
        .collect()
}

/// The path whose value a patch touching `tokens` must test: the path itself when it exists,
/// else its nearest existing ancestor, or, under the object's `metadata`, the missing member
/// itself (tested absent).
fn pin_path(doc: &Value, tokens: &[String]) -> Vec<String> {
    let existing = existing_prefix(doc, tokens);
    if existing == 1 && tokens.len() > 1 && tokens[0] == "metadata" {
        return tokens[..2].to_vec();
    }
    tokens[..existing].to_vec()
}

/// Leading `test`s (deduplicated; a path under an already tested one is skipped) and then the
/// mutations.
fn pinned(doc: &Value, pins: &[Vec<String>], mutations: Vec<PatchOperation>) -> Patch {
    let mut kept: Vec<&Vec<String>> = Vec::new();
    let mut sorted: Vec<&Vec<String>> = pins.iter().collect();
    sorted.sort_by_key(|p| p.len());
    for pin in sorted {
        if !kept.iter().any(|k| pin.starts_with(k)) {
            kept.push(pin);
        }
    }
    // Keep the tests in the order the edits were given, for a readable patch.
    let mut ops: Vec<PatchOperation> = Vec::new();
    for pin in pins {
        if kept.contains(&pin) && !ops.iter().any(|op| tokens_of(op) == *pin) {
            // A pin that does not exist is a member of `metadata`, tested absent.
            ops.push(PatchOperation::Test(TestOperation {
                path: pointer(pin),
                value: lookup(doc, pin).cloned().unwrap_or(Value::Null),
            }));
        }
    }
    ops.extend(mutations);
    Patch(ops)
}

fn apply_one(doc: &mut Value, op: &PatchOperation) -> Result<(), PatchBuildError> {
    json_patch::patch(doc, std::slice::from_ref(op)).map_err(|source| PatchBuildError::Verify {
        path: source.path.to_string(),
        source,
    })
}

/// True when the patch opens with at least one `test` and every `test` precedes every mutation.
pub fn starts_with_tests(patch: &Patch) -> bool {
    let tests = patch
        .0
        .iter()
        .take_while(|op| matches!(op, PatchOperation::Test(_)))
        .count();
    tests > 0
        && patch.0[tests..]
            .iter()
            .all(|op| !matches!(op, PatchOperation::Test(_)))
}

/// The patch without its `test`s: what belongs in a source repository, where the observed
/// values are not the point.
pub fn without_tests(patch: &Patch) -> Patch {
    Patch(
        patch
            .0
            .iter()
            .filter(|op| !matches!(op, PatchOperation::Test(_)))
            .cloned()
            .collect(),
    )
}

/// The values the patch's `test`s expect, keyed by JSON pointer, for conflict reports.
pub fn expected_values(patch: &Patch) -> Value {
    Value::Object(
        patch
            .0
            .iter()
            .filter_map(|op| match op {
                PatchOperation::Test(t) => Some((t.path.to_string(), t.value.clone())),
                _ => None,
            })
            .collect(),
    )
}

/// What the patch's `test`s find in `doc`, keyed the same way as [`expected_values`].
pub fn actual_values(patch: &Patch, doc: &Value) -> Value {
    Value::Object(
        patch
            .0
            .iter()
            .filter_map(|op| match op {
                PatchOperation::Test(t) => Some((
                    t.path.to_string(),
                    doc.pointer(t.path.as_str()).cloned().unwrap_or(Value::Null),
                )),
                _ => None,
            })
            .collect(),
    )
}

/// True when every `test` of the patch holds on `doc`, as the API server judges them: a test
/// for `null` holds on an absent path whose parent exists.
pub fn tests_hold(patch: &Patch, doc: &Value) -> bool {
    patch.0.iter().all(|op| match op {
        PatchOperation::Test(t) => test_holds(doc, t),
        _ => true,
    })
}

fn test_holds(doc: &Value, test: &TestOperation) -> bool {
    match doc.pointer(test.path.as_str()) {
        Some(found) => found == &test.value,
        None => test.value.is_null() && parent_exists(doc, &test.path),
    }
}

fn parent_exists(doc: &Value, path: &json_patch::jsonptr::Pointer) -> bool {
    path.parent()
        .is_some_and(|parent| doc.pointer(parent.as_str()).is_some())
}

/// Applies a patch as the Kubernetes API server does: all or nothing, RFC 6902 except that a
/// `test` for `null` passes on an absent path whose parent exists (the server's JSON patch
/// library reads a missing member as null). posture's inverses use that to test "absent".
pub fn apply_as_server(doc: &mut Value, patch: &Patch) -> Result<(), json_patch::PatchError> {
    let mut working = doc.clone();
    for op in &patch.0 {
        if let PatchOperation::Test(t) = op
            && t.value.is_null()
            && working.pointer(t.path.as_str()).is_none()
            && parent_exists(&working, &t.path)
        {
            continue;
        }
        json_patch::patch(&mut working, std::slice::from_ref(op))?;
    }
    *doc = working;
    Ok(())
}

/// One place where an object no longer holds what posture expected.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// JSON pointer of the deepest value that differs.
    pub path: String,
    /// `None`: posture expected nothing there.
    pub expected: Option<Value>,
    /// `None`: the object has nothing there.
    pub actual: Option<Value>,
}

/// The paths that differ between what a patch's `test`s expected and what the object holds
/// (both as [`expected_values`] and [`actual_values`] give them, keyed by pointer), down to the
/// deepest value that differs, so a conflict report names the few fields someone changed
/// instead of printing two whole objects.
pub fn differences(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut found = Vec::new();
    let (Some(expected), Some(actual)) = (expected.as_object(), actual.as_object()) else {
        diff_at(String::new(), Some(expected), Some(actual), &mut found);
        return found;
    };
    for (path, want) in expected {
        diff_at(path.clone(), Some(want), actual.get(path), &mut found);
    }
    found
}

fn diff_at(path: String, want: Option<&Value>, have: Option<&Value>, found: &mut Vec<Difference>) {
    let want = want.filter(|v| !v.is_null());
    let have = have.filter(|v| !v.is_null());
    if want == have {
        return;
    }
    match (want, have) {
        (Some(Value::Object(w)), Some(Value::Object(h))) => {
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(h.keys()).collect();
            for key in keys {
                let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                diff_at(child, w.get(key), h.get(key), found);
            }
        }
        (Some(Value::Array(w)), Some(Value::Array(h))) if w.len() == h.len() => {
            for (i, (w, h)) in w.iter().zip(h).enumerate() {
                diff_at(format!("{path}/{i}"), Some(w), Some(h), found);
            }
        }
        _ => found.push(Difference {
            path,
            expected: want.cloned(),
            actual: have.cloned(),
        }),
    }
}

/// Serializes an object to JSON without the `null`s optional fields leave behind, so paths
/// that are absent in the API are absent here too.
pub fn to_json<T: serde::Serialize>(object: &T) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    strip_nulls(&mut value);
    value
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_tests_the_old_value_and_inverse_tests_the_new() {
        let doc = json!({"spec": {"replicas": 1}});
        let built = build(&doc, &[Edit::Set(path(&["spec", "replicas"]), json!(2))])
            .expect("builds")
            .expect("a change");
        assert_eq!(
            serde_json::to_value(&built.forward).expect("json"),
            json!([
                {"op": "test", "path": "/spec/replicas", "value": 1},
                {"op": "replace", "path": "/spec/replicas", "value": 2}
            ])
        );
        assert_eq!(
            serde_json::to_value(&built.inverse).expect("json"),
            json!([
                {"op": "test", "path": "/spec/replicas", "value": 2},
                {"op": "replace", "path": "/spec/replicas", "value": 1}
            ])
        );
    }

    #[test]
    fn adding_a_missing_path_tests_the_nearest_ancestor() {
        let doc = json!({"spec": {"template": {"spec": {"containers": []}}}});
        let built = build(
            &doc,
            &[Edit::Set(
                path(&[
                    "spec",
                    "template",
                    "spec",
                    "nodeSelector",
                    "kubernetes.io/hostname",
                ]),
                json!("a"),
            )],
        )
        .expect("builds")
        .expect("a change");
        let ops = serde_json::to_value(&built.forward).expect("json");
        assert_eq!(ops[0]["op"], "test");
        assert_eq!(ops[0]["path"], "/spec/template/spec");
        assert_eq!(ops[1]["op"], "add");
        assert_eq!(ops[1]["path"], "/spec/template/spec/nodeSelector");
        assert_eq!(ops[1]["value"], json!({"kubernetes.io/hostname": "a"}));
        let inverse = serde_json::to_value(&built.inverse).expect("json");
        assert_eq!(inverse[0]["path"], "/spec/template/spec/nodeSelector");
        assert_eq!(inverse[1]["op"], "remove");
    }

    #[test]
    fn differences_name_only_the_changed_leaves() {
        let expected = json!({"/spec/template/spec": {
            "nodeSelector": {"kubernetes.io/hostname": "a"},
            "containers": [{"name": "c", "image": "x:1"}],
            "dnsPolicy": "ClusterFirst",
        }, "/spec/replicas": 2});
        let actual = json!({"/spec/template/spec": {
            "nodeSelector": {"kubernetes.io/hostname": "b"},
            "containers": [{"name": "c", "image": "x:2"}],
            "dnsPolicy": "ClusterFirst",
            "hostNetwork": true,
        }, "/spec/replicas": 2});
        let paths: Vec<(String, Option<Value>, Option<Value>)> = differences(&expected, &actual)
            .into_iter()
            .map(|d| (d.path, d.expected, d.actual))
            .collect();
        assert_eq!(
            paths,
            vec![
                (
                    "/spec/template/spec/containers/0/image".into(),
                    Some(json!("x:1")),
                    Some(json!("x:2"))
                ),
                (
                    "/spec/template/spec/hostNetwork".into(),
                    None,
                    Some(json!(true))
                ),
                (
                    "/spec/template/spec/nodeSelector/kubernetes.io~1hostname".into(),
                    Some(json!("a")),
                    Some(json!("b"))
                ),
            ]
        );
    }

    #[test]
    fn nothing_to_do_gives_no_patch() {
        let doc = json!({"a": 1});
        assert!(
            build(
                &doc,
                &[
                    Edit::Set(path(&["a"]), json!(1)),
                    Edit::Remove(path(&["b"]))
                ]
            )
            .expect("builds")
            .is_none()
        );
    }

    /// `metadata` changes with every write (resourceVersion, managedFields): a new member of it
    /// is tested absent, not the whole of it, and still refuses to overwrite a member someone
    /// added meanwhile.
    #[test]
    fn a_new_member_of_metadata_is_tested_absent_not_the_whole_metadata() {
        let doc = json!({"metadata": {"name": "so", "resourceVersion": "7"}, "spec": {}});
        let built = build(
            &doc,
            &[Edit::Set(
                path(&["metadata", "annotations", "k"]),
                json!("v"),
            )],
        )
        .expect("builds")
        .expect("a change");
        assert_eq!(
            serde_json::to_value(&built.forward).expect("JSON"),
            json!([
                {"op": "test", "path": "/metadata/annotations", "value": null},
                {"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}},
            ])
        );
        // A status write moved the resourceVersion: the patch still applies.
        let mut moved = doc.clone();
        moved["metadata"]["resourceVersion"] = json!("8");
        apply_as_server(&mut moved, &built.forward).expect("applies");
        assert_eq!(moved["metadata"]["annotations"], json!({"k": "v"}));
        // Someone added annotations meanwhile: refused, theirs kept.
        let mut annotated = doc.clone();
        annotated["metadata"]["annotations"] = json!({"theirs": "x"});
        assert!(apply_as_server(&mut annotated, &built.forward).is_err());
        assert_eq!(annotated["metadata"]["annotations"], json!({"theirs": "x"}));
        // Deeper paths keep the whole-ancestor test.
        let built = build(&doc, &[Edit::Set(path(&["spec", "a", "b"]), json!(1))])
            .expect("builds")
            .expect("a change");
        assert_eq!(
            serde_json::to_value(&built.forward.0[0]).expect("JSON"),
            json!({"op": "test", "path": "/spec", "value": {}})
        );
    }

    #[test]
    fn a_concurrent_edit_makes_the_forward_patch_fail() {
        let doc = json!({"spec": {"replicas": 1}});
        let built = build(&doc, &[Edit::Set(path(&["spec", "replicas"]), json!(2))])
            .expect("builds")
            .expect("a change");
        let mut changed = json!({"spec": {"replicas": 3}});
        assert!(json_patch::patch(&mut changed, &built.forward).is_err());
        assert_eq!(changed, json!({"spec": {"replicas": 3}}));
    }
}

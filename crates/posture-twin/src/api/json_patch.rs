//! JSON patch (RFC 6902) with the semantics of the library the real API server uses
//! (evanphx/json-patch), which is more lenient than the RFC in two ways clients rely on:
//! - `test` with value `null` passes on an absent member of an existing object;
//! - `replace` of an absent member of an existing object adds it.
//!
//! Like the RFC, `add` needs the parent to exist and `remove` needs the member to exist.

use serde_json::Value;

/// Why an operation did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatchError(pub String);

/// Applies `operations` (a JSON array of operations) to `document`, all or nothing.
pub(crate) fn apply(document: &mut Value, operations: &Value) -> Result<(), PatchError> {
    let operations = operations
        .as_array()
        .ok_or_else(|| PatchError("a JSON patch must be a JSON array of operations".into()))?;
    let mut result = document.clone();
    for (index, op) in operations.iter().enumerate() {
        apply_one(&mut result, op).map_err(|e| {
            let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
            PatchError(format!("json patch {kind} operation {index} failed: {e}"))
        })?;
    }
    *document = result;
    Ok(())
}

fn str_field<'a>(op: &'a Value, name: &str) -> Result<&'a str, String> {
    op.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {name}"))
}

fn apply_one(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = str_field(op, "op")?;
    let path = str_field(op, "path")?;
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    match kind {
        "add" => add(doc, path, value),
        "remove" => remove(doc, path).map(drop),
        "replace" => replace(doc, path, value),
        "move" => {
            let from = str_field(op, "from")?;
            let moved = remove(doc, from)?;
            add(doc, path, moved)
        }
        "copy" => {
            let from = str_field(op, "from")?;
            let copied = get(doc, from)?.cloned().ok_or_else(|| {
                format!("copy operation does not apply: doc is missing from path: {from}")
            })?;
            add(doc, path, copied)
        }
        "test" => test(doc, path, &value),
        other => Err(format!("unexpected kind: {other}")),
    }
}

/// The unescaped reference tokens of a JSON pointer.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid path: {path}"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// The container holding the last token of `path`, and that token; None when a parent is
/// missing or not a container.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<Option<(&'a mut Value, String)>, String> {
    let mut tokens = tokens(path)?;
    let Some(last) = tokens.pop() else {
        return Ok(None);
    };
    let mut current = doc;
    for token in tokens {
        let next = match current {
            Value::Object(map) => map.get_mut(&token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        match next {
            Some(v) if v.is_object() || v.is_array() => current = v,
            _ => return Ok(None),
        }
    }
    Ok(Some((current, last)))
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    let i: usize = token
        .parse()
        .map_err(|_| format!("invalid array index: {token}"))?;
    if i < len || (allow_end && i == len) {
        Ok(i)
    } else {
        Err(format!("unable to access invalid index: {i}"))
    }
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, key) = parent(doc, path)?
        .ok_or_else(|| format!("add operation does not apply: doc is missing path: \"{path}\""))?;
    match container {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(items) => {
            if key == "-" {
                items.push(value);
            } else {
                let i = index(&key, items.len(), true)?;
                items.insert(i, value);
            }
        }
        _ => unreachable!("parent returns containers only"),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (container, key) = parent(doc, path)?.ok_or_else(|| {
        format!("remove operation does not apply: doc is missing path: \"{path}\"")
    })?;
    match container {
        Value::Object(map) => map
            .remove(&key)
            .ok_or_else(|| format!("unable to remove nonexistent key: {key}: missing value")),
        Value::Array(items) => {
            let i = index(&key, items.len(), false)?;
            Ok(items.remove(i))
        }
        _ => unreachable!("parent returns containers only"),
    }
}

fn replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, key) = parent(doc, path)?
        .ok_or_else(|| format!("replace operation does not apply: doc is missing path: {path}"))?;
    match container {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(items) => {
            let i = index(&key, items.len(), false)?;
            items[i] = value;
        }
        _ => unreachable!("parent returns containers only"),
    }
    Ok(())
}

/// The value at `path`: Ok(None) for an absent member of an existing object.
fn get<'a>(doc: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let mut current = doc;
    let tokens = tokens(path)?;
    let count = tokens.len();
    for (n, token) in tokens.iter().enumerate() {
        let next = match current {
            Value::Object(map) => map.get(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None if n + 1 == count && current.is_object() => return Ok(None),
            None => return Err(format!("doc is missing path: \"{path}\"")),
        }
    }
    Ok(Some(current))
}

fn test(doc: &Value, path: &str, expected: &Value) -> Result<(), String> {
    let found = get(doc, path).map_err(|e| format!("test operation does not apply: {e}"))?;
    let passes = match found {
        None => expected.is_null(),
        Some(v) => v == expected,
    };
    if passes {
        Ok(())
    } else {
        Err(format!("testing value {path} failed: test failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(doc: Value, ops: Value) -> Result<Value, PatchError> {
        let mut doc = doc;
        apply(&mut doc, &ops).map(|()| doc)
    }

    #[test]
    fn test_null_passes_on_an_absent_member() {
        let doc = json!({"spec": {"a": 1}});
        assert!(
            patched(
                doc.clone(),
                json!([{"op": "test", "path": "/spec/b", "value": null}])
            )
            .is_ok()
        );
        assert!(
            patched(
                doc.clone(),
                json!([{"op": "test", "path": "/spec/b", "value": []}])
            )
            .is_err()
        );
        assert!(
            patched(
                doc.clone(),
                json!([{"op": "test", "path": "/x/b", "value": null}])
            )
            .is_err()
        );
        assert!(patched(doc, json!([{"op": "test", "path": "/spec/a", "value": 1}])).is_ok());
    }

    #[test]
    fn replace_adds_an_absent_member_but_add_needs_the_parent() {
        let doc = json!({"spec": {}});
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "replace", "path": "/spec/a", "value": {}}])
            ),
            Ok(json!({"spec": {"a": {}}}))
        );
        assert!(
            patched(
                doc.clone(),
                json!([{"op": "add", "path": "/spec/a/b", "value": 1}])
            )
            .is_err()
        );
        assert!(patched(doc, json!([{"op": "remove", "path": "/spec/a"}])).is_err());
    }

    #[test]
    fn lists_move_and_escapes() {
        let doc = json!({"l": [1, 2], "m": {"a/b": 1}});
        assert_eq!(
            patched(
                doc,
                json!([
                    {"op": "add", "path": "/l/-", "value": 3},
                    {"op": "add", "path": "/l/0", "value": 0},
                    {"op": "remove", "path": "/l/1"},
                    {"op": "move", "from": "/m/a~1b", "path": "/m/c"},
                    {"op": "copy", "from": "/m/c", "path": "/m/d"},
                ])
            ),
            Ok(json!({"l": [0, 2, 3], "m": {"c": 1, "d": 1}}))
        );
    }

    #[test]
    fn a_failed_operation_changes_nothing() {
        let mut doc = json!({"a": 1});
        let ops =
            json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "remove", "path": "/b"}]);
        assert!(apply(&mut doc, &ops).is_err());
        assert_eq!(doc, json!({"a": 1}));
    }
}

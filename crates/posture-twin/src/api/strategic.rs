//! Strategic merge patch: the subset kubectl sends for built-in kinds.
//!
//! Maps merge; lists of objects merge by their patch merge key (containers, volumes, env and
//! ports by name or port, volumeMounts by mountPath, conditions by type, ...); other lists are
//! replaced. `$patch: delete`/`replace`, `$deleteFromPrimitiveList/` and `$retainKeys` (keys of
//! the original not listed are cleared first) are honoured.
//!
//! Merged lists are ordered as the real server orders them: the items the patch names (in the
//! order of `$setElementOrder/` or of the patch) interleaved with the items only the server has
//! (in their order), a new item going before the server-only items it is compared with.

use serde_json::{Map, Value};

/// Applies `patch` to `target` in place.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    if merge_value(target, patch) == Outcome::Delete {
        *target = Value::Object(Map::new());
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    Delete,
}

fn directive(patch: &Map<String, Value>) -> Option<&str> {
    patch.get("$patch").and_then(Value::as_str)
}

fn merge_value(target: &mut Value, patch: &Value) -> Outcome {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return Outcome::Keep;
    };
    match directive(patch_map) {
        Some("delete") => return Outcome::Delete,
        Some("replace") => {
            *target = strip_directives(patch);
            return Outcome::Keep;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let fields = target.as_object_mut().expect("made an object above");
    if let Some(retained) = patch_map.get("$retainKeys").and_then(Value::as_array) {
        fields.retain(|key, _| retained.iter().any(|r| r == key));
    }
    for (key, value) in patch_map {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let removed = value.as_array().cloned().unwrap_or_default();
            if let Some(list) = fields.get_mut(field).and_then(Value::as_array_mut) {
                list.retain(|item| !removed.contains(item));
            }
            continue;
        }
        match value {
            Value::Null => {
                fields.remove(key);
            }
            Value::Object(_) => {
                let slot = fields.entry(key.clone()).or_insert(Value::Null);
                if merge_value(slot, value) == Outcome::Delete {
                    fields.remove(key);
                }
            }
            Value::Array(items) => {
                let order = patch_map
                    .get(&format!("$setElementOrder/{key}"))
                    .and_then(Value::as_array)
                    .map(Vec::as_slice);
                let slot = fields.entry(key.clone()).or_insert(Value::Null);
                merge_list(slot, items, key, order);
            }
            _ => {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    Outcome::Keep
}

/// The field that identifies list elements of `field`, when the list merges by key.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let has = |key: &str| items.iter().any(|item| item.get(key).is_some());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "ports" if has("containerPort") => Some("containerPort"),
        "ports" => Some("port"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" | "addresses" => Some("type"),
        "hostAliases" => Some("ip"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        _ => None,
    }
}

/// Lists of strings that merge as sets.
fn merges_as_set(field: &str) -> bool {
    field == "finalizers"
}

fn merge_list(target: &mut Value, patch: &[Value], field: &str, order: Option<&[Value]>) {
    let replace_whole = patch.iter().any(|item| {
        item.as_object()
            .is_some_and(|m| m.len() == 1 && directive(m) == Some("replace"))
    });
    let key = merge_key(field, patch);
    if replace_whole || !target.is_array() || (key.is_none() && !merges_as_set(field)) {
        let items = patch
            .iter()
            .filter(|item| {
                item.as_object()
                    .is_none_or(|m| !(m.len() == 1 && m.contains_key("$patch")))
            })
            .map(strip_directives)
            .collect();
        *target = Value::Array(items);
        return;
    }
    let list = target.as_array_mut().expect("checked above");
    let server_order = list.clone();
    let Some(key) = key else {
        for item in patch {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
        let merged = std::mem::take(list);
        *list = interleave(merged, order.unwrap_or(patch), &server_order, None);
        return;
    };
    for item in patch {
        let Some(item_map) = item.as_object() else {
            continue;
        };
        let id = item_map.get(key);
        let position = list
            .iter()
            .position(|existing| id.is_some() && existing.get(key) == id);
        match (directive(item_map), position) {
            (Some("delete"), Some(index)) => {
                list.remove(index);
            }
            (Some("delete"), None) => {}
            (_, Some(index)) => {
                if merge_value(&mut list[index], item) == Outcome::Delete {
                    list.remove(index);
                }
            }
            (_, None) => list.push(strip_directives(item)),
        }
    }
    let merged = std::mem::take(list);
    *list = interleave(merged, order.unwrap_or(patch), &server_order, Some(key));
}

/// Orders a merged list: the items `patch_order` names, in its order, merged with the items
/// only the server had, in `server_order`; at each step a server-only item goes first only
/// when both are in `server_order` and it comes earlier there.
fn interleave(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let id = |item: &Value| -> Option<Value> {
        match key {
            Some(key) => item.get(key).cloned(),
            None => Some(item.clone()),
        }
    };
    let position = |list: &[Value], item: &Value| {
        let wanted = id(item)?;
        list.iter().position(|x| id(x).as_ref() == Some(&wanted))
    };
    let (mut named, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(patch_order, item).is_some());
    named.sort_by_key(|item| position(patch_order, item));
    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(server_order, l), position(server_order, r)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// A patch fragment as a plain value: directive keys removed at every depth.
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {"template": {"spec": {
                "containers": [
                    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}],
                     "volumeMounts": [{"mountPath": "/data", "name": "data"}]},
                    {"name": "sidecar", "image": "side:1"},
                ],
                "tolerations": [{"key": "a", "operator": "Exists"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
            }}},
        })
    }

    #[test]
    fn containers_merge_by_name_and_maps_merge() {
        let mut target = deployment();
        merge(
            &mut target,
            &json!({
                "metadata": {"labels": {"tier": "front"}},
                "spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [{"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]}],
                }}},
            }),
        );
        let containers = &target["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "app:2");
        assert_eq!(containers[0]["env"].as_array().map(Vec::len), Some(2));
        assert_eq!(containers[1]["image"], "side:1");
        assert_eq!(target["metadata"]["labels"]["app"], "web");
        assert_eq!(target["metadata"]["labels"]["tier"], "front");
    }

    #[test]
    fn directives_delete_and_replace() {
        let mut target = deployment();
        merge(
            &mut target,
            &json!({"spec": {"template": {"spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}],
                "volumes": [{"$patch": "replace"}, {"name": "cache", "emptyDir": {}}],
                "tolerations": [{"key": "b", "operator": "Exists"}],
            }}}}),
        );
        let spec = &target["spec"]["template"]["spec"];
        assert_eq!(spec["containers"].as_array().map(Vec::len), Some(1));
        assert_eq!(spec["volumes"], json!([{"name": "cache", "emptyDir": {}}]));
        assert_eq!(
            spec["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
        merge(
            &mut target,
            &json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}, "finalizers": ["b"]}}),
        );
        assert_eq!(target["metadata"]["labels"], json!({"only": "this"}));
        // A new item of a set goes before the server's items, as on the real server.
        assert_eq!(target["metadata"]["finalizers"], json!(["b", "a"]));
    }

    #[test]
    fn null_removes_a_field_and_retain_keys_clears_the_others() {
        let mut target = json!({"spec": {"unschedulable": true, "podCIDR": "x", "other": 1}});
        merge(
            &mut target,
            &json!({"spec": {"unschedulable": null, "$retainKeys": ["podCIDR", "unschedulable"]}}),
        );
        assert_eq!(target, json!({"spec": {"podCIDR": "x"}}));
        let mut strategy =
            json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
        merge(
            &mut strategy,
            &json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}),
        );
        assert_eq!(strategy, json!({"strategy": {"type": "Recreate"}}));
    }

    #[test]
    fn new_items_go_before_the_server_only_items() {
        let mut target = json!({"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]});
        merge(&mut target, &json!({"containers": [{"name": "new"}]}));
        let names = |t: &Value| -> Vec<String> {
            t["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| i["name"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(names(&target), ["new", "a", "b", "c"]);
        let mut target = json!({"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]});
        merge(&mut target, &json!({"containers": [{"name": "b", "x": 1}]}));
        assert_eq!(names(&target), ["a", "b", "c"]);
        assert_eq!(target["containers"][1]["x"], 1);
    }
}

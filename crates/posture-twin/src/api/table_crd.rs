//! Tables of custom resources: a Name column, then the `additionalPrinterColumns` of the
//! resource's CRD version (Longhorn's end with Age), as the apiextensions server builds them.
//! Cells come from each column's JSONPath: dotted fields, `[N]` and `[?(@.field=='value')]`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::table::age;

pub(crate) fn table(columns: &[Value], items: &[&Value], now: Timestamp, rv: u64) -> Value {
    let mut definitions = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace.",
    })];
    for c in columns {
        definitions.push(json!({
            "name": c.get("name").cloned().unwrap_or(json!("")),
            "type": c.get("type").cloned().unwrap_or(json!("string")),
            "format": c.get("format").cloned().unwrap_or(json!("")),
            "description": c.get("description").cloned().unwrap_or(json!("")),
            "priority": c.get("priority").cloned().unwrap_or(json!(0)),
        }));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|object| {
            let mut cells = vec![
                object
                    .pointer("/metadata/name")
                    .cloned()
                    .unwrap_or(Value::Null),
            ];
            for c in columns {
                let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or("");
                let found = evaluate(object, path);
                let cell = match (c.get("type").and_then(Value::as_str), found) {
                    (_, None) => Value::Null,
                    (Some("date"), Some(v)) => json!(age(v.as_str(), now)),
                    (_, Some(v)) => v.clone(),
                };
                cells.push(cell);
            }
            json!({
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// The first value a simple JSONPath selects.
fn evaluate<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = object;
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[?(@.") {
            let (filter, tail) = after.split_once(")]")?;
            let (field, wanted) = filter.split_once("==")?;
            let wanted = wanted.trim().trim_matches(|c| c == '\'' || c == '"');
            current = current
                .as_array()?
                .iter()
                .find(|item| item.get(field.trim()).and_then(Value::as_str) == Some(wanted))?;
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']')?;
            current = current.as_array()?.get(index.parse::<usize>().ok()?)?;
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            current = current.get(&after[..end])?;
            rest = &after[end..];
        } else {
            return None;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        let o = json!({"spec": {"size": "1"}, "status": {"conditions": [
            {"type": "A", "status": "False"}, {"type": "Schedulable", "status": "True"}]}});
        assert_eq!(evaluate(&o, ".spec.size"), Some(&json!("1")));
        assert_eq!(
            evaluate(&o, ".status.conditions[?(@.type=='Schedulable')].status"),
            Some(&json!("True"))
        );
        assert_eq!(
            evaluate(&o, ".status.conditions[0].type"),
            Some(&json!("A"))
        );
        assert_eq!(evaluate(&o, ".status.missing"), None);
    }

    #[test]
    fn name_comes_first() {
        let columns = [json!({"name": "Size", "type": "string", "jsonPath": ".spec.size"})];
        let o = json!({"metadata": {"name": "v"}, "spec": {"size": "1"}});
        let t = table(&columns, &[&o], Timestamp::UNIX_EPOCH, 1);
        assert_eq!(t["columnDefinitions"][0]["name"], "Name");
        assert_eq!(t["rows"][0]["cells"], json!(["v", "1"]));
    }
}

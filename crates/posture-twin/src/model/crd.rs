//! Custom resources against the `openAPIV3Schema` of their stored CustomResourceDefinition, as
//! the apiextensions server handles them: unknown fields are pruned (unless the schema says
//! `x-kubernetes-preserve-unknown-fields`), `null` is dropped where the schema is not
//! `nullable`, `default`s are filled in, then types, enums, bounds and required fields are
//! validated. CEL rules (`x-kubernetes-validations`) and string formats are not checked.

use serde_json::{Map, Value};

use super::validate::Causes;
use crate::resources::ResourceType;
use crate::store::{ObjectKey, Store};

/// The schema of `rt` at its served version, from the stored CRD `plural.group`.
pub(crate) fn schema(store: &Store, rt: &ResourceType) -> Option<Value> {
    served_version(store, rt)?
        .pointer("/schema/openAPIV3Schema")
        .cloned()
}

/// The printer columns of `rt`'s served version (Age alone when it declares none); None when
/// no CRD with that version is stored.
pub(crate) fn printer_columns(store: &Store, rt: &ResourceType) -> Option<Vec<Value>> {
    let version = served_version(store, rt)?;
    Some(
        version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_else(|| {
                vec![serde_json::json!({"name": "Age", "type": "date",
                                        "jsonPath": ".metadata.creationTimestamp"})]
            }),
    )
}

fn served_version(store: &Store, rt: &ResourceType) -> Option<Value> {
    let crds = crate::resources::by_plural("apiextensions.k8s.io", "customresourcedefinitions")?;
    let crd = store.get(&ObjectKey::new(
        crds,
        "",
        &format!("{}.{}", rt.plural, rt.group),
    ))?;
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(rt.version))
        .cloned()
}

/// Prunes and defaults `object` in place, then validates it; the causes of what is invalid.
pub(crate) fn admit(object: &mut Value, schema: &Value) -> Causes {
    if let Some(fields) = object.as_object_mut() {
        let properties = schema.get("properties").and_then(Value::as_object);
        let preserve = preserves_unknown(schema);
        fields.retain(|key, _| {
            matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                || preserve
                || properties.is_some_and(|p| p.contains_key(key))
        });
        for (key, value) in fields.iter_mut() {
            if let Some(sub) = properties.and_then(|p| p.get(key))
                && key != "metadata"
            {
                prune(value, sub);
            }
        }
        if let Some(properties) = properties {
            apply_defaults(fields, properties);
        }
    }
    let mut causes = Causes::default();
    if let Some(fields) = object.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, value) in fields {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(sub) = properties.and_then(|p| p.get(key)) {
                check(value, sub, key, &mut causes);
            }
        }
        required(fields, schema, "", &mut causes);
    }
    causes
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable") == Some(&Value::Bool(true))
}

fn prune(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if properties.is_some() || additional.is_some() || !preserves_unknown(schema) {
                fields.retain(|key, v| {
                    let sub = properties.and_then(|p| p.get(key)).or(additional);
                    let known = sub.is_some() || preserves_unknown(schema);
                    known && !(v.is_null() && sub.is_some_and(|s| !nullable(s)))
                });
            }
            for (key, v) in fields.iter_mut() {
                if let Some(sub) = properties.and_then(|p| p.get(key)).or(additional) {
                    prune(v, sub);
                }
            }
            if let Some(properties) = properties {
                apply_defaults(fields, properties);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn apply_defaults(fields: &mut Map<String, Value>, properties: &Map<String, Value>) {
    for (key, sub) in properties {
        if let Some(default) = sub.get("default")
            && !fields.contains_key(key)
        {
            fields.insert(key.clone(), default.clone());
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(value: &Value, schema: &Value, path: &str, causes: &mut Causes) {
    if value.is_null() && nullable(schema) {
        return;
    }
    let actual = type_name(value);
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if int_or_string {
        if actual != "integer" && actual != "string" {
            causes.type_invalid(path, value, "integer or string");
            return;
        }
    } else if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let fits = actual == expected || (expected == "number" && actual == "integer");
        if !fits {
            causes.type_invalid(path, value, expected);
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        causes.not_supported(path, value, &names);
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            causes.invalid(
                path,
                value,
                &format!("{path} in body should be greater than or equal to {min}"),
            );
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            causes.invalid(
                path,
                value,
                &format!("{path} in body should be less than or equal to {max}"),
            );
        }
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, v) in fields {
                if let Some(sub) = properties.and_then(|p| p.get(key)).or(additional) {
                    check(v, sub, &format!("{path}.{key}"), causes);
                }
            }
            required(fields, schema, path, causes);
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

fn required(fields: &Map<String, Value>, schema: &Value, path: &str, causes: &mut Causes) {
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !fields.contains_key(name) {
            let field = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            causes.required(&field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "value": {"type": "string"},
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "size": {"x-kubernetes-int-or-string": true},
                "policy": {"type": "string", "default": "keep"},
            }},
        }})
    }

    fn reasons(causes: &Causes) -> Vec<(&str, &str)> {
        causes
            .0
            .iter()
            .map(|c| (c.field.as_str(), c.reason))
            .collect()
    }

    #[test]
    fn unknown_fields_are_pruned_and_defaults_filled() {
        let mut cr = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
            "note": 1, "spec": {"mode": "a", "extra": 1, "labels": {"k": "v"}, "free": {"any": 1},
            "size": "1Gi", "replicas": null}});
        assert!(admit(&mut cr, &schema()).0.is_empty());
        assert_eq!(
            cr,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                "spec": {"mode": "a", "labels": {"k": "v"}, "free": {"any": 1}, "size": "1Gi",
                         "policy": "keep"}})
        );
    }

    #[test]
    fn types_enums_and_bounds() {
        let mut cr = json!({"value": 5, "spec": {"replicas": "two", "mode": "c"}});
        let causes = admit(&mut cr, &schema());
        assert_eq!(
            reasons(&causes),
            [
                ("spec.mode", "FieldValueNotSupported"),
                ("spec.replicas", "FieldValueTypeInvalid"),
                ("value", "FieldValueTypeInvalid"),
            ]
        );
        let mut cr = json!({"spec": {"replicas": 0}});
        assert_eq!(
            reasons(&admit(&mut cr, &schema())),
            [("spec.replicas", "FieldValueInvalid")]
        );
    }
}

//! How the Go types of the built-in kinds serialize, as a table of struct shapes.
//!
//! The real API server decodes every write into Go structs and encodes them back, so what it
//! answers follows Go's `encoding/json` rules, not what the client sent:
//! - a `null` becomes the Go zero value, which is then left out;
//! - `omitempty` maps and slices that are empty are left out (`nodeSelector: {}`, `tolerations: []`);
//! - `omitempty` scalars held by value are left out at their zero value (`initialDelaySeconds: 0`);
//! - pointers keep whatever they point at, zeros included (`holderIdentity: ""` in a Lease);
//! - structs are never left out: a pointer to an empty struct is `{}` (`securityContext: {}`) and
//!   a struct held by value is written even when the client sent nothing (`resources: {}`).
//!
//! [`Shape`] records which of these rules applies to each field. Fields a struct does not list
//! are kept as sent; kinds without a table keep everything but their metadata rules.

use serde_json::{Map, Value};

/// The serialization rule of one field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A non-pointer scalar with `omitempty`: `""`, `0` and `false` are left out.
    Val,
    /// A pointer, an interface, an int-or-string or a scalar without `omitempty`: kept as sent.
    Keep,
    /// An `int32` without `omitempty`: written as 0 when absent (status counters).
    Zero,
    /// A map with `omitempty`: `{}` is left out.
    Map,
    /// A slice of scalars with `omitempty`: `[]` is left out.
    List,
    /// A slice of structs with `omitempty`: `[]` is left out, each item follows its struct.
    Items(&'static Struct),
    /// A pointer to a struct: kept (as `{}` when empty) when present.
    Ptr(&'static Struct),
    /// A struct held by value: always written, `{}` when empty.
    Value(&'static Struct),
}

/// The fields of one Go struct, by JSON name.
#[derive(Debug)]
pub(crate) struct Struct(pub &'static [(&'static str, Shape)]);

impl Struct {
    fn field(&self, name: &str) -> Option<Shape> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }
}

/// Rewrites `value`, an object of struct `shape`, as the Go encoder would write it.
pub(crate) fn normalize(value: &mut Value, shape: &Struct) {
    let Some(fields) = value.as_object_mut() else {
        return;
    };
    normalize_fields(fields, shape);
}

fn normalize_fields(fields: &mut Map<String, Value>, shape: &Struct) {
    fields.retain(|_, v| !v.is_null());
    for (name, field) in shape.0 {
        match field {
            Shape::Value(inner) => {
                let slot = fields
                    .entry(name.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    continue;
                }
                normalize(slot, inner);
            }
            Shape::Zero => {
                fields.entry(name.to_string()).or_insert(Value::from(0));
            }
            _ => {}
        }
    }
    let names: Vec<String> = fields.keys().cloned().collect();
    for name in names {
        let Some(field) = shape.field(&name) else {
            continue;
        };
        let drop = match (field, &mut fields[&name]) {
            (Shape::Val, v) => is_zero(v),
            (Shape::Map, Value::Object(m)) => {
                m.retain(|_, v| !v.is_null());
                m.is_empty()
            }
            (Shape::List, Value::Array(items)) => items.is_empty(),
            (Shape::Items(inner), Value::Array(items)) => {
                for item in items.iter_mut() {
                    normalize(item, inner);
                }
                items.is_empty()
            }
            (Shape::Ptr(inner), v @ Value::Object(_)) => {
                normalize(v, inner);
                false
            }
            _ => false,
        };
        if drop {
            fields.remove(&name);
        }
    }
}

/// Go's zero value of a scalar.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static INNER: Struct = Struct(&[("n", Shape::Val)]);
    static OUTER: Struct = Struct(&[
        ("s", Shape::Val),
        ("p", Shape::Keep),
        ("m", Shape::Map),
        ("l", Shape::List),
        ("items", Shape::Items(&INNER)),
        ("ptr", Shape::Ptr(&INNER)),
        ("val", Shape::Value(&INNER)),
        ("count", Shape::Zero),
    ]);

    #[test]
    fn go_encoding_rules() {
        let mut v = json!({
            "s": "", "p": 0, "m": {}, "l": [], "items": [{"n": 0}], "ptr": {"n": 0},
            "unknown": {}, "gone": null,
        });
        normalize(&mut v, &OUTER);
        assert_eq!(
            v,
            json!({"p": 0, "items": [{}], "ptr": {}, "val": {}, "count": 0, "unknown": {}})
        );
    }

    #[test]
    fn null_map_values_are_dropped_with_the_map() {
        let mut v = json!({"m": {"a": null}, "s": "x", "l": ["a"]});
        normalize(&mut v, &OUTER);
        assert_eq!(v, json!({"s": "x", "l": ["a"], "val": {}, "count": 0}));
    }
}

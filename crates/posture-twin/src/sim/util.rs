//! Small helpers the controllers share: reading JSON objects, label selectors, quantities,
//! deterministic hashes and resource-type lookups.

use serde_json::{Map, Value};

use crate::resources::{self, ResourceType};

/// A registered resource type; the registry is static, so a miss is a programming error.
pub(crate) fn rt(group: &str, plural: &str) -> &'static ResourceType {
    resources::by_plural(group, plural).expect("the simulation only uses registered resources")
}

/// Like `Value::pointer` without allocating per token (controllers read a lot of fields).
pub(crate) fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.contains('~') {
        return v.pointer(pointer);
    }
    let mut current = v;
    for token in pointer.split('/').skip(1) {
        current = match current {
            Value::Object(map) => map.get(token)?,
            Value::Array(list) => list.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The value at `path`, creating (or replacing non-object) parents as objects: writes through
/// it never panic, whatever shape a client gave the object.
pub(crate) fn slot<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Value {
    let mut current = v;
    for key in path {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        current = current
            .as_object_mut()
            .expect("made an object above")
            .entry(*key)
            .or_insert(Value::Null);
    }
    current
}

pub(crate) fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    at(v, pointer).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn int(v: &Value, pointer: &str) -> Option<i64> {
    let field = at(v, pointer)?;
    field
        .as_i64()
        .or_else(|| field.as_str().and_then(|s| s.parse().ok()))
}

pub(crate) fn name(v: &Value) -> &str {
    text(v, "/metadata/name")
}

pub(crate) fn namespace(v: &Value) -> &str {
    text(v, "/metadata/namespace")
}

pub(crate) fn uid(v: &Value) -> &str {
    text(v, "/metadata/uid")
}

pub(crate) fn labels(v: &Value) -> Option<&Map<String, Value>> {
    at(v, "/metadata/labels").and_then(Value::as_object)
}

pub(crate) fn is_terminating(v: &Value) -> bool {
    at(v, "/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// The controller owner reference as (kind, name, uid).
pub(crate) fn controller_owner(v: &Value) -> Option<(&str, &str, &str)> {
    at(v, "/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| (text(o, "/kind"), text(o, "/name"), text(o, "/uid")))
}

pub(crate) fn owner_reference(owner: &Value) -> Value {
    serde_json::json!([{
        "apiVersion": text(owner, "/apiVersion"),
        "kind": text(owner, "/kind"),
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

fn label<'a>(labels: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    labels?.get(key)?.as_str()
}

/// Whether a plain `key: value` selector (as Services use) matches. An empty one matches nothing.
pub(crate) fn map_selects(
    selector: &Map<String, Value>,
    labels: Option<&Map<String, Value>>,
) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| label(labels, k) == v.as_str())
}

/// Whether a metav1.LabelSelector matches. A missing selector matches nothing; an empty one all.
pub(crate) fn selector_matches(
    selector: Option<&Value>,
    labels: Option<&Map<String, Value>>,
) -> bool {
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        return false;
    };
    let plain_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| label(labels, k) == v.as_str()));
    plain_ok
        && selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .is_none_or(|exprs| {
                exprs
                    .iter()
                    .all(|e| expression_matches(e, label(labels, text(e, "/key"))))
            })
}

/// One `{key, operator, values}` requirement against the value found (if any).
pub(crate) fn expression_matches(expr: &Value, found: Option<&str>) -> bool {
    let values: Vec<&str> = expr
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match text(expr, "/operator") {
        "In" => found.is_some_and(|f| values.contains(&f)),
        "NotIn" => found.is_none_or(|f| !values.contains(&f)),
        "Exists" => found.is_some(),
        "DoesNotExist" => found.is_none(),
        "Gt" | "Lt" => {
            let (Some(f), Some(v)) = (
                found.and_then(|f| f.parse::<i64>().ok()),
                values.first().and_then(|v| v.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if text(expr, "/operator") == "Gt" {
                f > v
            } else {
                f < v
            }
        }
        _ => false,
    }
}

/// CPU in millicores ("100m", "2", "0.5").
pub(crate) fn cpu_millis(q: &Value) -> i64 {
    let s = quantity_text(q);
    if let Some(m) = s.strip_suffix('m') {
        return m.parse().unwrap_or(0);
    }
    s.parse::<f64>()
        .map(|c| (c * 1000.0).round() as i64)
        .unwrap_or(0)
}

/// Bytes ("70Mi", "32Gi", "1G", "1024").
pub(crate) fn bytes(q: &Value) -> i64 {
    let s = quantity_text(q);
    const UNITS: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in UNITS {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().map(|n| (n * factor) as i64).unwrap_or(0);
        }
    }
    s.parse::<f64>().map(|n| n as i64).unwrap_or(0)
}

fn quantity_text(q: &Value) -> String {
    match q {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// An int-or-percent field scaled against `total`.
pub(crate) fn scaled(v: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(pct) if round_up => pct.saturating_mul(total).saturating_add(99) / 100,
            Some(pct) => pct.saturating_mul(total) / 100,
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

/// FNV-1a over the value's JSON text: stable across runs, unlike std's hasher.
pub(crate) fn fnv(v: &Value) -> u64 {
    fnv_str(&v.to_string())
}

pub(crate) fn fnv_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A pod-template-hash style string (like "5d8b7f9c4").
pub(crate) fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = fnv(template);
    (0..9)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Parses a Longhorn setting value: plain (`"true"`) or per data engine (`{"v1":"true"}`),
/// returning the v1 value.
pub(crate) fn longhorn_setting(raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.starts_with('{')
        && let Ok(Value::Object(per_engine)) = serde_json::from_str::<Value>(trimmed)
    {
        return per_engine
            .get("v1")
            .or_else(|| per_engine.values().next())
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
    }
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse() {
        assert_eq!(cpu_millis(&json!("100m")), 100);
        assert_eq!(cpu_millis(&json!("2")), 2000);
        assert_eq!(cpu_millis(&json!(4)), 4000);
        assert_eq!(bytes(&json!("70Mi")), 70 * 1048576);
        assert_eq!(bytes(&json!("1G")), 1_000_000_000);
    }

    #[test]
    fn settings_parse_plain_and_per_engine() {
        assert_eq!(longhorn_setting("true"), "true");
        assert_eq!(longhorn_setting(r#"{"v1":"3","v2":"3"}"#), "3");
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"app": "a", "tier": "web"});
        let labels = labels.as_object();
        let sel = json!({"matchLabels": {"app": "a"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web"]},
            {"key": "gone", "operator": "DoesNotExist"}]});
        assert!(selector_matches(Some(&sel), labels));
        let sel =
            json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]});
        assert!(!selector_matches(Some(&sel), labels));
        assert!(!selector_matches(None, labels));
    }

    #[test]
    fn percentages_scale() {
        assert_eq!(scaled(Some(&json!("25%")), 3, true, 0), 1);
        assert_eq!(scaled(Some(&json!("25%")), 3, false, 0), 0);
        assert_eq!(scaled(Some(&json!(2)), 3, false, 0), 2);
    }
}

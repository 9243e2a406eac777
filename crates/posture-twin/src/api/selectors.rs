//! Label and field selectors, as list and watch requests carry them.

use serde_json::Value;

use super::objects::Query;
use super::status::ApiError;
use crate::resources::ResourceType;

/// The fields each kind can be selected by, besides `metadata.name` and `metadata.namespace`
/// (which every kind, custom resources included, supports), as the real registries declare them.
fn field_supported(rt: &ResourceType, path: &str) -> bool {
    let extra: &[&str] = match (rt.group, rt.kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "Node") => &["spec.unschedulable"],
        ("", "Namespace") => &["status.phase"],
        ("", "Secret") => &["type"],
        ("", "PersistentVolumeClaim") | ("", "PersistentVolume") => &[],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("apps", "ReplicaSet") => &["status.replicas"],
        ("events.k8s.io", "Event") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "reason",
            "reportingController",
            "type",
        ],
        _ => &[],
    };
    matches!(path, "metadata.name" | "metadata.namespace") || extra.contains(&path)
}

#[derive(Debug, Clone, PartialEq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, PartialEq)]
struct FieldRequirement {
    path: String,
    value: String,
    equal: bool,
}

/// Both selectors of a request; an object matches when every requirement holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Filter {
    labels: Vec<LabelRequirement>,
    fields: Vec<FieldRequirement>,
}

impl Filter {
    pub(crate) fn from_query(query: &Query, rt: &ResourceType) -> Result<Self, ApiError> {
        let labels = parse_labels(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = parse_fields(query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
        if let Some(unsupported) = fields.iter().find(|f| !field_supported(rt, &f.path)) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                unsupported.path
            )));
        }
        Ok(Self { labels, fields })
    }

    /// Whether the request selects by any label or field.
    pub(crate) fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        // Every page of an unfiltered list passes each object of its kind through here: no
        // lookup at all when there is nothing to match.
        if self.is_empty() {
            return true;
        }
        let labels = object.get("metadata").and_then(|m| m.get("labels"));
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        let labels_match = self.labels.iter().all(|requirement| match requirement {
            LabelRequirement::Equals(k, v) => label(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            LabelRequirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelRequirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            LabelRequirement::Exists(k) => label(k).is_some(),
            LabelRequirement::NotExists(k) => label(k).is_none(),
        });
        labels_match
            && self
                .fields
                .iter()
                .all(|f| (field_value(object, &f.path) == f.value) == f.equal)
    }
}

/// Whether a `matchLabels`/`matchExpressions` selector (as in a PDB) selects `labels`.
/// An empty selector selects everything.
pub(crate) fn label_selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|wanted| {
            wanted
                .iter()
                .all(|(k, v)| label(k).is_some() && label(k) == v.as_str())
        });
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    match_labels
        && expressions.iter().all(|expression| {
            let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match expression.get("operator").and_then(Value::as_str) {
                Some("In") => label(key).is_some_and(|l| values.contains(&l)),
                Some("NotIn") => label(key).is_none_or(|l| !values.contains(&l)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        })
}

/// A dotted field path read as a string; missing fields read as empty, as the API server does.
fn field_value(object: &Value, path: &str) -> String {
    let pointer = format!("/{}", path.replace('.', "/"));
    match object.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Splits at commas outside parentheses.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_labels(selector: &str) -> Result<Vec<LabelRequirement>, String> {
    split_terms(selector)
        .into_iter()
        .map(parse_label_term)
        .collect()
}

fn parse_label_term(term: &str) -> Result<LabelRequirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelRequirement::NotExists(key.trim().to_owned()));
    }
    if let Some(open) = term.find('(') {
        let close = term
            .rfind(')')
            .filter(|&c| c > open)
            .ok_or_else(|| format!("{term}: missing closing parenthesis"))?;
        let values: Vec<String> = term[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        let head: Vec<&str> = term[..open].split_whitespace().collect();
        return match head.as_slice() {
            [key, "in"] => Ok(LabelRequirement::In((*key).to_owned(), values)),
            [key, "notin"] => Ok(LabelRequirement::NotIn((*key).to_owned(), values)),
            _ => Err(format!(
                "{term}: expected `key in (...)` or `key notin (...)`"
            )),
        };
    }
    for (operator, equal) in [("!=", false), ("==", true), ("=", true)] {
        if let Some((key, value)) = term.split_once(operator) {
            let (key, value) = (key.trim().to_owned(), value.trim().to_owned());
            if key.is_empty() {
                return Err(format!("{term}: empty key"));
            }
            return Ok(if equal {
                LabelRequirement::Equals(key, value)
            } else {
                LabelRequirement::NotEquals(key, value)
            });
        }
    }
    if term.contains(char::is_whitespace) {
        return Err(format!("{term}: unexpected whitespace"));
    }
    Ok(LabelRequirement::Exists(term.to_owned()))
}

fn parse_fields(selector: &str) -> Result<Vec<FieldRequirement>, String> {
    split_terms(selector)
        .into_iter()
        .map(|term| {
            for (operator, equal) in [("!=", false), ("==", true), ("=", true)] {
                if let Some((path, value)) = term.split_once(operator) {
                    return Ok(FieldRequirement {
                        path: path.trim().to_owned(),
                        value: value.trim().to_owned(),
                        equal,
                    });
                }
            }
            Err(format!("{term}: expected field=value or field!=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(labels: &str, fields: &str) -> Filter {
        Filter {
            labels: parse_labels(labels).expect("valid labels"),
            fields: parse_fields(fields).expect("valid fields"),
        }
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "apps", "labels": {"app": "web", "tier": "front"}},
            "spec": {"nodeName": "node-a"},
            "status": {"phase": "Running"},
        })
    }

    #[test]
    fn label_operators_match_like_the_api_server() {
        let pod = pod();
        for (selector, expected) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db, web)", true),
            ("app notin (db,web)", false),
            ("missing notin (x)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier in (front)", true),
            ("app=web,tier=back", false),
            ("", true),
        ] {
            assert_eq!(
                filter(selector, "").matches(&pod),
                expected,
                "selector {selector:?}"
            );
        }
    }

    #[test]
    fn field_selectors_read_dotted_paths_and_treat_missing_as_empty() {
        let pod = pod();
        assert!(filter("", "spec.nodeName=node-a").matches(&pod));
        assert!(filter("", "metadata.namespace=apps,status.phase!=Failed").matches(&pod));
        assert!(!filter("", "metadata.name==other").matches(&pod));
        assert!(filter("", "spec.missing=").matches(&pod));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        assert!(parse_labels("app in (web").is_err());
        assert!(parse_labels("app web").is_err());
        assert!(parse_fields("spec.nodeName").is_err());
    }

    #[test]
    fn structured_selectors_match_labels_and_expressions() {
        let labels = json!({"app": "web", "tier": "front"});
        let selector = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
        });
        assert!(label_selector_matches(&selector, Some(&labels)));
        assert!(!label_selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            Some(&labels)
        ));
        assert!(label_selector_matches(&json!({}), None));
    }
}

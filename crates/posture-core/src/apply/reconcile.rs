//! Deciding from an object read back whether an uncertain write landed: the patch's own
//! `test`s say which side of the write the object is on.

use serde_json::Value;

use super::inverse::effect_holds;
use crate::plan::patch::{actual_values, expected_values, tests_hold};
use crate::plan::{Action, Change, MANAGED_BY_LABEL};

pub(super) enum Landing {
    Landed {
        resource_version: Option<String>,
        uid: Option<String>,
        object: Value,
    },
    NotLanded,
    Conflict {
        expected: Value,
        actual: Value,
    },
}

pub(super) fn meta_str(object: &Value, field: &str) -> Option<String> {
    object
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Decides from the object as read back whether the change's write landed. The forward
/// patch's own values decide, as the server stored them (with its defaults, without the empty
/// maps and lists it drops), so a landed write is recognised on a real API server too.
pub(super) fn decide(change: &Change, object: Option<&Value>) -> Landing {
    match (&change.action, object) {
        (Action::Patch { forward, .. }, Some(obj)) => {
            if tests_hold(forward, obj) {
                Landing::NotLanded
            } else if effect_holds(forward, obj) {
                Landing::Landed {
                    resource_version: meta_str(obj, "resourceVersion"),
                    uid: None,
                    object: obj.clone(),
                }
            } else {
                Landing::Conflict {
                    expected: expected_values(forward),
                    actual: actual_values(forward, obj),
                }
            }
        }
        (Action::Patch { forward, .. }, None) => Landing::Conflict {
            expected: expected_values(forward),
            actual: Value::Null,
        },
        (Action::Create { .. }, None) => Landing::NotLanded,
        (Action::Create { manifest }, Some(obj)) => {
            let (key, value) = MANAGED_BY_LABEL;
            let ours = obj
                .pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
                == Some(value);
            if ours {
                Landing::Landed {
                    resource_version: meta_str(obj, "resourceVersion"),
                    uid: meta_str(obj, "uid"),
                    object: obj.clone(),
                }
            } else {
                Landing::Conflict {
                    expected: manifest.get("metadata").cloned().unwrap_or(Value::Null),
                    actual: obj.get("metadata").cloned().unwrap_or(Value::Null),
                }
            }
        }
    }
}

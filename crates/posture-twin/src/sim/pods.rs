//! Building pods from controller templates the way the API server's defaulting and admission
//! would leave them (see [`crate::model::prepare_new_pod`]).

use crate::sim::util::slot;
use serde_json::{Map, Value, json};

use super::util::{namespace, owner_reference};

pub(crate) struct NewPod<'a> {
    pub owner: &'a Value,
    pub template: &'a Value,
    pub name: String,
    pub extra_labels: Vec<(&'static str, String)>,
    /// DaemonSet pods are placed by their controller and tolerate node problems forever.
    pub daemon_node: Option<String>,
}

pub(crate) fn build(new: NewPod<'_>) -> Value {
    let mut labels = new
        .template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in new.extra_labels {
        labels.insert(k.to_owned(), json!(v));
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(new.name));
    metadata.insert("namespace".into(), json!(namespace(new.owner)));
    metadata.insert("labels".into(), Value::Object(labels));
    if let Some(annotations) = new.template.pointer("/metadata/annotations") {
        metadata.insert("annotations".into(), annotations.clone());
    }
    metadata.insert("ownerReferences".into(), owner_reference(new.owner));
    let mut spec = new
        .template
        .get("spec")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let daemon = new.daemon_node.is_some();
    add_default_tolerations(&mut spec, daemon);
    if let Some(node) = new.daemon_node {
        *slot(&mut spec, &["nodeName"]) = json!(node);
    }
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
    });
    crate::model::prepare_new_pod(&mut pod);
    pod
}

/// What the DefaultTolerationSeconds admission plugin (and the DaemonSet controller) add.
fn add_default_tolerations(spec: &mut Value, daemon: bool) {
    let tolerations = spec
        .as_object_mut()
        .expect("spec is an object")
        .entry("tolerations")
        .or_insert_with(|| json!([]));
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    let mut wanted: Vec<(&str, &str)> = vec![
        (super::nodes::NOT_READY, "NoExecute"),
        (super::nodes::UNREACHABLE, "NoExecute"),
    ];
    if daemon {
        wanted.extend([
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
        ]);
    }
    for (key, effect) in wanted {
        let present = list.iter().any(|t| {
            t.get("key").and_then(Value::as_str) == Some(key)
                && t.get("effect")
                    .and_then(Value::as_str)
                    .is_none_or(|e| e == effect)
        });
        if present {
            continue;
        }
        let mut toleration = json!({"key": key, "operator": "Exists", "effect": effect});
        if !daemon {
            *slot(&mut toleration, &["tolerationSeconds"]) = json!(300);
        }
        list.push(toleration);
    }
}

/// Sum of container requests as (millicores, bytes).
pub(crate) fn requests(pod: &Value) -> (i64, i64) {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .fold((0, 0), |(cpu, mem), c| {
            let r = c.pointer("/resources/requests");
            (
                cpu.saturating_add(
                    r.and_then(|r| r.get("cpu"))
                        .map_or(0, super::util::cpu_millis)
                        .clamp(0, i64::MAX / 1024),
                ),
                mem.saturating_add(
                    r.and_then(|r| r.get("memory"))
                        .map_or(0, super::util::bytes)
                        .clamp(0, i64::MAX / 1024),
                ),
            )
        })
}

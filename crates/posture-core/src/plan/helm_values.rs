//! A change to a Helm-managed object as the chart values that make it: `helm upgrade` renders
//! the object again from its values, so a patch to the object is undone by the next upgrade and
//! a kustomize patch means nothing to a Helm user. The value names come from the charts'
//! `values.yaml` for the ingress controllers and CoreDNS; a field no known value sets is listed
//! with its path for the person to find in `helm show values`.

use json_patch::{Patch, PatchOperation};
use serde_json::{Map, Value};

/// The values that set a workload's fields, per chart: (field prefix under the object, value
/// prefix). Container fields are the first container's.
const CHARTS: &[(&str, &[(&str, &str)])] = &[
    (
        "ingress-nginx",
        &[
            ("/spec/replicas", "controller.replicaCount"),
            ("/spec/strategy", "controller.updateStrategy"),
            ("/spec/template/spec/affinity", "controller.affinity"),
            (
                "/spec/template/spec/topologySpreadConstraints",
                "controller.topologySpreadConstraints",
            ),
            ("/spec/template/spec/tolerations", "controller.tolerations"),
            (
                "/spec/template/spec/nodeSelector",
                "controller.nodeSelector",
            ),
            (
                "/spec/template/spec/containers/0/resources",
                "controller.resources",
            ),
            (
                "/spec/template/spec/containers/0/readinessProbe",
                "controller.readinessProbe",
            ),
            (
                "/spec/template/spec/containers/0/livenessProbe",
                "controller.livenessProbe",
            ),
        ],
    ),
    (
        "kubernetes-ingress",
        &[
            ("/spec/replicas", "controller.replicaCount"),
            ("/spec/strategy", "controller.strategy"),
            ("/spec/template/spec/affinity", "controller.affinity"),
            (
                "/spec/template/spec/topologySpreadConstraints",
                "controller.topologySpreadConstraints",
            ),
            ("/spec/template/spec/tolerations", "controller.tolerations"),
            (
                "/spec/template/spec/nodeSelector",
                "controller.nodeSelector",
            ),
            (
                "/spec/template/spec/containers/0/resources",
                "controller.resources",
            ),
            (
                "/spec/template/spec/containers/0/readinessProbe",
                "controller.readinessProbe",
            ),
            (
                "/spec/template/spec/containers/0/livenessProbe",
                "controller.livenessProbe",
            ),
        ],
    ),
    (
        "traefik",
        &[
            ("/spec/replicas", "deployment.replicas"),
            ("/spec/strategy", "updateStrategy"),
            ("/spec/template/spec/affinity", "affinity"),
            (
                "/spec/template/spec/topologySpreadConstraints",
                "topologySpreadConstraints",
            ),
            ("/spec/template/spec/tolerations", "tolerations"),
            ("/spec/template/spec/nodeSelector", "nodeSelector"),
            ("/spec/template/spec/containers/0/resources", "resources"),
            (
                "/spec/template/spec/containers/0/readinessProbe",
                "readinessProbe",
            ),
            (
                "/spec/template/spec/containers/0/livenessProbe",
                "livenessProbe",
            ),
        ],
    ),
    (
        "coredns",
        &[
            ("/spec/replicas", "replicaCount"),
            ("/spec/strategy", "rollingUpdate"),
            ("/spec/template/spec/affinity", "affinity"),
            (
                "/spec/template/spec/topologySpreadConstraints",
                "topologySpreadConstraints",
            ),
            ("/spec/template/spec/tolerations", "tolerations"),
            ("/spec/template/spec/nodeSelector", "nodeSelector"),
            ("/spec/template/spec/containers/0/resources", "resources"),
            (
                "/spec/template/spec/containers/0/readinessProbe",
                "readinessProbe",
            ),
            (
                "/spec/template/spec/containers/0/livenessProbe",
                "livenessProbe",
            ),
        ],
    ),
];

/// A chart's name without its version (`ingress-nginx-4.10.0` → `ingress-nginx`).
pub(crate) fn chart_name(chart: &str) -> &str {
    chart
        .char_indices()
        .find(|&(i, c)| c == '-' && chart[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map_or(chart, |(i, _)| &chart[..i])
}

/// What the patch becomes in the chart's values: the values document, and the fields no known
/// value sets (as `path = value`).
pub(crate) fn values_for(chart: Option<&str>, patch: &Patch) -> (Value, Vec<String>) {
    let table = chart
        .map(chart_name)
        .and_then(|name| CHARTS.iter().find(|(c, _)| *c == name))
        .map(|(_, table)| *table)
        .unwrap_or_default();
    let mut values = Value::Object(Map::new());
    let mut unmapped = Vec::new();
    for op in &patch.0 {
        let (path, value) = match op {
            PatchOperation::Add(op) => (op.path.to_string(), op.value.clone()),
            PatchOperation::Replace(op) => (op.path.to_string(), op.value.clone()),
            PatchOperation::Remove(op) => (op.path.to_string(), Value::Null),
            _ => continue,
        };
        let mapped = table.iter().find_map(|(field, key)| {
            let rest = path.strip_prefix(field)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| {
                let mut keys: Vec<String> = key.split('.').map(str::to_owned).collect();
                keys.extend(
                    rest.split('/')
                        .filter(|k| !k.is_empty())
                        .map(|k| k.replace("~1", "/").replace("~0", "~")),
                );
                keys
            })
        });
        match mapped {
            Some(keys) => set(&mut values, &keys, value),
            None => unmapped.push(format!("{path} = {value}")),
        }
    }
    (values, unmapped)
}

fn set(root: &mut Value, keys: &[String], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        node = node
            .as_object_mut()
            .expect("made an object above")
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    node.as_object_mut()
        .expect("made an object above")
        .insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_names_lose_their_version() {
        assert_eq!(chart_name("ingress-nginx-4.10.0"), "ingress-nginx");
        assert_eq!(
            chart_name("kubernetes-ingress-1.39.4"),
            "kubernetes-ingress"
        );
        assert_eq!(chart_name("coredns-1.29.0-rc.1"), "coredns");
        assert_eq!(chart_name("mychart"), "mychart");
    }

    #[test]
    fn a_patch_becomes_the_charts_values_and_the_rest_is_listed() {
        let patch: Patch = serde_json::from_value(serde_json::json!([
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/spec/template/spec/affinity", "value": {"podAntiAffinity": {}}},
            {"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/periodSeconds", "value": 5},
            {"op": "add", "path": "/spec/template/spec/priorityClassName", "value": "x"},
        ]))
        .expect("a patch");
        let (values, unmapped) = values_for(Some("ingress-nginx-4.10.0"), &patch);
        assert_eq!(
            values,
            serde_json::json!({"controller": {
                "replicaCount": 2,
                "affinity": {"podAntiAffinity": {}},
                "readinessProbe": {"periodSeconds": 5},
            }})
        );
        assert_eq!(unmapped, [r#"/spec/template/spec/priorityClassName = "x""#]);
        let (values, unmapped) = values_for(None, &patch);
        assert_eq!(values, serde_json::json!({}));
        assert_eq!(unmapped.len(), 4);
    }
}

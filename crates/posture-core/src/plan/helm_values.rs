//! A change to a Helm-managed object as the chart values that make it: `helm upgrade` renders
//! the object again from its values, so a patch to the object is undone by the next upgrade and
//! a kustomize patch means nothing to a Helm user. The value names come from the charts'
//! `values.yaml` for the ingress controllers and CoreDNS; a field no known value sets is listed
//! with its path for the person to find in `helm show values`.

use json_patch::{Patch, PatchOperation};
use serde_json::{Map, Value};

/// How a chart names the values that set its workload: the prefix of its pod and container
/// values, and its own keys for the replica count and the update strategy.
struct Chart {
    name: &'static str,
    prefix: &'static str,
    replicas: &'static str,
    strategy: &'static str,
}

/// From the charts' `values.yaml`. Container fields are the first container's.
const CHARTS: [Chart; 4] = [
    Chart {
        name: "ingress-nginx",
        prefix: "controller.",
        replicas: "controller.replicaCount",
        strategy: "controller.updateStrategy",
    },
    Chart {
        name: "kubernetes-ingress",
        prefix: "controller.",
        replicas: "controller.replicaCount",
        strategy: "controller.strategy",
    },
    Chart {
        name: "traefik",
        prefix: "",
        replicas: "deployment.replicas",
        strategy: "updateStrategy",
    },
    Chart {
        name: "coredns",
        prefix: "",
        replicas: "replicaCount",
        strategy: "rollingUpdate",
    },
];

/// Fields every one of these charts sets from a value of the same name under its prefix.
const POD_FIELDS: [(&str, &str); 7] = [
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
];

impl Chart {
    /// (field prefix under the object, value key) for every field the chart sets.
    fn table(&self) -> Vec<(&'static str, String)> {
        let mut table = vec![
            ("/spec/replicas", self.replicas.to_owned()),
            ("/spec/strategy", self.strategy.to_owned()),
        ];
        table.extend(
            POD_FIELDS
                .iter()
                .map(|(field, value)| (*field, format!("{}{value}", self.prefix))),
        );
        table
    }
}

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
        .and_then(|name| CHARTS.iter().find(|c| c.name == name))
        .map(Chart::table)
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

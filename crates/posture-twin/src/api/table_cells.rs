//! Cell values for the table columns: how the real server's printers read each kind.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::table::{Column, age, column};

/// Name, the given string columns, then Age: the shape of CRD printer columns.
pub(super) fn named(middle: &[&'static str]) -> Vec<Column> {
    let mut columns = vec![column("Name", "string", 0)];
    columns.extend(middle.iter().map(|c| column(c, "string", 0)));
    columns.push(column("Age", "date", 0));
    columns
}

pub(super) fn with_age(o: &Value, now: Timestamp, middle: Vec<String>) -> Vec<Value> {
    let mut cells = vec![name(o)];
    cells.extend(middle.into_iter().map(Value::String));
    cells.push(json!(age(text(o, "/metadata/creationTimestamp"), now)));
    cells
}

pub(super) fn text<'a>(o: &'a Value, pointer: &str) -> Option<&'a str> {
    o.pointer(pointer).and_then(Value::as_str)
}

pub(super) fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

pub(super) fn scalar(o: &Value, pointer: &str) -> Option<String> {
    match o.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub(super) fn or_empty(o: &Value, pointer: &str) -> String {
    scalar(o, pointer).unwrap_or_default()
}

pub(super) fn or_none(o: &Value, pointer: &str) -> String {
    scalar(o, pointer).unwrap_or_else(|| "N/A".to_owned())
}

pub(super) fn name(o: &Value) -> Value {
    json!(text(o, "/metadata/name").unwrap_or(""))
}

pub(super) fn condition<'a>(o: &'a Value, kind: &str) -> &'a str {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
}

pub(super) fn pod_cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let containers = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    let restarts: i64 = statuses
        .iter()
        .filter_map(|s| s["restartCount"].as_i64())
        .sum();
    let waiting = statuses.iter().find_map(|s| {
        s.pointer("/state/waiting/reason")
            .or_else(|| s.pointer("/state/terminated/reason"))
            .and_then(Value::as_str)
    });
    let status = if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else {
        text(o, "/status/reason")
            .or(waiting)
            .or(text(o, "/status/phase"))
            .unwrap_or("Pending")
    };
    vec![
        name(o),
        json!(format!("{ready}/{containers}")),
        json!(status),
        json!(restarts.to_string()),
        json!(age(text(o, "/metadata/creationTimestamp"), now)),
        json!(text(o, "/status/podIP").unwrap_or("<none>")),
        json!(text(o, "/spec/nodeName").unwrap_or("<none>")),
        json!(text(o, "/status/nominatedNodeName").unwrap_or("<none>")),
        json!("<none>"),
    ]
}

pub(super) fn node_cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let mut status = match condition(o, "Ready") {
        "True" => "Ready".to_owned(),
        _ => "NotReady".to_owned(),
    };
    if o.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<&str> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    let address = |kind: &str| {
        o.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["type"] == kind))
            .and_then(|x| x["address"].as_str())
            .unwrap_or("<none>")
            .to_owned()
    };
    let info = |field: &str| or_empty(o, &format!("/status/nodeInfo/{field}"));
    vec![
        name(o),
        json!(status),
        json!(if roles.is_empty() {
            "<none>".to_owned()
        } else {
            roles.join(",")
        }),
        json!(age(text(o, "/metadata/creationTimestamp"), now)),
        json!(info("kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

pub(super) fn template_containers(o: &Value) -> (String, String) {
    let containers = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let pick = |field: &str| {
        containers
            .iter()
            .filter_map(|c| c[field].as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    (pick("name"), pick("image"))
}

pub(super) fn match_labels(o: &Value) -> String {
    o.pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".to_owned())
}

pub(super) fn deployment_cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = template_containers(o);
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            int(o, "/status/readyReplicas"),
            int(o, "/spec/replicas")
        )),
        json!(int(o, "/status/updatedReplicas")),
        json!(int(o, "/status/availableReplicas")),
        json!(age(text(o, "/metadata/creationTimestamp"), now)),
        json!(containers),
        json!(images),
        json!(match_labels(o)),
    ]
}

pub(super) fn daemonset_cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let selector = o
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".to_owned());
    vec![
        name(o),
        json!(int(o, "/status/desiredNumberScheduled")),
        json!(int(o, "/status/currentNumberScheduled")),
        json!(int(o, "/status/numberReady")),
        json!(int(o, "/status/updatedNumberScheduled")),
        json!(int(o, "/status/numberAvailable")),
        json!(selector),
        json!(age(text(o, "/metadata/creationTimestamp"), now)),
    ]
}

pub(super) fn service_cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let ports = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let protocol = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(node_port) => format!("{}:{node_port}/{protocol}", p["port"]),
                        None => format!("{}/{protocol}", p["port"]),
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".to_owned());
    let external = o
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(|ingress| {
            ingress
                .iter()
                .filter_map(|i| i["ip"].as_str().or(i["hostname"].as_str()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".to_owned());
    vec![
        name(o),
        json!(text(o, "/spec/type").unwrap_or("ClusterIP")),
        json!(text(o, "/spec/clusterIP").unwrap_or("<none>")),
        json!(external),
        json!(ports),
        json!(age(text(o, "/metadata/creationTimestamp"), now)),
    ]
}

pub(super) fn event_cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let last_seen = text(o, "/lastTimestamp")
        .or(text(o, "/eventTime"))
        .or(text(o, "/metadata/creationTimestamp"));
    let regarding = o.get("involvedObject").or(o.get("regarding"));
    let object = regarding
        .map(|r| {
            format!(
                "{}/{}",
                r["kind"].as_str().unwrap_or("").to_lowercase(),
                r["name"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    vec![
        json!(age(last_seen, now)),
        json!(text(o, "/type").unwrap_or("")),
        json!(text(o, "/reason").unwrap_or("")),
        json!(object),
        json!(text(o, "/message").or(text(o, "/note")).unwrap_or("")),
        name(o),
    ]
}

//! The columns `kubectl get` shows for each kind, as the real server (or a CRD's printer
//! columns) define them; every other kind gets NAME and AGE.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::table::{Column, age, column};
use super::table_cells::{
    condition, daemonset_cells, deployment_cells, event_cells, int, name, named, node_cells,
    or_empty, or_none, pod_cells, service_cells, text, with_age,
};
use crate::resources::ResourceType;

/// Renders one object's cells at a given time.
pub(crate) type Cells = fn(&Value, Timestamp) -> Vec<Value>;

pub(crate) struct Layout {
    pub columns: Vec<Column>,
    pub cells: Cells,
}

pub(crate) fn for_resource(rt: &ResourceType) -> Layout {
    let (columns, cells): (Vec<Column>, Cells) = match (rt.group, rt.plural) {
        ("", "pods") => (
            vec![
                column("Name", "string", 0),
                column("Ready", "string", 0),
                column("Status", "string", 0),
                column("Restarts", "string", 0),
                column("Age", "string", 0),
                column("IP", "string", 1),
                column("Node", "string", 1),
                column("Nominated Node", "string", 1),
                column("Readiness Gates", "string", 1),
            ],
            pod_cells,
        ),
        ("", "nodes") => (
            vec![
                column("Name", "string", 0),
                column("Status", "string", 0),
                column("Roles", "string", 0),
                column("Age", "string", 0),
                column("Version", "string", 0),
                column("Internal-IP", "string", 1),
                column("External-IP", "string", 1),
                column("OS-Image", "string", 1),
                column("Kernel-Version", "string", 1),
                column("Container-Runtime", "string", 1),
            ],
            node_cells,
        ),
        ("apps", "deployments") => (
            vec![
                column("Name", "string", 0),
                column("Ready", "string", 0),
                column("Up-to-date", "integer", 0),
                column("Available", "integer", 0),
                column("Age", "string", 0),
                column("Containers", "string", 1),
                column("Images", "string", 1),
                column("Selector", "string", 1),
            ],
            deployment_cells,
        ),
        ("apps", "statefulsets") => (
            vec![
                column("Name", "string", 0),
                column("Ready", "string", 0),
                column("Age", "string", 0),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(format!(
                        "{}/{}",
                        int(o, "/status/readyReplicas"),
                        int(o, "/spec/replicas")
                    )),
                    json!(age(text(o, "/metadata/creationTimestamp"), now)),
                ]
            },
        ),
        ("apps", "daemonsets") => (
            vec![
                column("Name", "string", 0),
                column("Desired", "integer", 0),
                column("Current", "integer", 0),
                column("Ready", "integer", 0),
                column("Up-to-date", "integer", 0),
                column("Available", "integer", 0),
                column("Node Selector", "string", 0),
                column("Age", "string", 0),
            ],
            daemonset_cells,
        ),
        ("", "services") => (
            vec![
                column("Name", "string", 0),
                column("Type", "string", 0),
                column("Cluster-IP", "string", 0),
                column("External-IP", "string", 0),
                column("Port(s)", "string", 0),
                column("Age", "string", 0),
            ],
            service_cells,
        ),
        ("coordination.k8s.io", "leases") => (
            vec![
                column("Name", "string", 0),
                column("Holder", "string", 0),
                column("Age", "string", 0),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(text(o, "/spec/holderIdentity").unwrap_or("")),
                    json!(age(text(o, "/metadata/creationTimestamp"), now)),
                ]
            },
        ),
        ("", "events") | ("events.k8s.io", "events") => (
            vec![
                column("Last Seen", "string", 0),
                column("Type", "string", 0),
                column("Reason", "string", 0),
                column("Object", "string", 0),
                column("Message", "string", 0),
                column("Name", "string", 1),
            ],
            event_cells,
        ),
        ("policy", "poddisruptionbudgets") => (
            vec![
                column("Name", "string", 0),
                column("Min Available", "string", 0),
                column("Max Unavailable", "string", 0),
                column("Allowed Disruptions", "integer", 0),
                column("Age", "string", 0),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(or_none(o, "/spec/minAvailable")),
                    json!(or_none(o, "/spec/maxUnavailable")),
                    json!(int(o, "/status/disruptionsAllowed")),
                    json!(age(text(o, "/metadata/creationTimestamp"), now)),
                ]
            },
        ),
        ("longhorn.io", "volumes") => (
            named(&[
                "Data Engine",
                "State",
                "Robustness",
                "Scheduled",
                "Size",
                "Node",
            ]),
            |o, now| {
                let scheduled = o
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Scheduled"))
                    .and_then(|c| c["status"].as_str())
                    .unwrap_or("");
                with_age(
                    o,
                    now,
                    vec![
                        or_empty(o, "/spec/dataEngine"),
                        or_empty(o, "/status/state"),
                        or_empty(o, "/status/robustness"),
                        scheduled.to_owned(),
                        or_empty(o, "/spec/size"),
                        or_empty(o, "/status/currentNodeID"),
                    ],
                )
            },
        ),
        ("longhorn.io", "replicas") => (
            named(&[
                "Data Engine",
                "State",
                "Node",
                "Disk",
                "InstanceManager",
                "Image",
            ]),
            |o, now| {
                with_age(
                    o,
                    now,
                    vec![
                        or_empty(o, "/spec/dataEngine"),
                        or_empty(o, "/status/currentState"),
                        or_empty(o, "/spec/nodeID"),
                        or_empty(o, "/spec/diskID"),
                        or_empty(o, "/status/instanceManagerName"),
                        or_empty(o, "/status/currentImage"),
                    ],
                )
            },
        ),
        ("longhorn.io", "engines") => (
            named(&["Data Engine", "State", "Node", "InstanceManager", "Image"]),
            |o, now| {
                with_age(
                    o,
                    now,
                    vec![
                        or_empty(o, "/spec/dataEngine"),
                        or_empty(o, "/status/currentState"),
                        or_empty(o, "/spec/nodeID"),
                        or_empty(o, "/status/instanceManagerName"),
                        or_empty(o, "/status/currentImage"),
                    ],
                )
            },
        ),
        ("longhorn.io", "settings") => (named(&["Value", "Applied"]), |o, now| {
            with_age(
                o,
                now,
                vec![or_empty(o, "/value"), or_empty(o, "/status/applied")],
            )
        }),
        ("longhorn.io", "nodes") => (
            named(&["Ready", "AllowScheduling", "Schedulable"]),
            |o, now| {
                with_age(
                    o,
                    now,
                    vec![
                        condition(o, "Ready").to_owned(),
                        or_empty(o, "/spec/allowScheduling"),
                        condition(o, "Schedulable").to_owned(),
                    ],
                )
            },
        ),
        _ => (
            vec![column("Name", "string", 0), column("Age", "string", 0)],
            |o, now| {
                vec![
                    name(o),
                    json!(age(text(o, "/metadata/creationTimestamp"), now)),
                ]
            },
        ),
    };
    Layout { columns, cells }
}

//! core/v1 Events the simulated components emit (scheduling, pulling, killing, eviction...).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::util::{name, namespace, rt, text, uid};
use crate::clock::rfc3339;
use crate::store::Store;

#[derive(Debug, Default)]
pub(crate) struct EventMemory {
    counter: u64,
}

pub(crate) struct EventSpec<'a> {
    pub reason: &'a str,
    pub message: String,
    pub warning: bool,
    pub component: &'a str,
    pub host: Option<&'a str>,
}

/// Records an event about `involved` (a full object). Names are deterministic.
pub(crate) fn record(
    memory: &mut EventMemory,
    store: &mut Store,
    involved: &Value,
    event: EventSpec<'_>,
    now: Timestamp,
) {
    memory.counter += 1;
    let ns = match namespace(involved) {
        "" => "default",
        ns => ns,
    };
    let object_name = name(involved);
    let stamp = rfc3339(now);
    let body = json!({
        "metadata": {
            "name": format!("{object_name}.{:016x}", 0x1870_0000_0000_0000u64 + memory.counter),
            "namespace": ns,
        },
        "involvedObject": {
            "apiVersion": text(involved, "/apiVersion"),
            "kind": text(involved, "/kind"),
            "name": object_name,
            "namespace": namespace(involved),
            "uid": uid(involved),
            "resourceVersion": text(involved, "/metadata/resourceVersion"),
        },
        "reason": event.reason,
        "message": event.message,
        "type": if event.warning { "Warning" } else { "Normal" },
        "source": match event.host {
            Some(h) => json!({"component": event.component, "host": h}),
            None => json!({"component": event.component}),
        },
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "reportingComponent": event.component,
        "reportingInstance": event.host.unwrap_or(""),
    });
    // A clash can only come from an API client creating the same name; skipping is harmless.
    let _ = store.create(rt("", "events"), body, now, false);
}

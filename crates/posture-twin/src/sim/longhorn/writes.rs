//! The Longhorn manager's writes to Replica, Engine and Volume objects: failing, reviving and
//! starting replicas, creating new ones, and the volume's Scheduled condition.

use crate::sim::util::slot;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::placement::Candidate;
use crate::clock::rfc3339;
use crate::sim::util::{fnv_str, int, name, rt, text};
use crate::store::{ObjectKey, Store};

pub(super) fn fail(
    store: &mut Store,
    engine: Option<&ObjectKey>,
    key: &ObjectKey,
    now: Timestamp,
    retry: bool,
) {
    let stamp = rfc3339(now);
    store.modify(key, |r| {
        *slot(r, &["spec", "failedAt"]) = json!(stamp);
        *slot(r, &["spec", "lastFailedAt"]) = json!(stamp);
        *slot(r, &["spec", "desireState"]) = json!("stopped");
        if retry {
            let count = int(r, "/spec/rebuildRetryCount").unwrap_or(0);
            *slot(r, &["spec", "rebuildRetryCount"]) = json!(count + 1);
        }
        *slot(r, &["status", "currentState"]) = json!("error");
        *slot(r, &["status", "started"]) = json!(false);
    });
    if let Some(engine) = engine {
        let replica = key.name.clone();
        store.modify(engine, |e| {
            *slot(e, &["status", "replicaModeMap", &replica]) = json!("ERR");
            let address = e
                .pointer(&format!("/spec/replicaAddressMap/{replica}"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(m) = e
                .pointer_mut("/spec/replicaAddressMap")
                .and_then(Value::as_object_mut)
            {
                m.remove(&replica);
            }
            if let (Some(address), Some(m)) = (
                address,
                e.pointer_mut("/status/rebuildStatus")
                    .and_then(Value::as_object_mut),
            ) {
                m.remove(&format!("tcp://{address}"));
            }
        });
    }
}

/// A failed replica is queued again (out of the engine until a rebuild slot frees).
pub(super) fn revive(store: &mut Store, engine: Option<&ObjectKey>, key: &ObjectKey) {
    store.modify(key, |r| {
        *slot(r, &["spec", "failedAt"]) = json!("");
        *slot(r, &["spec", "desireState"]) = json!("running");
        *slot(r, &["status", "currentState"]) = json!("stopped");
        *slot(r, &["status", "started"]) = json!(false);
    });
    if let Some(engine) = engine {
        store.modify(engine, |e| {
            if let Some(m) = e
                .pointer_mut("/status/replicaModeMap")
                .and_then(Value::as_object_mut)
            {
                m.remove(&key.name);
            }
        });
    }
}

pub(super) fn start(store: &mut Store, engine: &ObjectKey, replica: &str, address: &str) {
    let source = store.get(engine).and_then(|e| {
        let modes = e.pointer("/status/replicaModeMap")?.as_object()?;
        let rw = modes.iter().find(|(_, m)| m.as_str() == Some("RW"))?.0;
        e.pointer(&format!("/spec/replicaAddressMap/{rw}"))?
            .as_str()
            .map(str::to_owned)
    });
    store.modify(engine, |e| {
        *slot(e, &["status", "replicaModeMap", replica]) = json!("WO");
        *slot(e, &["spec", "replicaAddressMap", replica]) = json!(address);
        *slot(e, &["status", "rebuildStatus", &format!("tcp://{address}")]) = json!({
            "isRebuilding": true, "progress": 0, "state": "in_progress", "error": "",
            "fromReplicaAddress": source.map(|s| format!("tcp://{s}")).unwrap_or_default(),
        });
    });
    let key = ObjectKey::new(rt("longhorn.io", "replicas"), &engine.namespace, replica);
    store.modify(&key, |r| {
        *slot(r, &["status", "currentState"]) = json!("running");
        *slot(r, &["status", "started"]) = json!(true);
    });
}

pub(super) fn create_replica(
    store: &mut Store,
    volume: &Value,
    engine: &ObjectKey,
    at: &Candidate,
    counter: u64,
    now: Timestamp,
) -> ObjectKey {
    let volume_name = name(volume);
    let replica_name = format!(
        "{volume_name}-r-{:08x}",
        fnv_str(&format!("{volume_name}/{counter}")) as u32
    );
    let image = store
        .get(engine)
        .map(|e| text(e, "/spec/image").to_owned())
        .unwrap_or_default();
    let replica = json!({
        "metadata": {
            "name": replica_name,
            "namespace": engine.namespace,
            "labels": {"longhornvolume": volume_name, "longhornnode": at.node},
        },
        "spec": {
            "volumeName": volume_name, "nodeID": at.node, "diskID": at.disk_id,
            "diskPath": at.disk_path,
            "dataDirectoryName": format!("{volume_name}-{:08x}", fnv_str(&replica_name) as u32),
            "engineName": engine.name, "active": true, "desireState": "running", "image": image,
            "dataEngine": text(volume, "/spec/dataEngine"), "volumeSize": text(volume, "/spec/size"),
            "healthyAt": "", "failedAt": "", "lastFailedAt": "", "rebuildRetryCount": 0,
            "hardNodeAffinity": "",
        },
        "status": {
            "currentState": "stopped", "ownerID": at.node,
            "instanceManagerName": format!("instance-manager-{}", at.node), "started": false,
            "currentImage": image,
        },
    });
    let rt = rt("longhorn.io", "replicas");
    let _ = store.create(rt, replica, now, false);
    ObjectKey::new(rt, &engine.namespace, &replica_name)
}

/// The volume's Scheduled condition.
pub(super) fn set_scheduled(store: &mut Store, volume: &Value, scheduled: bool) {
    let current = volume
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| text(c, "/type") == "Scheduled"))
        .map(|c| text(c, "/status") == "True");
    if current.is_none_or(|c| c == scheduled) {
        return;
    }
    let key = ObjectKey::new(
        rt("longhorn.io", "volumes"),
        text(volume, "/metadata/namespace"),
        name(volume),
    );
    store.modify(&key, |v| {
        if let Some(cs) = v
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        {
            for c in cs.iter_mut().filter(|c| text(c, "/type") == "Scheduled") {
                *slot(c, &["status"]) = json!(if scheduled { "True" } else { "False" });
                *slot(c, &["reason"]) = json!(if scheduled {
                    ""
                } else {
                    "ReplicaSchedulingFailure"
                });
                *slot(c, &["message"]) = json!(if scheduled {
                    ""
                } else {
                    "insufficient nodes or disks to schedule replicas with hard anti-affinity"
                });
            }
        }
    });
}

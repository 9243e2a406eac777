//! Helpers shared by the simulation tests: reading and editing the twin's store in-process.
#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};
use posture_twin::Twin;
use posture_twin::resources::{ResourceType, by_plural};
use posture_twin::store::ObjectKey;
use serde_json::Value;

pub fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("valid")
}

pub fn homelab() -> Twin {
    Twin::homelab(t0())
}

pub fn rt(group: &str, plural: &str) -> &'static ResourceType {
    by_plural(group, plural).expect("registered")
}

pub fn key(group: &str, plural: &str, ns: &str, name: &str) -> ObjectKey {
    ObjectKey::new(rt(group, plural), ns, name)
}

pub fn get(twin: &Twin, group: &str, plural: &str, ns: &str, name: &str) -> Value {
    twin.store
        .get(&key(group, plural, ns, name))
        .cloned()
        .unwrap_or_else(|| panic!("{plural} {ns}/{name} exists"))
}

pub fn list(twin: &Twin, group: &str, plural: &str, ns: Option<&str>) -> Vec<Value> {
    twin.store
        .list(rt(group, plural), ns)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Edits an object as an API client would, then lets controllers react.
pub fn edit(
    twin: &mut Twin,
    group: &str,
    plural: &str,
    ns: &str,
    name: &str,
    f: impl FnOnce(&mut Value),
) {
    assert!(
        twin.store.modify(&key(group, plural, ns, name), f),
        "{name} exists"
    );
    twin.settle();
}

pub fn create(twin: &mut Twin, group: &str, plural: &str, object: Value) {
    let now = twin.now();
    twin.store
        .create(rt(group, plural), object, now, false)
        .expect("created");
    twin.settle();
}

pub fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

/// Pods in a namespace whose name starts with `prefix`, not terminating.
pub fn pods(twin: &Twin, ns: &str, prefix: &str) -> Vec<Value> {
    list(twin, "", "pods", Some(ns))
        .into_iter()
        .filter(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
        .collect()
}

pub fn node_of(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap_or("")
}

pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Events with this reason about objects whose name starts with `prefix`.
pub fn events(twin: &Twin, reason: &str, prefix: &str) -> Vec<Value> {
    list(twin, "", "events", None)
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .filter(|e| {
            e["involvedObject"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect()
}

pub fn uncordon(twin: &mut Twin, node: &str) {
    edit(twin, "", "nodes", "", node, |n| {
        n["spec"]["unschedulable"] = Value::Bool(false);
        if let Some(taints) = n["spec"]["taints"].as_array_mut() {
            taints.retain(|t| t["key"] != "node.kubernetes.io/unschedulable");
        }
    });
}

/// The whole store as comparable JSON, for determinism checks.
pub fn dump(twin: &Twin) -> Vec<Value> {
    posture_twin::resources::RESOURCES
        .iter()
        .flat_map(|rt| {
            twin.store
                .list(rt, None)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

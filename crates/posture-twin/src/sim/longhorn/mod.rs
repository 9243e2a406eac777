//! The simulated Longhorn manager: keeps each volume at `numberOfReplicas` replicas, schedules
//! and rebuilds replicas (size-proportional, limited per node), fails replicas on lost nodes,
//! removes extras, keeps engines' replica maps consistent and reports robustness.
//!
//! `node-drain-policy` only matters to instance-manager pod eviction, which the twin does not
//! model; the setting is served as stored.

mod placement;
mod rebuild;
mod storageclass;
mod writes;

use crate::sim::util::slot;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Simulation;
use super::nodes::node_ready;
use super::util::{longhorn_setting, name, rt, text};
use crate::clock::rfc3339;
use crate::store::{ObjectKey, Store};

#[derive(Debug, Default)]
pub(crate) struct LonghornMemory {
    /// When each volume was first seen short of replicas while holding failed ones.
    deficit_since: BTreeMap<String, Timestamp>,
    /// Replicas failed because their node went away (reused when it returns).
    failed_by_node_loss: BTreeSet<String>,
    rebuilds: BTreeMap<String, rebuild::Rebuild>,
    /// Replicas whose rebuild failed, and when they retry.
    retry_at: BTreeMap<String, Timestamp>,
    robustness: BTreeMap<String, String>,
    storage_class_source: Option<String>,
    names: u64,
    /// When each volume was first seen unbalanced (for replica auto-balance).
    balance_since: BTreeMap<String, Timestamp>,
    /// Replicas added by auto-balance, protected from removal while they rebuild.
    balancing: BTreeSet<String>,
}

/// One replica as the manager sees it.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaView {
    pub key: ObjectKey,
    pub node: String,
    pub failed: bool,
    pub uid: String,
}

pub(crate) struct Settings {
    soft_anti_affinity: String,
    replenishment_wait: i64,
    rebuild_limit: usize,
    auto_balance: String,
}

fn settings(store: &Store) -> Settings {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (_, s) in store.list(rt("longhorn.io", "settings"), None) {
        values.insert(name(s).to_owned(), longhorn_setting(text(s, "/value")));
    }
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    Settings {
        soft_anti_affinity: get("replica-soft-anti-affinity"),
        replenishment_wait: get("replica-replenishment-wait-interval")
            .parse()
            .unwrap_or(600),
        rebuild_limit: get("concurrent-replica-rebuild-per-node-limit")
            .parse()
            .unwrap_or(5),
        auto_balance: get("replica-auto-balance"),
    }
}

/// Whether the manager has something time-driven going on: rebuilds, retries, waits, or nodes
/// that stopped reporting.
pub(super) fn busy(sim: &Simulation) -> bool {
    let memory = &sim.longhorn;
    !memory.rebuilds.is_empty()
        || !memory.retry_at.is_empty()
        || !memory.deficit_since.is_empty()
        || !memory.balance_since.is_empty()
        || !memory.failed_by_node_loss.is_empty()
        || !sim.nodes.silenced_at.is_empty()
}

/// Nothing can happen to this volume without a store change: no timers, rebuilds, retries or
/// lost nodes involve it.
fn quiet(
    memory: &LonghornMemory,
    volume: &str,
    owned: &[ReplicaView],
    lost_since: &BTreeMap<String, Timestamp>,
) -> bool {
    !memory.deficit_since.contains_key(volume)
        && !memory.balance_since.contains_key(volume)
        && owned.iter().all(|r| {
            !memory.rebuilds.contains_key(&r.key.name)
                && !memory.retry_at.contains_key(&r.key.name)
                && !memory.failed_by_node_loss.contains(&r.key.name)
                && !lost_since.contains_key(&r.node)
        })
}

/// Runs the manager; with `inputs_changed` false (no Longhorn object, setting or node changed
/// since the last run) only volumes with something time-driven going on are looked at.
pub(super) fn reconcile(
    sim: &mut Simulation,
    store: &mut Store,
    now: Timestamp,
    inputs_changed: bool,
) {
    storageclass::reconcile(&mut sim.longhorn, store, now);
    let volumes_rt = rt("longhorn.io", "volumes");
    if store.list(volumes_rt, None).next().is_none() {
        return;
    }
    let settings = settings(store);
    // Nodes whose replicas can run: Kubernetes node Ready and reporting.
    let mut usable = BTreeSet::new();
    let mut lost_since: BTreeMap<String, Timestamp> = BTreeMap::new();
    for (_, node) in store.list(rt("", "nodes"), None) {
        let node_name = name(node).to_owned();
        match sim.nodes.silenced_at.get(&node_name) {
            Some(since) => {
                lost_since.insert(node_name, *since);
            }
            None if node_ready(node) => {
                usable.insert(node_name);
            }
            None => {}
        }
    }
    node_conditions(store, &usable);
    let mut replicas: BTreeMap<String, Vec<ReplicaView>> = BTreeMap::new();
    for (key, r) in store.list(rt("longhorn.io", "replicas"), None) {
        replicas
            .entry(text(r, "/spec/volumeName").to_owned())
            .or_default()
            .push(ReplicaView {
                key: key.clone(),
                node: text(r, "/spec/nodeID").to_owned(),
                failed: !text(r, "/spec/failedAt").is_empty()
                    || text(r, "/status/currentState") == "error",
                uid: super::util::uid(r).to_owned(),
            });
    }
    let mut engines: BTreeMap<String, ObjectKey> = BTreeMap::new();
    for (key, e) in store.list(rt("longhorn.io", "engines"), None) {
        engines
            .entry(text(e, "/spec/volumeName").to_owned())
            .or_insert_with(|| key.clone());
    }
    let mut rebuilding_per_node = rebuild::rebuilding_per_node(sim, &replicas);
    let volumes: Vec<ObjectKey> = store
        .list(volumes_rt, None)
        .map(|(k, _)| k.clone())
        .collect();
    let longhorn_nodes: Vec<Value> = store
        .list(rt("longhorn.io", "nodes"), None)
        .map(|(_, n)| n.clone())
        .collect();
    for volume_key in volumes {
        let volume_name = volume_key.name.clone();
        let owned = replicas.remove(&volume_name).unwrap_or_default();
        if !inputs_changed && quiet(&sim.longhorn, &volume_name, &owned, &lost_since) {
            continue;
        }
        let Some(volume) = store.get(&volume_key).cloned() else {
            continue;
        };
        let engine = engines.get(&volume_name).cloned();
        let ctx = rebuild::VolumeContext {
            volume: &volume,
            engine: engine.as_ref(),
            settings: &settings,
            usable: &usable,
            lost_since: &lost_since,
            longhorn_nodes: &longhorn_nodes,
        };
        rebuild::reconcile_volume(sim, store, &ctx, owned, &mut rebuilding_per_node, now);
        if let Some(engine) = &engine {
            prune_engine(store, engine);
            robustness(sim, store, &volume_key, engine, now);
        }
    }
}

/// Longhorn node Ready follows the Kubernetes node.
fn node_conditions(store: &mut Store, usable: &BTreeSet<String>) {
    let mut writes = Vec::new();
    for (key, node) in store.list(rt("longhorn.io", "nodes"), None) {
        let node_name = match text(node, "/spec/name") {
            "" => name(node),
            n => n,
        };
        let ready = usable.contains(node_name);
        let current = node
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| text(c, "/type") == "Ready"))
            .map(|c| text(c, "/status") == "True");
        if current.is_some_and(|c| c != ready) {
            writes.push((key.clone(), ready));
        }
    }
    for (key, ready) in writes {
        store.modify(&key, |node| {
            if let Some(cs) = node
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                for c in cs.iter_mut().filter(|c| text(c, "/type") == "Ready") {
                    *slot(c, &["status"]) = json!(if ready { "True" } else { "False" });
                    *slot(c, &["reason"]) =
                        json!(if ready { "" } else { "KubernetesNodeNotReady" });
                }
            }
        });
    }
}

/// Drops engine map entries for replicas that no longer exist.
fn prune_engine(store: &mut Store, engine: &ObjectKey) {
    let replicas_rt = rt("longhorn.io", "replicas");
    let Some(current) = store.get(engine) else {
        return;
    };
    let exists = |replica: &str| {
        store
            .get(&ObjectKey::new(replicas_rt, &engine.namespace, replica))
            .is_some()
    };
    let stale = |pointer: &str| {
        current
            .pointer(pointer)
            .and_then(Value::as_object)
            .is_some_and(|m| m.keys().any(|k| !exists(k)))
    };
    if !stale("/status/replicaModeMap") && !stale("/spec/replicaAddressMap") {
        return;
    }
    let mut next = current.clone();
    for pointer in ["/status/replicaModeMap", "/spec/replicaAddressMap"] {
        if let Some(m) = next.pointer_mut(pointer).and_then(Value::as_object_mut) {
            m.retain(|k, _| exists(k));
        }
    }
    store.modify(engine, |e| *e = next);
}

fn robustness(
    sim: &mut Simulation,
    store: &mut Store,
    volume: &ObjectKey,
    engine: &ObjectKey,
    now: Timestamp,
) {
    let (Some(v), Some(e)) = (store.get(volume), store.get(engine)) else {
        return;
    };
    if text(v, "/status/state") != "attached" {
        return;
    }
    let wanted = v
        .pointer("/spec/numberOfReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(3);
    let rw = e
        .pointer("/status/replicaModeMap")
        .and_then(Value::as_object)
        .map_or(0, |m| {
            m.values()
                .filter(|mode| mode.as_str() == Some("RW"))
                .count()
        }) as i64;
    let state = if rw >= wanted {
        "healthy"
    } else if rw >= 1 {
        "degraded"
    } else {
        "faulted"
    };
    let previous = sim
        .longhorn
        .robustness
        .insert(volume.name.clone(), state.to_owned());
    if text(v, "/status/robustness") == state {
        return;
    }
    let became_degraded = state == "degraded" && previous.is_some_and(|p| p != "degraded");
    let stamp = rfc3339(now);
    store.modify(volume, |v| {
        *slot(v, &["status", "robustness"]) = json!(state);
        if became_degraded || (state == "degraded" && text(v, "/status/lastDegradedAt").is_empty())
        {
            *slot(v, &["status", "lastDegradedAt"]) = json!(stamp);
        }
    });
}

//! Per-volume replica lifecycle: failing replicas on lost nodes, reusing them when the node
//! returns, replenishing after the wait interval, rebuilding (WO → RW) under the per-node
//! limit, retrying failed rebuilds, and removing extra replicas.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::placement::{self, Candidate};
use super::{ReplicaView, Settings};
use crate::clock::rfc3339;
use crate::sim::Simulation;
use crate::sim::util::{fnv_str, int, name, rt, text, uid};
use crate::store::{ObjectKey, Store};

/// Backoff before a failed rebuild is retried.
const RETRY_AFTER: SignedDuration = SignedDuration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct Rebuild {
    done: u64,
    size: u64,
    last: Timestamp,
    node: String,
    address: String,
}

pub(crate) struct VolumeContext<'a> {
    pub volume: &'a Value,
    pub engine: Option<&'a ObjectKey>,
    pub settings: &'a Settings,
    pub usable: &'a BTreeSet<String>,
    pub lost_since: &'a BTreeMap<String, Timestamp>,
    pub longhorn_nodes: &'a [Value],
}

pub(crate) fn rebuilding_per_node(
    sim: &Simulation,
    _replicas: &BTreeMap<String, Vec<ReplicaView>>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in sim.longhorn.rebuilds.values() {
        *counts.entry(r.node.clone()).or_default() += 1;
    }
    counts
}

fn views(store: &Store, keys: &[ReplicaView]) -> Vec<ReplicaView> {
    keys.iter()
        .filter_map(|r| {
            let object = store.get(&r.key)?;
            Some(ReplicaView {
                key: r.key.clone(),
                node: text(object, "/spec/nodeID").to_owned(),
                failed: !text(object, "/spec/failedAt").is_empty()
                    || text(object, "/status/currentState") == "error",
                uid: uid(object).to_owned(),
            })
        })
        .collect()
}

fn mode(store: &Store, engine: Option<&ObjectKey>, replica: &str) -> Option<String> {
    let e = store.get(engine?)?;
    e.pointer("/status/replicaModeMap")?
        .get(replica)?
        .as_str()
        .map(str::to_owned)
}

pub(crate) fn reconcile_volume(
    sim: &mut Simulation,
    store: &mut Store,
    ctx: &VolumeContext<'_>,
    owned: Vec<ReplicaView>,
    per_node: &mut BTreeMap<String, usize>,
    now: Timestamp,
) {
    let volume_name = name(ctx.volume).to_owned();
    let wanted = int(ctx.volume, "/spec/numberOfReplicas")
        .unwrap_or(3)
        .max(0) as usize;
    let size = int(ctx.volume, "/spec/size").unwrap_or(0).max(0);
    let memory = &mut sim.longhorn;
    // Replicas on lost nodes fail after a short delay.
    for r in &owned {
        let lost = ctx
            .lost_since
            .get(&r.node)
            .is_some_and(|since| now.duration_since(*since) >= sim.config.replica_failure_delay);
        if lost && !r.failed {
            if let Some(rebuild) = memory.rebuilds.remove(&r.key.name) {
                decrement(per_node, &rebuild.node);
            }
            memory.retry_at.remove(&r.key.name);
            memory.failed_by_node_loss.insert(r.key.name.clone());
            fail(store, ctx.engine, &r.key, now, false);
        }
    }
    // Lost replicas come back when their node does; failed rebuilds retry after a backoff.
    for r in &views(store, &owned) {
        let back = ctx.usable.contains(&r.node);
        let reuse = r.failed && back && memory.failed_by_node_loss.contains(&r.key.name);
        let retry = back && memory.retry_at.get(&r.key.name).is_some_and(|t| *t <= now);
        if reuse || retry {
            memory.failed_by_node_loss.remove(&r.key.name);
            memory.retry_at.remove(&r.key.name);
            revive(store, ctx.engine, &r.key);
        }
    }
    progress(sim, store, ctx, &owned, per_node, now);
    let memory = &mut sim.longhorn;
    // Queued replicas start rebuilding while their node has a free slot.
    let current = views(store, &owned);
    for r in &current {
        if r.failed
            || mode(store, ctx.engine, &r.key.name).is_some()
            || !ctx.usable.contains(&r.node)
        {
            continue;
        }
        let busy = per_node.get(&r.node).copied().unwrap_or(0);
        if busy >= ctx.settings.rebuild_limit {
            continue;
        }
        let Some(engine) = ctx.engine else {
            continue;
        };
        memory.names += 1;
        let address = format!(
            "10.42.{}.{}:{}",
            fnv_str(&r.node) % 250,
            100 + memory.names % 150,
            10000 + memory.names % 1000
        );
        start(store, engine, &r.key.name, &address);
        *per_node.entry(r.node.clone()).or_default() += 1;
        memory.rebuilds.insert(
            r.key.name.clone(),
            Rebuild {
                done: 0,
                size: size as u64,
                last: now,
                node: r.node.clone(),
                address,
            },
        );
    }
    // Replenish.
    let current = views(store, &owned);
    let active: Vec<&ReplicaView> = current
        .iter()
        .filter(|r| !r.failed || memory.retry_at.contains_key(&r.key.name))
        .collect();
    let has_failed = current
        .iter()
        .any(|r| r.failed && !memory.retry_at.contains_key(&r.key.name));
    let mut created = Vec::new();
    if active.len() < wanted {
        let waited = if has_failed {
            let since = *memory
                .deficit_since
                .entry(volume_name.clone())
                .or_insert(now);
            now.duration_since(since) >= SignedDuration::from_secs(ctx.settings.replenishment_wait)
        } else {
            true
        };
        if waited && let Some(engine) = ctx.engine {
            let mut holding: BTreeMap<String, usize> = BTreeMap::new();
            for r in &active {
                *holding.entry(r.node.clone()).or_default() += 1;
            }
            let nodes: Vec<&Value> = ctx.longhorn_nodes.iter().collect();
            let candidates = placement::candidates(&nodes, ctx.usable, size);
            let soft = placement::soft_anti_affinity(ctx.volume, &ctx.settings.soft_anti_affinity);
            let mut scheduled = true;
            for _ in active.len()..wanted {
                match placement::pick(&candidates, &holding, soft) {
                    Some(c) => {
                        *holding.entry(c.node.clone()).or_default() += 1;
                        memory.names += 1;
                        let key = create_replica(store, ctx.volume, engine, &c, memory.names, now);
                        created.push(ReplicaView {
                            key,
                            node: c.node.clone(),
                            failed: false,
                            uid: String::new(),
                        });
                    }
                    None => {
                        scheduled = false;
                        break;
                    }
                }
            }
            set_scheduled(store, ctx.volume, scheduled);
        }
    } else {
        memory.deficit_since.remove(&volume_name);
        set_scheduled(store, ctx.volume, true);
    }
    // Remove extras: failed first, then doubled-up nodes, then the newest.
    let mut current = views(store, &owned);
    current.extend(views(store, &created));
    remove_extras(sim, store, current, wanted, per_node);
}

fn remove_extras(
    sim: &mut Simulation,
    store: &mut Store,
    mut current: Vec<ReplicaView>,
    wanted: usize,
    per_node: &mut BTreeMap<String, usize>,
) {
    let memory = &mut sim.longhorn;
    while current.len() > wanted {
        let mut per: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &current {
            *per.entry(r.node.as_str()).or_default() += 1;
        }
        let retrying = |r: &ReplicaView| memory.retry_at.contains_key(&r.key.name);
        let victim = current
            .iter()
            .enumerate()
            .max_by_key(|(_, r)| {
                (
                    r.failed && !retrying(r),
                    per.get(r.node.as_str()).copied().unwrap_or(0) > 1,
                    r.uid.clone(),
                )
            })
            .map(|(i, r)| (i, r.failed && !retrying(r)));
        let Some((index, failed)) = victim else {
            break;
        };
        let active = current.iter().filter(|r| !r.failed || retrying(r)).count();
        if !failed && active <= wanted {
            break;
        }
        let r = current.remove(index);
        if let Some(rebuild) = memory.rebuilds.remove(&r.key.name) {
            decrement(per_node, &rebuild.node);
        }
        memory.retry_at.remove(&r.key.name);
        memory.failed_by_node_loss.remove(&r.key.name);
        let _ = store.delete(&r.key, false);
    }
}

fn decrement(per_node: &mut BTreeMap<String, usize>, node: &str) {
    if let Some(n) = per_node.get_mut(node) {
        *n = n.saturating_sub(1);
    }
}

fn progress(
    sim: &mut Simulation,
    store: &mut Store,
    ctx: &VolumeContext<'_>,
    owned: &[ReplicaView],
    per_node: &mut BTreeMap<String, usize>,
    now: Timestamp,
) {
    let rate = sim.config.rebuild_bytes_per_second / sim.faults.rebuild_slowdown();
    let failing = sim.faults.rebuilds_fail(name(ctx.volume));
    for r in owned {
        let Some(mut rebuild) = sim.longhorn.rebuilds.get(&r.key.name).cloned() else {
            continue;
        };
        let elapsed_ms = now.duration_since(rebuild.last).as_millis().max(0) as u64;
        rebuild.done = rebuild
            .done
            .saturating_add(rate.saturating_mul(elapsed_ms) / 1000)
            .min(rebuild.size);
        rebuild.last = now;
        let percent = (rebuild.done * 100)
            .checked_div(rebuild.size)
            .unwrap_or(100);
        let Some(engine) = ctx.engine else {
            continue;
        };
        if failing && percent >= 50 {
            sim.longhorn.rebuilds.remove(&r.key.name);
            decrement(per_node, &rebuild.node);
            sim.longhorn
                .retry_at
                .insert(r.key.name.clone(), now + RETRY_AFTER);
            fail(store, Some(engine), &r.key, now, true);
        } else if rebuild.done >= rebuild.size {
            sim.longhorn.rebuilds.remove(&r.key.name);
            decrement(per_node, &rebuild.node);
            let stamp = rfc3339(now);
            store.modify(&r.key, |replica| {
                replica["spec"]["healthyAt"] = json!(stamp);
                replica["status"]["currentState"] = json!("running");
            });
            store.modify(engine, |e| {
                e["status"]["replicaModeMap"][&r.key.name] = json!("RW");
                if let Some(m) = e
                    .pointer_mut("/status/rebuildStatus")
                    .and_then(Value::as_object_mut)
                {
                    m.remove(&format!("tcp://{}", rebuild.address));
                }
            });
        } else {
            let address = format!("tcp://{}", rebuild.address);
            store.modify(engine, |e| {
                e["status"]["rebuildStatus"][&address]["progress"] = json!(percent);
            });
            sim.longhorn.rebuilds.insert(r.key.name.clone(), rebuild);
        }
    }
}

fn fail(
    store: &mut Store,
    engine: Option<&ObjectKey>,
    key: &ObjectKey,
    now: Timestamp,
    retry: bool,
) {
    let stamp = rfc3339(now);
    store.modify(key, |r| {
        r["spec"]["failedAt"] = json!(stamp);
        r["spec"]["lastFailedAt"] = json!(stamp);
        r["spec"]["desireState"] = json!("stopped");
        if retry {
            let count = int(r, "/spec/rebuildRetryCount").unwrap_or(0);
            r["spec"]["rebuildRetryCount"] = json!(count + 1);
        }
        r["status"]["currentState"] = json!("error");
        r["status"]["started"] = json!(false);
    });
    if let Some(engine) = engine {
        let replica = key.name.clone();
        store.modify(engine, |e| {
            e["status"]["replicaModeMap"][&replica] = json!("ERR");
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
fn revive(store: &mut Store, engine: Option<&ObjectKey>, key: &ObjectKey) {
    store.modify(key, |r| {
        r["spec"]["failedAt"] = json!("");
        r["spec"]["desireState"] = json!("running");
        r["status"]["currentState"] = json!("stopped");
        r["status"]["started"] = json!(false);
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

fn start(store: &mut Store, engine: &ObjectKey, replica: &str, address: &str) {
    let source = store.get(engine).and_then(|e| {
        let modes = e.pointer("/status/replicaModeMap")?.as_object()?;
        let rw = modes.iter().find(|(_, m)| m.as_str() == Some("RW"))?.0;
        e.pointer(&format!("/spec/replicaAddressMap/{rw}"))?
            .as_str()
            .map(str::to_owned)
    });
    store.modify(engine, |e| {
        e["status"]["replicaModeMap"][replica] = json!("WO");
        e["spec"]["replicaAddressMap"][replica] = json!(address);
        e["status"]["rebuildStatus"][format!("tcp://{address}")] = json!({
            "isRebuilding": true, "progress": 0, "state": "in_progress", "error": "",
            "fromReplicaAddress": source.map(|s| format!("tcp://{s}")).unwrap_or_default(),
        });
    });
    let key = ObjectKey::new(rt("longhorn.io", "replicas"), &engine.namespace, replica);
    store.modify(&key, |r| {
        r["status"]["currentState"] = json!("running");
        r["status"]["started"] = json!(true);
    });
}

fn create_replica(
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
fn set_scheduled(store: &mut Store, volume: &Value, scheduled: bool) {
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
                c["status"] = json!(if scheduled { "True" } else { "False" });
                c["reason"] = json!(if scheduled {
                    ""
                } else {
                    "ReplicaSchedulingFailure"
                });
                c["message"] = json!(if scheduled {
                    ""
                } else {
                    "insufficient nodes or disks to schedule replicas with hard anti-affinity"
                });
            }
        }
    });
}

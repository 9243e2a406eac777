//! Per-volume replica lifecycle: failing replicas on lost nodes, reusing them when the node
//! returns, replenishing after the wait interval, rebuilding (WO → RW) under the per-node
//! limit, retrying failed rebuilds, and removing extra replicas.

use crate::sim::util::slot;
use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::placement;
use super::writes::{create_replica, fail, revive, set_scheduled, start};
use super::{ReplicaView, Settings};
use crate::clock::rfc3339;
use crate::sim::Simulation;
use crate::sim::util::{fnv_str, int, name, text, uid};
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
    if created.is_empty()
        && let Some(replica) = balance(sim, store, ctx, &owned, wanted, size, now)
    {
        created.push(replica);
    }
    // Remove extras: failed first, then doubled-up nodes, then the newest.
    let mut current = views(store, &owned);
    current.extend(views(store, &created));
    remove_extras(sim, store, ctx.engine, current, wanted, per_node);
}

fn remove_extras(
    sim: &mut Simulation,
    store: &mut Store,
    engine: Option<&ObjectKey>,
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
        let healthy = |r: &ReplicaView| {
            !r.failed && mode(store, engine, &r.key.name).as_deref() == Some("RW")
        };
        let active = current.iter().filter(|r| !r.failed || retrying(r)).count();
        let rw = current.iter().filter(|r| healthy(r)).count();
        let mut ranked: Vec<(usize, (bool, bool, bool, String))> = current
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let rank = (
                    r.failed && !retrying(r),
                    per.get(r.node.as_str()).copied().unwrap_or(0) > 1,
                    !healthy(r),
                    r.uid.clone(),
                );
                (i, rank)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1));
        // A failed replica always goes; a rebuilding one while enough others stay active; a
        // healthy one only while enough healthy ones remain.
        let removable = ranked.iter().find(|(i, _)| {
            let r = &current[*i];
            let balancing = memory.balancing.contains(&r.key.name) && !healthy(r);
            (r.failed && !retrying(r))
                || (!balancing && !healthy(r) && active > wanted)
                || (healthy(r) && rw > wanted && active > wanted)
        });
        let Some((index, _)) = removable else {
            break;
        };
        let r = current.remove(*index);
        if let Some(rebuild) = memory.rebuilds.remove(&r.key.name) {
            decrement(per_node, &rebuild.node);
        }
        memory.retry_at.remove(&r.key.name);
        memory.failed_by_node_loss.remove(&r.key.name);
        memory.balancing.remove(&r.key.name);
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
        let percent = rebuild
            .done
            .saturating_mul(100)
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
            sim.longhorn.balancing.remove(&r.key.name);
            decrement(per_node, &rebuild.node);
            let stamp = rfc3339(now);
            store.modify(&r.key, |replica| {
                *slot(replica, &["spec", "healthyAt"]) = json!(stamp);
                *slot(replica, &["status", "currentState"]) = json!("running");
            });
            store.modify(engine, |e| {
                *slot(e, &["status", "replicaModeMap", &r.key.name]) = json!("RW");
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
                *slot(e, &["status", "rebuildStatus", &address, "progress"]) = json!(percent);
            });
            sim.longhorn.rebuilds.insert(r.key.name.clone(), rebuild);
        }
    }
}

/// Replica auto-balance (`best-effort`: spread over as many nodes as possible; `least-effort`:
/// only when every replica shares one node). Once an imbalance has stood for the configured
/// delay, one extra replica goes to an empty node; when it is healthy the extras removal drops
/// one from the crowded node.
fn balance(
    sim: &mut Simulation,
    store: &mut Store,
    ctx: &VolumeContext<'_>,
    owned: &[ReplicaView],
    wanted: usize,
    size: i64,
    now: Timestamp,
) -> Option<ReplicaView> {
    let volume_name = name(ctx.volume).to_owned();
    let policy = match text(ctx.volume, "/spec/replicaAutoBalance") {
        "" | "ignored" => ctx.settings.auto_balance.as_str(),
        own => own,
    };
    if !matches!(policy, "best-effort" | "least-effort") {
        sim.longhorn.balance_since.remove(&volume_name);
        return None;
    }
    let current = views(store, owned);
    let spread: BTreeSet<&str> = current.iter().map(|r| r.node.as_str()).collect();
    if spread.len() >= wanted {
        sim.longhorn.balance_since.remove(&volume_name);
        return None;
    }
    let settled = current.len() == wanted
        && current
            .iter()
            .all(|r| !r.failed && mode(store, ctx.engine, &r.key.name).as_deref() == Some("RW"));
    let mut holding: BTreeMap<String, usize> = BTreeMap::new();
    for r in &current {
        *holding.entry(r.node.clone()).or_default() += 1;
    }
    let nodes: Vec<&Value> = ctx.longhorn_nodes.iter().collect();
    let candidates = placement::candidates(&nodes, ctx.usable, size);
    let reachable = wanted.min(candidates.len());
    let unbalanced = match policy {
        "best-effort" => holding.len() < reachable,
        "least-effort" => holding.len() == 1 && reachable > 1,
        _ => false,
    };
    if !settled || !unbalanced {
        sim.longhorn.balance_since.remove(&volume_name);
        return None;
    }
    let since = *sim
        .longhorn
        .balance_since
        .entry(volume_name.clone())
        .or_insert(now);
    if now.duration_since(since) < sim.config.auto_balance_delay {
        return None;
    }
    let engine = ctx.engine?;
    let target = placement::pick(&candidates, &holding, false)?;
    sim.longhorn.balance_since.remove(&volume_name);
    sim.longhorn.names += 1;
    let key = create_replica(store, ctx.volume, engine, &target, sim.longhorn.names, now);
    sim.longhorn.balancing.insert(key.name.clone());
    Some(ReplicaView {
        key,
        node: target.node,
        failed: false,
        uid: String::new(),
    })
}

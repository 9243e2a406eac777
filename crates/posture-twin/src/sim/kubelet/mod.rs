//! The kubelets: bound pods start (Running after a short delay, Ready after their readiness
//! probe's delay), crash loops and readiness flaps play out, terminating pods are removed.
//! A silent node's kubelet reports nothing. What a pod's status says is `status.rs`.

mod one_shot;
mod status;

use crate::sim::util::slot;
use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::Simulation;
use super::events::{self, EventSpec};
use super::faults::pod_fault_key;
use super::util::{int, is_terminating, name, rt, text, uid};
use status::{backoff, containers, pod_status};

use crate::store::{ObjectKey, Store};
pub(crate) use status::{pod_ready, set_ready};

#[derive(Debug, Default)]
pub(crate) struct KubeletMemory {
    /// By pod uid.
    pods: BTreeMap<String, PodLife>,
    next_ip: BTreeMap<String, u32>,
    /// Some pod is starting, terminating or otherwise not settled: run again next step.
    busy: bool,
}

impl KubeletMemory {
    pub(crate) fn busy(&self) -> bool {
        self.busy
    }

    /// Makes the kubelets look at every pod on the next pass (a node came back).
    pub(crate) fn wake(&mut self) {
        self.busy = true;
    }

    /// Makes the kubelet look at the pod again (its status was changed by someone else).
    pub(crate) fn unsettle(&mut self, pod_uid: &str) {
        if let Some(life) = self.pods.get_mut(pod_uid) {
            life.settled = false;
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct PodLife {
    pub(super) bound_at: Timestamp,
    pub(super) running_at: Option<Timestamp>,
    pub(super) ready_at_once: bool,
    pub(super) pod_ip: String,
    pub(super) host_ip: String,
    pub(super) crash: Option<Crash>,
    /// A one-shot pod's end: when, and its exit code.
    pub(super) finished: Option<(Timestamp, i32)>,
    /// Running, Ready and fault-free: nothing to do until something changes.
    pub(super) settled: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Crash {
    pub(super) restarts: i64,
    pub(super) since: Timestamp,
    pub(super) waiting: bool,
    pub(super) last_started: Timestamp,
    pub(super) last_finished: Option<Timestamp>,
}

pub(super) fn reconcile(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let pods_rt = rt("", "pods");
    let mut to_delete = Vec::new();
    let mut to_start = Vec::new();
    let mut to_update = Vec::new();
    let mut remembered = 0;
    let mut waiting = false;
    let nodes: std::collections::BTreeSet<&str> = store
        .list(rt("", "nodes"), None)
        .map(|(_, n)| name(n))
        .collect();
    for (key, pod) in store.list(pods_rt, None) {
        let node = text(pod, "/spec/nodeName");
        let pod_uid = uid(pod);
        if !node.is_empty() && !nodes.contains(node) {
            // Pod garbage collection: the node is gone, so is the pod.
            to_delete.push(key.clone());
            continue;
        }
        let life = sim.kubelet.pods.get(pod_uid);
        if life.is_some() {
            remembered += 1;
        }
        if node.is_empty() {
            if is_terminating(pod) {
                to_delete.push(key.clone());
            }
            continue;
        }
        if sim.faults.silent(node) {
            // Frozen until the node reports again (the fault's end wakes the kubelets).
            continue;
        }
        if is_terminating(pod) {
            let since: Option<Timestamp> = text(pod, "/metadata/deletionTimestamp").parse().ok();
            if sim.bootstrapping
                || since.is_none_or(|s| now.duration_since(s) >= sim.config.pod_termination)
            {
                to_delete.push(key.clone());
            } else {
                waiting = true;
            }
            continue;
        }
        let faulty = sim.faults.pod_faults();
        match life {
            None => to_start.push(key.clone()),
            // Settled pods only change when the node controller marks them NotReady, which
            // unsettles them; reading their conditions every step would dominate big clusters.
            Some(life) if life.settled && !faulty => {}
            Some(_) => to_update.push(key.clone()),
        }
    }
    if sim.kubelet.pods.len() > remembered {
        let live: std::collections::BTreeSet<&str> =
            store.list(pods_rt, None).map(|(_, p)| uid(p)).collect();
        sim.kubelet.pods.retain(|u, _| live.contains(u.as_str()));
    }
    for key in to_delete {
        let Ok(pod) = store.delete(&key, false) else {
            continue;
        };
        if !sim.bootstrapping && !text(&pod, "/spec/nodeName").is_empty() {
            for c in containers(&pod) {
                events::record(
                    &mut sim.events,
                    store,
                    &pod,
                    EventSpec {
                        reason: "Killing",
                        message: format!("Stopping container {}", text(c, "/name")),
                        warning: false,
                        component: "kubelet",
                        host: Some(text(&pod, "/spec/nodeName")),
                    },
                    now,
                );
            }
        }
    }
    for key in to_start {
        start(sim, store, &key, now);
        to_update.push(key);
    }
    for key in to_update {
        update(sim, store, &key, now);
        let settled = store
            .get(&key)
            .and_then(|p| sim.kubelet.pods.get(uid(p)))
            .is_none_or(|life| life.settled);
        waiting |= !settled;
    }
    sim.kubelet.busy = waiting;
}

fn start(sim: &mut Simulation, store: &mut Store, key: &ObjectKey, now: Timestamp) {
    let Some(pod) = store.get(key).cloned() else {
        return;
    };
    let node_name = text(&pod, "/spec/nodeName").to_owned();
    let node = store.get(&ObjectKey::new(rt("", "nodes"), "", &node_name));
    let cidr = node
        .map(|n| text(n, "/spec/podCIDR"))
        .unwrap_or("10.42.0.0/24");
    let host_ip = node
        .and_then(|n| n.pointer("/status/addresses").and_then(Value::as_array))
        .and_then(|a| a.iter().find(|a| text(a, "/type") == "InternalIP"))
        .map(|a| text(a, "/address").to_owned())
        .unwrap_or_default();
    let counter = sim.kubelet.next_ip.entry(node_name.clone()).or_insert(10);
    *counter += 1;
    let base: Vec<&str> = cidr.split('/').next().unwrap_or("").split('.').collect();
    let pod_ip = if base.len() == 4 {
        let n = *counter;
        format!(
            "{}.{}.{}.{}",
            base[0],
            base[1],
            u32::from(base[2].parse::<u8>().unwrap_or(0)) + n / 250,
            n % 250 + 2
        )
    } else {
        format!("10.42.0.{}", *counter % 250 + 2)
    };
    let bootstrapping = sim.bootstrapping;
    sim.kubelet.pods.insert(
        uid(&pod).to_owned(),
        PodLife {
            bound_at: now,
            running_at: bootstrapping.then_some(now),
            ready_at_once: bootstrapping,
            pod_ip,
            host_ip,
            crash: None,
            finished: None,
            settled: false,
        },
    );
    if !bootstrapping {
        for c in containers(&pod) {
            events::record(
                &mut sim.events,
                store,
                &pod,
                EventSpec {
                    reason: "Pulling",
                    message: format!("Pulling image \"{}\"", text(c, "/image")),
                    warning: false,
                    component: "kubelet",
                    host: Some(&node_name),
                },
                now,
            );
        }
    }
}

/// Seconds from running to first readiness.
fn readiness_delay(pod: &Value) -> SignedDuration {
    let probe = containers(pod)
        .into_iter()
        .find_map(|c| c.get("readinessProbe"));
    match probe {
        Some(p) => SignedDuration::from_secs(
            int(p, "/initialDelaySeconds")
                .unwrap_or(0)
                .clamp(0, 86_400)
                .saturating_add(int(p, "/periodSeconds").unwrap_or(10).clamp(0, 86_400)),
        ),
        None => SignedDuration::ZERO,
    }
}

/// How long a one-shot pod's container runs before it exits.
const ONE_SHOT_RUN: SignedDuration = SignedDuration::from_secs(2);

fn update(sim: &mut Simulation, store: &mut Store, key: &ObjectKey, now: Timestamp) {
    let Some(pod) = store.get(key) else {
        return;
    };
    let Some(mut life) = sim.kubelet.pods.get(uid(pod)).cloned() else {
        return;
    };
    let fault_key = pod_fault_key(pod);
    let crashing = sim.faults.crash_loops.contains(&fault_key);
    let flap = sim.faults.flapping.get(&fault_key).copied();
    let node = text(pod, "/spec/nodeName").to_owned();
    let mut new_events: Vec<(&'static str, String, bool)> = Vec::new();
    if life.running_at.is_none() && now.duration_since(life.bound_at) >= sim.config.container_start
    {
        life.running_at = Some(now);
        for c in containers(pod) {
            new_events.push((
                "Started",
                format!("Started container {}", text(c, "/name")),
                false,
            ));
        }
    }
    let delay = readiness_delay(pod);
    if let Some(running_at) = life.running_at {
        if crashing && life.crash.is_none() {
            life.crash = Some(Crash {
                restarts: 0,
                since: running_at.max(now - sim.config.crash_after),
                waiting: false,
                last_started: running_at,
                last_finished: None,
            });
        }
        if let Some(crash) = life.crash.as_mut() {
            if !crash.waiting
                && crashing
                && now.duration_since(crash.since) >= sim.config.crash_after
            {
                crash.waiting = true;
                crash.restarts += 1;
                crash.last_started = crash.since;
                crash.last_finished = Some(now);
                crash.since = now;
                new_events.push((
                    "BackOff",
                    "Back-off restarting failed container".to_owned(),
                    true,
                ));
            } else if crash.waiting && now.duration_since(crash.since) >= backoff(crash.restarts) {
                crash.waiting = false;
                crash.since = now;
            }
        }
    }
    if let Some(running_at) = life.running_at
        && life.finished.is_none()
        && text(pod, "/spec/restartPolicy") == "Never"
        && now.duration_since(running_at) >= ONE_SHOT_RUN
    {
        let code = one_shot::exit_code(store, pod);
        life.finished = Some((now, code));
        new_events.push((
            if code == 0 { "Completed" } else { "Failed" },
            format!("Container exited with code {code}"),
            code != 0,
        ));
    }
    let container_since = life.crash.as_ref().map(|c| c.since).or(life.running_at);
    let running = life.running_at.is_some()
        && life.finished.is_none()
        && !life.crash.as_ref().is_some_and(|c| c.waiting);
    let mut ready = running
        && container_since.is_some_and(|s| life.ready_at_once || now.duration_since(s) >= delay);
    if let (Some(period), Some(since), true) = (flap, life.running_at, ready) {
        ready = (now.duration_since(since).as_secs() / i64::from(period)) % 2 == 0;
    }
    // A one-shot pod is settled only once it has exited.
    let one_shot = text(pod, "/spec/restartPolicy") == "Never";
    life.settled = if one_shot {
        life.finished.is_some()
    } else {
        ready && life.crash.is_none() && flap.is_none()
    };
    let status = pod_status(pod, &life, running, ready, container_since, now);
    let pod_for_events = pod.clone();
    sim.kubelet.pods.insert(uid(pod).to_owned(), life);
    store.modify(key, |p| *slot(p, &["status"]) = status);
    if !sim.bootstrapping {
        for (reason, message, warning) in new_events {
            events::record(
                &mut sim.events,
                store,
                &pod_for_events,
                EventSpec {
                    reason,
                    message,
                    warning,
                    component: "kubelet",
                    host: Some(&node),
                },
                now,
            );
        }
    }
}

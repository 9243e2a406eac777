//! The kubelets: bound pods start (Running after a short delay, Ready after their readiness
//! probe's delay), crash loops and readiness flaps play out, terminating pods are removed.
//! A silent node's kubelet reports nothing.

use crate::sim::util::slot;
use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::Simulation;
use super::events::{self, EventSpec};
use super::faults::pod_fault_key;
use super::util::{int, is_terminating, name, rt, text, uid};
use crate::clock::rfc3339;
use crate::store::{ObjectKey, Store};

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
struct PodLife {
    bound_at: Timestamp,
    running_at: Option<Timestamp>,
    ready_at_once: bool,
    pod_ip: String,
    host_ip: String,
    crash: Option<Crash>,
    /// Running, Ready and fault-free: nothing to do until something changes.
    settled: bool,
}

#[derive(Debug, Clone)]
struct Crash {
    restarts: i64,
    since: Timestamp,
    waiting: bool,
    last_started: Timestamp,
    last_finished: Option<Timestamp>,
}

pub(crate) fn pod_ready(pod: &Value) -> bool {
    super::util::at(pod, "/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True")
        })
}

/// Sets the pod's Ready condition (and containers' ready flags when turning false).
pub(crate) fn set_ready(pod: &mut Value, ready: bool, stamp: &str) {
    let status = if ready { "True" } else { "False" };
    if let Some(conditions) = pod
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions.iter_mut() {
            let kind = text(c, "/type");
            if (kind == "Ready" || kind == "ContainersReady") && text(c, "/status") != status {
                *slot(c, &["status"]) = json!(status);
                *slot(c, &["lastTransitionTime"]) = json!(stamp);
            }
        }
    }
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

fn containers(pod: &Value) -> Vec<&Value> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().collect())
        .unwrap_or_default()
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

fn backoff(restarts: i64) -> SignedDuration {
    let exp = restarts.clamp(1, 6) - 1;
    SignedDuration::from_secs((10i64 << exp).min(300))
}

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
    let container_since = life.crash.as_ref().map(|c| c.since).or(life.running_at);
    let running = life.running_at.is_some() && !life.crash.as_ref().is_some_and(|c| c.waiting);
    let mut ready = running
        && container_since.is_some_and(|s| life.ready_at_once || now.duration_since(s) >= delay);
    if let (Some(period), Some(since), true) = (flap, life.running_at, ready) {
        ready = (now.duration_since(since).as_secs() / i64::from(period)) % 2 == 0;
    }
    life.settled = ready && life.crash.is_none() && flap.is_none();
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

fn pod_status(
    pod: &Value,
    life: &PodLife,
    running: bool,
    ready: bool,
    container_since: Option<Timestamp>,
    now: Timestamp,
) -> Value {
    let stamp = rfc3339(now);
    let previous = |kind: &str, status: &str| -> String {
        pod.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| text(c, "/type") == kind))
            .filter(|c| text(c, "/status") == status)
            .map(|c| text(c, "/lastTransitionTime").to_owned())
            .unwrap_or_else(|| stamp.clone())
    };
    let flag = |b: bool| if b { "True" } else { "False" };
    let started = life.running_at.is_some();
    let conditions: Vec<Value> = [
        ("PodReadyToStartContainers", flag(started)),
        ("Initialized", "True"),
        ("Ready", flag(ready)),
        ("ContainersReady", flag(ready)),
        ("PodScheduled", "True"),
    ]
    .into_iter()
    .map(|(kind, status)| {
        json!({"type": kind, "status": status, "lastProbeTime": null,
            "lastTransitionTime": previous(kind, status)})
    })
    .collect();
    let restarts = life.crash.as_ref().map_or(0, |c| c.restarts);
    let statuses: Vec<Value> = containers(pod)
        .into_iter()
        .map(|c| {
            let cname = text(c, "/name");
            let state = match (started, running, container_since) {
                (false, _, _) => json!({"waiting": {"reason": "ContainerCreating"}}),
                (true, true, Some(since)) => json!({"running": {"startedAt": rfc3339(since)}}),
                _ => json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                    "back-off {}s restarting failed container={cname} pod={}",
                    backoff(restarts).as_secs(), name(pod))}}),
            };
            let last_state = match life.crash.as_ref().and_then(|c| c.last_finished.map(|f| (c.last_started, f))) {
                Some((s, f)) => json!({"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": rfc3339(s), "finishedAt": rfc3339(f)}}),
                None => json!({}),
            };
            json!({
                "name": cname,
                "image": text(c, "/image"),
                "imageID": "",
                "containerID": format!("containerd://{:016x}", super::util::fnv_str(&format!("{}{cname}", uid(pod)))),
                "ready": ready,
                "started": running,
                "restartCount": restarts,
                "state": state,
                "lastState": last_state,
            })
        })
        .collect();
    let mut status = json!({
        "phase": if started { "Running" } else { "Pending" },
        "conditions": conditions,
        "containerStatuses": statuses,
        "hostIP": life.host_ip,
        "hostIPs": [{"ip": life.host_ip}],
        "startTime": rfc3339(life.bound_at),
        "qosClass": text(pod, "/status/qosClass"),
    });
    if started {
        *slot(&mut status, &["podIP"]) = json!(life.pod_ip);
        *slot(&mut status, &["podIPs"]) = json!([{"ip": life.pod_ip}]);
    }
    status
}

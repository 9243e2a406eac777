//! A pod's status as its kubelet reports it: conditions, container states (creating, running,
//! backing off after a crash) and addresses; and the Ready condition other parts read and flip.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::PodLife;
use crate::clock::rfc3339;
use crate::sim::util::{name, slot, text, uid};

pub(crate) fn pod_ready(pod: &Value) -> bool {
    crate::sim::util::at(pod, "/status/conditions")
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

pub(super) fn containers(pod: &Value) -> Vec<&Value> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().collect())
        .unwrap_or_default()
}

pub(super) fn backoff(restarts: i64) -> SignedDuration {
    let exp = restarts.clamp(1, 6) - 1;
    SignedDuration::from_secs((10i64 << exp).min(300))
}

pub(super) fn pod_status(
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
            let state = match (life.finished, started, running, container_since) {
                (Some((at, code)), _, _, _) => json!({"terminated": {"exitCode": code,
                    "reason": if code == 0 { "Completed" } else { "Error" },
                    "startedAt": rfc3339(life.running_at.unwrap_or(at)), "finishedAt": rfc3339(at)}}),
                (None, started, running, container_since) => match (started, running, container_since) {
                (false, _, _) => json!({"waiting": {"reason": "ContainerCreating"}}),
                (true, true, Some(since)) => json!({"running": {"startedAt": rfc3339(since)}}),
                _ => json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                    "back-off {}s restarting failed container={cname} pod={}",
                    backoff(restarts).as_secs(), name(pod))}}),
                },
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
                "containerID": format!("containerd://{:016x}", crate::sim::util::fnv_str(&format!("{}{cname}", uid(pod)))),
                "ready": ready,
                "started": running,
                "restartCount": restarts,
                "state": state,
                "lastState": last_state,
            })
        })
        .collect();
    let mut status = json!({
        "phase": match life.finished {
            Some((_, 0)) => "Succeeded",
            Some(_) => "Failed",
            None if started => "Running",
            None => "Pending",
        },
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

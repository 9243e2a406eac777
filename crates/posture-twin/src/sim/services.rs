//! EndpointSlices for Services (from ready pods) and PodDisruptionBudget status.

use crate::sim::util::slot;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::kubelet::pod_ready;
use super::util::{
    fnv_str, is_terminating, labels, map_selects, name, namespace, owner_reference, rt, scaled,
    selector_matches, text, uid,
};
use crate::store::{ObjectKey, Store, short_suffix};

const SERVICE_NAME: &str = "kubernetes.io/service-name";

pub(super) fn endpoint_slices(store: &mut Store, now: Timestamp) {
    let slices_rt = rt("discovery.k8s.io", "endpointslices");
    let pods_rt = rt("", "pods");
    let mut writes: Vec<(ObjectKey, Value)> = Vec::new();
    // Pods by (namespace, label key, label value) for the keys selectors lead with, so each
    // Service looks only at plausible pods.
    let lead_keys: BTreeSet<&str> = store
        .list(rt("", "services"), None)
        .filter_map(|(_, s)| s.pointer("/spec/selector")?.as_object()?.keys().next())
        .map(String::as_str)
        .collect();
    let mut by_label: BTreeMap<(&str, &str, &str), Vec<&Value>> = BTreeMap::new();
    for (_, pod) in store.list(pods_rt, None) {
        let Some(pod_labels) = labels(pod) else {
            continue;
        };
        for key in &lead_keys {
            if let Some(value) = pod_labels.get(*key).and_then(Value::as_str) {
                by_label
                    .entry((namespace(pod), key, value))
                    .or_default()
                    .push(pod);
            }
        }
    }
    for (_, service) in store.list(rt("", "services"), None) {
        let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object) else {
            continue;
        };
        let Some((lead_key, lead_value)) = selector.iter().next() else {
            continue;
        };
        let ns = namespace(service);
        let mut endpoints = Vec::new();
        let candidates = by_label
            .get(&(ns, lead_key.as_str(), lead_value.as_str().unwrap_or("")))
            .map(Vec::as_slice)
            .unwrap_or_default();
        for pod in candidates {
            let pod = *pod;
            let ip = text(pod, "/status/podIP");
            if ip.is_empty() || !map_selects(selector, labels(pod)) {
                continue;
            }
            let terminating = is_terminating(pod);
            let ready = pod_ready(pod) && !terminating;
            endpoints.push(json!({
                "addresses": [ip],
                "conditions": {"ready": ready, "serving": pod_ready(pod), "terminating": terminating},
                "nodeName": text(pod, "/spec/nodeName"),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": name(pod), "uid": uid(pod)},
            }));
        }
        let ports: Vec<Value> = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let port = p.get("targetPort").filter(|t| t.is_number()).or(p.get("port")).cloned();
                json!({"name": text(p, "/name"), "port": port,
                    "protocol": if text(p, "/protocol").is_empty() { "TCP" } else { text(p, "/protocol") }})
            })
            .collect();
        let slice_name = format!("{}-{}", name(service), short_suffix(fnv_str(uid(service))));
        let slice = json!({
            "metadata": {
                "name": slice_name,
                "namespace": ns,
                "labels": {SERVICE_NAME: name(service),
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                "ownerReferences": owner_reference(service),
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        });
        writes.push((ObjectKey::new(slices_rt, ns, &slice_name), slice));
    }
    for (key, slice) in writes {
        match store.get(&key) {
            None => {
                let _ = store.create(slices_rt, slice, now, false);
            }
            Some(current)
                if current.get("endpoints") != slice.get("endpoints")
                    || current.get("ports") != slice.get("ports") =>
            {
                store.modify(&key, |s| {
                    *slot(s, &["endpoints"]) = slice["endpoints"].clone();
                    *slot(s, &["ports"]) = slice["ports"].clone();
                });
            }
            Some(_) => {}
        }
    }
}

pub(super) fn disruption_budgets(store: &mut Store, now: Timestamp) {
    let pods_rt = rt("", "pods");
    let mut writes = Vec::new();
    for (key, pdb) in store.list(rt("policy", "poddisruptionbudgets"), None) {
        let selector = pdb.pointer("/spec/selector");
        let (mut expected, mut healthy) = (0i64, 0i64);
        for (_, pod) in store.list(pods_rt, Some(namespace(pdb))) {
            if is_terminating(pod) || !selector_matches(selector, labels(pod)) {
                continue;
            }
            expected += 1;
            if pod_ready(pod) {
                healthy += 1;
            }
        }
        let desired = if let Some(min) = pdb.pointer("/spec/minAvailable") {
            scaled(Some(min), expected, true, 0)
        } else if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
            (expected - scaled(Some(max), expected, true, 0)).max(0)
        } else {
            0
        };
        let allowed = (healthy - desired).max(0);
        let generation = pdb
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let mut status = json!({
            "observedGeneration": generation,
            "expectedPods": expected,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
        });
        let reason = if allowed > 0 {
            "SufficientPods"
        } else {
            "InsufficientPods"
        };
        let previous = pdb.pointer("/status/conditions/0");
        let transition = previous
            .filter(|c| text(c, "/reason") == reason)
            .map(|c| c["lastTransitionTime"].clone());
        *slot(&mut status, &["conditions"]) = json!([{"type": "DisruptionAllowed",
            "status": if allowed > 0 { "True" } else { "False" }, "reason": reason, "message": "",
            "observedGeneration": generation,
            "lastTransitionTime": transition.unwrap_or_else(|| json!(crate::clock::rfc3339(now)))}]);
        let same = [
            "expectedPods",
            "currentHealthy",
            "desiredHealthy",
            "disruptionsAllowed",
            "observedGeneration",
        ]
        .iter()
        .all(|f| pdb.pointer(&format!("/status/{f}")) == status.get(f))
            && previous.is_some_and(|c| text(c, "/reason") == reason);
        if !same {
            writes.push((key.clone(), status));
        }
    }
    for (key, status) in writes {
        store.modify(&key, |p| *slot(p, &["status"]) = status);
    }
}

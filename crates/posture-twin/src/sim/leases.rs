//! Leader-election leases in kube-system: the holder renews them while its node reports; a
//! thrash fault hands them to another node every period.

use crate::sim::util::slot;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::Simulation;
use super::util::{fnv_str, int, name, rt, text};
use crate::clock::rfc3339_micros;
use crate::store::{ObjectKey, Store, short_suffix};

const LEADER_NAMESPACE: &str = "kube-system";

pub(super) fn reconcile(sim: &mut Simulation, store: &mut Store, now: Timestamp) {
    let leases_rt = rt("coordination.k8s.io", "leases");
    let nodes: Vec<String> = store
        .list(rt("", "nodes"), None)
        .map(|(_, n)| name(n).to_owned())
        .collect();
    let leases: Vec<(ObjectKey, String, Option<Timestamp>)> = store
        .list(leases_rt, Some(LEADER_NAMESPACE))
        .map(|(k, l)| {
            (
                k.clone(),
                text(l, "/spec/holderIdentity").to_owned(),
                text(l, "/spec/acquireTime").parse().ok(),
            )
        })
        .collect();
    for (key, holder, acquired) in leases {
        let id = (key.namespace.clone(), key.name.clone());
        let holder_node = holder.split('_').next().unwrap_or("").to_owned();
        if let Some(period) = sim.faults.lease_thrash.get(&id).copied() {
            let due = acquired
                .is_none_or(|a| now.duration_since(a) >= SignedDuration::from_secs(period.into()));
            if due && !nodes.is_empty() {
                let position = nodes.iter().position(|n| *n == holder_node);
                let next = &nodes[position.map_or(0, |p| (p + 1) % nodes.len())];
                let identity = format!(
                    "{next}_{}",
                    short_suffix(fnv_str(&format!("{}{}", key.name, now.as_second())))
                );
                let stamp = rfc3339_micros(now);
                store.modify(&key, |lease| {
                    let transitions = int(lease, "/spec/leaseTransitions").unwrap_or(0);
                    *slot(lease, &["spec", "holderIdentity"]) = json!(identity);
                    *slot(lease, &["spec", "leaseTransitions"]) = json!(transitions + 1);
                    *slot(lease, &["spec", "acquireTime"]) = json!(stamp);
                    *slot(lease, &["spec", "renewTime"]) = json!(stamp);
                });
                sim.leases.insert(id, now);
                continue;
            }
        }
        if holder.is_empty() || !nodes.contains(&holder_node) || sim.faults.silent(&holder_node) {
            continue;
        }
        let due = sim
            .leases
            .get(&id)
            .is_none_or(|last| now.duration_since(*last) >= sim.config.leader_renew_interval);
        if due {
            sim.leases.insert(id, now);
            let stamp = rfc3339_micros(now);
            store.modify(&key, |lease| {
                if lease.get("spec").is_some_and(Value::is_object) {
                    *slot(lease, &["spec", "renewTime"]) = json!(stamp);
                }
            });
        }
    }
}

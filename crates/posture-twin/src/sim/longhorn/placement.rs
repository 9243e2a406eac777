//! Where the Longhorn manager puts a new replica: schedulable nodes and disks, honouring hard
//! or soft replica anti-affinity.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::sim::util::{int, name, text};

/// A Longhorn node's schedulable disk.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub node: String,
    pub disk_id: String,
    pub disk_path: String,
    pub free: i64,
}

/// Schedulable disks per Longhorn node (one per node: the one with most room).
pub(crate) fn candidates(
    longhorn_nodes: &[&Value],
    usable: &BTreeSet<String>,
    size: i64,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for node in longhorn_nodes {
        let node_name = match text(node, "/spec/name") {
            "" => name(node),
            n => n,
        };
        if node
            .pointer("/spec/allowScheduling")
            .and_then(Value::as_bool)
            != Some(true)
            || node
                .pointer("/spec/evictionRequested")
                .and_then(Value::as_bool)
                == Some(true)
            || !usable.contains(node_name)
        {
            continue;
        }
        let Some(disks) = node.pointer("/spec/disks").and_then(Value::as_object) else {
            continue;
        };
        let best = disks
            .iter()
            .filter(|(_, d)| {
                d.get("allowScheduling").and_then(Value::as_bool) == Some(true)
                    && d.get("evictionRequested").and_then(Value::as_bool) != Some(true)
            })
            .filter_map(|(disk_name, disk)| {
                let status = node.pointer(&format!("/status/diskStatus/{disk_name}"))?;
                let maximum = int(status, "/storageMaximum").unwrap_or(0);
                let scheduled = int(status, "/storageScheduled").unwrap_or(0);
                let reserved = int(disk, "/storageReserved").unwrap_or(0);
                let free = maximum - reserved - scheduled;
                (free >= size).then(|| Candidate {
                    node: node_name.to_owned(),
                    disk_id: text(status, "/diskUUID").to_owned(),
                    disk_path: text(disk, "/path").to_owned(),
                    free,
                })
            })
            .max_by_key(|c| c.free);
        out.extend(best);
    }
    out
}

/// Picks a node for one more replica, given how many active replicas of the volume each node
/// already holds. Hard anti-affinity never doubles up; soft prefers the emptiest node.
pub(crate) fn pick(
    candidates: &[Candidate],
    holding: &BTreeMap<String, usize>,
    soft: bool,
) -> Option<Candidate> {
    candidates
        .iter()
        .filter(|c| soft || holding.get(&c.node).copied().unwrap_or(0) == 0)
        .min_by(|a, b| {
            let held = |c: &Candidate| holding.get(&c.node).copied().unwrap_or(0);
            held(a)
                .cmp(&held(b))
                .then(b.free.cmp(&a.free))
                .then(a.node.cmp(&b.node))
        })
        .cloned()
}

/// Whether soft anti-affinity applies: the volume's override, else the global setting.
pub(crate) fn soft_anti_affinity(volume: &Value, global: &str) -> bool {
    match text(volume, "/spec/replicaSoftAntiAffinity") {
        "enabled" => true,
        "disabled" => false,
        _ => global == "true",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn candidate(node: &str) -> Candidate {
        Candidate {
            node: node.into(),
            disk_id: format!("uuid-{node}"),
            disk_path: "/d".into(),
            free: 100,
        }
    }

    #[test]
    fn hard_anti_affinity_never_doubles_up() {
        let cs = [candidate("a"), candidate("b")];
        let holding = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 1)]);
        assert!(pick(&cs, &holding, false).is_none());
        assert_eq!(pick(&cs, &holding, true).map(|c| c.node), Some("a".into()));
        let holding = BTreeMap::from([("a".to_owned(), 1)]);
        assert_eq!(pick(&cs, &holding, false).map(|c| c.node), Some("b".into()));
    }

    #[test]
    fn per_volume_override_wins_over_global() {
        assert!(soft_anti_affinity(
            &json!({"spec": {"replicaSoftAntiAffinity": "enabled"}}),
            "false"
        ));
        assert!(!soft_anti_affinity(
            &json!({"spec": {"replicaSoftAntiAffinity": "disabled"}}),
            "true"
        ));
        assert!(soft_anti_affinity(
            &json!({"spec": {"replicaSoftAntiAffinity": "ignored"}}),
            "true"
        ));
    }
}

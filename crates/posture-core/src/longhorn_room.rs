//! Whether a node can take the replicas a plan puts on it: Longhorn's own node object exists,
//! is Ready and schedulable, asks for no eviction, and has a disk that accepts replicas with
//! room for them by Longhorn's two scheduling rules (over-provisioning against the scheduled
//! total, and the minimal free share). A plan that moves replicas onto a node that fails any of
//! these would wait out its timeout on the first volume and roll it back.
//! See <https://longhorn.io/docs/1.12.1/nodes-and-volumes/nodes/node-space-usage/> and the
//! settings `storage-over-provisioning-percentage` and `storage-minimal-available-percentage`.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::longhorn::{LonghornNode, SettingValue};
use crate::object::ObjectRef;
use crate::snapshot::{Longhorn, Snapshot};

/// One reason the node cannot take the replicas, with the field that shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomProblem {
    pub object: ObjectRef,
    pub field: String,
    pub value: Value,
    pub message: String,
}

fn setting_percent(lh: &Longhorn, name: &str, default: f64) -> f64 {
    lh.settings
        .iter()
        .find(|s| s.name() == name)
        .and_then(|s| s.parsed())
        .and_then(|v| match v {
            SettingValue::Plain(v) => v.trim().parse().ok(),
            SettingValue::PerDataEngine(m) => m.get("v1").and_then(|v| v.trim().parse().ok()),
        })
        .unwrap_or(default)
}

fn number(value: &Value, key: &str) -> f64 {
    match value.get(key) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn condition_true(node: &LonghornNode, kind: &str) -> Option<bool> {
    node.condition(kind)
        .map(|c| c.status.as_deref() == Some("True"))
}

/// The replicas Longhorn would add on a node: one of every volume that has none there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needed {
    pub volumes: usize,
    /// Their sizes (volumes of unknown size count as 0).
    pub bytes: u64,
}

pub fn needed_on(lh: &Longhorn, node: &str) -> Needed {
    NeededOn::of(lh).on(node)
}

/// What each node needs, from one pass over the volumes and one over the replicas: asked for
/// every secondary of a large cluster, a pass per node would grow with nodes × volumes.
pub struct NeededOn<'a> {
    /// Every volume, as if no node held any.
    all: Needed,
    /// Per node: the volumes it holds a replica of, counted as in `all`.
    held: HashMap<&'a str, Needed>,
}

impl<'a> NeededOn<'a> {
    pub fn of(lh: &'a Longhorn) -> Self {
        // Volumes by name (a name listed twice counts twice, as each volume does).
        let mut volumes: HashMap<&str, Needed> = HashMap::new();
        for v in &lh.volumes {
            let entry = volumes.entry(v.name()).or_default();
            entry.volumes += 1;
            entry.bytes += v.size_bytes().unwrap_or(0);
        }
        let all = Needed {
            volumes: lh.volumes.len(),
            bytes: volumes.values().map(|n| n.bytes).sum(),
        };
        let mut seen: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
        let mut held: HashMap<&str, Needed> = HashMap::new();
        for r in &lh.replicas {
            let (Some(node), Some(volume)) = (r.node_id(), r.volume_name()) else {
                continue;
            };
            let Some(of_volume) = volumes.get(volume) else {
                continue;
            };
            if seen.insert((node, volume)) {
                let entry = held.entry(node).or_default();
                entry.volumes += of_volume.volumes;
                entry.bytes += of_volume.bytes;
            }
        }
        Self { all, held }
    }

    /// The volumes without a replica on `node`, and their sizes.
    pub fn on(&self, node: &str) -> Needed {
        let held = self.held.get(node).copied().unwrap_or_default();
        Needed {
            volumes: self.all.volumes - held.volumes,
            bytes: self.all.bytes - held.bytes,
        }
    }
}

/// Why `node` cannot take `needed` bytes of new replicas; empty when it can, when nothing is
/// needed (it holds a replica of every volume already), or when Longhorn is not installed.
pub fn problems(snapshot: &Snapshot, node: &str, needed: Needed) -> Vec<RoomProblem> {
    problems_with(snapshot, &LonghornPods::of(snapshot), node, needed)
}

/// [`problems`] with Longhorn's per-node pods indexed once, for callers that ask about many nodes.
pub fn problems_with(
    snapshot: &Snapshot,
    pods: &LonghornPods<'_>,
    node: &str,
    needed: Needed,
) -> Vec<RoomProblem> {
    let Some(lh) = snapshot.longhorn.as_ref() else {
        return Vec::new();
    };
    if needed.volumes == 0 {
        return Vec::new();
    }
    let Some(ln) = lh.nodes.iter().find(|n| n.name() == node) else {
        return vec![RoomProblem {
            object: ObjectRef::new(crate::longhorn::API_VERSION, "Node", None, node),
            field: "metadata.name".into(),
            value: Value::Null,
            message: format!(
                "Longhorn has no node object for {node}: longhorn-manager is not running there, \
                 so no replica can be scheduled on it"
            ),
        }];
    };
    let obj = ln.object_ref();
    let mut out = Vec::new();
    let mut problem = |field: &str, value: Value, message: String| {
        out.push(RoomProblem {
            object: obj.clone(),
            field: field.to_owned(),
            value,
            message,
        });
    };
    for kind in ["Ready", "Schedulable"] {
        if condition_true(ln, kind) == Some(false) {
            let reason = ln
                .condition(kind)
                .and_then(|c| c.reason.clone().or_else(|| c.message.clone()))
                .unwrap_or_default();
            problem(
                &format!("status.conditions[{kind}]"),
                Value::from("False"),
                format!("Longhorn node {node} is not {kind} ({reason})"),
            );
        }
    }
    if ln.spec.allow_scheduling == Some(false) {
        problem(
            "spec.allowScheduling",
            Value::from(false),
            format!("scheduling is disabled on Longhorn node {node}"),
        );
    }
    if ln.spec.eviction_requested == Some(true) {
        problem(
            "spec.evictionRequested",
            Value::from(true),
            format!(
                "an eviction is requested on Longhorn node {node}: its replicas are moving off"
            ),
        );
    }
    let over = setting_percent(lh, "storage-over-provisioning-percentage", 100.0);
    let minimal = setting_percent(lh, "storage-minimal-available-percentage", 25.0);
    let mut usable = 0u64;
    let mut open_disks = 0;
    for (name, disk) in &ln.spec.disks {
        if disk.get("allowScheduling") == Some(&Value::Bool(false))
            || disk.get("evictionRequested") == Some(&Value::Bool(true))
        {
            continue;
        }
        open_disks += 1;
        let Some(status) = ln.status.disk_status.get(name) else {
            continue;
        };
        let maximum = number(status, "storageMaximum");
        let available = number(status, "storageAvailable");
        let scheduled = number(status, "storageScheduled");
        let reserved = number(disk, "storageReserved");
        // Longhorn schedules onto a disk only while its free share stays above the minimum.
        if maximum <= 0.0 || available <= maximum * minimal / 100.0 {
            continue;
        }
        let room = (maximum - reserved) * over / 100.0 - scheduled;
        usable += room.max(0.0) as u64;
    }
    if open_disks == 0 {
        problem(
            "spec.disks",
            Value::from(ln.spec.disks.len()),
            format!(
                "no disk of Longhorn node {node} accepts replicas (scheduling disabled or eviction requested on each)"
            ),
        );
    } else if !ln.status.disk_status.is_empty() && needed.bytes > usable {
        problem(
            "status.diskStatus",
            Value::from(usable),
            format!(
                "the disks of Longhorn node {node} have room for {} GiB of new replicas \
                 (storage-over-provisioning-percentage {over}%, storage-minimal-available-percentage {minimal}%), \
                 and the volumes without a replica there need {} GiB",
                usable / (1 << 30),
                needed.bytes.div_ceil(1 << 30)
            ),
        );
    }
    components_on(pods, node, &mut out);
    out
}

/// Longhorn's per-node pods, by the labels its chart gives them, and what is lost without one.
const COMPONENTS: [(&str, &str, &str); 3] = [
    (
        "app",
        "longhorn-manager",
        "Longhorn does not manage the node: no replica is scheduled or started there",
    ),
    (
        "app",
        "longhorn-csi-plugin",
        "the kubelet there cannot attach or mount a Longhorn volume",
    ),
    (
        "longhorn.io/component",
        "engine-image",
        "the engine image is not deployed there: no replica can start",
    ),
];

/// Longhorn's per-node pods ([`COMPONENTS`]) by node, read from the pod list once.
pub struct LonghornPods<'a> {
    /// Per component: its pods by the node they run on.
    by_node: [HashMap<&'a str, Vec<&'a Pod>>; COMPONENTS.len()],
    /// Per component: a pod anywhere, to tell "not here" from "not in the snapshot".
    anywhere: [Option<&'a Pod>; COMPONENTS.len()],
}

impl<'a> LonghornPods<'a> {
    pub fn of(snapshot: &'a Snapshot) -> Self {
        let mut index = Self {
            by_node: Default::default(),
            anywhere: [None; COMPONENTS.len()],
        };
        for pod in &snapshot.pods {
            let Some(labels) = pod.metadata.labels.as_ref() else {
                continue;
            };
            for (i, (key, value, _)) in COMPONENTS.iter().enumerate() {
                if labels.get(*key).map(String::as_str) != Some(*value) {
                    continue;
                }
                index.anywhere[i].get_or_insert(pod);
                if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
                    index.by_node[i].entry(node).or_default().push(pod);
                }
            }
        }
        index
    }
}

/// Each of Longhorn's per-node pods that runs elsewhere in the cluster but not, ready, on
/// `node`. A component with no pod anywhere in the snapshot is not judged (the snapshot may
/// not list pods).
fn components_on(pods: &LonghornPods<'_>, node: &str, out: &mut Vec<RoomProblem>) {
    for (i, (_, value, loss)) in COMPONENTS.iter().enumerate() {
        let mine = pods.by_node[i]
            .get(node)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if mine.iter().any(|p| crate::facts::pod_ready(p)) {
            continue;
        }
        let (object, state) = match mine.first() {
            Some(pod) => (ObjectRef::of(*pod), "is not ready"),
            None => match pods.anywhere[i] {
                Some(elsewhere) => (ObjectRef::of(elsewhere), "runs elsewhere but not"),
                None => continue,
            },
        };
        out.push(RoomProblem {
            object,
            field: "spec.nodeName".into(),
            value: Value::from(node),
            message: format!("{value} {state} on {node}: {loss}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");

    fn homelab() -> Snapshot {
        crate::load_snapshot_str("homelab.yaml", HOMELAB).expect("loads")
    }

    fn secondary(snapshot: &mut Snapshot) -> &mut LonghornNode {
        let lh = snapshot.longhorn.as_mut().expect("Longhorn");
        let node = lh.nodes.iter_mut().find(|n| n.name() == "worker-1");
        node.expect("worker-1's Longhorn node")
    }

    fn messages(snapshot: &Snapshot, bytes: u64) -> Vec<String> {
        problems(snapshot, "worker-1", Needed { volumes: 1, bytes })
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn the_homelab_secondary_has_room_for_its_missing_replicas() {
        let snapshot = homelab();
        let needed = needed_on(snapshot.longhorn.as_ref().expect("Longhorn"), "worker-1");
        assert!(
            needed.volumes > 0,
            "some volume has no replica on the secondary"
        );
        assert_eq!(
            problems(&snapshot, "worker-1", needed),
            Vec::<RoomProblem>::new()
        );
        // Nothing to place there: nothing to judge.
        let none = Needed::default();
        let mut snapshot = homelab();
        secondary(&mut snapshot).spec.allow_scheduling = Some(false);
        assert!(problems(&snapshot, "worker-1", none).is_empty());
    }

    #[test]
    fn a_node_that_refuses_replicas_says_why() {
        let mut snapshot = homelab();
        secondary(&mut snapshot).spec.eviction_requested = Some(true);
        assert!(messages(&snapshot, 1)[0].contains("eviction is requested"));
        let mut snapshot = homelab();
        for disk in secondary(&mut snapshot).spec.disks.values_mut() {
            disk["allowScheduling"] = Value::Bool(false);
        }
        assert!(messages(&snapshot, 1)[0].contains("no disk"));
        let mut snapshot = homelab();
        let lh = snapshot.longhorn.as_mut().expect("Longhorn");
        lh.nodes.retain(|n| n.name() != "worker-1");
        assert!(messages(&snapshot, 1)[0].contains("no node object"));
    }

    #[test]
    fn room_follows_longhorns_over_provisioning_and_minimal_available_rules() {
        let snapshot = homelab();
        // ~931 GiB disk, 30 GiB reserved, 186 GiB scheduled, over-provisioning 100%.
        let tib = 1u64 << 40;
        assert!(messages(&snapshot, 100 << 30).is_empty());
        let full = messages(&snapshot, tib);
        assert_eq!(full.len(), 1, "{full:?}");
        assert!(full[0].contains("have room for"), "{full:?}");
        // A disk below its minimal free share takes nothing.
        let mut snapshot = homelab();
        for status in secondary(&mut snapshot).status.disk_status.values_mut() {
            status["storageAvailable"] = Value::from(100_000_000_000u64);
        }
        assert!(messages(&snapshot, 1)[0].contains("have room for 0 GiB"));
    }
}

#[cfg(test)]
mod component_tests {
    use super::*;

    fn pod(name: &str, labels: &str, node: &str, ready: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: storage, labels: {{{labels}}}}}\n\
             spec: {{nodeName: {node}, containers: [{{name: c, image: x}}]}}\n\
             status: {{phase: Running, conditions: [{{type: Ready, status: \"{ready}\"}}]}}\n"
        )
    }

    fn snapshot(pods: &[String]) -> Snapshot {
        let longhorn_node = "apiVersion: longhorn.io/v1beta2\nkind: Node\nmetadata: {name: edge-b, namespace: storage}\nspec: {allowScheduling: true, disks: {d1: {allowScheduling: true, path: /var/lib/longhorn}}}\n";
        let mut docs = vec![longhorn_node.to_owned()];
        docs.extend_from_slice(pods);
        crate::load_snapshot_str("t.yaml", &docs.join("\n---\n")).expect("loads")
    }

    fn messages(snapshot: &Snapshot) -> Vec<String> {
        problems(
            snapshot,
            "edge-b",
            Needed {
                volumes: 1,
                bytes: 0,
            },
        )
        .into_iter()
        .map(|p| p.message)
        .collect()
    }

    #[test]
    fn longhorns_per_node_pods_must_run_ready_on_the_node_that_takes_replicas() {
        let everywhere = [
            pod("m-a", "app: longhorn-manager", "edge-a", "True"),
            pod("m-b", "app: longhorn-manager", "edge-b", "True"),
            pod("c-a", "app: longhorn-csi-plugin", "edge-a", "True"),
            pod("c-b", "app: longhorn-csi-plugin", "edge-b", "True"),
            pod(
                "e-a",
                "longhorn.io/component: engine-image",
                "edge-a",
                "True",
            ),
            pod(
                "e-b",
                "longhorn.io/component: engine-image",
                "edge-b",
                "True",
            ),
        ];
        assert_eq!(messages(&snapshot(&everywhere)), Vec::<String>::new());
        let mut broken = everywhere.to_vec();
        broken[3] = pod("c-b", "app: longhorn-csi-plugin", "edge-b", "False");
        broken.remove(5);
        let got = messages(&snapshot(&broken));
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got[0].starts_with("longhorn-csi-plugin is not ready on edge-b"),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("engine-image runs elsewhere but not on edge-b"),
            "{got:#?}"
        );
        // Pods not in the snapshot at all: nothing to judge.
        assert_eq!(messages(&snapshot(&[])), Vec::<String>::new());
    }

    /// The per-volume reading `NeededOn` replaced: every volume without a replica on `node`.
    fn needed_by_scanning(lh: &Longhorn, node: &str) -> Needed {
        let held: std::collections::HashSet<&str> = (lh.replicas.iter())
            .filter(|r| r.node_id() == Some(node))
            .filter_map(|r| r.volume_name())
            .collect();
        let missing: Vec<_> = (lh.volumes.iter())
            .filter(|v| !held.contains(v.name()))
            .collect();
        Needed {
            volumes: missing.len(),
            bytes: missing.iter().filter_map(|v| v.size_bytes()).sum(),
        }
    }

    #[test]
    fn needs_from_one_pass_match_a_scan_per_node() {
        let mut snapshot = crate::load_snapshot_str(
            "homelab.yaml",
            include_str!("../../../scenarios/homelab.yaml"),
        )
        .expect("loads");
        let lh = snapshot.longhorn.as_mut().expect("Longhorn");
        // A second replica of one volume on the same node, and a replica of a volume that is
        // not listed, change nothing a node needs.
        let mut twice = lh.replicas[0].clone();
        twice.metadata.name = Some("twice".into());
        let mut stray = lh.replicas[0].clone();
        stray.metadata.name = Some("stray".into());
        stray.spec.volume_name = Some("no-such-volume".into());
        lh.replicas.extend([twice, stray]);
        let lh = snapshot.longhorn.as_ref().expect("Longhorn");
        let needs = NeededOn::of(lh);
        for node in ["miniserver", "worker-1", "elsewhere"] {
            assert_eq!(needs.on(node), needed_by_scanning(lh, node), "{node}");
        }
        assert!(
            needs.on("worker-1").volumes > 0,
            "the homelab secondary misses replicas"
        );
    }
}

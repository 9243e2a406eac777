//! Kubernetes facts several parts of posture judge by, in one place so they agree.

/// The taint the node lifecycle controller puts on a cordoned node (`spec.unschedulable`), and
/// that DaemonSet pods tolerate by default.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::Value;

/// A node's `Ready` condition: `None` when the node reports none (it never joined, or its
/// status was not read).
pub fn node_ready(node: &Node) -> Option<bool> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status == "True")
}

/// A pod is ready when its `Ready` condition is `True`.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// [`node_ready`] and [`pod_ready`] for an object as a watch delivers it: its `Ready` condition
/// is `True`.
pub fn ready(object: &Value) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The Longhorn volume a replica or engine (as JSON) belongs to: `spec.volumeName`, else the
/// `longhornvolume` label Longhorn sets, as [`crate::longhorn::Replica::volume_name`] reads it.
pub fn longhorn_volume_of(object: &Value) -> &str {
    object
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .or_else(|| {
            object
                .pointer("/metadata/labels/longhornvolume")
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
}

/// The Kubernetes minor version the control plane runs, as `(major, minor)`, read from the
/// kubelet version its server nodes report (`status.nodeInfo.kubeletVersion`, `v1.31.4+k3s1`):
/// k3s runs the API server and the kubelet from one binary, so they agree. The lowest over the
/// server nodes (an upgrade in progress runs the older rules); `None` when none reports one.
pub fn control_plane_version(snapshot: &crate::snapshot::Snapshot) -> Option<(u32, u32)> {
    let servers = snapshot.nodes.iter().filter(|n| {
        matches!(
            crate::topology::role_of(n),
            crate::topology::NodeRole::Server
        )
    });
    servers
        .filter_map(|n| {
            let version = &n.status.as_ref()?.node_info.as_ref()?.kubelet_version;
            let mut parts = version.trim_start_matches('v').split(['.', '+', '-']);
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            Some((major, minor))
        })
        .min()
}

/// `matchLabelKeys` in topology spread constraints: beta and on by default from 1.27.
pub fn supports_match_label_keys(snapshot: &crate::snapshot::Snapshot) -> Option<bool> {
    control_plane_version(snapshot).map(|v| v >= (1, 27))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn readiness_is_the_ready_condition_being_true() {
        let with = |status: &str| {
            json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": status}]}})
        };
        assert!(ready(&with("True")));
        assert!(!ready(&with("False")));
        assert!(!ready(&with("Unknown")));
        assert!(!ready(&json!({"status": {}})));
        let node: Node = serde_json::from_value(with("False")).expect("a node");
        assert_eq!(node_ready(&node), Some(false));
        assert_eq!(node_ready(&Node::default()), None);
        let pod: Pod = serde_json::from_value(with("True")).expect("a pod");
        assert!(pod_ready(&pod));
    }

    #[test]
    fn a_replica_names_its_volume_in_its_spec_or_else_in_its_label() {
        assert_eq!(
            longhorn_volume_of(&json!({"spec": {"volumeName": "v1"}})),
            "v1"
        );
        let labelled =
            json!({"metadata": {"labels": {"longhornvolume": "v2"}}, "spec": {"volumeName": ""}});
        assert_eq!(longhorn_volume_of(&labelled), "v2");
        assert_eq!(longhorn_volume_of(&json!({})), "");
    }
}

//! Which node is the k3s server that keeps every workload (the primary, runbook "server-1") and
//! which is the node being brought into service (the secondary, "server-2"), inferred from what
//! the API says about the nodes, never from their names.

use k8s_openapi::api::core::v1::Node;
use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;
use crate::policy::Policy;
use crate::report::Evidence;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub primary: Option<String>,
    pub secondaries: Vec<String>,
    /// Every node that runs a k3s server (or carries a control-plane role).
    pub servers: Vec<String>,
    /// How the primary was chosen, in words.
    pub reason: String,
    pub evidence: Vec<Evidence>,
}

/// What a node's labels and k3s annotations say about its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Server,
    Agent,
    Unknown,
}

/// k3s records its command line in this annotation as a JSON array: `["server", ...]`.
pub const NODE_ARGS_ANNOTATION: &str = "k3s.io/node-args";

pub fn node_args(node: &Node) -> Vec<String> {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(NODE_ARGS_ANNOTATION))
        .and_then(|raw| serde_json::from_str::<Vec<String>>(raw).ok())
        .unwrap_or_default()
}

pub fn has_role_label(node: &Node, role: &str) -> bool {
    node.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(&format!("node-role.kubernetes.io/{role}")))
}

pub fn role_of(node: &Node) -> NodeRole {
    if has_role_label(node, "control-plane") || has_role_label(node, "master") {
        return NodeRole::Server;
    }
    match node_args(node).first().map(String::as_str) {
        Some("server") => NodeRole::Server,
        Some("agent") => NodeRole::Agent,
        _ => NodeRole::Unknown,
    }
}

pub fn node_name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or_default()
}

/// Infers the topology; names in the policy win over inference.
pub fn infer(snapshot: &Snapshot, policy: &Policy) -> Topology {
    let mut nodes: Vec<&Node> = snapshot.nodes.iter().collect();
    nodes.sort_by(|a, b| node_name(a).cmp(node_name(b)));
    let servers: Vec<String> = nodes
        .iter()
        .filter(|n| role_of(n) == NodeRole::Server)
        .map(|n| node_name(n).to_owned())
        .collect();
    let mut evidence = Vec::new();
    for node in &nodes {
        let obj = ObjectRef::of(*node);
        if has_role_label(node, "control-plane") {
            evidence.push(Evidence::field(
                &obj,
                "metadata.labels.node-role\\.kubernetes\\.io/control-plane",
                "true",
            ));
        } else if let Some(raw) = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(NODE_ARGS_ANNOTATION))
        {
            evidence.push(Evidence::field(
                &obj,
                "metadata.annotations.k3s\\.io/node-args",
                raw.clone(),
            ));
        }
    }

    let (primary, reason) = if let Some(name) = &policy.topology.primary {
        (
            Some(name.clone()),
            format!("named in the configuration: {name}"),
        )
    } else if servers.len() == 1 {
        (
            Some(servers[0].clone()),
            format!("{} is the only k3s server", servers[0]),
        )
    } else if servers.is_empty() {
        // No role information: fall back to the one schedulable node if exactly one is.
        let schedulable: Vec<&&Node> = nodes
            .iter()
            .filter(|n| {
                !n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
            })
            .collect();
        match schedulable.as_slice() {
            [only] => (
                Some(node_name(only).to_owned()),
                format!(
                    "no node carries a server role; {} is the only schedulable node",
                    node_name(only)
                ),
            ),
            _ => (
                None,
                "no node carries a k3s server or control-plane role".to_owned(),
            ),
        }
    } else {
        (
            Some(servers[0].clone()),
            format!(
                "{} servers ({}); the first is taken as primary",
                servers.len(),
                servers.join(", ")
            ),
        )
    };

    let secondaries = match &policy.topology.secondary {
        Some(name) => vec![name.clone()],
        None => nodes
            .iter()
            .map(|n| node_name(n).to_owned())
            .filter(|n| Some(n) != primary.as_ref())
            .collect(),
    };
    Topology {
        primary,
        secondaries,
        servers,
        reason,
        evidence,
    }
}

impl Topology {
    /// The secondary when there is exactly one, as the runbook assumes.
    pub fn secondary(&self) -> Option<&str> {
        match self.secondaries.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[&str], args: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|l| (l.to_string(), "true".to_string()))
                        .collect(),
                ),
                annotations: args
                    .map(|a| [(NODE_ARGS_ANNOTATION.to_string(), a.to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Node::default()
        }
    }

    #[test]
    fn primary_is_the_k3s_server_whatever_its_name() {
        let snap = Snapshot {
            nodes: vec![
                node(
                    "zeta",
                    &[],
                    Some(r#"["agent","--server","https://x:6443"]"#),
                ),
                node("alpha", &[], Some(r#"["server","--disable","traefik"]"#)),
            ],
            ..Snapshot::default()
        };
        let t = infer(&snap, &Policy::default());
        assert_eq!(t.primary.as_deref(), Some("alpha"));
        assert_eq!(t.secondary(), Some("zeta"));
    }

    #[test]
    fn control_plane_label_marks_a_server() {
        let snap = Snapshot {
            nodes: vec![
                node("b", &["node-role.kubernetes.io/control-plane"], None),
                node("a", &[], None),
            ],
            ..Snapshot::default()
        };
        assert_eq!(
            infer(&snap, &Policy::default()).primary.as_deref(),
            Some("b")
        );
    }

    #[test]
    fn configuration_wins() {
        let snap = Snapshot {
            nodes: vec![
                node("a", &["node-role.kubernetes.io/master"], None),
                node("b", &[], None),
            ],
            ..Snapshot::default()
        };
        let mut p = Policy::default();
        p.topology.primary = Some("b".into());
        let t = infer(&snap, &p);
        assert_eq!(t.primary.as_deref(), Some("b"));
        assert_eq!(t.secondaries, vec!["a".to_string()]);
    }
}

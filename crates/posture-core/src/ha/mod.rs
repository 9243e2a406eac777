//! The runbook's "migrate to HA later" branch as a document: from a single sqlite server (or a
//! partly converted cluster) to three embedded-etcd servers, for this cluster's names, addresses
//! and version, with the check between every step and each step's way back. Every step runs on
//! a host, so every step is manual: posture writes the route, the operator walks it, and
//! `posture check` says where the cluster stands after each step.
//!
//! The route refuses to end at two etcd servers: etcd needs a majority, 2 of 2, so either
//! server's loss stops the API, which is less available than the one server it started from.

mod markdown;
mod steps;

use serde::{Deserialize, Serialize};

pub use markdown::markdown;

use crate::checks::control_plane::{Datastore, datastore_reading, host_facts_for};
use crate::policy::Policy;
use crate::snapshot::Snapshot;
use crate::topology::{self, NodeRole, node_args, node_name, role_of};

pub const HA_PLAN_SCHEMA: &str = "posture.dev/v1/ha-plan";

/// The first k3s release that converts an existing sqlite server to etcd with `--cluster-init`
/// (older ones start an empty datastore instead: docs.k3s.io/datastore/ha-embedded).
const MIGRATION_SINCE: (u32, u32, u32) = (1, 22, 2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HaPlan {
    pub schema: String,
    /// Where the cluster was read (API server URL or snapshot file).
    pub source: String,
    /// The datastore now, as `posture check` reads it.
    pub datastore: String,
    /// Where the cluster stands on the route, and what comes next.
    pub position: String,
    /// The k3s version every new server installs (the first server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub servers: HaServers,
    pub steps: Vec<HaStep>,
    /// The route this plan does not take, and why.
    pub alternative: Alternative,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The three servers the route ends with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HaServers {
    /// The server that keeps the data: it converts, the others join it.
    pub first: ServerRef,
    pub second: ServerRef,
    pub third: ServerRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerRef {
    pub name: String,
    /// Its address as the cluster knows it, when it is a node already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What it is now: `sqlite server`, `etcd server`, `agent`, or `new machine`.
    pub now: String,
}

/// One step of the route. Every step is run by a person on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HaStep {
    pub number: usize,
    pub title: String,
    /// Always true: posture runs no host commands.
    pub manual: bool,
    pub why: String,
    pub commands: Vec<HostCommand>,
    /// What must hold before the next step.
    pub checks: Vec<StepCheck>,
    /// How to go back to where the step started.
    pub rollback: Vec<HostCommand>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostCommand {
    /// The host to run it on (`any` for kubectl and posture).
    pub on: String,
    pub run: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepCheck {
    pub command: String,
    pub expect: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alternative {
    pub title: String,
    pub why_not: Vec<String>,
}

/// Why no route can be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    #[error("no k3s server found: no node has a control-plane role or k3s.io/node-args annotation")]
    NoServer,
    #[error(
        "HA with embedded etcd needs three servers and this cluster has {nodes} node(s) ({names}): name the machine you will add with --third-server NAME. A route that ends at two etcd servers is refused: etcd needs a majority, 2 of 2, so losing either server stops the API, which is less available than the one server you have now"
    )]
    NoThirdServer { nodes: usize, names: String },
    #[error("--third-server {0} is already the first or second server of the route")]
    ThirdServerTaken(String),
    #[error(
        "the cluster runs an external datastore: its control plane is as available as that datastore and its servers; this route is for sqlite and embedded etcd"
    )]
    External,
    #[error(
        "k3s {version} on {server} is older than v1.22.2, which is the first to convert sqlite to etcd with --cluster-init (older releases start an empty datastore): upgrade k3s first"
    )]
    TooOld { server: String, version: String },
    #[error(
        "the datastore is not known: run `posture host` on the server and pass it with --host-facts"
    )]
    UnknownDatastore,
}

/// A node's address as k3s recorded it, else its InternalIP.
fn address_of(node: &k8s_openapi::api::core::v1::Node) -> Option<String> {
    let annotated = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("k3s.io/internal-ip"))
        .map(|ip| ip.split(',').next().unwrap_or(ip).to_owned());
    annotated.or_else(|| {
        node.status
            .as_ref()?
            .addresses
            .as_ref()?
            .iter()
            .find(|a| a.type_ == "InternalIP")
            .map(|a| a.address.clone())
    })
}

fn version_of(node: &k8s_openapi::api::core::v1::Node) -> Option<String> {
    Some(
        node.status
            .as_ref()?
            .node_info
            .as_ref()?
            .kubelet_version
            .clone(),
    )
}

/// `v1.31.4+k3s1` as `(1, 31, 4)`.
fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim_start_matches('v').split(['.', '+', '-']);
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// The route from this cluster to three embedded-etcd servers.
pub fn ha_plan(
    snapshot: &Snapshot,
    policy: &Policy,
    third_server: Option<&str>,
) -> Result<HaPlan, HaError> {
    let reading = datastore_reading(snapshot).ok_or(
        if snapshot
            .nodes
            .iter()
            .any(|n| role_of(n) == NodeRole::Server)
        {
            HaError::UnknownDatastore
        } else {
            HaError::NoServer
        },
    )?;
    if reading.kind == Datastore::External {
        return Err(HaError::External);
    }
    let topology = topology::infer(snapshot, policy);
    let mut servers: Vec<&k8s_openapi::api::core::v1::Node> = reading.servers.clone();
    servers.sort_by_key(|n| {
        (
            Some(node_name(n)) != topology.primary.as_deref(),
            node_name(n),
        )
    });
    let first = *servers.first().ok_or(HaError::NoServer)?;
    let first_name = node_name(first).to_owned();
    let version = version_of(first);
    if reading.kind == Datastore::Sqlite
        && let Some(v) = &version
        && parse_version(v).is_some_and(|v| v < MIGRATION_SINCE)
    {
        return Err(HaError::TooOld {
            server: first_name,
            version: v.clone(),
        });
    }
    let etcd_servers = if reading.kind == Datastore::EmbeddedEtcd {
        servers.len()
    } else {
        0
    };
    let describe = |node: &k8s_openapi::api::core::v1::Node| -> String {
        match role_of(node) {
            NodeRole::Server if reading.kind == Datastore::EmbeddedEtcd => "etcd server".into(),
            NodeRole::Server => "sqlite server".into(),
            _ => "agent".into(),
        }
    };
    let node_ref = |node: &k8s_openapi::api::core::v1::Node| ServerRef {
        name: node_name(node).to_owned(),
        address: address_of(node),
        now: describe(node),
    };
    // The second server: a server that already joined, else the secondary the runbook keeps
    // as an agent, else any other node; each node once.
    let mut named = std::collections::HashSet::new();
    let others: Vec<&k8s_openapi::api::core::v1::Node> = servers
        .iter()
        .skip(1)
        .copied()
        .chain(
            topology
                .secondaries
                .iter()
                .filter_map(|name| snapshot.nodes.iter().find(|n| node_name(n) == name)),
        )
        .chain(snapshot.nodes.iter())
        .filter(|n| node_name(n) != first_name && Some(node_name(n)) != third_server)
        .filter(|n| named.insert(node_name(n)))
        .collect();
    let no_third_server = || HaError::NoThirdServer {
        nodes: snapshot.nodes.len(),
        names: (snapshot.nodes.iter().map(node_name))
            .collect::<Vec<_>>()
            .join(", "),
    };
    // `others` leaves the named third server out, so only the first can be taken.
    let third = match third_server {
        Some(name) if name == first_name => {
            return Err(HaError::ThirdServerTaken(name.to_owned()));
        }
        Some(name) => snapshot
            .nodes
            .iter()
            .find(|n| node_name(n) == name)
            .map(node_ref)
            .unwrap_or_else(|| ServerRef {
                name: name.to_owned(),
                address: None,
                now: "new machine".into(),
            }),
        None => others
            .get(1)
            .map(|n| node_ref(n))
            .ok_or_else(no_third_server)?,
    };
    let second = others
        .first()
        .map(|n| node_ref(n))
        .ok_or_else(no_third_server)?;
    let route = steps::Route {
        first: node_ref(first),
        second,
        third,
        version: version.clone(),
        sqlite: reading.kind == Datastore::Sqlite,
        etcd_servers,
        join_flags: steps::join_flags(&node_args(first), host_facts_for(snapshot, first)),
        data_dir: host_facts_for(snapshot, first)
            .map(|f| f.datastore.data_dir.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/var/lib/rancher/k3s".to_owned()),
    };
    let datastore = if reading.seen.is_empty() {
        format!("{} (from the API)", reading.kind.label())
    } else {
        format!(
            "{} (seen: {})",
            reading.kind.label(),
            reading.seen.join("; ")
        )
    };
    let mut notes = Vec::new();
    if reading.seen.is_empty() {
        notes.push(format!(
            "the datastore was inferred from the API; `posture host` on {first_name}, passed with --host-facts, makes it certain"
        ));
    }
    if version.is_none() {
        notes.push(format!(
            "{first_name} reports no kubelet version: install every new server with the k3s version {first_name} runs (`k3s --version`)"
        ));
    }
    Ok(HaPlan {
        schema: HA_PLAN_SCHEMA.to_owned(),
        source: snapshot.info.source.clone(),
        datastore,
        position: position(reading.kind, etcd_servers),
        version,
        servers: HaServers {
            first: route.first.clone(),
            second: route.second.clone(),
            third: route.third.clone(),
        },
        steps: route.steps(),
        alternative: Alternative {
            title: "An external datastore (PostgreSQL or MySQL) behind two servers".into(),
            why_not: vec![
                "the datastore becomes the single point of failure unless it is made highly available itself, which is a second HA system to run and back up".into(),
                "both servers need a fixed registration address (a load balancer, DNS round-robin or a virtual IP) in front of them".into(),
                "k3s cannot move a cluster's data from sqlite to an external datastore: it would be a new cluster with every workload and volume moved by hand".into(),
                "the runbook calls it advanced and not recommended for a homelab; embedded etcd needs no other service".into(),
            ],
        },
        notes,
    })
}

/// Where a cluster stands on the route, in the words `posture check` uses.
pub(crate) fn position(kind: Datastore, etcd_servers: usize) -> String {
    match (kind, etcd_servers) {
        (Datastore::Sqlite, _) => {
            "not started: a single sqlite server (next: back up the datastore)".into()
        }
        (Datastore::EmbeddedEtcd, 0 | 1) => {
            "converted: embedded etcd on one server (next: join the third server)".into()
        }
        (Datastore::EmbeddedEtcd, 2) => {
            "halfway: two etcd servers, quorum 2 of 2 (next: join the last server without delay)"
                .into()
        }
        (Datastore::EmbeddedEtcd, n) if n % 2 == 1 => {
            format!("done: embedded etcd on {n} servers")
        }
        (Datastore::EmbeddedEtcd, n) => {
            format!("{n} etcd servers: an even number; add or remove one to make it odd")
        }
        (Datastore::External, _) => "not on this route: external datastore".into(),
    }
}

#[cfg(test)]
mod tests;

//! The node that runs the control plane. k3s runs the API server, scheduler, controller-manager
//! and datastore inside its server process, so when the only server goes, the API goes with it:
//! no pod is rescheduled, nothing can be changed, and a drill could not even be watched. The
//! same holds for embedded etcd when the servers left are no majority.

use k8s_openapi::api::core::v1::Node;

use super::placement::Loss;
use super::types::{ControlPlaneLoss, VolumeOutcome, WorkloadStatus};
use crate::checks::context::Ctx;
use crate::checks::control_plane::{Datastore, datastore_of, datastore_on_host, host_facts_for};
use crate::checks::selectors::admits_node;
use crate::topology::node_name;

pub(super) fn judge(
    ctx: &Ctx<'_>,
    node: &Node,
    loss: &Loss<'_>,
    volumes: &[VolumeOutcome],
) -> Option<ControlPlaneLoss> {
    let name = node_name(node);
    let servers = &ctx.topology.servers;
    if !servers.iter().any(|s| s == name) {
        return None;
    }
    let left = servers.len() - 1;
    // The server's own files when `posture host` read them, else what the API says.
    let datastore = host_facts_for(ctx.snap, node)
        .and_then(datastore_on_host)
        .or_else(|| datastore_of(node));
    let api_survives = match datastore {
        _ if left == 0 => false,
        Some(Datastore::Sqlite) => false,
        Some(Datastore::EmbeddedEtcd) => left * 2 > servers.len(),
        Some(Datastore::External) | None => true,
    };
    if api_survives {
        return None;
    }
    let apps_down: Vec<_> = (loss.workloads.iter())
        .filter(|w| w.status != WorkloadStatus::NodeLocal && w.ready_elsewhere == 0)
        .map(|w| w.workload.clone())
        .collect();
    let others: Vec<&Node> = (ctx.snap.nodes.iter())
        .filter(|n| node_name(n) != name)
        .collect();
    let pinned = (ctx.workloads.iter())
        .filter(|w| apps_down.contains(&w.object))
        .filter(|w| {
            w.pod_spec()
                .is_some_and(|spec| !others.iter().any(|n| admits_node(spec, n)))
        })
        .map(|w| w.object.clone())
        .collect();
    let attached_volumes: Vec<String> = (volumes.iter())
        .filter(|v| v.attached_on_node)
        .map(|v| v.volume.name.clone())
        .collect();
    let why = if left == 0 {
        format!(
            "{name} is the only k3s server{}",
            datastore_words(datastore)
        )
    } else {
        format!(
            "{name} is one of {} k3s servers on embedded etcd, and the {left} left {} no majority",
            servers.len(),
            if left == 1 { "is" } else { "are" }
        )
    };
    let named: Vec<String> = apps_down.iter().map(|o| o.to_string()).collect();
    let message = format!(
        "{why}: the API server, scheduler, controller-manager and datastore go with it, so nothing is rescheduled or changed until it returns; every app with no ready pod elsewhere is down ({}: {}), Services keep the endpoints they had, dead ones included, and the {} Longhorn volume(s) attached there lose their only attachment. Until a third server exists, {name} can never be drilled for real",
        named.len(),
        if named.is_empty() {
            "none".to_owned()
        } else {
            named.join(", ")
        },
        attached_volumes.len(),
    );
    Some(ControlPlaneLoss {
        servers: servers.clone(),
        message,
        drillable: false,
        apps_down,
        pinned,
        attached_volumes,
    })
}

fn datastore_words(datastore: Option<Datastore>) -> &'static str {
    match datastore {
        Some(Datastore::Sqlite) => " (sqlite datastore)",
        Some(Datastore::EmbeddedEtcd) => " (embedded etcd)",
        Some(Datastore::External) => " (external datastore)",
        None => "",
    }
}

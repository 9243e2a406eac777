//! The node-loss step: stop the secondary (found from the topology), let virtual time pass, show
//! what a person would see, then start it again and watch the cluster recover.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use posture_core::Snapshot;
use posture_core::topology;
use posture_twin::fault::Fault;

use super::DemoContext;
use super::cluster::{node_status, pod_node, pod_ready, ready_endpoints, volume_robustness};
use crate::error::CliError;

/// Long enough for the node controller's grace period and Longhorn to notice lost replicas.
const OUTAGE: SignedDuration = SignedDuration::from_secs(180);
/// How long to wait for recovery, one minute at a time, before saying it has not finished.
const RECOVERY_MINUTES: usize = 15;

/// What a person would look at, read once before the loss and again after.
struct Picture {
    node_status: String,
    pods_on_node: usize,
    ready_on_node: usize,
    volumes: BTreeMap<String, String>,
    endpoints: BTreeMap<String, usize>,
}

impl Picture {
    fn of(snapshot: &Snapshot, node: &str) -> Self {
        let pods: Vec<_> = snapshot
            .pods
            .iter()
            .filter(|p| pod_node(p) == Some(node))
            .collect();
        Self {
            node_status: snapshot
                .nodes
                .iter()
                .find(|n| topology::node_name(n) == node)
                .map_or_else(|| "missing".to_owned(), node_status),
            pods_on_node: pods.len(),
            ready_on_node: pods.iter().filter(|p| pod_ready(p)).count(),
            volumes: volume_robustness(snapshot),
            endpoints: ready_endpoints(snapshot),
        }
    }
}

pub(super) fn stop_and_start_secondary(ctx: &mut DemoContext) -> Result<(), CliError> {
    let snapshot = ctx.collect()?;
    let topology = topology::infer(&snapshot, &ctx.policy);
    let Some(secondary) = topology.secondary().map(str::to_owned) else {
        ctx.out
            .bad("posture found no single secondary node, so there is nothing to stop");
        return Ok(());
    };
    let before = Picture::of(&snapshot, &secondary);
    ctx.out.explain(format!(
        "What if {secondary} fails today, before any of the plan is applied? Its kubelet stops: \
         no more heartbeats. The control plane marks it NotReady after its grace period, and \
         Longhorn loses any replica stored there."
    ));
    ctx.out
        .command(format!("posture twin fault stop-node {secondary}"));
    ctx.inject(&Fault::StopNode {
        node: secondary.clone(),
    });
    ctx.let_time_pass(OUTAGE);
    let during = Picture::of(&ctx.collect()?, &secondary);
    ctx.out.command("kubectl get nodes");
    ctx.out.bad(format!(
        "{secondary}: {} -> {}",
        before.node_status, during.node_status
    ));
    ctx.out.fact(format!(
        "pods on {secondary}: {} ready before, {} of {} ready now",
        before.ready_on_node, during.ready_on_node, during.pods_on_node
    ));
    show_changes(ctx, &before, &during);
    let primary = topology.primary.as_deref().unwrap_or("the primary");
    let on_primary = snapshot
        .pods
        .iter()
        .filter(|p| pod_node(p) == Some(primary))
        .count();
    ctx.out.explain(format!(
        "Today {primary} runs {on_primary} of the {} pods, so losing {secondary} costs little. \
         Losing {primary} is what the runbook prepares for: the check's errors above are what \
         that loss would take down, and the plan is what fixes them.",
        snapshot.pods.len(),
    ));

    ctx.out
        .command(format!("posture twin fault start-node {secondary}"));
    ctx.inject(&Fault::StartNode {
        node: secondary.clone(),
    });
    let mut after = Picture::of(&ctx.collect()?, &secondary);
    for _ in 0..RECOVERY_MINUTES {
        if recovered(&before, &after) {
            break;
        }
        ctx.let_time_pass(SignedDuration::from_mins(1));
        after = Picture::of(&ctx.collect()?, &secondary);
    }
    if recovered(&before, &after) {
        ctx.out.good(format!(
            "{secondary}: {} again; {} of {} pods ready; every volume and Service as before",
            after.node_status, after.ready_on_node, after.pods_on_node
        ));
    } else {
        ctx.out.bad(format!(
            "{secondary}: {}; not fully recovered after {RECOVERY_MINUTES} virtual minutes",
            after.node_status
        ));
        show_changes(ctx, &before, &after);
    }
    Ok(())
}

/// Volumes whose robustness changed and Services whose ready endpoints changed.
fn show_changes(ctx: &mut DemoContext, before: &Picture, now: &Picture) {
    ctx.out
        .command("kubectl -n longhorn-system get volumes.longhorn.io");
    let mut any = false;
    for (volume, robustness) in &now.volumes {
        let was = before.volumes.get(volume).map_or("absent", String::as_str);
        if was != robustness {
            ctx.out
                .bad(format!("volume {volume}: {was} -> {robustness}"));
            any = true;
        }
    }
    if !any {
        ctx.out.fact(format!(
            "all {} volumes unchanged (no replica of theirs lived there)",
            now.volumes.len()
        ));
    }
    ctx.out.command("kubectl get endpointslices -A");
    let mut any = false;
    for (service, ready) in &now.endpoints {
        let was = before.endpoints.get(service).copied().unwrap_or(0);
        if was != *ready {
            ctx.out.bad(format!(
                "service {service}: {was} -> {ready} ready endpoints"
            ));
            any = true;
        }
    }
    if !any {
        ctx.out.fact(format!(
            "all {} services keep their ready endpoints",
            now.endpoints.len()
        ));
    }
}

fn recovered(before: &Picture, now: &Picture) -> bool {
    now.node_status == before.node_status
        && now.ready_on_node == before.ready_on_node
        && now.volumes == before.volumes
        && now.endpoints == before.endpoints
}

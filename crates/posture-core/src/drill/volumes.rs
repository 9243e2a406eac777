//! Longhorn volumes when the node goes: the ones whose last healthy replica is there fault, the
//! ones with healthy replicas elsewhere degrade, and `node-drain-policy` decides whether a drain
//! waits, copies replicas off first, or lets them stop.

use super::types::{DrainEffect, DrainPolicy, VolumeFate, VolumeOutcome};
use crate::checks::context::Ctx;
use crate::checks::longhorn_volumes::{VolumeView, views};
use crate::longhorn::{LonghornNode, Replica, SettingValue};
use crate::snapshot::Longhorn;

pub(super) const DRAIN_POLICY: &str = "node-drain-policy";
const SOFT_ANTI_AFFINITY: &str = "replica-soft-anti-affinity";
const SKIP_CORDONED: &str = "disable-scheduling-on-cordoned-node";

/// Every volume with a healthy replica on `node` or attached there, and the drain policy.
pub(super) fn judge(ctx: &Ctx<'_>, node: &str) -> (Vec<VolumeOutcome>, Option<DrainPolicy>) {
    let Some(lh) = ctx.snap.longhorn.as_ref() else {
        return (Vec::new(), None);
    };
    let policy = lh
        .settings
        .iter()
        .find(|s| s.name() == DRAIN_POLICY)
        .and_then(|s| {
            Some(DrainPolicy {
                setting: s.object_ref(),
                value: s.value.clone()?,
            })
        });
    let mut outcomes: Vec<VolumeOutcome> = views(ctx, lh)
        .iter()
        .filter_map(|v| outcome(ctx, lh, v, node, policy.as_ref()))
        .collect();
    outcomes.sort_by(|a, b| a.volume.cmp(&b.volume));
    (outcomes, policy)
}

fn outcome(
    ctx: &Ctx<'_>,
    lh: &Longhorn,
    v: &VolumeView<'_>,
    node: &str,
    policy: Option<&DrainPolicy>,
) -> Option<VolumeOutcome> {
    let healthy: Vec<&Replica> = (v.replicas.iter().copied())
        .filter(|r| v.is_healthy(r))
        .collect();
    let (on, off): (Vec<&Replica>, Vec<&Replica>) =
        healthy.iter().partition(|r| r.node_id() == Some(node));
    let status = &v.volume.status;
    let attached_on_node = status.current_node_id.as_deref() == Some(node)
        || (status.state.as_deref() == Some("attached")
            && status.current_node_id.is_none()
            && v.volume.spec.node_id.as_deref() == Some(node));
    if on.is_empty() && !attached_on_node {
        return None;
    }
    let fate = match (healthy.is_empty(), on.is_empty(), off.is_empty()) {
        (true, _, _) => VolumeFate::AlreadyFaulted,
        (false, false, true) => VolumeFate::Faulted,
        (false, false, false) => VolumeFate::Degraded,
        (false, true, _) => VolumeFate::Moves,
    };
    let drain = if on.is_empty() {
        None
    } else {
        policy.and_then(|p| drain_effect(ctx, lh, v, node, fate, p))
    };
    Some(VolumeOutcome {
        volume: v.volume.object_ref(),
        claim: claim_of(ctx, v),
        number_of_replicas: v.volume.spec.number_of_replicas,
        healthy_on_node: on.iter().map(|r| r.name().to_owned()).collect(),
        healthy_elsewhere: off
            .iter()
            .map(|r| r.node_id().unwrap_or("?").to_owned())
            .collect(),
        attached_on_node,
        fate,
        drain,
    })
}

fn claim_of(ctx: &Ctx<'_>, v: &VolumeView<'_>) -> Option<String> {
    let ks = v.volume.status.kubernetes_status.as_ref();
    let from_status = ks.and_then(|k| {
        let claim = k.pvc_name.as_deref().filter(|n| !n.is_empty())?;
        Some(format!("{}/{claim}", k.namespace.as_deref()?))
    });
    from_status.or_else(|| {
        let pv = (ctx.snap.persistent_volumes.iter())
            .find(|pv| pv.metadata.name.as_deref() == Some(v.volume.name()))?;
        let claim = pv.spec.as_ref()?.claim_ref.as_ref()?;
        Some(format!(
            "{}/{}",
            claim.namespace.as_deref()?,
            claim.name.as_deref()?
        ))
    })
}

/// The policy that applies to this volume: the plain value, or its data engine's.
fn policy_for(v: &VolumeView<'_>, policy: &DrainPolicy) -> Option<String> {
    match SettingValue::parse(&policy.value) {
        SettingValue::Plain(value) => Some(value.trim().to_owned()),
        SettingValue::PerDataEngine(map) => {
            let engine = v.volume.spec.data_engine.as_deref().unwrap_or("v1");
            map.get(engine).map(|s| s.trim().to_owned())
        }
    }
}

/// Longhorn's documented behaviour for each value (v1.5 onwards).
fn drain_effect(
    ctx: &Ctx<'_>,
    lh: &Longhorn,
    v: &VolumeView<'_>,
    node: &str,
    fate: VolumeFate,
    policy: &DrainPolicy,
) -> Option<DrainEffect> {
    let value = policy_for(v, policy)?;
    let last = fate == VolumeFate::Faulted;
    let running = v.volume.status.state.as_deref() == Some("attached");
    let allows = || DrainEffect::Allows {
        policy: value.clone(),
    };
    let blocks = |why: String| DrainEffect::Blocks {
        policy: value.clone(),
        why,
    };
    let effect = match value.as_str() {
        "block-if-contains-last-replica" if last && running => blocks(format!(
            "{node} holds the last healthy replica of the attached volume"
        )),
        "allow-if-replica-is-stopped" if last && running => blocks(format!(
            "the last healthy replica on {node} is running (the volume is attached)"
        )),
        "block-if-contains-last-replica" | "allow-if-replica-is-stopped" | "always-allow" => {
            allows()
        }
        "block-for-eviction" => evict(ctx, lh, v, node, &value),
        "block-for-eviction-if-contains-last-replica" if last => evict(ctx, lh, v, node, &value),
        "block-for-eviction-if-contains-last-replica" => allows(),
        _ => return None,
    };
    Some(effect)
}

/// Longhorn copies the replica to another node before the drain goes on, if one can take it.
fn evict(
    ctx: &Ctx<'_>,
    lh: &Longhorn,
    v: &VolumeView<'_>,
    node: &str,
    policy: &str,
) -> DrainEffect {
    let soft = match v.volume.spec.replica_soft_anti_affinity.as_deref() {
        Some("enabled") => true,
        Some("disabled") => false,
        _ => setting_is(lh, SOFT_ANTI_AFFINITY, "true", false),
    };
    let skip_cordoned = setting_is(lh, SKIP_CORDONED, "true", true);
    let to: Vec<String> = (lh.nodes.iter())
        .filter(|n| n.name() != node && schedulable(n))
        .filter(|n| !(skip_cordoned && cordoned(ctx, n.name())))
        .filter(|n| {
            soft || !v
                .replicas
                .iter()
                .any(|r| !r.is_failed() && r.node_id() == Some(n.name()))
        })
        .map(|n| n.name().to_owned())
        .collect();
    if to.is_empty() {
        let why = if soft {
            "no other Longhorn node can take a replica".to_owned()
        } else {
            format!(
                "no other Longhorn node can take a replica without holding two of the volume ({SOFT_ANTI_AFFINITY} is off)"
            )
        };
        return DrainEffect::Blocks {
            policy: policy.to_owned(),
            why,
        };
    }
    DrainEffect::EvictsFirst {
        policy: policy.to_owned(),
        to,
    }
}

fn setting_is(lh: &Longhorn, name: &str, want: &str, default: bool) -> bool {
    (lh.settings.iter().find(|s| s.name() == name))
        .and_then(|s| s.parsed())
        .map_or(default, |v| {
            v.all(|x| crate::checks::longhorn::same_value(x, want))
        })
}

fn schedulable(n: &LonghornNode) -> bool {
    let condition_ok = |t: &str| {
        n.condition(t)
            .is_none_or(|c| c.status.as_deref() != Some("False"))
    };
    n.spec.allow_scheduling != Some(false)
        && n.spec.eviction_requested != Some(true)
        && condition_ok("Ready")
        && condition_ok("Schedulable")
}

fn cordoned(ctx: &Ctx<'_>, name: &str) -> bool {
    (ctx.snap.nodes.iter())
        .find(|n| crate::topology::node_name(n) == name)
        .and_then(|n| n.spec.as_ref()?.unschedulable)
        .unwrap_or(false)
}

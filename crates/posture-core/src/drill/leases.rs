//! Leases in kube-system and longhorn-system held from the node: their holders stop renewing
//! with it, and another candidate takes over once the lease runs out (if one runs elsewhere).
//! A holder names its node directly (`node` or `node_<id>`, as the scheduler and Longhorn write
//! it) or names a pod, whose node the snapshot says.

use super::pods::PodView;
use super::types::LeaseOutcome;
use crate::checks::context::Ctx;
use crate::object::ObjectRef;
use crate::topology::node_name;

const NAMESPACES: [&str; 2] = ["kube-system", "longhorn-system"];

pub(super) fn judge(ctx: &Ctx<'_>, pods: &[PodView<'_>], node: &str) -> Vec<LeaseOutcome> {
    ctx.snap
        .leases
        .iter()
        .filter(|l| NAMESPACES.contains(&l.metadata.namespace.as_deref().unwrap_or_default()))
        .filter_map(|l| {
            let spec = l.spec.as_ref()?;
            let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
            (node_of(ctx, pods, holder).as_deref() == Some(node)).then(|| LeaseOutcome {
                lease: ObjectRef::of(l),
                holder: holder.to_owned(),
                lease_duration_seconds: spec.lease_duration_seconds,
            })
        })
        .collect()
}

/// The node a holder identity runs on: the node it names (the longest name that fits, so
/// `worker-1_x` is not taken for a node `worker`), else the node of the pod it names.
pub(super) fn node_of(ctx: &Ctx<'_>, pods: &[PodView<'_>], holder: &str) -> Option<String> {
    let named = (ctx.snap.nodes.iter().map(node_name))
        .filter(|n| {
            !n.is_empty()
                && (holder == *n
                    || holder
                        .strip_prefix(n)
                        .is_some_and(|rest| rest.starts_with('_')))
        })
        .max_by_key(|n| n.len());
    if let Some(n) = named {
        return Some(n.to_owned());
    }
    pods.iter()
        .find(|p| p.name.as_deref() == Some(holder))
        .and_then(|p| p.node.clone())
}

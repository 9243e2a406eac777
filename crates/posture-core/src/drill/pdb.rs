//! Disruption budgets a drain of the node runs into. `kubectl drain` evicts the node's pods
//! (DaemonSet and mirror pods aside) and retries a refused eviction until the budget allows it
//! again, which it only does once a replacement is ready elsewhere; so a budget with no
//! disruption to spend, and no replacement that could start, blocks the drain for good.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::placement::Loss;
use super::pods::{Owner, PodView};
use super::types::{BlockedEviction, BudgetOutcome};
use crate::checks::context::Ctx;
use crate::checks::selectors::selects;
use crate::object::ObjectRef;

pub(super) fn judge(
    ctx: &Ctx<'_>,
    pods: &[PodView<'_>],
    loss: &Loss<'_>,
    node: &str,
) -> Vec<BudgetOutcome> {
    let evicted: Vec<usize> = (pods.iter().enumerate())
        .filter(|(_, p)| {
            p.node.as_deref() == Some(node)
                && !p.terminating
                && !p.daemon(ctx)
                && p.owner != Owner::Mirror
        })
        .map(|(i, _)| i)
        .collect();
    let budgets_of = |p: &PodView<'_>| -> Vec<&PodDisruptionBudget> {
        (ctx.snap.pod_disruption_budgets.iter())
            .filter(|b| b.metadata.namespace.as_deref() == Some(p.namespace.as_str()))
            .filter(|b| budget_selects(b, p))
            .collect()
    };
    ctx.snap
        .pod_disruption_budgets
        .iter()
        .filter_map(|budget| {
            let mine: Vec<usize> = (evicted.iter().copied())
                .filter(|&i| pods[i].namespace.as_str() == budget.metadata.namespace.as_deref().unwrap_or_default())
                .filter(|&i| budget_selects(budget, &pods[i]))
                .collect();
            if mine.is_empty() {
                return None;
            }
            let (healthy, desired, from_status) = counts(budget, pods);
            let mut allowed = from_status.unwrap_or((healthy - desired).max(0));
            let disruptions_allowed = allowed;
            let mut blocked = Vec::new();
            for i in &mine {
                let p = &pods[*i];
                let shared = budgets_of(p).len() > 1;
                if shared {
                    blocked.push(BlockedEviction {
                        pod: p.describe_short(),
                        why: "more than one PodDisruptionBudget selects it, which the eviction API refuses".into(),
                    });
                    continue;
                }
                // The eviction API lets a pod go that is Pending, or not ready while the budget
                // is met, without spending a disruption.
                if p.pending || (!p.ready && healthy >= desired) {
                    continue;
                }
                if allowed < 1 {
                    blocked.push(BlockedEviction {
                        pod: p.describe_short(),
                        why: format!(
                            "it needs {desired} healthy pods and has {healthy}; no disruption is allowed"
                        ),
                    });
                    continue;
                }
                allowed -= 1;
                if loss.comes_back.get(i).is_some_and(|placement| placement.starts()) {
                    allowed += 1;
                }
            }
            Some(BudgetOutcome {
                budget: ObjectRef::of(budget),
                pods_on_node: mine.iter().map(|&i| pods[i].describe_short()).collect(),
                disruptions_allowed,
                blocked,
            })
        })
        .collect()
}

/// In policy/v1 an empty selector selects every pod of the namespace, and a missing one none.
fn budget_selects(budget: &PodDisruptionBudget, pod: &PodView<'_>) -> bool {
    (budget.spec.as_ref())
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| selects(s, &pod.labels))
}

/// Healthy and desired pods as the disruption controller counts them, and the disruptions its
/// status allows when it has written one for the budget's current generation.
fn counts(budget: &PodDisruptionBudget, pods: &[PodView<'_>]) -> (i64, i64, Option<i64>) {
    let namespace = budget.metadata.namespace.as_deref().unwrap_or_default();
    let selected: Vec<&PodView<'_>> = pods
        .iter()
        .filter(|p| p.namespace == namespace && !p.terminating && budget_selects(budget, p))
        .collect();
    let expected = selected.len() as i64;
    let healthy = selected.iter().filter(|p| p.ready).count() as i64;
    let spec = budget.spec.as_ref();
    let desired = match (
        spec.and_then(|s| s.min_available.as_ref()),
        spec.and_then(|s| s.max_unavailable.as_ref()),
    ) {
        (Some(min), _) => scaled(min, expected),
        (None, Some(max)) => (expected - scaled(max, expected)).max(0),
        (None, None) => 0,
    };
    let status = budget.status.as_ref().filter(|s| {
        let generation = budget.metadata.generation.unwrap_or(0);
        s.observed_generation.unwrap_or(0) >= generation
    });
    let healthy = status.map_or(healthy, |s| i64::from(s.current_healthy));
    let desired = status.map_or(desired, |s| i64::from(s.desired_healthy));
    (
        healthy,
        desired,
        status.map(|s| i64::from(s.disruptions_allowed)),
    )
}

/// An int, or a percentage of `total` rounded up, as the disruption controller resolves both
/// `minAvailable` and `maxUnavailable`.
fn scaled(value: &IntOrString, total: i64) -> i64 {
    match value {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').trim().parse().unwrap_or(0);
            (pct * total + 99) / 100
        }
    }
}

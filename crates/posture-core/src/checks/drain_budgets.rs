//! Disruption budgets that keep a drain from ever evicting, in steady state. `kubectl drain`
//! (and Longhorn's and k3s's upgrades, and `posture drill --drain`) evict through the Eviction
//! API, which refuses while a budget has no disruption to spend; a budget that allows none even
//! with every pod healthy (`maxUnavailable: 0`, or `minAvailable` as large as the replicas)
//! blocks the drain of any node its pods run on, for good.
//! See <https://kubernetes.io/docs/tasks/run-application/configure-pdb/> ("… if you set
//! maxUnavailable to 0% or 0, or you set minAvailable to 100% or the number of replicas, you are
//! requiring zero voluntary evictions …").

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use super::selectors::selects;
use crate::object::ObjectRef;
use crate::report::{Evidence, Finding, Section, Severity};
use crate::workload::Workload;

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let def = CheckDef::new(
        Section::Preconditions,
        "preconditions.drain-budgets",
        "No PodDisruptionBudget forbids every eviction in steady state",
    );
    let verdict = budgets(ctx, &def);
    out.record(&def, verdict);
}

fn budgets(ctx: &Ctx<'_>, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["poddisruptionbudgets"]) {
        return v;
    }
    let budgets = &ctx.snap.pod_disruption_budgets;
    let findings: Vec<Finding> = budgets
        .iter()
        .filter_map(|b| blocking(ctx, def, b))
        .collect();
    Verdict::judged(
        findings,
        format!("{} PodDisruptionBudget(s) judged", budgets.len()),
    )
}

/// The workloads whose pods `budget` selects.
fn selected<'c>(ctx: &'c Ctx<'_>, budget: &PodDisruptionBudget) -> Vec<&'c Workload<'c>> {
    let Some(selector) = budget.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Vec::new();
    };
    let namespace = budget.metadata.namespace.as_deref().unwrap_or_default();
    ctx.workloads
        .iter()
        .filter(|w| w.namespace() == namespace && selects(selector, &w.pod_labels()))
        .collect()
}

fn blocking(ctx: &Ctx<'_>, def: &CheckDef, budget: &PodDisruptionBudget) -> Option<Finding> {
    let obj = ObjectRef::of(budget);
    let workloads = selected(ctx, budget);
    // The pods it guards: what its controller counted, else the selected workloads' replicas.
    let expected = budget
        .status
        .as_ref()
        .map(|s| s.expected_pods)
        .filter(|n| *n > 0)
        .or_else(|| {
            let counts: Option<Vec<i32>> = workloads.iter().map(|w| w.replicas).collect();
            counts.map(|c| c.iter().sum()).filter(|n: &i32| *n > 0)
        });
    let (field, value, why) = forbids_every_eviction(budget, expected)?;
    let runbook = workloads.iter().any(|w| {
        ctx.coredns().iter().any(|c| c.object == w.object)
            || ctx
                .ingress_controllers()
                .iter()
                .any(|c| c.object == w.object)
    });
    let guards: Vec<String> = workloads.iter().map(|w| w.object.to_string()).collect();
    let guards = if guards.is_empty() {
        "no workload posture knows".to_owned()
    } else {
        guards.join(", ")
    };
    let mut finding = def
        .finding(
            if runbook {
                Severity::Error
            } else {
                Severity::Warning
            },
            &obj,
            format!(
                "{obj} guards {guards}: {why}, so a drain of any node its pods run on never \
                 completes (kubectl drain retries the refused eviction forever)"
            ),
        )
        .with_evidence(Evidence::field(&obj, field, value));
    if let Some(expected) = budget.status.as_ref().map(|s| s.expected_pods) {
        finding = finding.with_evidence(Evidence::field(&obj, "status.expectedPods", expected));
    }
    Some(finding.with_remediation(
        "let one pod go at a time: maxUnavailable: 1, or minAvailable below the replicas",
    ))
}

/// Whether `budget` forbids every eviction even with all of its `expected` pods healthy: the
/// field that says so, its value, and why, in words.
pub(crate) fn forbids_every_eviction(
    budget: &PodDisruptionBudget,
    expected: Option<i32>,
) -> Option<(&'static str, serde_json::Value, String)> {
    let spec = budget.spec.as_ref()?;
    Some(match (&spec.max_unavailable, &spec.min_available) {
        (Some(max), _) if zero(max) => (
            "spec.maxUnavailable",
            shown(max),
            "maxUnavailable 0 allows no eviction at all".to_owned(),
        ),
        (None, Some(IntOrString::String(p))) if p.trim() == "100%" => (
            "spec.minAvailable",
            json!(p),
            "minAvailable 100% allows no eviction at all".to_owned(),
        ),
        (None, Some(IntOrString::Int(min))) if expected.is_some_and(|e| *min >= e) => (
            "spec.minAvailable",
            json!(min),
            format!(
                "minAvailable {min} with {} pod(s) allows no eviction even when all are healthy",
                expected.unwrap_or_default()
            ),
        ),
        _ => return None,
    })
}

fn zero(value: &IntOrString) -> bool {
    match value {
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(s) => s.trim().trim_end_matches('%').trim() == "0",
    }
}

fn shown(value: &IntOrString) -> serde_json::Value {
    match value {
        IntOrString::Int(n) => json!(n),
        IntOrString::String(s) => json!(s),
    }
}

//! Blockers and degradations of workloads and Services: what goes down, what runs short, and
//! why each replacement pod goes where it goes or nowhere.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::checks::context::Ctx;
use crate::drill::types::{
    Blocker, Degradation, Placement, Rejection, ServiceOutcome, WorkloadOutcome,
};
use crate::object::ObjectRef;
use crate::report::Evidence;

/// "goes Pending by the cordon and node selector / node affinity on worker-1", or "cannot
/// start on x: why".
fn fate(p: &Placement) -> String {
    match p {
        Placement::Lands { node } => format!("lands on {node}"),
        Placement::Stuck { node, reason } => format!("cannot start on {node}: {reason}"),
        Placement::Pending { rejections } if rejections.is_empty() => {
            "goes Pending: no node is left".into()
        }
        Placement::Pending { rejections } => {
            let mut by_node: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for r in rejections {
                let filters = by_node.entry(r.node.as_str()).or_default();
                if !filters.contains(&r.filter.describe()) {
                    filters.push(r.filter.describe());
                }
            }
            let parts: Vec<String> = (by_node.iter())
                .map(|(n, f)| format!("{} on {n}", f.join(" and ")))
                .collect();
            format!("goes Pending by {}", parts.join("; "))
        }
    }
}

/// Each distinct fate of a workload's replacements, with how many share it.
fn fates(w: &WorkloadOutcome) -> String {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for p in w.replacements.iter().filter(|p| !p.starts()) {
        let f = fate(p);
        match counted.iter_mut().find(|(x, _)| *x == f) {
            Some((_, n)) => *n += 1,
            None => counted.push((f, 1)),
        }
    }
    let parts: Vec<String> = counted
        .into_iter()
        .map(|(f, n)| {
            if n == 1 {
                format!("1 pod {f}")
            } else {
                format!("{n} pods {f}")
            }
        })
        .collect();
    parts.join("; ")
}

fn placement_evidence(w: &WorkloadOutcome) -> Vec<Evidence> {
    let mut evidence: Vec<Evidence> = Vec::new();
    let rejections = w.replacements.iter().flat_map(|p| match p {
        Placement::Pending { rejections } => rejections.as_slice(),
        _ => &[],
    });
    for Rejection { evidence: e, .. } in rejections {
        if !evidence.contains(e) {
            evidence.push(e.clone());
        }
    }
    evidence
}

pub(super) fn down(node: &str, w: &WorkloadOutcome) -> Blocker {
    let why = if w.replacements.is_empty() {
        "nothing recreates them elsewhere".to_owned()
    } else {
        fates(w)
    };
    Blocker {
        id: "drill.workload.down".into(),
        object: w.workload.clone(),
        message: format!(
            "{} goes down: {} of its pods {} on {node} and none is ready elsewhere; {why}",
            w.workload,
            w.on_node,
            if w.on_node == 1 { "is" } else { "are" }
        ),
        evidence: placement_evidence(w),
    }
}

pub(super) fn partial(w: &WorkloadOutcome) -> Degradation {
    Degradation {
        id: "drill.workload.partial".into(),
        object: w.workload.clone(),
        message: format!(
            "{}: {} of {} ready; {}",
            w.workload,
            w.ready_after,
            w.replicas.unwrap_or_default(),
            fates(w)
        ),
        evidence: placement_evidence(w),
    }
}

pub(super) fn restarts(w: &WorkloadOutcome) -> Degradation {
    let mut to: Vec<&str> = (w.replacements.iter())
        .filter_map(|p| match p {
            Placement::Lands { node } => Some(node.as_str()),
            _ => None,
        })
        .collect();
    to.dedup();
    Degradation {
        id: "drill.workload.restarts".into(),
        object: w.workload.clone(),
        message: format!(
            "{} restarts on {}: none of its pods stays up while it moves",
            w.workload,
            to.join(", ")
        ),
        evidence: vec![Evidence::field(
            &w.workload,
            "spec.replicas",
            w.replicas.unwrap_or_default(),
        )],
    }
}

/// Whether a critical Service's blocker already tells the story of this workload.
pub(super) fn serves_critical(
    ctx: &Ctx<'_>,
    w: &WorkloadOutcome,
    services: &[ServiceOutcome],
) -> bool {
    let Some(workload) = ctx.workloads.iter().find(|x| x.object == w.workload) else {
        return false;
    };
    let served: Vec<ObjectRef> = ctx
        .services_for(workload)
        .into_iter()
        .map(ObjectRef::of)
        .collect();
    services
        .iter()
        .any(|s| s.critical && s.ready_left == 0 && served.contains(&s.service))
}

pub(super) fn no_endpoints(node: &str, s: &ServiceOutcome) -> Option<Blocker> {
    if !s.critical || s.ready_left > 0 {
        return None;
    }
    let then = if s.ready_after > 0 {
        format!(
            "it answers again only once its replacement pods start ({} ready then)",
            s.ready_after
        )
    } else {
        "and no replacement can start".to_owned()
    };
    let namespace = s.service.namespace.as_deref().unwrap_or("default");
    Some(Blocker {
        id: "drill.service.no-endpoints".into(),
        object: s.service.clone(),
        message: format!(
            "{} has no ready endpoint once {node} is gone ({} of {} {} there); {then}",
            s.service,
            s.ready_on_node,
            s.ready_now,
            if s.ready_on_node == 1 { "is" } else { "are" }
        ),
        evidence: vec![Evidence::with_command(
            &s.service,
            "endpoints[?(@.conditions.ready==true)].nodeName",
            Value::from(vec![node.to_owned(); s.ready_on_node]),
            format!(
                "kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={} -o wide",
                s.service.name
            ),
        )],
    })
}

//! Every check of the runbook's discovery steps, as pure functions from a snapshot to findings.
//!
//! Each runbook section lives in its own module and records one [`CheckResult`] per check id
//! (pass, fail, unknown or skipped) plus a [`Finding`] per problem. Ids are listed in
//! `docs/checks.md`.
//!
//! [`CheckResult`]: crate::report::CheckResult
//! [`Finding`]: crate::report::Finding

mod cluster_dns;
pub(crate) mod context;
pub(crate) mod control_plane;
mod coredns;
pub(crate) mod drain_budgets;
mod drain_pods;
mod host_facts;
mod ingress;
pub(crate) mod longhorn;
mod longhorn_node_loss;
pub(crate) mod longhorn_volumes;
mod ownership;
mod preconditions;
pub(crate) mod quantity;
mod record;
mod risks;
pub(crate) mod selectors;
mod startable;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use crate::policy::Policy;
use crate::report::Report;
use crate::snapshot::Snapshot;

use context::Ctx;
use record::Recorder;

/// Runs every check against `snapshot`. Time-dependent checks judge against
/// [`Snapshot::observed_at`], so the same snapshot always gives the same report.
pub fn run(snapshot: &Snapshot, policy: &Policy) -> Report {
    let ctx = Ctx::new(snapshot, policy);
    let mut out = Recorder::default();
    preconditions::check(&ctx, &mut out);
    drain_budgets::check(&ctx, &mut out);
    drain_pods::check(&ctx, &mut out);
    control_plane::check(&ctx, &mut out);
    ingress::check(&ctx, &mut out);
    coredns::check(&ctx, &mut out);
    longhorn::check(&ctx, &mut out);
    ownership::check(&ctx, &mut out);
    risks::check(&ctx, &mut out);
    let report = out.into_report(Report::new(snapshot.info.source.clone()));
    crate::suppress::apply(report, snapshot, &policy.suppress).finish()
}

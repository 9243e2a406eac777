//! Control-plane lease thrash: a lease changing hands repeatedly, or not being renewed within
//! its duration. Renew gaps are judged on Tick as well as on the next renewal, so a holder that
//! stops renewing raises without waiting for a renewal that may never come.

use std::collections::HashMap;

use jiff::Timestamp;

use super::alert::{Alert, DetectorKind};
use super::policy::LeasePolicy;
use super::window::{Millis, millis, seconds_to_millis, timestamp_of};
use crate::report::Severity;

#[derive(Debug)]
struct Lease {
    holder: String,
    last_renewal: Millis,
    /// Allowed gap: lease duration × factor.
    limit: Millis,
    /// A lease only counts once it has been seen renewing, so a stale lease left behind by an
    /// uninstalled component never raises.
    renewals: u32,
    raised: bool,
    /// Since when renewals have been steady again after a gap.
    steady_since: Option<Millis>,
}

#[derive(Debug)]
pub(crate) struct RenewGapDetector {
    factor: f64,
    clear_after: Millis,
    leases: HashMap<String, Lease>,
}

/// Leases in kube-system are the control plane's; node leases are kubelet heartbeats.
pub(crate) fn lease_severity(lease: &str) -> Severity {
    if lease.starts_with("kube-system/") {
        Severity::Error
    } else {
        Severity::Warning
    }
}

impl RenewGapDetector {
    pub(crate) fn new(policy: &LeasePolicy) -> Self {
        Self {
            factor: if policy.renew_gap_factor.is_finite() && policy.renew_gap_factor > 0.0 {
                policy.renew_gap_factor
            } else {
                1.0
            },
            clear_after: seconds_to_millis(policy.renew_gap_clear_seconds),
            leases: HashMap::new(),
        }
    }

    pub(crate) fn renewed(
        &mut self,
        lease: &str,
        holder: &str,
        duration_seconds: i64,
        at: Timestamp,
    ) -> Option<Alert> {
        let now = millis(at);
        let limit = (duration_seconds.max(1) as f64 * self.factor * 1000.0) as Millis;
        let Some(l) = self.leases.get_mut(lease) else {
            self.leases.insert(
                lease.to_owned(),
                Lease {
                    holder: holder.to_owned(),
                    last_renewal: now,
                    limit,
                    renewals: 1,
                    raised: false,
                    steady_since: None,
                },
            );
            return None;
        };
        let gap = now.saturating_sub(l.last_renewal);
        let previous = l.last_renewal;
        l.last_renewal = now;
        l.limit = limit;
        l.renewals = l.renewals.saturating_add(1);
        if l.holder != holder {
            l.holder = holder.to_owned();
        }
        if gap > limit {
            l.steady_since = Some(now);
            if !l.raised {
                l.raised = true;
                return Some(gap_alert(lease, l, previous, now, at));
            }
            return None;
        }
        if l.raised {
            l.steady_since.get_or_insert(now);
        }
        None
    }

    pub(crate) fn deleted(&mut self, lease: &str, at: Timestamp) -> Option<Alert> {
        let l = self.leases.remove(lease)?;
        l.raised.then(|| {
            Alert::cleared(
                DetectorKind::LeaseRenewGap,
                lease,
                at,
                format!("{lease} was deleted"),
            )
        })
    }

    pub(crate) fn sweep(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let now_ms = millis(now);
        let mut alerts = Vec::new();
        for (name, l) in &mut self.leases {
            let gap = now_ms.saturating_sub(l.last_renewal);
            if gap > l.limit {
                l.steady_since = None;
                if !l.raised && l.renewals >= 2 {
                    l.raised = true;
                    alerts.push(gap_alert(name, l, l.last_renewal, now_ms, now));
                }
            } else if l.raised
                && l.steady_since
                    .is_some_and(|s| now_ms.saturating_sub(s) >= self.clear_after)
            {
                l.raised = false;
                l.steady_since = None;
                alerts.push(Alert::cleared(
                    DetectorKind::LeaseRenewGap,
                    name,
                    now,
                    format!("{name} renewed steadily by {} again", l.holder),
                ));
            }
        }
        alerts.sort_by(|a, b| a.id().cmp(b.id()));
        out.extend(alerts);
    }

    pub(crate) fn live_entries(&self) -> usize {
        self.leases.len()
    }
}

fn gap_alert(name: &str, l: &Lease, since: Millis, now: Millis, at: Timestamp) -> Alert {
    Alert::raised(
        DetectorKind::LeaseRenewGap,
        name,
        lease_severity(name),
        at,
        format!(
            "{name} held by {} not renewed for {}s (allowed {}s)",
            l.holder,
            now.saturating_sub(since) / 1000,
            l.limit / 1000
        ),
        vec![format!("last renewal seen at {}", timestamp_of(since))],
    )
}

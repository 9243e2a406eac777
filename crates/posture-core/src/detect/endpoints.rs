//! Ingress endpoint oscillation and outages: a Service whose endpoints keep flipping readiness,
//! and an important Service (kube-dns, ingress) left without ready endpoints.
//!
//! Churn counts flips of endpoints that stay (unready without terminating, ready again after
//! having been ready), not changes of the ready count: a rollout adds and removes endpoints,
//! changing the count twice per pod, and is no oscillation.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use super::alert::{Alert, DetectorKind};
use super::flap::FlapDetector;
use super::policy::EndpointPolicy;
use super::window::{Millis, millis, seconds_to_millis};
use crate::report::Severity;

#[derive(Debug)]
struct Service {
    ready: u32,
    important: bool,
    /// Last change of `ready`; idle entries at zero are pruned.
    changed_at: Millis,
    /// Since when an important Service has had no ready endpoints.
    zero_since: Option<Millis>,
    /// Since when a raised Service has had ready endpoints again.
    ready_since: Option<Millis>,
    raised: bool,
}

#[derive(Debug)]
pub(crate) struct EndpointDetector {
    grace: Millis,
    clear_after: Millis,
    prune_after: Millis,
    important: HashSet<String>,
    services: HashMap<String, Service>,
    churn: FlapDetector,
}

impl EndpointDetector {
    pub(crate) fn new(policy: &EndpointPolicy) -> Self {
        Self {
            grace: seconds_to_millis(policy.zero_ready_grace_seconds),
            clear_after: seconds_to_millis(policy.zero_ready_clear_seconds),
            prune_after: seconds_to_millis(policy.churn.window_seconds),
            important: policy.important_services.iter().cloned().collect(),
            services: HashMap::new(),
            churn: FlapDetector::new(
                DetectorKind::EndpointChurn,
                "endpoint readiness flips",
                policy.churn,
            ),
        }
    }

    pub(crate) fn observe(
        &mut self,
        service: &str,
        ready: u32,
        important: bool,
        flips: u32,
        at: Timestamp,
        out: &mut Vec<Alert>,
    ) {
        let now = millis(at);
        let important = important || self.important.contains(service);
        let previous = match self.services.get_mut(service) {
            Some(s) => {
                s.important |= important;
                let previous = s.ready;
                s.ready = ready;
                Some(previous)
            }
            None => {
                self.services.insert(
                    service.to_owned(),
                    Service {
                        ready,
                        important,
                        changed_at: now,
                        zero_since: None,
                        ready_since: None,
                        raised: false,
                    },
                );
                None
            }
        };
        let Some(s) = self.services.get_mut(service) else {
            return;
        };
        if s.important {
            if ready == 0 {
                s.zero_since.get_or_insert(now);
                s.ready_since = None;
            } else {
                s.zero_since = None;
                s.ready_since.get_or_insert(now);
            }
        }
        if previous.is_some_and(|p| p != ready) || flips > 0 {
            s.changed_at = now;
        }
        let severity = if s.important {
            Severity::Error
        } else {
            Severity::Warning
        };
        for _ in 0..flips {
            out.extend(
                self.churn
                    .record(service, at, severity, || format!("now {ready} ready")),
            );
        }
        self.evaluate(service, at, out);
    }

    /// Raises or clears the zero-ready alert of one Service at `at`.
    fn evaluate(&mut self, service: &str, at: Timestamp, out: &mut Vec<Alert>) {
        let now = millis(at);
        let Some(s) = self.services.get_mut(service) else {
            return;
        };
        if let Some(alert) = Self::transition(service, s, now, at, self.grace, self.clear_after) {
            out.push(alert);
        }
    }

    fn transition(
        service: &str,
        s: &mut Service,
        now: Millis,
        at: Timestamp,
        grace: Millis,
        clear_after: Millis,
    ) -> Option<Alert> {
        if !s.raised {
            let since = s.zero_since?;
            if now.saturating_sub(since) < grace {
                return None;
            }
            s.raised = true;
            return Some(Alert::raised(
                DetectorKind::NoReadyEndpoints,
                service,
                Severity::Error,
                at,
                format!(
                    "{service} has had no ready endpoints for {}s",
                    (now - since) / 1000
                ),
                vec![format!(
                    "ready endpoints 0 since {}",
                    super::window::timestamp_of(since)
                )],
            ));
        }
        let since = s.ready_since?;
        if now.saturating_sub(since) < clear_after {
            return None;
        }
        s.raised = false;
        Some(Alert::cleared(
            DetectorKind::NoReadyEndpoints,
            service,
            at,
            format!("{service} has {} ready endpoints again", s.ready),
        ))
    }

    pub(crate) fn sweep(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let now_ms = millis(now);
        let mut alerts = Vec::new();
        for (service, s) in &mut self.services {
            if let Some(a) = Self::transition(service, s, now_ms, now, self.grace, self.clear_after)
            {
                alerts.push(a);
            }
        }
        alerts.sort_by(|a, b| a.id().cmp(b.id()));
        out.extend(alerts);
        let prune_after = self.prune_after;
        let churn = &self.churn;
        // A Service at zero that nobody cares about is indistinguishable from a deleted one.
        self.services.retain(|service, s| {
            s.important
                || s.raised
                || s.ready > 0
                || now_ms.saturating_sub(s.changed_at) < prune_after
                || churn.is_raised(service)
        });
        self.churn.sweep(now, out);
    }

    pub(crate) fn live_entries(&self) -> usize {
        self.services.len() + self.churn.live_entries()
    }
}

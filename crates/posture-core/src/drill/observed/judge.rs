//! The runbook's success criteria, judged from the same detectors `posture watch` runs.
//!
//! A node loss is expected to evict pods, flip the node's Ready once, take endpoints away with
//! their pods and degrade volumes: those detectors are shown on the timeline but breach
//! nothing ([`Criterion::of`]). The lost node's own lease, and the leases held from it, are
//! expected to stop renewing until another holder takes over: their renew gaps breach nothing
//! either. Alerts already active when the drill begins are the cluster's standing condition
//! and are not held against it.

use std::collections::BTreeSet;

use super::types::{Breach, Criterion, CriterionResult};
use crate::ObjectRef;
use crate::detect::{Alert, DetectPolicy, DetectorKind, Detectors, Signal};

/// Where a node's own heartbeat lease lives.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Debug)]
pub struct Judge {
    detectors: Detectors,
    /// Lease subjects (`namespace/name`) whose renew gap the drill itself causes.
    expected_gaps: BTreeSet<String>,
    /// Subjects of alerts active when the drill began.
    standing: BTreeSet<String>,
    breaches: Vec<Breach>,
    /// Probes that answered, and that failed (`--probe`).
    probes: (u32, u32),
}

impl Judge {
    /// `leases_from_node`: the leases the what-if found held from the node.
    pub fn new(policy: &DetectPolicy, node: &str, leases_from_node: &[ObjectRef]) -> Self {
        let mut expected_gaps: BTreeSet<String> = leases_from_node
            .iter()
            .map(|lease| match &lease.namespace {
                Some(ns) => format!("{ns}/{}", lease.name),
                None => lease.name.clone(),
            })
            .collect();
        expected_gaps.insert(format!("{NODE_LEASE_NAMESPACE}/{node}"));
        Self {
            detectors: Detectors::new(policy),
            expected_gaps,
            standing: BTreeSet::new(),
            breaches: Vec::new(),
            probes: (0, 0),
        }
    }

    /// The drill begins: what is active now stands and is not held against it. Returns those
    /// alerts, to be shown.
    pub fn begin(&mut self) -> Vec<Alert> {
        let active: Vec<Alert> = self.detectors.active().cloned().collect();
        self.standing = active.iter().map(|a| a.subject().to_owned()).collect();
        active
    }

    /// Feeds one signal; returns every alert raised or cleared by it (for the timeline). A
    /// raised alert that counts against a criterion is also kept as a breach.
    pub fn observe(&mut self, signal: &Signal) -> Vec<Alert> {
        let alerts = self.detectors.observe(signal);
        for alert in &alerts {
            if let Some(breach) = self.breach_of(alert) {
                self.breaches.push(breach);
            }
        }
        alerts
    }

    fn breach_of(&self, alert: &Alert) -> Option<Breach> {
        let Alert::Raised {
            detector,
            subject,
            at,
            message,
            evidence,
            ..
        } = alert
        else {
            return None;
        };
        let criterion = Criterion::of(*detector)?;
        if self.standing.contains(subject) {
            return None;
        }
        let lease = matches!(
            detector,
            DetectorKind::LeaseRenewGap | DetectorKind::LeaseThrash
        );
        if lease && self.expected_gaps.contains(subject) {
            // The node's own lease stops with it; a lease held from it changes hands once.
            // Thrash of such a lease (holders changing again and again) is still a breach.
            if *detector == DetectorKind::LeaseRenewGap
                || subject.starts_with(&format!("{NODE_LEASE_NAMESPACE}/"))
            {
                return None;
            }
        }
        Some(Breach {
            criterion,
            at: *at,
            detector: detector.as_str().to_owned(),
            subject: subject.clone(),
            message: message.clone(),
            evidence: evidence.clone(),
        })
    }

    /// A probe's result; a breach found by the shell (failed probes in a row) is kept as any.
    pub fn probe(&mut self, answered: bool, breach: Option<Breach>) {
        if answered {
            self.probes.0 += 1;
        } else {
            self.probes.1 += 1;
        }
        self.breaches.extend(breach);
    }

    /// Takes back a breach the shell found false on a second look (a renew gap that a read of
    /// the lease disproves).
    pub fn dismiss(&mut self, breach: &Breach) {
        self.breaches.retain(|b| b != breach);
    }

    /// Every breach so far, oldest first.
    pub fn breaches(&self) -> &[Breach] {
        &self.breaches
    }

    /// Each criterion with its breaches, or what was watched when it held.
    pub fn results(&self) -> Vec<CriterionResult> {
        Criterion::ALL
            .iter()
            .map(|&criterion| {
                let breaches: Vec<String> = self
                    .breaches
                    .iter()
                    .filter(|b| b.criterion == criterion)
                    .map(|b| format!("{} {} {}: {}", b.at, b.detector, b.subject, b.message))
                    .collect();
                let passed = breaches.is_empty();
                let mut evidence = if passed {
                    vec![format!("no {} alert raised", watched(criterion))]
                } else {
                    breaches
                };
                let (answered, failed) = self.probes;
                if criterion == Criterion::DnsAndIngressServe && answered + failed > 0 {
                    evidence.push(format!(
                        "{answered} of {} probes from the surviving node answered",
                        answered + failed
                    ));
                }
                CriterionResult {
                    criterion,
                    title: criterion.title().to_owned(),
                    passed,
                    evidence,
                }
            })
            .collect()
    }
}

/// The detectors a criterion is judged by, as a person reads them.
fn watched(criterion: Criterion) -> String {
    let names: Vec<&str> = DetectorKind::ALL
        .iter()
        .filter(|d| Criterion::of(**d) == Some(criterion))
        .map(|d| d.as_str())
        .collect();
    names.join(" or ")
}

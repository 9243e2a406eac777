//! The apply engine's flap gate as a value: the same detectors `posture watch` runs, judged per
//! stage. An alert raised while a stage runs trips the gate, and the engine halts the stage and
//! rolls it back.
//!
//! Alerts already active when a stage begins are the cluster's standing condition (a crash loop
//! in an unrelated app, say): they are handed back for the operator to see and not held against
//! the stage, and neither is another detector's alert about the same subject (a pod already in
//! CrashLoopBackOff goes on to raise a restart loop). If every alert about a subject clears and
//! one is raised again during the stage, that is news and trips it.

use std::collections::BTreeMap;

use super::{Alert, DetectPolicy, Detectors, Signal};

#[derive(Debug)]
pub struct StageGuard {
    detectors: Detectors,
    /// Subjects of alerts active when the current stage began (or raised about them since),
    /// with how many of their alerts are active.
    standing: BTreeMap<String, usize>,
    tripped: Option<Alert>,
}

impl StageGuard {
    pub fn new(policy: &DetectPolicy) -> Self {
        Self {
            detectors: Detectors::new(policy),
            standing: BTreeMap::new(),
            tripped: None,
        }
    }

    /// Feeds one signal; returns the alert that trips the gate, the first time one does in the
    /// current stage.
    pub fn observe(&mut self, signal: &Signal) -> Option<&Alert> {
        let already = self.tripped.is_some();
        for alert in self.detectors.observe(signal) {
            match &alert {
                Alert::Cleared { subject, .. } => {
                    if let Some(active) = self.standing.get_mut(subject) {
                        *active = active.saturating_sub(1);
                        if *active == 0 {
                            self.standing.remove(subject);
                        }
                    }
                }
                Alert::Raised { subject, .. } => {
                    if let Some(active) = self.standing.get_mut(subject) {
                        *active += 1;
                    } else if self.tripped.is_none() {
                        self.tripped = Some(alert);
                    }
                }
            }
        }
        if already {
            return None;
        }
        self.tripped.as_ref()
    }

    /// Starts judging a new stage: forgets any earlier trip and returns the alerts active now,
    /// which become the stage's standing condition.
    pub fn begin_stage(&mut self) -> Vec<Alert> {
        self.tripped = None;
        let active: Vec<Alert> = self.detectors.active().cloned().collect();
        self.standing.clear();
        for alert in &active {
            *self.standing.entry(alert.subject().to_owned()).or_default() += 1;
        }
        active
    }

    /// The alert that tripped the current stage, if one did.
    pub fn tripped(&self) -> Option<&Alert> {
        self.tripped.as_ref()
    }
}

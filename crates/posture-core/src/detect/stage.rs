//! The apply engine's flap gate as a value: the same detectors `posture watch` runs, judged per
//! stage. An alert raised while a stage runs trips the gate, and the engine halts the stage and
//! rolls it back.
//!
//! Alerts already active when a stage begins are the cluster's standing condition (a crash loop
//! in an unrelated app, say): they are handed back for the operator to see and not held against
//! the stage, and neither is another detector's alert about the same subject (a pod already in
//! CrashLoopBackOff goes on to raise a restart loop). If every alert about a subject clears and
//! one is raised again during the stage, that is news and trips it.
//!
//! A crash-looping container spends part of each cycle running, and the watch may first list it
//! then: no alert is active, yet its next back-off would raise one in the middle of the stage.
//! So a container that exited within the restart clear period before the stage began (seen
//! restarting, or first listed with a recent exit behind it) is standing too.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::window::{Millis, millis, seconds_to_millis};
use super::{Alert, DetectPolicy, Detectors, Signal, SignalKind};

/// What a stage began with, shown to the operator and not held against the stage.
#[derive(Debug, Default, PartialEq)]
pub struct Standing {
    pub alerts: Vec<Alert>,
    /// Containers (`namespace/pod/container`) that exited within the restart clear period
    /// before the stage began and have no alert active.
    pub restarting: Vec<String>,
}

impl Standing {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.restarting.is_empty()
    }
}

#[derive(Debug)]
pub struct StageGuard {
    detectors: Detectors,
    /// Subjects of alerts active when the current stage began (or raised about them since),
    /// with how many of their alerts are active.
    standing: BTreeMap<String, usize>,
    tripped: Option<Alert>,
    /// When each container last exited, as far as the watch knows.
    last_exits: BTreeMap<String, Millis>,
    /// How long an exit keeps a container standing: the restart clear period.
    exit_memory: Millis,
    /// The latest signal's time: the cluster's now.
    latest: Option<Timestamp>,
}

impl StageGuard {
    pub fn new(policy: &DetectPolicy) -> Self {
        Self {
            detectors: Detectors::new(policy),
            standing: BTreeMap::new(),
            tripped: None,
            last_exits: BTreeMap::new(),
            exit_memory: seconds_to_millis(policy.restarts.clear_after_seconds),
            latest: None,
        }
    }

    fn remember_exit(&mut self, signal: &Signal) {
        let (pod, container, at) = match &signal.kind {
            SignalKind::ContainerRestarted { pod, container, .. } => (pod, container, signal.at),
            SignalKind::ContainerHistory {
                pod,
                container,
                last_exit,
                ..
            } => (pod, container, *last_exit),
            _ => return,
        };
        let at = millis(at);
        let last = self
            .last_exits
            .entry(format!("{pod}/{container}"))
            .or_insert(at);
        *last = (*last).max(at);
    }

    /// Feeds one signal; returns the alert that trips the gate, the first time one does in the
    /// current stage.
    pub fn observe(&mut self, signal: &Signal) -> Option<&Alert> {
        let already = self.tripped.is_some();
        self.latest = Some(self.latest.map_or(signal.at, |l| l.max(signal.at)));
        self.remember_exit(signal);
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

    /// Starts judging a new stage: forgets any earlier trip and returns what stands now (active
    /// alerts, containers restarting), which will not trip it.
    pub fn begin_stage(&mut self) -> Standing {
        self.tripped = None;
        let alerts: Vec<Alert> = self.detectors.active().cloned().collect();
        self.standing.clear();
        for alert in &alerts {
            *self.standing.entry(alert.subject().to_owned()).or_default() += 1;
        }
        let mut restarting = Vec::new();
        if let Some(now) = self.latest.map(millis) {
            let since = now.saturating_sub(self.exit_memory);
            self.last_exits.retain(|_, exited| *exited >= since);
            for subject in self.last_exits.keys() {
                self.standing.entry(subject.clone()).or_insert_with(|| {
                    restarting.push(subject.clone());
                    0
                });
            }
        }
        Standing { alerts, restarting }
    }

    /// The alert that tripped the current stage, if one did.
    pub fn tripped(&self) -> Option<&Alert> {
        self.tripped.as_ref()
    }
}

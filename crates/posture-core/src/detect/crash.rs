//! CrashLoopBackOff: raised as soon as a container enters it, cleared once the container has
//! been out of it (and its pod gone or running) for the restart clear period.

use std::collections::HashMap;

use jiff::Timestamp;

use super::alert::{Alert, DetectorKind};
use super::window::{Millis, millis};
use crate::report::Severity;

#[derive(Debug)]
struct Container {
    in_backoff: bool,
    raised: bool,
    /// When the container last left back-off.
    left_at: Millis,
}

#[derive(Debug)]
pub(crate) struct CrashLoopDetector {
    clear_after: Millis,
    clear_after_seconds: u64,
    containers: HashMap<String, Container>,
}

impl CrashLoopDetector {
    pub(crate) fn new(clear_after_seconds: u64) -> Self {
        Self {
            clear_after: super::window::seconds_to_millis(clear_after_seconds),
            clear_after_seconds,
            containers: HashMap::new(),
        }
    }

    pub(crate) fn observe(
        &mut self,
        subject: &str,
        workload: &str,
        active: bool,
        at: Timestamp,
    ) -> Option<Alert> {
        let now = millis(at);
        if !active {
            if let Some(c) = self.containers.get_mut(subject)
                && c.in_backoff
            {
                c.in_backoff = false;
                c.left_at = now;
            }
            return None;
        }
        let c = self
            .containers
            .entry(subject.to_owned())
            .or_insert(Container {
                in_backoff: false,
                raised: false,
                left_at: now,
            });
        c.in_backoff = true;
        if c.raised {
            return None;
        }
        c.raised = true;
        Some(Alert::raised(
            DetectorKind::CrashLoop,
            subject,
            Severity::Warning,
            at,
            format!("{subject} (workload {workload}) is in CrashLoopBackOff"),
            vec![format!("waiting reason CrashLoopBackOff at {at}")],
        ))
    }

    pub(crate) fn sweep(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let now_ms = millis(now);
        let clear_after = self.clear_after;
        let mut cleared = Vec::new();
        self.containers.retain(|subject, c| {
            if c.in_backoff || now_ms.saturating_sub(c.left_at) < clear_after {
                return true;
            }
            if c.raised {
                cleared.push(subject.clone());
            }
            false
        });
        cleared.sort();
        for subject in cleared {
            out.push(Alert::cleared(
                DetectorKind::CrashLoop,
                &subject,
                now,
                format!(
                    "{subject}: out of CrashLoopBackOff for {}s",
                    self.clear_after_seconds
                ),
            ));
        }
    }

    pub(crate) fn live_entries(&self) -> usize {
        self.containers.len()
    }
}

//! A rate detector: too many occurrences of one kind for one subject within a window.
//! Restart loops, eviction loops, lease thrash, endpoint churn and the Longhorn and node flaps
//! are all this shape and differ only in what counts as an occurrence.

use jiff::Timestamp;

use super::alert::{Alert, DetectorKind};
use super::policy::RateThresholds;
use super::window::{Millis, RateWindows, Recorded, millis, timestamp_of};
use crate::report::Severity;

#[derive(Debug)]
pub(crate) struct FlapDetector {
    kind: DetectorKind,
    /// Plural noun for one occurrence, e.g. "restarts".
    what: &'static str,
    thresholds: RateThresholds,
    windows: RateWindows,
}

impl FlapDetector {
    pub(crate) fn new(kind: DetectorKind, what: &'static str, thresholds: RateThresholds) -> Self {
        Self {
            kind,
            what,
            thresholds,
            windows: RateWindows::new(thresholds),
        }
    }

    /// Counts one occurrence; returns the alert when this one crosses the threshold.
    pub(crate) fn record(
        &mut self,
        subject: &str,
        at: Timestamp,
        severity: Severity,
        detail: impl FnOnce() -> String,
    ) -> Option<Alert> {
        match self.windows.record(subject, millis(at)) {
            Recorded::Nothing => None,
            Recorded::Raise(times) => Some(Alert::raised(
                self.kind,
                subject,
                severity,
                at,
                format!(
                    "{subject}: {} {} within {}s ({})",
                    times.len(),
                    self.what,
                    self.thresholds.window_seconds,
                    detail()
                ),
                times.iter().map(|&t| self.evidence(t)).collect(),
            )),
        }
    }

    fn evidence(&self, t: Millis) -> String {
        format!("{} at {}", self.kind, timestamp_of(t))
    }

    pub(crate) fn sweep(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        for subject in self.windows.sweep(millis(now)) {
            out.push(Alert::cleared(
                self.kind,
                &subject,
                now,
                format!(
                    "{subject}: no {} for {}s",
                    self.what, self.thresholds.clear_after_seconds
                ),
            ));
        }
    }

    pub(crate) fn live_entries(&self) -> usize {
        self.windows.live_entries()
    }
}

impl FlapDetector {
    pub(crate) fn is_raised(&self, subject: &str) -> bool {
        self.windows.is_raised(subject)
    }
}

//! `--until-stable DURATION` and stage gating as a value: feed signals until the cluster has
//! been free of alerts for the duration (stable) or an alert is raised first (unstable).

use jiff::{SignedDuration, Timestamp};

use super::{Alert, DetectPolicy, Detectors, Signal};

#[derive(Debug, Clone, PartialEq)]
pub enum StabilityVerdict {
    /// No alert for the whole duration: the next stage may go ahead (exit 0).
    Stable { since: Timestamp, at: Timestamp },
    /// An alert was raised before stability was reached (exit 1).
    Alerted(Alert),
}

#[derive(Debug)]
pub struct UntilStable {
    detectors: Detectors,
    duration: SignedDuration,
}

impl UntilStable {
    pub fn new(policy: &DetectPolicy, duration: SignedDuration) -> Self {
        Self {
            detectors: Detectors::new(policy),
            duration,
        }
    }

    /// Feeds one signal; returns the verdict once there is one. The shell keeps sending Ticks so
    /// a quiet cluster reaches its verdict without events.
    pub fn observe(&mut self, signal: &Signal) -> Option<StabilityVerdict> {
        let alerts = self.detectors.observe(signal);
        if let Some(raised) = alerts.into_iter().find(Alert::is_raised) {
            return Some(StabilityVerdict::Alerted(raised));
        }
        self.detectors
            .is_stable_for(self.duration, signal.at)
            .then(|| StabilityVerdict::Stable {
                since: signal.at - self.duration,
                at: signal.at,
            })
    }

    pub fn detectors(&self) -> &Detectors {
        &self.detectors
    }
}

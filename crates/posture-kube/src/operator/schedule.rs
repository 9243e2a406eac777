//! When the leader checks: every interval, and soon after the cluster changes. A change is
//! debounced: the check waits until the cluster has been quiet for the debounce, so a rollout's
//! burst of pod events costs one check, not one per pod; a cluster that never goes quiet is
//! still checked once the first change is [`MAX_WAIT_DEBOUNCES`] debounces old. Two checks are
//! never closer than one debounce, whatever triggers them.

use std::time::{Duration, Instant};

/// How many debounces a change may wait for quiet before it is checked anyway.
pub const MAX_WAIT_DEBOUNCES: u32 = 5;

#[derive(Debug, Clone)]
pub struct CheckSchedule {
    interval: Duration,
    debounce: Duration,
    /// When the periodic check falls due.
    periodic: Instant,
    /// The first and the latest change since the last check.
    changes: Option<(Instant, Instant)>,
    last_check: Option<Instant>,
}

impl CheckSchedule {
    /// A schedule whose first check is due at `now`.
    pub fn new(interval: Duration, debounce: Duration, now: Instant) -> Self {
        Self {
            interval,
            debounce,
            periodic: now,
            changes: None,
            last_check: None,
        }
    }

    /// The cluster changed at `at`.
    pub fn changed(&mut self, at: Instant) {
        self.changes = Some(match self.changes {
            Some((first, _)) => (first, at),
            None => (at, at),
        });
    }

    /// A change is waiting for its check.
    pub fn is_pending(&self) -> bool {
        self.changes.is_some()
    }

    /// The earliest instant at which a check is due, as things stand.
    pub fn due_at(&self) -> Instant {
        let by_change = self.changes.map(|(first, latest)| {
            let quiet = latest + self.debounce;
            let waited = first + self.debounce * MAX_WAIT_DEBOUNCES;
            let earliest = quiet.min(waited);
            match self.last_check {
                Some(last) => earliest.max(last + self.debounce),
                None => earliest,
            }
        });
        by_change.map_or(self.periodic, |at| at.min(self.periodic))
    }

    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.due_at()
    }

    /// A check started at `at`: the next periodic one is an interval later, and the changes so
    /// far are covered.
    pub fn checked(&mut self, at: Instant) {
        self.periodic = at + self.interval;
        self.changes = None;
        self.last_check = Some(at);
    }

    /// This instance stopped leading: whenever it leads again, it checks at once.
    pub fn standby(&mut self, now: Instant) {
        self.periodic = now;
        self.changes = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn schedule() -> (CheckSchedule, Instant) {
        let start = Instant::now();
        let mut schedule = CheckSchedule::new(SECOND * 3600, SECOND * 10, start);
        assert!(schedule.is_due(start), "the first check is due at once");
        schedule.checked(start);
        (schedule, start)
    }

    #[test]
    fn without_changes_a_check_is_due_every_interval() {
        let (schedule, start) = schedule();
        assert!(!schedule.is_due(start + SECOND * 3599));
        assert!(schedule.is_due(start + SECOND * 3600));
    }

    #[test]
    fn a_burst_of_changes_is_checked_once_the_cluster_is_quiet_for_the_debounce() {
        let (mut schedule, start) = schedule();
        let burst_start = start + SECOND * 60;
        for i in 0..5 {
            schedule.changed(burst_start + SECOND * i);
        }
        let last = burst_start + SECOND * 4;
        assert!(!schedule.is_due(last + SECOND * 9));
        assert!(schedule.is_due(last + SECOND * 10));
        schedule.checked(last + SECOND * 10);
        assert!(!schedule.is_pending());
        assert!(!schedule.is_due(last + SECOND * 11));
    }

    #[test]
    fn a_cluster_that_never_goes_quiet_is_checked_after_the_longest_wait() {
        let (mut schedule, start) = schedule();
        let first = start + SECOND * 60;
        let mut due = None;
        for i in 0..120 {
            let at = first + SECOND * i;
            schedule.changed(at);
            if schedule.is_due(at) {
                due = Some(at);
                break;
            }
        }
        assert_eq!(due, Some(first + SECOND * 10 * MAX_WAIT_DEBOUNCES));
    }

    #[test]
    fn two_checks_are_never_closer_than_a_debounce() {
        let (mut schedule, start) = schedule();
        // A change right after the check: its quiet period ends 10 s after it, which is also
        // more than a debounce after the check.
        schedule.changed(start);
        assert!(!schedule.is_due(start + SECOND * 9));
        assert!(schedule.is_due(start + SECOND * 10));
    }

    #[test]
    fn an_instance_that_leads_again_checks_at_once() {
        let (mut schedule, start) = schedule();
        schedule.changed(start + SECOND);
        let later = start + SECOND * 30;
        schedule.standby(later);
        assert!(!schedule.is_pending());
        assert!(schedule.is_due(later));
    }
}

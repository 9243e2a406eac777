//! Per-subject sliding windows with hysteresis: the building block of every rate detector.
//!
//! A subject raises when `raiseCount` occurrences fall within the window and clears only after
//! a quiet period with none; clearing empties its window, so raising again needs a fresh run of
//! occurrences. Each window keeps at most `raiseCount` timestamps, and quiet, unraised subjects
//! are pruned on sweep, so memory follows the subjects that are active, not the events.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;

use super::policy::RateThresholds;

/// Milliseconds since the Unix epoch: cheap to compare and subtract in the hot path.
pub(crate) type Millis = i64;

pub(crate) fn millis(at: Timestamp) -> Millis {
    at.as_millisecond()
}

pub(crate) fn seconds_to_millis(seconds: u64) -> Millis {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Formats a window entry for evidence.
pub(crate) fn timestamp_of(ms: Millis) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

#[derive(Debug)]
struct Subject {
    times: VecDeque<Millis>,
    raised: bool,
    last: Millis,
}

/// What recording an occurrence did to its subject.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    Nothing,
    /// The subject crossed the raise threshold; the window's timestamps, oldest first.
    Raise(Vec<Millis>),
}

#[derive(Debug)]
pub(crate) struct RateWindows {
    capacity: usize,
    window: Millis,
    clear_after: Millis,
    subjects: HashMap<String, Subject>,
}

impl RateWindows {
    pub(crate) fn new(thresholds: RateThresholds) -> Self {
        Self {
            capacity: thresholds.raise_count.max(1) as usize,
            window: seconds_to_millis(thresholds.window_seconds),
            clear_after: seconds_to_millis(thresholds.clear_after_seconds),
            subjects: HashMap::new(),
        }
    }

    /// Records one occurrence for `subject` at `now`.
    pub(crate) fn record(&mut self, subject: &str, now: Millis) -> Recorded {
        let entry = match self.subjects.get_mut(subject) {
            Some(entry) => entry,
            None => self
                .subjects
                .entry(subject.to_owned())
                .or_insert_with(|| Subject {
                    times: VecDeque::with_capacity(self.capacity),
                    raised: false,
                    last: now,
                }),
        };
        entry.last = entry.last.max(now);
        if entry.times.len() == self.capacity {
            entry.times.pop_front();
        }
        entry.times.push_back(now);
        let horizon = now.saturating_sub(self.window);
        while entry.times.front().is_some_and(|&t| t < horizon) {
            entry.times.pop_front();
        }
        if !entry.raised && entry.times.len() >= self.capacity {
            entry.raised = true;
            return Recorded::Raise(entry.times.iter().copied().collect());
        }
        Recorded::Nothing
    }

    /// Clears raised subjects quiet for the clear period (returned, sorted) and forgets unraised
    /// ones whose window has emptied.
    pub(crate) fn sweep(&mut self, now: Millis) -> Vec<String> {
        let mut cleared = Vec::new();
        let (window, clear_after) = (self.window, self.clear_after);
        self.subjects.retain(|subject, entry| {
            let quiet = now.saturating_sub(entry.last);
            if entry.raised {
                if quiet >= clear_after {
                    cleared.push(subject.clone());
                    // Start afresh: the next alert needs a full new run of occurrences.
                    return quiet < window;
                }
                return true;
            }
            quiet < window
        });
        // A cleared subject kept for its window restarts empty and unraised.
        for subject in &cleared {
            if let Some(entry) = self.subjects.get_mut(subject) {
                entry.raised = false;
                entry.times.clear();
            }
        }
        cleared.sort();
        cleared
    }

    pub(crate) fn is_raised(&self, subject: &str) -> bool {
        self.subjects.get(subject).is_some_and(|s| s.raised)
    }

    /// Subjects tracked plus timestamps held: the live state this window costs.
    pub(crate) fn live_entries(&self) -> usize {
        self.subjects.len() + self.subjects.values().map(|s| s.times.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows() -> RateWindows {
        RateWindows::new(RateThresholds::new(3, 60, 120))
    }

    #[test]
    fn raises_at_threshold_once_and_keeps_at_most_capacity() {
        let mut w = windows();
        assert_eq!(w.record("a", 0), Recorded::Nothing);
        assert_eq!(w.record("a", 1_000), Recorded::Nothing);
        assert_eq!(w.record("a", 2_000), Recorded::Raise(vec![0, 1_000, 2_000]));
        assert_eq!(w.record("a", 3_000), Recorded::Nothing);
        assert_eq!(w.live_entries(), 1 + 3);
    }

    #[test]
    fn occurrences_outside_the_window_do_not_count() {
        let mut w = windows();
        w.record("a", 0);
        w.record("a", 30_000);
        assert_eq!(w.record("a", 61_000), Recorded::Nothing);
        assert_eq!(
            w.record("a", 62_000),
            Recorded::Raise(vec![30_000, 61_000, 62_000])
        );
    }

    #[test]
    fn clears_after_quiet_period_and_prunes_idle_subjects() {
        let mut w = windows();
        for t in [0, 1_000, 2_000] {
            w.record("a", t);
        }
        w.record("b", 0);
        assert!(w.sweep(100_000).is_empty());
        assert!(w.is_raised("a"));
        assert_eq!(w.live_entries(), 1 + 3, "idle b pruned");
        assert_eq!(w.sweep(122_000), vec!["a".to_owned()]);
        assert_eq!(w.live_entries(), 0);
    }
}

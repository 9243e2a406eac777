//! The twin's virtual clock. Every behaviour that takes time reads this clock, so tests advance
//! time explicitly and never sleep.

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    now: Timestamp,
}

impl Clock {
    pub fn starting_at(now: Timestamp) -> Self {
        Self { now }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Moves time forward; time never runs backwards.
    pub fn advance(&mut self, by: SignedDuration) {
        if by.is_positive() {
            self.now = self.now.checked_add(by).unwrap_or(self.now);
        }
    }
}

/// RFC 3339 at second precision, the way the API server writes timestamps.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 at microsecond precision, as leases use (MicroTime).
pub fn rfc3339_micros(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

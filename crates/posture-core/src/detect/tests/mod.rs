//! Detector and reducer behaviour: thresholds, hysteresis, windows, replay, and property tests.

mod cluster;
mod detectors;
mod longhorn;
mod moves;
mod props;
mod reducer;
mod stage;
mod streams;

use jiff::{SignedDuration, Timestamp};

use super::{Alert, DetectPolicy, Detectors, Signal, SignalKind};

pub(super) fn t(seconds: i64) -> Timestamp {
    let base: Timestamp = "2026-11-24T10:00:00Z".parse().expect("base timestamp");
    base + SignedDuration::from_secs(seconds)
}

pub(super) fn at(seconds: i64, kind: SignalKind) -> Signal {
    Signal::new(t(seconds), kind)
}

pub(super) fn tick(seconds: i64) -> Signal {
    Signal::tick(t(seconds))
}

pub(super) fn run(
    detectors: &mut Detectors,
    signals: impl IntoIterator<Item = Signal>,
) -> Vec<Alert> {
    signals
        .into_iter()
        .flat_map(|s| detectors.observe(&s))
        .collect()
}

pub(super) fn defaults() -> Detectors {
    Detectors::new(&DetectPolicy::default())
}

pub(super) fn ids(alerts: &[Alert]) -> Vec<(bool, String)> {
    alerts
        .iter()
        .map(|a| (a.is_raised(), a.id().to_owned()))
        .collect()
}

pub(super) fn restart(seconds: i64, count: i64) -> Signal {
    at(
        seconds,
        SignalKind::ContainerRestarted {
            pod: "apps/web-1".into(),
            workload: "apps/web".into(),
            container: "app".into(),
            restart_count: count,
        },
    )
}

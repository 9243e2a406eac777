//! What the detectors of a watch saw, in Prometheus' text format: served by
//! `posture watch --metrics ADDR` and by the operator's leader, which runs the same detectors.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::notify::NotifyCounters;
use posture_core::detect::{Alert, DetectorKind};

/// Counters and gauges of one watch.
#[derive(Debug, Default)]
pub struct AlertMetrics {
    state: Mutex<State>,
    /// The notifier's own counters, when `--notify` is given.
    pub notify: Mutex<Option<Arc<NotifyCounters>>>,
}

#[derive(Debug, Default)]
struct State {
    /// Active alerts: id → detector.
    active: BTreeMap<String, DetectorKind>,
    raised: BTreeMap<DetectorKind, u64>,
    cleared: BTreeMap<DetectorKind, u64>,
    signals: u64,
    /// Cluster time of the newest signal, seconds since the epoch.
    last_signal: Option<i64>,
}

impl AlertMetrics {
    pub fn signal(&self, at: jiff::Timestamp) {
        if let Ok(mut state) = self.state.lock() {
            state.signals += 1;
            state.last_signal = Some(at.as_second());
        }
    }

    pub fn alert(&self, alert: &Alert) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let detector = alert.detector();
        if alert.is_raised() {
            state.active.insert(alert.id().to_owned(), detector);
            *state.raised.entry(detector).or_default() += 1;
        } else {
            state.active.remove(alert.id());
            *state.cleared.entry(detector).or_default() += 1;
        }
    }

    /// Forgets the active alerts (the counters stay): an operator that stops leading stops
    /// watching, and its alerts are no longer its to report.
    pub fn forget_active(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.active.clear();
        }
    }

    /// The exposition: every detector listed, so a dashboard sees zeros rather than gaps.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(state) = self.state.lock() else {
            return out;
        };
        let mut gauge =
            |name: &str, kind: &str, help: &str, values: &dyn Fn(DetectorKind) -> u64| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for detector in DetectorKind::ALL {
                    let _ = writeln!(
                        out,
                        "{name}{{detector=\"{detector}\"}} {}",
                        values(detector)
                    );
                }
            };
        gauge(
            "posture_alerts_active",
            "gauge",
            "Alerts raised and not cleared, by detector.",
            &|d| state.active.values().filter(|a| **a == d).count() as u64,
        );
        gauge(
            "posture_alerts_raised_total",
            "counter",
            "Alerts raised since the watch started, by detector.",
            &|d| state.raised.get(&d).copied().unwrap_or(0),
        );
        gauge(
            "posture_alerts_cleared_total",
            "counter",
            "Alerts cleared since the watch started, by detector.",
            &|d| state.cleared.get(&d).copied().unwrap_or(0),
        );
        let _ = writeln!(
            out,
            "# HELP posture_signals_total Signals the detectors observed.\n\
             # TYPE posture_signals_total counter\nposture_signals_total {}",
            state.signals
        );
        if let Some(at) = state.last_signal {
            let _ = writeln!(
                out,
                "# HELP posture_last_signal_timestamp_seconds Cluster time of the newest signal.\n\
                 # TYPE posture_last_signal_timestamp_seconds gauge\n\
                 posture_last_signal_timestamp_seconds {at}"
            );
        }
        drop(state);
        if let Some(notify) = self.notify.lock().ok().and_then(|n| n.clone()) {
            let _ = writeln!(
                out,
                "# HELP posture_notifications_total Alerts posted to --notify, by outcome.\n\
                 # TYPE posture_notifications_total counter"
            );
            for (outcome, value) in [
                ("delivered", &notify.delivered),
                ("failed", &notify.failed),
                ("dropped", &notify.dropped),
            ] {
                let _ = writeln!(
                    out,
                    "posture_notifications_total{{outcome=\"{outcome}\"}} {}",
                    value.load(Ordering::Relaxed)
                );
            }
        }
        out
    }
}

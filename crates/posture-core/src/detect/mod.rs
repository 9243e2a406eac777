//! The runbook's anti-flap appendix as pure detectors: watch events are reduced to compact
//! [`Signal`]s, and [`Detectors`] turns signals into [`Alert`]s that are raised and cleared with
//! hysteresis. Nothing here reads the clock; time comes with each signal, and `Tick` signals let
//! time pass without events.
//!
//! The shell's part is thin: for each watch event, `Reducer::reduce(now, kind, change, &object)`,
//! feed the signals to `Detectors::observe` (or [`UntilStable`]), send a `Tick` about once a
//! second, and optionally append every signal's `to_line()` to a recording that [`replay`]
//! reproduces exactly. When a watch restarts and relists, `Reducer::relist` turns objects that
//! vanished meanwhile into deletions.
//!
//! # Guarantees
//! - Alerts for one id strictly alternate Raised, Cleared, Raised… (property-tested): raise and
//!   clear thresholds differ, and clearing empties the subject's window.
//! - Memory follows live objects, not events: a window holds at most its raise count of
//!   timestamps; quiet, unraised subjects are pruned on Tick; the reducer forgets deleted objects.
//! - Same signals, same alerts: detection is a pure function of the signal sequence.
//!
//! # Assumptions
//! - Signals arrive roughly in time order (the watcher's clock); Ticks arrive at least as often
//!   as the shortest grace period (10 s by default), ideally every second.
//! - The initial list of each resource is passed as `Added`; the first sight of an object is its
//!   baseline, never a change.
//!
//! # Caveats
//! - Time-based clears and raises (quiet periods, renew gaps, zero-ready grace) happen on Tick,
//!   so they are as late as the Tick interval.
//! - A lease raises a renew gap only once it has been seen renewing, so a stale lease left by an
//!   uninstalled component never alerts; a holder that stops before its second renewal is missed.

mod alert;
mod crash;
mod endpoints;
mod flap;
mod leases;
mod moves;
pub mod policy;
mod rebuilds;
mod reduce;
mod replay;
mod signal;
mod stable;
mod stage;
pub mod webhook;
mod window;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

pub use alert::{Alert, DetectorKind};
pub use moves::{CounterMove, counter_moves, workload_of_subject};
pub use policy::DetectPolicy;
pub use reduce::{EventType, Reducer, UnreadableEvent, WatchEvent, WatchedKind, WatchedObject};
pub use replay::{ReplayError, SIGNALS_SCHEMA, header_line, parse_line, replay};
pub use signal::{Signal, SignalKind};
pub use stable::{StabilityVerdict, UntilStable};
pub use stage::{StageGuard, Standing};

use crash::CrashLoopDetector;
use endpoints::EndpointDetector;
use flap::FlapDetector;
use leases::{RenewGapDetector, lease_severity};
use rebuilds::RebuildConcurrencyDetector;

use crate::report::Severity;

/// Every detector, fed the same signals, plus the set of alerts currently raised.
#[derive(Debug)]
pub struct Detectors {
    restarts: FlapDetector,
    crash_loops: CrashLoopDetector,
    evictions: FlapDetector,
    endpoints: EndpointDetector,
    holder_changes: FlapDetector,
    renew_gaps: RenewGapDetector,
    rebuild_concurrency: RebuildConcurrencyDetector,
    rebuild_repeats: FlapDetector,
    robustness: FlapDetector,
    volume_state: FlapDetector,
    attachments: FlapDetector,
    node_ready: FlapDetector,
    active: BTreeMap<String, Alert>,
    /// When the cluster last became free of alerts (or the first signal, if it always was).
    quiet_since: Option<Timestamp>,
}

impl Detectors {
    pub fn new(policy: &DetectPolicy) -> Self {
        Self {
            restarts: FlapDetector::new(DetectorKind::RestartLoop, "restarts", policy.restarts),
            crash_loops: CrashLoopDetector::new(policy.restarts.clear_after_seconds),
            evictions: FlapDetector::new(
                DetectorKind::EvictionLoop,
                "pods evicted or deleted",
                policy.evictions,
            ),
            endpoints: EndpointDetector::new(&policy.endpoints),
            holder_changes: FlapDetector::new(
                DetectorKind::LeaseThrash,
                "holder changes",
                policy.leases.holder_changes,
            ),
            renew_gaps: RenewGapDetector::new(&policy.leases),
            rebuild_concurrency: RebuildConcurrencyDetector::new(&policy.rebuilds),
            rebuild_repeats: FlapDetector::new(
                DetectorKind::RebuildRepeated,
                "rebuilds",
                policy.rebuilds.repeated,
            ),
            robustness: FlapDetector::new(
                DetectorKind::RobustnessFlap,
                "robustness changes",
                policy.robustness,
            ),
            volume_state: FlapDetector::new(
                DetectorKind::VolumeStateFlap,
                "attach/detach changes",
                policy.volume_state,
            ),
            attachments: FlapDetector::new(
                DetectorKind::AttachmentChurn,
                "VolumeAttachment changes",
                policy.attachments,
            ),
            node_ready: FlapDetector::new(
                DetectorKind::NodeReadyFlap,
                "Ready changes",
                policy.node_ready,
            ),
            active: BTreeMap::new(),
            quiet_since: None,
        }
    }

    /// Feeds one signal to every detector it concerns; returns the alerts raised or cleared.
    pub fn observe(&mut self, signal: &Signal) -> Vec<Alert> {
        let at = signal.at;
        let mut out = Vec::new();
        if self.quiet_since.is_none() && self.active.is_empty() {
            self.quiet_since = Some(at);
        }
        match &signal.kind {
            SignalKind::Tick => self.sweep(at, &mut out),
            SignalKind::ContainerRestarted {
                pod,
                container,
                restart_count,
                ..
            } => {
                let subject = format!("{pod}/{container}");
                out.extend(self.restarts.record(&subject, at, Severity::Warning, || {
                    format!("restartCount {restart_count}")
                }));
            }
            SignalKind::CrashLoopBackOff {
                pod,
                workload,
                container,
                active,
            } => {
                let subject = format!("{pod}/{container}");
                out.extend(self.crash_loops.observe(&subject, workload, *active, at));
            }
            SignalKind::PodCreated { .. } | SignalKind::ContainerHistory { .. } => {}
            // A rollout replacing its pods is the controller doing its job, not a loop.
            SignalKind::PodDeleted { replaced: true, .. } => {}
            SignalKind::PodDeleted {
                pod,
                workload,
                critical,
                replaced: false,
            } => {
                out.extend(
                    self.evictions
                        .record(workload, at, severity(*critical), || {
                            format!("last: {pod} deleted")
                        }),
                );
            }
            SignalKind::PodEvicted {
                pod,
                workload,
                reason,
                critical,
            } => {
                out.extend(
                    self.evictions
                        .record(workload, at, severity(*critical), || {
                            format!("last: {pod} {reason}")
                        }),
                );
            }
            SignalKind::EndpointsChanged {
                service,
                ready,
                important,
                flips,
            } => self
                .endpoints
                .observe(service, *ready, *important, *flips, at, &mut out),
            SignalKind::LeaseRenewed {
                lease,
                holder,
                duration_seconds,
                ..
            } => out.extend(
                self.renew_gaps
                    .renewed(lease, holder, *duration_seconds, at),
            ),
            SignalKind::LeaseHolderChanged { lease, from, to } => {
                out.extend(
                    self.holder_changes
                        .record(lease, at, lease_severity(lease), || {
                            format!("last: {from} -> {to}")
                        }),
                );
            }
            SignalKind::LeaseDeleted { lease } => out.extend(self.renew_gaps.deleted(lease, at)),
            SignalKind::NodeReadyChanged { node, ready } => {
                out.extend(
                    self.node_ready
                        .record(node, at, Severity::Error, || format!("now Ready={ready}")),
                );
            }
            SignalKind::VolumeStateChanged { volume, state } => {
                if matches!(state.as_str(), "attached" | "detached") {
                    out.extend(
                        self.volume_state
                            .record(volume, at, Severity::Error, || format!("now {state}")),
                    );
                }
            }
            SignalKind::VolumeRobustnessChanged { volume, robustness } => {
                out.extend(
                    self.robustness
                        .record(volume, at, Severity::Error, || format!("now {robustness}")),
                );
            }
            SignalKind::ReplicaRebuildStarted {
                volume,
                replica,
                node,
            } => {
                out.extend(self.rebuild_concurrency.started(
                    node,
                    format!("{volume}/{replica}"),
                    at,
                ));
                out.extend(
                    self.rebuild_repeats
                        .record(volume, at, Severity::Error, || {
                            format!("last: replica {replica} on {node}")
                        }),
                );
            }
            SignalKind::ReplicaRebuildFinished {
                volume,
                replica,
                node,
            }
            | SignalKind::ReplicaRebuildFailed {
                volume,
                replica,
                node,
            } => {
                let rebuild = format!("{volume}/{replica}");
                out.extend(self.rebuild_concurrency.ended(node, &rebuild, at));
            }
            SignalKind::RebuildLimitChanged { limit } => {
                self.rebuild_concurrency.set_limit(*limit, at, &mut out);
            }
            SignalKind::VolumeAttachmentChanged {
                volume, attached, ..
            } => {
                out.extend(self.attachments.record(volume, at, Severity::Error, || {
                    format!("now attached={attached}")
                }));
            }
        }
        self.track(&out);
        out
    }

    fn sweep(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        self.restarts.sweep(now, out);
        self.crash_loops.sweep(now, out);
        self.evictions.sweep(now, out);
        self.endpoints.sweep(now, out);
        self.holder_changes.sweep(now, out);
        self.renew_gaps.sweep(now, out);
        self.rebuild_concurrency.sweep(now, out);
        self.rebuild_repeats.sweep(now, out);
        self.robustness.sweep(now, out);
        self.volume_state.sweep(now, out);
        self.attachments.sweep(now, out);
        self.node_ready.sweep(now, out);
    }

    fn track(&mut self, alerts: &[Alert]) {
        for alert in alerts {
            match alert {
                Alert::Raised { id, .. } => {
                    self.active.insert(id.clone(), alert.clone());
                    self.quiet_since = None;
                }
                Alert::Cleared { id, at, .. } => {
                    self.active.remove(id);
                    if self.active.is_empty() {
                        self.quiet_since = Some(*at);
                    }
                }
            }
        }
    }

    /// Alerts raised and not yet cleared, by id.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// True once no alert has been active for `duration` up to `now`: what
    /// `--until-stable` and stage gating wait for.
    pub fn is_stable_for(&self, duration: SignedDuration, now: Timestamp) -> bool {
        self.active.is_empty()
            && self
                .quiet_since
                .is_some_and(|since| now.duration_since(since) >= duration)
    }

    /// Subjects tracked plus window entries held, over every detector: the live state, which
    /// must follow the number of live objects rather than the number of events.
    pub fn live_entries(&self) -> usize {
        self.restarts.live_entries()
            + self.crash_loops.live_entries()
            + self.evictions.live_entries()
            + self.endpoints.live_entries()
            + self.holder_changes.live_entries()
            + self.renew_gaps.live_entries()
            + self.rebuild_concurrency.live_entries()
            + self.rebuild_repeats.live_entries()
            + self.robustness.live_entries()
            + self.volume_state.live_entries()
            + self.attachments.live_entries()
            + self.node_ready.live_entries()
            + self.active.len()
    }
}

fn severity(critical: bool) -> Severity {
    if critical {
        Severity::Error
    } else {
        Severity::Warning
    }
}

//! `posture watch` as a library: kube-rs watchers over the resources the runbook's anti-flap
//! appendix names, merged into one stream, reduced to [`Signal`]s in cluster time, with a `Tick`
//! about once a second so time-based alerts clear and raise without events.
//!
//! A dropped watch resumes on its own (kube-rs re-watches, and relists on 410 Gone); every relist
//! is fed to `Reducer::relist`, so objects deleted meanwhile become deletions and objects seen
//! again are compared with what was remembered: nothing is lost or counted twice.
//!
//! Time is the cluster's: every tick asks the API server for `/readyz` and reads its `Date`
//! header, which the twin fills from its virtual clock. A real cluster's clock (measured to run
//! at real time) is read once per tick, since the header counts whole seconds anyway; a sped-up
//! or hand-jumped clock is read again for nearly every burst of events, so a stamp is never
//! much older than its event.

pub mod act;
mod clock;
pub mod metrics;
mod sources;

use std::collections::HashMap;
use std::collections::VecDeque;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::api::DynamicObject;
use kube::runtime::watcher::Event;
use posture_core::detect::{
    DetectPolicy, EventType, Reducer, Signal, StabilityVerdict, UntilStable, WatchedKind,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::retry::{retrying, transient};
use clock::ClusterClock;
use sources::{LEASE_NAMESPACES, Raw};

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the API server is unreachable")]
    Unreachable(#[source] kube::Error),
    #[error("failed to build a request: {0}")]
    Request(String),
    #[error("the API server sent no Date header, so cluster time is unknown")]
    NoDate,
    #[error("the API server sent an unreadable Date header {0:?}")]
    BadDate(String),
    #[error("every watch ended")]
    Ended,
}

/// How often, at most, a burst of events may ask a fast or jumping cluster clock (the twin) for
/// its time: at 200x a real 10 ms is 2 s of its time, well inside the shortest lease duration.
const MIN_REFRESH: Duration = Duration::from_millis(10);

/// How long a burst of events may go on the last reading of cluster time, given how fast the
/// cluster's clock was measured to run. A clock running at real time (a real cluster) is read
/// once per tick: its `Date` header counts whole seconds anyway. Any other clock (sped up, or
/// jumped by hand) is read for nearly every burst, at most once per [`MIN_REFRESH`] or a tenth
/// of a tick, whichever is shorter.
fn refresh_interval(rate: Option<f64>, tick: Duration) -> Duration {
    match rate {
        Some(rate) if (0.5..=2.0).contains(&rate) => tick,
        _ => (tick / 10).min(MIN_REFRESH),
    }
}

/// The API server's time now (its `Date` header), for a judgement that must not trust the
/// watch's latest stamp.
pub async fn cluster_time(client: &kube::Client) -> Result<Timestamp, WatchError> {
    clock::read(client).await
}

/// How a watch runs.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Real time between Ticks (each asks the cluster for its time).
    pub tick_every: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            tick_every: Duration::from_secs(1),
        }
    }
}

/// What a watch yields, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Signals reduced from one event, a relist, or a Tick (which carries the cluster's time).
    Signals(Vec<Signal>),
    /// An object as the watch now sees it, for views that show the cluster.
    Object {
        kind: WatchedKind,
        change: EventType,
        object: Value,
    },
    /// Something a person watching should know: skipped resources, watch errors, relists.
    Note(String),
}

/// A running watch; dropping it stops every watcher.
pub struct SignalWatch {
    client: kube::Client,
    raw: mpsc::Receiver<Raw>,
    tasks: Vec<JoinHandle<()>>,
    reducer: Reducer,
    clock: ClusterClock,
    ticks: tokio::time::Interval,
    /// Objects of a relist in progress, per resource (between `Init` and `InitDone`).
    relisting: HashMap<WatchedKind, Vec<Value>>,
    /// Resources whose first list is done: the first list of Events is history, not news.
    listed: std::collections::HashSet<WatchedKind>,
    pending: VecDeque<Update>,
    /// When the clock was last refreshed for a burst of events.
    refreshed: std::time::Instant,
    tick_every: Duration,
    /// Leases of the caller's own (namespace, name), no part of the control plane it watches.
    own_leases: Vec<(String, String)>,
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts watching: reads the cluster's time once (failing fast if the cluster is unreachable),
/// then starts a watcher per served resource.
pub async fn start(
    client: &kube::Client,
    options: WatchOptions,
) -> Result<SignalWatch, WatchError> {
    let mut clock = ClusterClock::default();
    let at = retrying(
        || clock::read(client),
        |e| matches!(e, WatchError::Unreachable(e) if transient(e)),
    )
    .await?;
    clock.observe(at);
    let (sender, raw) = mpsc::channel(1024);
    let (tasks, notes) = sources::start(client, &sender).await?;
    let mut ticks = tokio::time::interval(options.tick_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Ok(SignalWatch {
        client: client.clone(),
        raw,
        tasks,
        reducer: Reducer::new(),
        clock,
        ticks,
        relisting: HashMap::new(),
        listed: std::collections::HashSet::new(),
        pending: notes.into_iter().map(Update::Note).collect(),
        refreshed: std::time::Instant::now(),
        tick_every: options.tick_every,
        own_leases: Vec::new(),
    })
}

impl SignalWatch {
    /// The next update; `Err(Ended)` only if every watcher stopped.
    pub async fn next(&mut self) -> Result<Update, WatchError> {
        loop {
            if let Some(update) = self.pending.pop_front() {
                return Ok(update);
            }
            tokio::select! {
                raw = self.raw.recv() => match raw {
                    Some(raw) => self.take_burst(raw).await,
                    None => return Err(WatchError::Ended),
                },
                _ = self.ticks.tick() => match self.clock.refresh(&self.client).await {
                    Ok(now) => {
                        self.refreshed = std::time::Instant::now();
                        // Events already received happened before this time: take them
                        // first, so a Tick never overtakes them and stretches a gap.
                        while let Ok(raw) = self.raw.try_recv() {
                            self.take(now, raw);
                        }
                        self.pending.push_back(Update::Signals(vec![Signal::tick(now)]));
                    }
                    // The API server may be restarting; the next tick tries again.
                    Err(error) => tracing::debug!(%error, "no cluster time this tick"),
                },
            }
        }
    }

    /// True once every watched resource has delivered its first list and every update of those
    /// lists has been handed out by [`SignalWatch::next`]: from then on, signals are news about
    /// the cluster, not its history. (The last list's signals queue behind its objects; a
    /// caller that took one of those objects has not yet seen the cluster as it stands.)
    pub fn is_synced(&self) -> bool {
        self.listed.len() >= self.tasks.len() && self.pending.is_empty()
    }

    /// Leaves the Lease `namespace/name` out of what the detectors see: the caller's own (an
    /// operator's election), which is no part of the cluster's control plane. Call it before
    /// the first [`SignalWatch::next`].
    pub fn ignore_lease(&mut self, namespace: &str, name: &str) {
        self.own_leases
            .push((namespace.to_owned(), name.to_owned()));
    }

    fn min_refresh(&self) -> Duration {
        refresh_interval(self.clock.rate(), self.tick_every)
    }

    /// The latest cluster time seen.
    pub fn cluster_now(&self) -> Option<Timestamp> {
        self.clock.now()
    }

    /// Takes `first` and every event already waiting, stamped with a fresh cluster time, so an
    /// event is never stamped with the time of a tick before it happened.
    async fn take_burst(&mut self, first: Raw) {
        let mut burst = vec![first];
        while let Ok(raw) = self.raw.try_recv() {
            burst.push(raw);
        }
        if self.refreshed.elapsed() >= self.min_refresh() {
            if let Err(error) = self.clock.refresh(&self.client).await {
                tracing::debug!(%error, "no cluster time for this burst");
            }
            self.refreshed = std::time::Instant::now();
        }
        let now = self.clock.now().unwrap_or_else(Timestamp::now);
        for raw in burst {
            self.take(now, raw);
        }
    }

    fn take(&mut self, now: Timestamp, raw: Raw) {
        let (kind, event) = match raw {
            Raw::Error(kind, error) => {
                self.pending.push_back(Update::Note(format!(
                    "watch of {kind:?} interrupted: {error}"
                )));
                return;
            }
            Raw::Event(kind, event) => (kind, event),
        };
        match *event {
            Event::Init => {
                self.relisting.insert(kind, Vec::new());
            }
            Event::InitApply(object) => {
                if let Some(object) = self.relevant(kind, object) {
                    self.relisting.entry(kind).or_default().push(object);
                }
            }
            Event::InitDone => {
                let objects = self.relisting.remove(&kind).unwrap_or_default();
                let first = self.listed.insert(kind);
                if kind == WatchedKind::Event && first {
                    return;
                }
                if !first {
                    self.pending.push_back(Update::Note(format!(
                        "relisted {kind:?}: {} objects",
                        objects.len()
                    )));
                }
                let signals = self.reducer.relist(now, kind, &objects);
                for object in objects {
                    self.pending.push_back(Update::Object {
                        kind,
                        change: EventType::Added,
                        object,
                    });
                }
                if !signals.is_empty() {
                    self.pending.push_back(Update::Signals(signals));
                }
            }
            Event::Apply(object) => self.one(now, kind, EventType::Modified, object),
            Event::Delete(object) => self.one(now, kind, EventType::Deleted, object),
        }
    }

    fn one(&mut self, now: Timestamp, kind: WatchedKind, change: EventType, object: DynamicObject) {
        let Some(object) = self.relevant(kind, object) else {
            return;
        };
        let signals = self.reducer.reduce(now, kind, change, &object);
        self.pending.push_back(Update::Object {
            kind,
            change,
            object,
        });
        if !signals.is_empty() {
            self.pending.push_back(Update::Signals(signals));
        }
    }

    /// The object as JSON with its `apiVersion`/`kind` (watch items may omit them), or `None`
    /// for leases outside the namespaces the runbook watches, and for posture's own: the apply
    /// lock and those the caller names, no part of the cluster's control plane.
    fn relevant(&self, kind: WatchedKind, object: DynamicObject) -> Option<Value> {
        if kind == WatchedKind::Lease {
            let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
            let name = object.metadata.name.as_deref().unwrap_or_default();
            if !LEASE_NAMESPACES.contains(&namespace)
                || name == crate::apply::lock::LOCK_NAME
                || (self.own_leases.iter()).any(|(ns, n)| ns == namespace && n == name)
            {
                return None;
            }
        }
        serde_json::to_value(&object).ok()
    }
}

/// Watches until the cluster has been free of alerts for `duration` of cluster time (stable), or
/// an alert is raised first: the gate the apply engine puts between stages.
pub async fn until_stable(
    client: &kube::Client,
    duration: SignedDuration,
    policy: &DetectPolicy,
) -> Result<StabilityVerdict, WatchError> {
    let watch = start(client, WatchOptions::default()).await?;
    until_stable_on(watch, duration, policy).await
}

/// [`until_stable`] over a watch already started (with its own tick interval).
pub async fn until_stable_on(
    mut watch: SignalWatch,
    duration: SignedDuration,
    policy: &DetectPolicy,
) -> Result<StabilityVerdict, WatchError> {
    let mut gate = UntilStable::new(policy, duration);
    loop {
        if let Update::Signals(signals) = watch.next().await? {
            for signal in &signals {
                if let Some(verdict) = gate.observe(signal) {
                    return Ok(verdict);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch of pods alone, fed by hand; its client is never asked anything.
    fn watch_of_pods() -> SignalWatch {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("a URL"));
        let (_, raw) = mpsc::channel(1);
        SignalWatch {
            client: kube::Client::try_from(config).expect("a client"),
            raw,
            tasks: vec![tokio::spawn(async {})],
            reducer: Reducer::new(),
            clock: ClusterClock::default(),
            ticks: tokio::time::interval(Duration::from_secs(3600)),
            relisting: HashMap::new(),
            listed: std::collections::HashSet::new(),
            pending: VecDeque::new(),
            refreshed: std::time::Instant::now(),
            tick_every: Duration::from_secs(3600),
            own_leases: Vec::new(),
        }
    }

    fn pod(name: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "apps", "name": name},
            "status": {"containerStatuses": [{"name": "app", "restartCount": 0,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
        }))
        .expect("a pod")
    }

    #[tokio::test]
    async fn the_watch_is_synced_only_once_the_last_lists_signals_are_handed_out() {
        let mut watch = watch_of_pods();
        let now = "2026-11-23T12:00:00Z".parse().expect("valid");
        let event = |e| Raw::Event(WatchedKind::Pod, Box::new(e));
        watch.take(now, event(Event::Init));
        watch.take(now, event(Event::InitApply(pod("web-1"))));
        watch.take(now, event(Event::InitApply(pod("web-2"))));
        watch.take(now, event(Event::InitDone));
        let mut crash_loops = 0;
        while !watch.is_synced() {
            if let Update::Signals(batch) = watch.next().await.expect("queued") {
                crash_loops += (batch.iter())
                    .filter(|s| {
                        matches!(
                            s.kind,
                            posture_core::detect::SignalKind::CrashLoopBackOff { .. }
                        )
                    })
                    .count();
            }
        }
        assert_eq!(
            crash_loops, 2,
            "synced before the list's crash loops were seen"
        );
    }

    #[test]
    fn a_real_time_clock_is_read_once_a_tick_and_others_for_nearly_every_burst() {
        let second = Duration::from_secs(1);
        assert_eq!(refresh_interval(Some(1.0), second), second);
        assert_eq!(refresh_interval(Some(200.0), second), MIN_REFRESH);
        assert_eq!(refresh_interval(None, second), MIN_REFRESH);
        // A harness ticking every 10 ms, stepping a clock by hand (rate near 0 between steps).
        let fast = Duration::from_millis(10);
        assert_eq!(refresh_interval(Some(0.0), fast), Duration::from_millis(1));
    }
}

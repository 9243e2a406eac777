//! A served homelab twin with a running watch and detectors, stepped in virtual time: the
//! watch's output is awaited with timeouts that only guard against hangs.

#![allow(dead_code)]

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use posture_core::detect::{
    Alert, DetectPolicy, DetectorKind, Detectors, SignalKind, StabilityVerdict,
};
use posture_kube::watch::{self, SignalWatch, Update, WatchOptions};
use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions, serve};

pub const GUARD: Duration = Duration::from_secs(60);

pub struct Harness {
    pub twin: RunningTwin,
    pub client: kube::Client,
    pub watch: SignalWatch,
    pub detectors: Detectors,
    pub alerts: Vec<Alert>,
    /// When each alert came out of the detectors, in real time.
    pub seen: Vec<std::time::Instant>,
    /// The watch's notes (skipped resources, interruptions, relists).
    pub notes: Vec<String>,
    _dir: tempfile::TempDir,
}

pub async fn client_for(twin: &RunningTwin) -> (kube::Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&path).expect("kubeconfig written");
    let (client, _) = posture_kube::client_from(Some(&path), None)
        .await
        .expect("client");
    (client, dir)
}

impl Harness {
    pub async fn start() -> Self {
        let start: Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
        let twin = serve(Twin::homelab(start), ServeOptions::default())
            .await
            .expect("the twin serves");
        let (client, dir) = client_for(&twin).await;
        let watch = watch::start(
            &client,
            WatchOptions {
                tick_every: Duration::from_millis(10),
            },
        )
        .await
        .expect("the watch starts");
        let mut harness = Self {
            twin,
            client,
            watch,
            detectors: Detectors::new(&DetectPolicy::default()),
            alerts: Vec::new(),
            seen: Vec::new(),
            notes: Vec::new(),
            _dir: dir,
        };
        harness.catch_up().await;
        harness
    }

    /// Pumps the watch until it has ticked at the twin's current time (events sent before the
    /// tick's request have then arrived).
    pub async fn catch_up(&mut self) {
        let target = self.twin.now();
        let target = Timestamp::from_second(target.as_second()).expect("in range");
        tokio::time::timeout(GUARD, async {
            // Several ticks at the target with no event between them: the last events of the
            // step have arrived (a tick can overtake them, as they travel on other connections).
            let mut seen = 0;
            loop {
                match self.watch.next().await.expect("the watch runs") {
                    Update::Signals(signals) => {
                        for signal in &signals {
                            for alert in self.detectors.observe(signal) {
                                self.alerts.push(alert);
                                self.seen.push(std::time::Instant::now());
                            }
                            if matches!(signal.kind, SignalKind::Tick) && signal.at >= target {
                                seen += 1;
                            }
                        }
                        if seen >= 4 {
                            return;
                        }
                    }
                    Update::Object { .. } => seen = 0,
                    Update::Note(note) => self.notes.push(note),
                }
            }
        })
        .await
        .expect("the watch catches up with the twin");
    }

    /// Advances virtual time by `total` in `step`s, letting the watch catch up after each.
    pub async fn run(&mut self, total: SignedDuration, step: SignedDuration) {
        let mut done = SignedDuration::ZERO;
        while done < total {
            self.twin.advance(step);
            done += step;
            self.catch_up().await;
        }
    }

    /// Keeps reading the watch, without moving virtual time, until a note starting with
    /// `prefix` has arrived: a relist waits out the watcher's backoff, which runs in real time.
    pub async fn wait_for_note(&mut self, prefix: &str) {
        let waited = tokio::time::timeout(GUARD, async {
            while !self.notes.iter().any(|n| n.starts_with(prefix)) {
                self.catch_up().await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "no note {prefix:?}; notes: {:?}",
            self.notes
        );
    }

    /// Advances until `predicate` holds for the alerts so far; fails after `limit` virtual time.
    pub async fn run_until(&mut self, limit: SignedDuration, predicate: impl Fn(&[Alert]) -> bool) {
        let step = SignedDuration::from_secs(5);
        let mut done = SignedDuration::ZERO;
        while !predicate(&self.alerts) {
            assert!(
                done < limit,
                "condition not reached within {limit}; alerts: {:#?}",
                self.alerts
            );
            self.twin.advance(step);
            done += step;
            self.catch_up().await;
        }
    }

    /// Stops every fault and advances until each alert of `detectors` raised so far has
    /// cleared; fails after `limit` virtual time.
    pub async fn clear_faults_until_cleared(
        &mut self,
        limit: SignedDuration,
        detectors: &[DetectorKind],
    ) {
        self.twin.inject(&posture_twin::fault::Fault::ClearAll);
        self.run_until(limit, |a| {
            detectors.iter().all(|d| cleared(a, *d) == raised(a, *d))
        })
        .await;
    }

    /// Advances until no alert is active; fails after `limit` virtual time.
    pub async fn run_until_quiet(&mut self, limit: SignedDuration) {
        let step = SignedDuration::from_secs(10);
        let mut done = SignedDuration::ZERO;
        while self.detectors.active().next().is_some() {
            assert!(
                done < limit,
                "still active after {limit}: {:?}",
                self.active()
            );
            self.twin.advance(step);
            done += step;
            self.catch_up().await;
        }
    }

    pub fn active(&self) -> Vec<String> {
        self.detectors.active().map(|a| a.id().to_owned()).collect()
    }

    pub async fn pod(&self, namespace: &str, labels: &str) -> String {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = pods
            .list(&ListParams::default().labels(labels))
            .await
            .expect("pods listed");
        list.items
            .first()
            .and_then(|p| p.metadata.name.clone())
            .expect("a pod matches")
    }
}

pub fn raised(alerts: &[Alert], detector: DetectorKind) -> usize {
    alerts
        .iter()
        .filter(|a| a.is_raised() && a.detector() == detector)
        .count()
}

pub fn cleared(alerts: &[Alert], detector: DetectorKind) -> usize {
    alerts
        .iter()
        .filter(|a| !a.is_raised() && a.detector() == detector)
        .count()
}

pub const MINUTE: SignedDuration = SignedDuration::from_secs(60);

/// A twin whose virtual time runs 60 times as fast as real time, for the gate's own watch.
pub async fn fast_twin() -> (RunningTwin, kube::Client, tempfile::TempDir) {
    let start: Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
    let twin = serve(
        Twin::homelab(start),
        ServeOptions {
            speed: 60.0,
            ..ServeOptions::default()
        },
    )
    .await
    .expect("the twin serves");
    let (client, dir) = client_for(&twin).await;
    (twin, client, dir)
}

pub async fn gate(client: &kube::Client, duration: SignedDuration) -> StabilityVerdict {
    let watch = watch::start(
        client,
        WatchOptions {
            tick_every: Duration::from_millis(20),
        },
    )
    .await
    .expect("the watch starts");
    tokio::time::timeout(
        GUARD,
        watch::until_stable_on(watch, duration, &DetectPolicy::default()),
    )
    .await
    .expect("a verdict before the guard")
    .expect("the watch runs")
}

impl Harness {
    /// Steps until `detector` raises; `crossing` reads, after each step, when the threshold was
    /// crossed according to the twin's objects. Returns (virtual, real) latency.
    pub async fn measure(
        &mut self,
        step: SignedDuration,
        detector: DetectorKind,
        mut crossing: impl FnMut(&Twin) -> Option<Timestamp>,
    ) -> (SignedDuration, Duration) {
        let mut crossed: Option<(Timestamp, std::time::Instant)> = None;
        for _ in 0..3600 {
            let stepped = std::time::Instant::now();
            self.twin.advance(step);
            let now = self.twin.now();
            if crossed.is_none()
                && let Some(at) = self.twin.with_twin(|t| crossing(t))
                && at <= now
            {
                crossed = Some((at, stepped));
            }
            self.catch_up().await;
            if let Some((alert, seen)) = self
                .alerts
                .iter()
                .zip(&self.seen)
                .find(|(a, _)| a.is_raised() && a.detector() == detector)
            {
                let (at, wall) = crossed.expect("the threshold was crossed before the alert");
                return (alert.at().duration_since(at), seen.duration_since(wall));
            }
        }
        panic!("no {detector} alert within a virtual hour");
    }
}

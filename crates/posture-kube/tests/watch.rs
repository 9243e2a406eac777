//! `posture_kube::watch` against a served twin: each fault raises the right alert and clears it
//! once the fault stops. Virtual time moves only when a test advances it; the watch's output is
//! awaited with timeouts that only guard against hangs.

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
use posture_twin::fault::Fault;

const GUARD: Duration = Duration::from_secs(60);

struct Harness {
    twin: RunningTwin,
    client: kube::Client,
    watch: SignalWatch,
    detectors: Detectors,
    alerts: Vec<Alert>,
    /// When each alert came out of the detectors, in real time.
    seen: Vec<std::time::Instant>,
    _dir: tempfile::TempDir,
}

async fn client_for(twin: &RunningTwin) -> (kube::Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&path).expect("kubeconfig written");
    let (client, _) = posture_kube::client_from(Some(&path), None)
        .await
        .expect("client");
    (client, dir)
}

impl Harness {
    async fn start() -> Self {
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
            _dir: dir,
        };
        harness.catch_up().await;
        harness
    }

    /// Pumps the watch until it has ticked at the twin's current time (events sent before the
    /// tick's request have then arrived).
    async fn catch_up(&mut self) {
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
                    Update::Note(_) => {}
                }
            }
        })
        .await
        .expect("the watch catches up with the twin");
    }

    /// Advances virtual time by `total` in `step`s, letting the watch catch up after each.
    async fn run(&mut self, total: SignedDuration, step: SignedDuration) {
        let mut done = SignedDuration::ZERO;
        while done < total {
            self.twin.advance(step);
            done += step;
            self.catch_up().await;
        }
    }

    /// Advances until `predicate` holds for the alerts so far; fails after `limit` virtual time.
    async fn run_until(&mut self, limit: SignedDuration, predicate: impl Fn(&[Alert]) -> bool) {
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

    /// Advances until no alert is active; fails after `limit` virtual time.
    async fn run_until_quiet(&mut self, limit: SignedDuration) {
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

    fn active(&self) -> Vec<String> {
        self.detectors.active().map(|a| a.id().to_owned()).collect()
    }

    async fn pod(&self, namespace: &str, labels: &str) -> String {
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

fn raised(alerts: &[Alert], detector: DetectorKind) -> usize {
    alerts
        .iter()
        .filter(|a| a.is_raised() && a.detector() == detector)
        .count()
}

fn cleared(alerts: &[Alert], detector: DetectorKind) -> usize {
    alerts
        .iter()
        .filter(|a| !a.is_raised() && a.detector() == detector)
        .count()
}

const MINUTE: SignedDuration = SignedDuration::from_secs(60);

#[tokio::test]
async fn a_steady_twin_raises_nothing_in_a_virtual_hour() {
    let mut h = Harness::start().await;
    h.run(SignedDuration::from_hours(1), SignedDuration::from_secs(10))
        .await;
    assert!(h.alerts.is_empty(), "alerts: {:#?}", h.alerts);
    assert!(
        h.detectors
            .is_stable_for(SignedDuration::from_mins(59), h.twin.now())
    );
}

#[tokio::test]
async fn a_crash_loop_raises_a_restart_loop_that_clears_after_the_fault() {
    let mut h = Harness::start().await;
    let pod = h.pod("apps", "app=gitea").await;
    h.twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod: pod.clone(),
    });
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::RestartLoop) > 0)
        .await;
    assert!(
        h.active().iter().any(|id| id.contains(&pod)),
        "{:?}",
        h.active()
    );
    h.twin.inject(&Fault::ClearAll);
    h.run_until(30 * MINUTE, |a| {
        cleared(a, DetectorKind::RestartLoop) == raised(a, DetectorKind::RestartLoop)
            && cleared(a, DetectorKind::CrashLoop) == raised(a, DetectorKind::CrashLoop)
    })
    .await;
}

#[tokio::test]
async fn flapping_readiness_raises_endpoint_churn_that_clears() {
    let mut h = Harness::start().await;
    let pod = h.pod("kube-system", "k8s-app=kube-dns").await;
    h.twin.inject(&Fault::FlapReadiness {
        namespace: "kube-system".into(),
        pod,
        period_seconds: 20,
    });
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::EndpointChurn) > 0)
        .await;
    assert!(
        h.active()
            .contains(&"endpoint-churn/kube-system/kube-dns".to_owned()),
        "{:?}",
        h.active()
    );
    h.twin.inject(&Fault::ClearAll);
    h.run_until(30 * MINUTE, |a| {
        cleared(a, DetectorKind::EndpointChurn) == raised(a, DetectorKind::EndpointChurn)
    })
    .await;
    assert!(h.active().is_empty(), "{:?}", h.active());
}

#[tokio::test]
async fn lease_thrash_raises_and_clears() {
    let mut h = Harness::start().await;
    h.twin.inject(&Fault::LeaseThrash {
        namespace: "kube-system".into(),
        name: "kube-scheduler".into(),
        period_seconds: 30,
    });
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::LeaseThrash) > 0)
        .await;
    assert!(
        h.active()
            .contains(&"lease-thrash/kube-system/kube-scheduler".to_owned()),
        "{:?}",
        h.active()
    );
    h.twin.inject(&Fault::ClearAll);
    h.run_until(30 * MINUTE, |a| {
        cleared(a, DetectorKind::LeaseThrash) == raised(a, DetectorKind::LeaseThrash)
    })
    .await;
}

#[tokio::test]
async fn a_restarted_api_server_loses_and_doubles_no_alert() {
    let mut h = Harness::start().await;
    let pod = h.pod("apps", "app=gitea").await;
    h.twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod,
    });
    h.run(2 * MINUTE, SignedDuration::from_secs(5)).await;
    h.twin.inject(&Fault::RestartApi);
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::RestartLoop) > 0)
        .await;
    h.twin.inject(&Fault::RestartApi);
    h.run(2 * MINUTE, SignedDuration::from_secs(5)).await;
    assert_eq!(
        raised(&h.alerts, DetectorKind::RestartLoop),
        1,
        "{:#?}",
        h.alerts
    );
    h.twin.inject(&Fault::ClearAll);
    h.run_until(30 * MINUTE, |a| {
        cleared(a, DetectorKind::RestartLoop) == raised(a, DetectorKind::RestartLoop)
    })
    .await;
    assert_eq!(raised(&h.alerts, DetectorKind::RestartLoop), 1);
}

/// A twin whose virtual time runs 60 times as fast as real time, for the gate's own watch.
async fn fast_twin() -> (RunningTwin, kube::Client, tempfile::TempDir) {
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

async fn gate(client: &kube::Client, duration: SignedDuration) -> StabilityVerdict {
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

#[tokio::test]
async fn until_stable_passes_on_a_quiet_twin() {
    let (twin, client, _dir) = fast_twin().await;
    let verdict = gate(&client, 2 * MINUTE).await;
    match verdict {
        StabilityVerdict::Stable { since, at } => {
            assert_eq!(at.duration_since(since), 2 * MINUTE);
            assert!(at <= twin.now());
        }
        other => panic!("expected stable, got {other:?}"),
    }
}

#[tokio::test]
async fn until_stable_fails_when_an_alert_fires_first() {
    let (twin, client, _dir) = fast_twin().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "apps");
    let pod = pods
        .list(&ListParams::default().labels("app=gitea"))
        .await
        .expect("pods listed")
        .items
        .first()
        .and_then(|p| p.metadata.name.clone())
        .expect("a gitea pod");
    twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod,
    });
    let verdict = gate(&client, 30 * MINUTE).await;
    assert!(
        matches!(&verdict, StabilityVerdict::Alerted(alert)
            if matches!(alert.detector(), DetectorKind::RestartLoop | DetectorKind::CrashLoop)),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn a_stopped_node_drops_endpoints_and_all_clears_once_it_starts() {
    let mut h = Harness::start().await;
    // The node the ingress controller is pinned to.
    let node = "miniserver";
    h.twin.inject(&Fault::StopNode { node: node.into() });
    h.run_until(15 * MINUTE, |a| {
        raised(a, DetectorKind::NoReadyEndpoints) > 0
    })
    .await;
    assert!(
        h.active().contains(
            &"no-ready-endpoints/haproxy-controller/haproxy-kubernetes-ingress".to_owned()
        ),
        "{:?}",
        h.active()
    );
    h.twin.inject(&Fault::StartNode { node: node.into() });
    h.run_until_quiet(60 * MINUTE).await;
    assert_eq!(
        h.alerts.iter().filter(|a| a.is_raised()).count(),
        h.alerts.iter().filter(|a| !a.is_raised()).count(),
        "every raised alert cleared: {:#?}",
        h.alerts
    );
}

#[tokio::test]
async fn failing_rebuilds_after_a_replica_increase_raise_a_rebuild_storm_that_clears() {
    let mut h = Harness::start().await;
    let resource = kube::api::ApiResource {
        group: "longhorn.io".into(),
        version: "v1beta2".into(),
        api_version: "longhorn.io/v1beta2".into(),
        kind: "Volume".into(),
        plural: "volumes".into(),
    };
    let volumes: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), "longhorn-system", &resource);
    let list = volumes.list(&ListParams::default()).await.expect("volumes");
    let volume = list
        .items
        .iter()
        .find(|v| v.data["spec"]["numberOfReplicas"] == 1)
        .and_then(|v| v.metadata.name.clone())
        .expect("a single-replica volume");
    h.twin.inject(&Fault::FailRebuilds { volume: None });
    volumes
        .patch(
            &volume,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"numberOfReplicas": 2}})),
        )
        .await
        .expect("replicas raised");
    h.run_until(30 * MINUTE, |a| {
        raised(a, DetectorKind::RebuildRepeated) > 0
    })
    .await;
    assert!(
        h.active().contains(&format!("rebuild-repeated/{volume}")),
        "{:?}",
        h.active()
    );
    h.twin.inject(&Fault::ClearAll);
    h.run_until(2 * 60 * MINUTE, |a| {
        cleared(a, DetectorKind::RebuildRepeated) == raised(a, DetectorKind::RebuildRepeated)
    })
    .await;
}

/// Alert latency on the twin, for BENCHMARKS.md: from the moment the fault crosses the
/// detector's threshold (read from the twin's own objects) to the alert, in virtual and real
/// time. Run with `cargo test -p posture-kube --test watch -- --ignored --nocapture latency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn alert_latency_on_the_twin() {
    let step = SignedDuration::from_secs(1);
    for round in 0..3 {
        // Lease thrash: the third holder change within the window is the crossing.
        let mut h = Harness::start().await;
        h.twin.inject(&Fault::LeaseThrash {
            namespace: "kube-system".into(),
            name: "kube-scheduler".into(),
            period_seconds: 30,
        });
        let before = h.twin.now();
        let mut changes: Vec<Timestamp> = Vec::new();
        let (virtual_latency, real) = h
            .measure(step, DetectorKind::LeaseThrash, move |twin| {
                let leases = posture_twin::resources::by_plural("coordination.k8s.io", "leases")
                    .expect("registered");
                let acquired: Option<Timestamp> = twin
                    .store
                    .list(leases, Some("kube-system"))
                    .find(|(k, _)| k.name == "kube-scheduler")
                    .and_then(|(_, l)| l["spec"]["acquireTime"].as_str()?.parse().ok());
                if let Some(at) = acquired
                    && at >= before
                    && !changes.contains(&at)
                {
                    changes.push(at);
                }
                // The default policy raises on the third holder change.
                changes.get(2).copied()
            })
            .await;
        println!("round {round} lease-thrash: virtual {virtual_latency}, real {real:?}");

        // No ready endpoints: the crossing is the grace period after the ingress Service's
        // slices first show zero ready endpoints.
        let mut h = Harness::start().await;
        h.twin.inject(&Fault::StopNode {
            node: "miniserver".into(),
        });
        let mut zero_since: Option<Timestamp> = None;
        let (virtual_latency, real) = h
            .measure(step, DetectorKind::NoReadyEndpoints, move |twin| {
                let slices =
                    posture_twin::resources::by_plural("discovery.k8s.io", "endpointslices")
                        .expect("registered");
                let ready: usize = twin
                    .store
                    .list(slices, Some("haproxy-controller"))
                    .flat_map(|(_, s)| s["endpoints"].as_array().cloned().unwrap_or_default())
                    .filter(|e| e["conditions"]["ready"] == true)
                    .count();
                if ready == 0 {
                    zero_since.get_or_insert(twin.now());
                } else {
                    zero_since = None;
                }
                zero_since.map(|t| t + SignedDuration::from_secs(10))
            })
            .await;
        println!("round {round} no-ready-endpoints: virtual {virtual_latency}, real {real:?}");
    }
}

impl Harness {
    /// Steps until `detector` raises; `crossing` reads, after each step, when the threshold was
    /// crossed according to the twin's objects. Returns (virtual, real) latency.
    async fn measure(
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

#[tokio::test]
async fn stopping_rebuilds_is_dry_run_first_then_journaled_with_its_inverse() {
    use posture_core::apply::journal::{Operation, Record};
    use posture_kube::watch::act::{Act, act};

    let h = Harness::start().await;
    let resource = kube::api::ApiResource {
        group: "longhorn.io".into(),
        version: "v1beta2".into(),
        api_version: "longhorn.io/v1beta2".into(),
        kind: "Setting".into(),
        plural: "settings".into(),
    };
    let settings: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), "longhorn-system", &resource);
    let name = "concurrent-replica-rebuild-per-node-limit";
    let value = |o: &kube::api::DynamicObject| o.data["value"].clone();
    let before = value(&settings.get(name).await.expect("setting"));
    let cluster = posture_kube::ClusterIdentity {
        server: h.twin.url(),
        context: "twin".into(),
    };

    let dry = act(&h.client, &cluster, Act::StopRebuilds, None)
        .await
        .expect("dry run");
    assert!(!dry.applied && dry.forward.is_some());
    assert_eq!(value(&settings.get(name).await.expect("setting")), before);

    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("act.journal");
    let done = act(&h.client, &cluster, Act::StopRebuilds, Some(&journal))
        .await
        .expect("applied");
    assert!(done.applied);
    assert_eq!(value(&settings.get(name).await.expect("setting")), "0");

    let parsed = posture_kube::journal::read_journal(&journal).expect("journal reads");
    let inverse = parsed
        .records
        .iter()
        .find_map(|r| match r {
            Record::Applied {
                inverse: Operation::Patch { patch },
                ..
            } => Some(patch.clone()),
            _ => None,
        })
        .expect("an applied record with its inverse");
    let wire: kube::api::Patch<()> = kube::api::Patch::Json(
        serde_json::from_value(serde_json::to_value(&inverse).expect("json")).expect("patch"),
    );
    settings
        .patch(name, &kube::api::PatchParams::default(), &wire)
        .await
        .expect("the inverse applies");
    assert_eq!(value(&settings.get(name).await.expect("setting")), before);
}

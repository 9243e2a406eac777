//! A measurement for BENCHMARKS.md, ignored by default.

mod watch_support;

use jiff::{SignedDuration, Timestamp};
use posture_core::detect::DetectorKind;
use posture_twin::fault::Fault;

use watch_support::*;

/// Alert latency on the twin, for BENCHMARKS.md: from the moment the fault crosses the
/// detector's threshold (read from the twin's own objects) to the alert, in virtual and real
/// time. Run with `cargo test -p posture-kube --test watch_latency -- --ignored --nocapture latency`.
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

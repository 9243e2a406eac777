//! Pod and endpoint detectors.

use super::*;
use crate::report::Severity;

const RESTART_ID: &str = "restart-loop/apps/web-1/app";

#[test]
fn restart_loop_raises_at_threshold_and_not_below() {
    let mut d = defaults();
    assert!(run(&mut d, [restart(0, 1), restart(60, 2), tick(61)]).is_empty());
    let alerts = run(&mut d, [restart(120, 3)]);
    assert_eq!(ids(&alerts), vec![(true, RESTART_ID.to_owned())]);
    let Alert::Raised {
        severity,
        evidence,
        message,
        ..
    } = &alerts[0]
    else {
        panic!("raised expected");
    };
    assert_eq!(*severity, Severity::Warning);
    assert_eq!(evidence.len(), 3);
    assert!(message.contains("restartCount 3"), "{message}");
    assert_eq!(d.active().count(), 1);
}

#[test]
fn restart_loop_clears_only_after_quiet_period() {
    let mut d = defaults();
    run(&mut d, [restart(0, 1), restart(10, 2), restart(20, 3)]);
    assert!(run(&mut d, (21..620).step_by(10).map(tick)).is_empty());
    assert!(run(&mut d, [tick(619)]).is_empty());
    let cleared = run(&mut d, [tick(620)]);
    assert_eq!(ids(&cleared), vec![(false, RESTART_ID.to_owned())]);
    assert_eq!(d.active().count(), 0);
}

#[test]
fn restart_window_expires_old_restarts() {
    let mut d = defaults();
    let alerts = run(
        &mut d,
        [
            restart(0, 1),
            restart(400, 2),
            tick(601),
            restart(700, 3),
            tick(701),
        ],
    );
    assert!(alerts.is_empty(), "{alerts:?}");
    assert_eq!(
        ids(&run(&mut d, [restart(800, 4)])),
        vec![(true, RESTART_ID.to_owned())]
    );
}

#[test]
fn restart_rate_oscillating_around_threshold_raises_once_and_never_flaps() {
    let mut d = defaults();
    // One restart every 250 s: the 10-minute window holds 2 or 3 restarts in turn.
    let mut signals = Vec::new();
    for i in 0..30 {
        signals.push(restart(i * 250, i + 1));
        signals.extend((1..25).map(|k| tick(i * 250 + k * 10)));
    }
    let alerts = run(&mut d, signals);
    assert_eq!(ids(&alerts), vec![(true, RESTART_ID.to_owned())]);
    let end = 29 * 250;
    let cleared = run(&mut d, [tick(end + 600)]);
    assert_eq!(ids(&cleared), vec![(false, RESTART_ID.to_owned())]);
}

#[test]
fn crash_loop_raises_on_entry_and_clears_after_leaving_for_the_clear_period() {
    let mut d = defaults();
    let backoff = |s, active| {
        at(
            s,
            SignalKind::CrashLoopBackOff {
                pod: "apps/web-1".into(),
                workload: "apps/web".into(),
                container: "app".into(),
                active,
            },
        )
    };
    let raised = run(&mut d, [backoff(0, true)]);
    assert_eq!(
        ids(&raised),
        vec![(true, "crash-loop/apps/web-1/app".into())]
    );
    // Back in and out of back-off: still one alert.
    assert!(
        run(
            &mut d,
            [backoff(30, false), backoff(60, true), backoff(90, false)]
        )
        .is_empty()
    );
    assert!(run(&mut d, [tick(689)]).is_empty());
    assert_eq!(
        ids(&run(&mut d, [tick(690)])),
        vec![(false, "crash-loop/apps/web-1/app".into())]
    );
}

fn endpoints(s: i64, service: &str, ready: u32, important: bool) -> Signal {
    flipped(s, service, ready, important, 0)
}

fn flipped(s: i64, service: &str, ready: u32, important: bool, flips: u32) -> Signal {
    at(
        s,
        SignalKind::EndpointsChanged {
            service: service.into(),
            ready,
            important,
            flips,
        },
    )
}

#[test]
fn endpoint_churn_raises_at_six_flips_and_not_at_five() {
    let mut d = defaults();
    let flips = |from: i64, n: i64| {
        (0..n).map(move |i| flipped(from + i * 10, "apps/web", 1 + (i % 2) as u32, false, 1))
    };
    assert!(run(&mut d, flips(0, 5)).is_empty());
    let mut d = defaults();
    let alerts = run(&mut d, flips(0, 6));
    assert_eq!(ids(&alerts), vec![(true, "endpoint-churn/apps/web".into())]);
    // Two flips in one update count twice.
    let mut d = defaults();
    let alerts = run(
        &mut d,
        (0..3).map(|i| flipped(i * 10, "apps/web", 2, false, 2)),
    );
    assert_eq!(ids(&alerts), vec![(true, "endpoint-churn/apps/web".into())]);
}

#[test]
fn a_ready_count_moving_without_flips_is_no_churn() {
    // A rollout: the count goes up and down as pods are added and removed, nothing flips.
    let mut d = defaults();
    let rollout = (0..20).map(|i| endpoints(i * 5, "apps/web", 3 + (i % 2) as u32, false));
    assert!(run(&mut d, rollout).is_empty());
}

#[test]
fn important_service_without_ready_endpoints_raises_after_grace_and_clears_after_recovery() {
    let mut d = defaults();
    run(&mut d, [endpoints(0, "kube-system/kube-dns", 2, true)]);
    assert!(
        run(
            &mut d,
            [endpoints(5, "kube-system/kube-dns", 0, true), tick(14)]
        )
        .is_empty()
    );
    let raised = run(&mut d, [tick(15)]);
    assert_eq!(
        ids(&raised),
        vec![(true, "no-ready-endpoints/kube-system/kube-dns".into())]
    );
    assert!(
        run(
            &mut d,
            [endpoints(20, "kube-system/kube-dns", 1, true), tick(79)]
        )
        .is_empty()
    );
    // Dropping to zero again restarts the clear period.
    assert!(
        run(
            &mut d,
            [
                endpoints(80, "kube-system/kube-dns", 0, true),
                endpoints(81, "kube-system/kube-dns", 1, true),
                tick(140)
            ]
        )
        .is_empty()
    );
    assert_eq!(
        ids(&run(&mut d, [tick(141)])),
        vec![(false, "no-ready-endpoints/kube-system/kube-dns".into())]
    );
}

#[test]
fn unimportant_services_at_zero_do_not_raise_unless_the_policy_names_them() {
    let mut d = defaults();
    assert!(
        run(
            &mut d,
            [
                endpoints(0, "apps/web", 1, false),
                endpoints(1, "apps/web", 0, false),
                tick(100)
            ]
        )
        .is_empty()
    );
    let mut policy = DetectPolicy::default();
    policy.endpoints.important_services = vec!["apps/web".into()];
    let mut d = Detectors::new(&policy);
    let alerts = run(
        &mut d,
        [
            endpoints(0, "apps/web", 1, false),
            endpoints(1, "apps/web", 0, false),
            tick(100),
        ],
    );
    assert_eq!(
        ids(&alerts),
        vec![(true, "no-ready-endpoints/apps/web".into())]
    );
}

fn evicted(s: i64, pod: &str, critical: bool) -> Signal {
    at(
        s,
        SignalKind::PodEvicted {
            pod: pod.into(),
            workload: "kube-system/coredns".into(),
            reason: "Evicted".into(),
            critical,
        },
    )
}

#[test]
fn eviction_loop_counts_evictions_and_deletions_of_one_workload() {
    let mut d = defaults();
    let deleted = at(
        30,
        SignalKind::PodDeleted {
            pod: "kube-system/coredns-b".into(),
            workload: "kube-system/coredns".into(),
            critical: true,
            replaced: false,
        },
    );
    let created = at(
        31,
        SignalKind::PodCreated {
            pod: "kube-system/coredns-c".into(),
            workload: "kube-system/coredns".into(),
        },
    );
    assert!(
        run(
            &mut d,
            [
                evicted(0, "kube-system/coredns-a", true),
                deleted,
                created,
                evicted(60, "kube-system/coredns-c", true)
            ]
        )
        .is_empty()
    );
    let alerts = run(&mut d, [evicted(90, "kube-system/coredns-d", true)]);
    assert_eq!(
        ids(&alerts),
        vec![(true, "eviction-loop/kube-system/coredns".into())]
    );
    assert!(matches!(
        alerts[0],
        Alert::Raised {
            severity: Severity::Error,
            ..
        }
    ));
}

#[test]
fn a_rollout_replacing_every_pod_is_no_eviction_loop() {
    let mut d = defaults();
    let replaced = (0..8).map(|i| {
        at(
            i * 10,
            SignalKind::PodDeleted {
                pod: format!("apps/web-old-{i}"),
                workload: "apps/web".into(),
                critical: false,
                replaced: true,
            },
        )
    });
    assert!(run(&mut d, replaced).is_empty());
}

//! Pod, endpoint, lease and node detectors.

use jiff::SignedDuration;

use super::*;
use crate::detect::DetectorKind;
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
    at(
        s,
        SignalKind::EndpointsChanged {
            service: service.into(),
            ready,
            important,
        },
    )
}

#[test]
fn endpoint_churn_raises_at_six_changes_and_not_at_five() {
    let mut d = defaults();
    let flips = |from: i64, n: i64| {
        (0..=n).map(move |i| endpoints(from + i * 10, "apps/web", 1 + (i % 2) as u32, false))
    };
    // The first sighting sets the baseline; five changes follow.
    assert!(run(&mut d, flips(0, 5)).is_empty());
    let mut d = defaults();
    let alerts = run(&mut d, flips(0, 6));
    assert_eq!(ids(&alerts), vec![(true, "endpoint-churn/apps/web".into())]);
    // A repeated identical count is no change.
    assert!(run(&mut d, [endpoints(70, "apps/web", 1, false)]).is_empty());
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

fn renewed(s: i64, lease: &str, holder: &str) -> Signal {
    at(
        s,
        SignalKind::LeaseRenewed {
            lease: lease.into(),
            holder: holder.into(),
            renew_time: Some(t(s)),
            duration_seconds: 15,
        },
    )
}

#[test]
fn lease_holder_thrash_raises_at_three_changes() {
    let mut d = defaults();
    let change = |s, from: &str, to: &str| {
        at(
            s,
            SignalKind::LeaseHolderChanged {
                lease: "kube-system/kube-scheduler".into(),
                from: from.into(),
                to: to.into(),
            },
        )
    };
    assert!(run(&mut d, [change(0, "a", "b"), change(100, "b", "a")]).is_empty());
    let alerts = run(&mut d, [change(200, "a", "b")]);
    assert_eq!(
        ids(&alerts),
        vec![(true, "lease-thrash/kube-system/kube-scheduler".into())]
    );
    assert_eq!(alerts[0].detector(), DetectorKind::LeaseThrash);
}

#[test]
fn lease_renew_gap_is_detected_on_tick_and_clears_after_steady_renewals() {
    let mut d = defaults();
    let lease = "kube-system/kube-controller-manager";
    let mut signals: Vec<Signal> = (0..=30).map(|i| renewed(i * 2, lease, "h")).collect();
    signals.extend((61..=75).map(tick));
    assert!(
        run(&mut d, signals).is_empty(),
        "15 s without renewal is within the duration"
    );
    let raised = run(&mut d, [tick(76)]);
    assert_eq!(
        ids(&raised),
        vec![(true, format!("lease-renew-gap/{lease}"))]
    );
    assert!(matches!(
        raised[0],
        Alert::Raised {
            severity: Severity::Error,
            ..
        }
    ));
    let mut resumed: Vec<Signal> = Vec::new();
    for s in (100..=158).step_by(2) {
        resumed.push(renewed(s, lease, "h"));
        resumed.push(tick(s + 1));
    }
    assert!(run(&mut d, resumed).is_empty());
    let cleared = run(&mut d, [renewed(160, lease, "h"), tick(161)]);
    assert_eq!(
        ids(&cleared),
        vec![(false, format!("lease-renew-gap/{lease}"))]
    );
}

#[test]
fn lease_gap_between_renewals_raises_without_ticks_and_stale_leases_never_do() {
    let mut d = defaults();
    let alerts = run(
        &mut d,
        [
            renewed(0, "kube-system/a", "h"),
            renewed(2, "kube-system/a", "h"),
            renewed(30, "kube-system/a", "h"),
        ],
    );
    assert_eq!(
        ids(&alerts),
        vec![(true, "lease-renew-gap/kube-system/a".into())]
    );
    let mut d = defaults();
    assert!(run(&mut d, [renewed(0, "kube-system/stale", "h"), tick(3600)]).is_empty());
}

#[test]
fn node_ready_flapping_raises_after_two_round_trips() {
    let mut d = defaults();
    let ready = |s, ready| {
        at(
            s,
            SignalKind::NodeReadyChanged {
                node: "worker-1".into(),
                ready,
            },
        )
    };
    assert!(run(&mut d, [ready(0, false), ready(40, true), ready(80, false)]).is_empty());
    assert_eq!(
        ids(&run(&mut d, [ready(120, true)])),
        vec![(true, "node-ready-flap/worker-1".into())]
    );
}

#[test]
fn an_hour_of_steady_renewals_and_heartbeats_raises_nothing() {
    let mut d = defaults();
    let mut alerts = Vec::new();
    for s in 0..3600 {
        if s % 2 == 0 {
            alerts.extend(d.observe(&renewed(s, "kube-system/kube-scheduler", "miniserver_1")));
            alerts.extend(d.observe(&renewed(
                s,
                "kube-system/kube-controller-manager",
                "miniserver_2",
            )));
        }
        if s % 10 == 0 {
            for node in ["miniserver", "worker-1"] {
                alerts.extend(d.observe(&at(
                    s,
                    SignalKind::LeaseRenewed {
                        lease: format!("kube-node-lease/{node}"),
                        holder: node.into(),
                        renew_time: Some(t(s)),
                        duration_seconds: 40,
                    },
                )));
            }
        }
        alerts.extend(d.observe(&tick(s)));
    }
    assert!(alerts.is_empty(), "{alerts:?}");
    assert!(d.is_stable_for(SignedDuration::from_mins(59), t(3599)));
    assert!(d.live_entries() <= 4, "only the four leases are tracked");
}

#[test]
fn stability_counts_from_the_last_clear() {
    let mut d = defaults();
    run(&mut d, [tick(0)]);
    assert!(d.is_stable_for(SignedDuration::from_secs(10), t(10)));
    run(&mut d, [restart(10, 1), restart(11, 2), restart(12, 3)]);
    assert!(!d.is_stable_for(SignedDuration::ZERO, t(13)));
    run(&mut d, [tick(612)]);
    assert!(!d.is_stable_for(SignedDuration::from_secs(60), t(671)));
    assert!(d.is_stable_for(SignedDuration::from_secs(60), t(672)));
}

#[test]
fn replay_of_recorded_lines_matches_live_detection_and_names_bad_lines() {
    let signals = vec![restart(0, 1), restart(1, 2), restart(2, 3), tick(700)];
    let mut d = defaults();
    let live = run(&mut d, signals.clone());
    let lines: Vec<String> = signals.iter().map(Signal::to_line).collect();
    let mut text = lines.join("\n");
    text.push_str("\n\n");
    let replayed = crate::detect::replay(text.lines(), &DetectPolicy::default()).expect("replays");
    assert_eq!(replayed, live);
    assert_eq!(live.len(), 2);
    let err = crate::detect::replay([lines[0].as_str(), "{\"t\":1}"], &DetectPolicy::default())
        .expect_err("bad line");
    assert_eq!(err.line, 2);
    assert!(
        err.to_string()
            .starts_with("line 2: failed to parse signal")
    );
}

#[test]
fn until_stable_waits_for_the_quiet_duration_or_stops_at_the_first_alert() {
    use crate::detect::{StabilityVerdict, UntilStable};
    let mut gate = UntilStable::new(&DetectPolicy::default(), SignedDuration::from_secs(30));
    assert_eq!(gate.observe(&tick(0)), None);
    assert_eq!(gate.observe(&tick(29)), None);
    assert_eq!(
        gate.observe(&tick(30)),
        Some(StabilityVerdict::Stable {
            since: t(0),
            at: t(30)
        })
    );
    let mut gate = UntilStable::new(&DetectPolicy::default(), SignedDuration::from_secs(30));
    let verdicts: Vec<_> = [tick(0), restart(1, 1), restart(2, 2), restart(3, 3)]
        .iter()
        .filter_map(|s| gate.observe(s))
        .collect();
    assert!(
        matches!(&verdicts[..], [StabilityVerdict::Alerted(a)] if a.id() == RESTART_ID),
        "{verdicts:?}"
    );
}

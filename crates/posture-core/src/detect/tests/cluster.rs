//! Lease, node, stability and replay behaviour.

use jiff::SignedDuration;

use super::*;
use crate::detect::DetectorKind;
use crate::report::Severity;

const RESTART_ID: &str = "restart-loop/apps/web-1/app";

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
    let mut text = crate::detect::header_line();
    text.push('\n');
    text.push_str(&lines.join("\n"));
    text.push_str("\n\n");
    let replayed = crate::detect::replay(text.lines(), &DetectPolicy::default()).expect("replays");
    assert_eq!(replayed, live);
    assert_eq!(live.len(), 2);
    let err = crate::detect::replay([lines[0].as_str(), "{\"t\":1}"], &DetectPolicy::default())
        .expect_err("bad line");
    assert_eq!(err.line(), 2);
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

#[test]
fn quiet_subjects_are_pruned_on_tick_so_state_follows_live_objects() {
    let mut d = defaults();
    let mut signals = Vec::new();
    for i in 0..1000 {
        signals.push(at(
            0,
            SignalKind::ContainerRestarted {
                pod: format!("apps/p-{i}"),
                workload: "apps/w".into(),
                container: "c".into(),
                restart_count: 1,
            },
        ));
        signals.push(at(
            0,
            SignalKind::EndpointsChanged {
                service: format!("apps/s-{i}"),
                ready: 0,
                important: false,
                flips: 0,
            },
        ));
        signals.push(at(
            0,
            SignalKind::ReplicaRebuildStarted {
                volume: format!("v-{i}"),
                replica: format!("r-{i}"),
                node: format!("n-{}", i % 2),
            },
        ));
        signals.push(at(
            1,
            SignalKind::ReplicaRebuildFailed {
                volume: format!("v-{i}"),
                replica: format!("r-{i}"),
                node: format!("n-{}", i % 2),
            },
        ));
    }
    run(&mut d, signals);
    assert!(d.live_entries() > 3000);
    let cleared = run(&mut d, [tick(1800), tick(3600)]);
    assert!(cleared.iter().all(|a| !a.is_raised()));
    assert_eq!(d.active().count(), 0);
    assert_eq!(d.live_entries(), 0, "nothing left once everything is quiet");
}

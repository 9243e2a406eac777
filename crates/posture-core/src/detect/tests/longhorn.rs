//! Longhorn detectors: rebuild storms, robustness and attach flapping.

use super::*;
use crate::report::Severity;

fn rebuild(s: i64, volume: &str, replica: &str, node: &str, started: bool) -> Signal {
    let (volume, replica, node) = (volume.to_owned(), replica.to_owned(), node.to_owned());
    at(
        s,
        if started {
            SignalKind::ReplicaRebuildStarted {
                volume,
                replica,
                node,
            }
        } else {
            SignalKind::ReplicaRebuildFinished {
                volume,
                replica,
                node,
            }
        },
    )
}

#[test]
fn rebuilds_on_unknown_nodes_are_not_one_node_over_its_limit() {
    let mut d = defaults();
    let alerts = run(
        &mut d,
        [
            rebuild(0, "v1", "r1", "", true),
            rebuild(1, "v2", "r2", "", true),
            rebuild(2, "v3", "r3", "", true),
        ],
    );
    assert!(
        alerts
            .iter()
            .all(|a| !a.id().starts_with("rebuild-concurrency")),
        "{alerts:?}"
    );
}

#[test]
fn rebuilds_over_the_per_node_limit_raise_and_clear_after_staying_within() {
    let mut d = defaults();
    assert!(
        run(
            &mut d,
            [
                rebuild(0, "v1", "r1", "n1", true),
                rebuild(1, "v2", "r2", "n2", true)
            ]
        )
        .is_empty()
    );
    let raised = run(&mut d, [rebuild(2, "v3", "r3", "n1", true)]);
    assert_eq!(ids(&raised), vec![(true, "rebuild-concurrency/n1".into())]);
    assert!(
        matches!(&raised[0], Alert::Raised { evidence, severity: Severity::Error, .. } if evidence.len() == 2)
    );
    assert!(run(&mut d, [rebuild(100, "v1", "r1", "n1", false), tick(399)]).is_empty());
    assert_eq!(
        ids(&run(&mut d, [tick(400)])),
        vec![(false, "rebuild-concurrency/n1".into())]
    );
}

#[test]
fn the_limit_follows_longhorns_setting() {
    let mut d = defaults();
    run(
        &mut d,
        [at(0, SignalKind::RebuildLimitChanged { limit: 3 })],
    );
    let starts: Vec<Signal> = (0..3)
        .map(|i| rebuild(i, &format!("v{i}"), &format!("r{i}"), "n1", true))
        .collect();
    assert!(run(&mut d, starts).is_empty());
    // Setting the limit to 0 (the runbook's emergency stop) makes every running rebuild too many.
    let alerts = run(
        &mut d,
        [at(5, SignalKind::RebuildLimitChanged { limit: 0 })],
    );
    assert_eq!(ids(&alerts), vec![(true, "rebuild-concurrency/n1".into())]);
}

#[test]
fn the_same_volume_rebuilding_again_and_again_raises() {
    let mut d = defaults();
    let mut signals = Vec::new();
    for i in 0..2 {
        signals.push(rebuild(i * 300, "v1", &format!("r{i}"), "n1", true));
        signals.push(rebuild(i * 300 + 200, "v1", &format!("r{i}"), "n1", false));
    }
    assert!(run(&mut d, signals).is_empty());
    assert_eq!(
        ids(&run(&mut d, [rebuild(900, "v1", "r9", "n1", true)])),
        vec![(true, "rebuild-repeated/v1".into())]
    );
}

#[test]
fn robustness_flapping_raises_and_never_flaps_itself() {
    let mut d = defaults();
    let robustness = |s, r: &str| {
        at(
            s,
            SignalKind::VolumeRobustnessChanged {
                volume: "v1".into(),
                robustness: r.into(),
            },
        )
    };
    let mut signals = Vec::new();
    // Degraded/healthy every 8 minutes for four hours: 3 to 4 changes per 30 minutes.
    for i in 0..30 {
        signals.push(robustness(
            i * 480,
            if i % 2 == 0 { "degraded" } else { "healthy" },
        ));
        signals.extend((1..8).map(|k| tick(i * 480 + k * 60)));
    }
    let alerts = run(&mut d, signals);
    assert_eq!(ids(&alerts), vec![(true, "robustness-flap/v1".into())]);
}

#[test]
fn attach_detach_cycles_raise_and_intermediate_states_do_not_count() {
    let mut d = defaults();
    let state = |s, st: &str| {
        at(
            s,
            SignalKind::VolumeStateChanged {
                volume: "v1".into(),
                state: st.into(),
            },
        )
    };
    let signals = [
        state(0, "detaching"),
        state(1, "detached"),
        state(30, "attaching"),
        state(31, "attached"),
        state(60, "detaching"),
        state(61, "detached"),
        state(90, "attaching"),
    ];
    assert!(run(&mut d, signals).is_empty());
    assert_eq!(
        ids(&run(&mut d, [state(91, "attached")])),
        vec![(true, "volume-state-flap/v1".into())]
    );

    let mut d = defaults();
    let va = |s, attached| {
        at(
            s,
            SignalKind::VolumeAttachmentChanged {
                attachment: format!("csi-{s}"),
                volume: "pv1".into(),
                node: "n1".into(),
                attached,
            },
        )
    };
    let alerts = run(
        &mut d,
        [va(0, true), va(10, false), va(20, true), va(30, false)],
    );
    assert_eq!(ids(&alerts), vec![(true, "attachment-churn/pv1".into())]);
}

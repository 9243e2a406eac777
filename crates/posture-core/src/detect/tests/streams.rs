//! Whole streams: steady objects through the reducer, and a recorded drain replayed.

use serde_json::{Value, json};

use super::*;
use crate::detect::{EventType, Reducer, WatchedKind, replay};

#[test]
fn an_hour_of_steady_objects_through_the_reducer_raises_nothing() {
    let mut reducer = Reducer::new();
    let mut detectors = defaults();
    let mut lease: Value =
        serde_json::from_str(include_str!("fixtures/lease-kube-scheduler.json")).expect("lease");
    let mut node: Value =
        serde_json::from_str(include_str!("fixtures/node-worker.json")).expect("node");
    let pod: Value = serde_json::from_str(include_str!("fixtures/pod-coredns.json")).expect("pod");
    let slice: Value =
        serde_json::from_str(include_str!("fixtures/endpointslice-kube-dns.json")).expect("slice");
    let mut signals = Vec::new();
    for (kind, object) in [
        (WatchedKind::Pod, &pod),
        (WatchedKind::EndpointSlice, &slice),
        (WatchedKind::Node, &node),
    ] {
        signals.extend(reducer.reduce(t(0), kind, EventType::Added, object));
    }
    for s in 0..3600 {
        if s % 2 == 0 {
            lease["spec"]["renewTime"] = json!(t(s).to_string());
            let change = if s == 0 {
                EventType::Added
            } else {
                EventType::Modified
            };
            signals.extend(reducer.reduce(t(s), WatchedKind::Lease, change, &lease));
        }
        if s % 10 == 0 {
            node["status"]["conditions"][1]["lastHeartbeatTime"] = json!(t(s).to_string());
            signals.extend(reducer.reduce(t(s), WatchedKind::Node, EventType::Modified, &node));
            signals.extend(reducer.reduce(t(s), WatchedKind::Pod, EventType::Modified, &pod));
            signals.extend(reducer.reduce(
                t(s),
                WatchedKind::EndpointSlice,
                EventType::Modified,
                &slice,
            ));
        }
        signals.push(tick(s));
    }
    let changes = signals
        .iter()
        .filter(|s| !matches!(s.kind, SignalKind::Tick | SignalKind::LeaseRenewed { .. }))
        .count();
    assert_eq!(
        changes, 3,
        "only the first sightings of the pod (with its container's restarts) and the Service"
    );
    let alerts = run(&mut detectors, signals);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn a_recorded_drain_replays_to_the_same_alerts() {
    let recording = include_str!("fixtures/drain-worker.jsonl");
    let alerts = replay(recording.lines(), &DetectPolicy::default()).expect("replays");
    insta::assert_yaml_snapshot!(alerts);
    // Every raise in the recording is cleared by its end.
    let raised = alerts.iter().filter(|a| a.is_raised()).count();
    assert_eq!(raised * 2, alerts.len());
}

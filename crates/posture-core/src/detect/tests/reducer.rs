//! The reducer, from objects shaped like the real API.

mod equivalence;
mod mutations;
mod pinned;

use serde_json::{Value, json};

use super::t;
use crate::detect::{EventType, Reducer, SignalKind, WatchedKind};

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn kinds(
    reducer: &mut Reducer,
    kind: WatchedKind,
    change: EventType,
    object: &Value,
) -> Vec<SignalKind> {
    reducer
        .reduce(t(0), kind, change, object)
        .into_iter()
        .map(|s| s.kind)
        .collect()
}

fn set(object: &mut Value, pointer: &str, value: Value) {
    *object.pointer_mut(pointer).expect("pointer exists") = value;
}

const POD: &str = include_str!("fixtures/pod-coredns.json");
const SLICE: &str = include_str!("fixtures/endpointslice-kube-dns.json");
const LEASE: &str = include_str!("fixtures/lease-kube-scheduler.json");
const NODE: &str = include_str!("fixtures/node-worker.json");
const LONGHORN: &str = include_str!("fixtures/longhorn-gitea.json");
const EVENT: &str = include_str!("fixtures/event-evicted.json");

#[test]
fn a_restart_count_rising_from_two_to_three_is_one_restart() {
    let mut r = Reducer::new();
    let mut pod = fixture(POD);
    // First sight: restarts from before the watch began are history, not news.
    assert_eq!(
        kinds(&mut r, WatchedKind::Pod, EventType::Added, &pod),
        vec![
            SignalKind::PodCreated {
                pod: "kube-system/coredns-6799fbcd5-x7k2p".into(),
                workload: "kube-system/coredns".into()
            },
            SignalKind::ContainerHistory {
                pod: "kube-system/coredns-6799fbcd5-x7k2p".into(),
                workload: "kube-system/coredns".into(),
                container: "coredns".into(),
                restart_count: 2,
                last_exit: "2026-11-24T09:57:50Z".parse().expect("a timestamp"),
            }
        ]
    );
    assert!(kinds(&mut r, WatchedKind::Pod, EventType::Modified, &pod).is_empty());
    set(
        &mut pod,
        "/status/containerStatuses/0/restartCount",
        json!(3),
    );
    assert_eq!(
        kinds(&mut r, WatchedKind::Pod, EventType::Modified, &pod),
        vec![SignalKind::ContainerRestarted {
            pod: "kube-system/coredns-6799fbcd5-x7k2p".into(),
            workload: "kube-system/coredns".into(),
            container: "coredns".into(),
            restart_count: 3
        }]
    );
    set(
        &mut pod,
        "/status/containerStatuses/0/state",
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}}),
    );
    let signals = kinds(&mut r, WatchedKind::Pod, EventType::Modified, &pod);
    assert!(
        matches!(
            &signals[..],
            [SignalKind::CrashLoopBackOff { active: true, .. }]
        ),
        "{signals:?}"
    );
    let signals = kinds(&mut r, WatchedKind::Pod, EventType::Deleted, &pod);
    assert!(
        matches!(
            &signals[..],
            [
                SignalKind::CrashLoopBackOff { active: false, .. },
                SignalKind::PodDeleted { critical: true, .. }
            ]
        ),
        "{signals:?}"
    );
    assert_eq!(r.live_objects(), 0);
}

#[test]
fn an_eviction_is_reported_once_whether_seen_as_event_or_status() {
    let mut r = Reducer::new();
    let mut pod = fixture(POD);
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &pod);
    let evicted = kinds(
        &mut r,
        WatchedKind::Event,
        EventType::Added,
        &fixture(EVENT),
    );
    assert!(
        matches!(&evicted[..], [SignalKind::PodEvicted { reason, critical: true, .. }] if reason == "Evicted")
    );
    pod["status"]["reason"] = json!("Evicted");
    set(&mut pod, "/status/phase", json!("Failed"));
    assert!(kinds(&mut r, WatchedKind::Pod, EventType::Modified, &pod).is_empty());
    assert!(kinds(&mut r, WatchedKind::Pod, EventType::Deleted, &pod).is_empty());

    // An API eviction (drain) marks the pod with a DisruptionTarget condition.
    let mut pod = fixture(POD);
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &pod);
    set(
        &mut pod,
        "/status/conditions",
        json!([{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]),
    );
    let evicted = kinds(&mut r, WatchedKind::Pod, EventType::Modified, &pod);
    assert!(
        matches!(&evicted[..], [SignalKind::PodEvicted { reason, .. }] if reason == "EvictionByEvictionAPI")
    );
}

/// The CoreDNS fixture as pod `name` of ReplicaSet revision `hash`.
fn coredns_pod(name: &str, hash: &str) -> Value {
    let mut pod = fixture(POD);
    set(&mut pod, "/metadata/name", json!(name));
    set(&mut pod, "/metadata/labels/pod-template-hash", json!(hash));
    set(
        &mut pod,
        "/metadata/ownerReferences/0/name",
        json!(format!("coredns-{hash}")),
    );
    pod
}

fn deleted_as_replaced(signals: &[SignalKind]) -> Option<bool> {
    signals.iter().find_map(|s| match s {
        SignalKind::PodDeleted { replaced, .. } => Some(*replaced),
        _ => None,
    })
}

#[test]
fn a_rollouts_deletions_are_replacements_and_a_recreate_of_the_same_revision_is_not() {
    let mut r = Reducer::new();
    let old_a = coredns_pod("coredns-old1-a", "old1");
    let old_b = coredns_pod("coredns-old1-b", "old1");
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &old_a);
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &old_b);
    // Evicted and recreated from the same template: no other revision runs.
    let gone = kinds(&mut r, WatchedKind::Pod, EventType::Deleted, &old_a);
    assert_eq!(deleted_as_replaced(&gone), Some(false));
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &old_a);
    // A rollout: the new revision's pod runs, then the old ones go.
    kinds(
        &mut r,
        WatchedKind::Pod,
        EventType::Added,
        &coredns_pod("coredns-new2-a", "new2"),
    );
    let gone = kinds(&mut r, WatchedKind::Pod, EventType::Deleted, &old_a);
    assert_eq!(deleted_as_replaced(&gone), Some(true));
    let gone = kinds(&mut r, WatchedKind::Pod, EventType::Deleted, &old_b);
    assert_eq!(deleted_as_replaced(&gone), Some(true));
    // Once only the new revision runs, losing one of its pods is news again.
    let gone = kinds(
        &mut r,
        WatchedKind::Pod,
        EventType::Deleted,
        &coredns_pod("coredns-new2-a", "new2"),
    );
    assert_eq!(deleted_as_replaced(&gone), Some(false));
    assert_eq!(r.live_objects(), 0, "no memo outlives its pods");
}

#[test]
fn endpoint_slice_ready_counts_are_summed_per_service_and_kube_dns_is_important() {
    let mut r = Reducer::new();
    let mut slice = fixture(SLICE);
    let changed = |ready, flips| SignalKind::EndpointsChanged {
        service: "kube-system/kube-dns".into(),
        ready,
        important: true,
        flips,
    };
    assert_eq!(
        kinds(&mut r, WatchedKind::EndpointSlice, EventType::Added, &slice),
        vec![changed(2, 0)]
    );
    // An endpoint going unready without terminating is a flip.
    set(&mut slice, "/endpoints/1/conditions/ready", json!(false));
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::EndpointSlice,
            EventType::Modified,
            &slice
        ),
        vec![changed(1, 1)]
    );
    assert!(
        kinds(
            &mut r,
            WatchedKind::EndpointSlice,
            EventType::Modified,
            &slice
        )
        .is_empty()
    );
    // A missing ready condition means ready: ready again after having been ready flips too.
    set(&mut slice, "/endpoints/1/conditions", json!({}));
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::EndpointSlice,
            EventType::Modified,
            &slice
        ),
        vec![changed(2, 1)]
    );
    // Terminating (a rollout, a drain) is leaving, not flipping.
    set(
        &mut slice,
        "/endpoints/1/conditions",
        json!({"ready": false, "serving": true, "terminating": true}),
    );
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::EndpointSlice,
            EventType::Modified,
            &slice
        ),
        vec![changed(1, 0)]
    );
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::EndpointSlice,
            EventType::Deleted,
            &slice
        ),
        vec![changed(0, 0)]
    );
    assert_eq!(r.live_objects(), 0);
}

#[test]
fn services_in_front_of_an_ingress_controller_are_important() {
    let mut r = Reducer::new();
    let pod = json!({
        "metadata": {"name": "haproxy-7d9f-abcde", "namespace": "haproxy-controller", "labels": {"run": "haproxy-ingress"}},
        "spec": {"containers": [{"name": "haproxy-ingress", "image": "haproxytech/kubernetes-ingress:3.1.4"}]},
        "status": {"containerStatuses": [{"name": "haproxy-ingress", "restartCount": 0, "state": {"running": {}}}]}
    });
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &pod);
    let slice = json!({
        "metadata": {"name": "haproxy-x1", "namespace": "haproxy-controller", "labels": {"kubernetes.io/service-name": "haproxy-kubernetes-ingress"}},
        "endpoints": [{"addresses": ["10.42.0.9"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "namespace": "haproxy-controller", "name": "haproxy-7d9f-abcde"}}]
    });
    let signals = kinds(&mut r, WatchedKind::EndpointSlice, EventType::Added, &slice);
    assert!(
        matches!(
            &signals[..],
            [SignalKind::EndpointsChanged {
                ready: 1,
                important: true,
                ..
            }]
        ),
        "{signals:?}"
    );
}

/// CoreDNS from its Helm chart: pods labelled `k8s-app: coredns`, and an EndpointSlice that
/// carries only the service-name label. The Service is important because of what its pods run.
#[test]
fn a_service_in_front_of_coredns_is_important_whatever_its_labels() {
    let mut r = Reducer::new();
    let pod = json!({
        "metadata": {"name": "coredns-5d8f-abcde", "namespace": "dns", "labels": {"k8s-app": "coredns"}},
        "spec": {"containers": [{"name": "coredns", "image": "registry.lan:5000/coredns/coredns:1.11.3"}]},
        "status": {"containerStatuses": [{"name": "coredns", "restartCount": 0, "state": {"running": {}}}]}
    });
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &pod);
    let slice = json!({
        "metadata": {"name": "coredns-x1", "namespace": "dns", "labels": {"kubernetes.io/service-name": "coredns"}},
        "endpoints": [{"addresses": ["10.42.0.3"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "namespace": "dns", "name": "coredns-5d8f-abcde"}}]
    });
    let signals = kinds(&mut r, WatchedKind::EndpointSlice, EventType::Added, &slice);
    assert!(
        matches!(
            &signals[..],
            [SignalKind::EndpointsChanged {
                important: true,
                ..
            }]
        ),
        "{signals:?}"
    );
}

#[test]
fn lease_renewals_and_holder_changes() {
    let mut r = Reducer::new();
    let mut lease = fixture(LEASE);
    let first = kinds(&mut r, WatchedKind::Lease, EventType::Added, &lease);
    assert!(matches!(
        &first[..],
        [SignalKind::LeaseRenewed {
            duration_seconds: 15,
            renew_time: Some(_),
            ..
        }]
    ));
    assert!(kinds(&mut r, WatchedKind::Lease, EventType::Modified, &lease).is_empty());
    set(
        &mut lease,
        "/spec/renewTime",
        json!("2026-11-24T10:00:02.000000Z"),
    );
    assert!(matches!(
        &kinds(&mut r, WatchedKind::Lease, EventType::Modified, &lease)[..],
        [SignalKind::LeaseRenewed { .. }]
    ));
    set(&mut lease, "/spec/holderIdentity", json!("worker-1_0e2f"));
    set(
        &mut lease,
        "/spec/renewTime",
        json!("2026-11-24T10:00:20.000000Z"),
    );
    let signals = kinds(&mut r, WatchedKind::Lease, EventType::Modified, &lease);
    assert_eq!(
        signals[0],
        SignalKind::LeaseHolderChanged {
            lease: "kube-system/kube-scheduler".into(),
            from: "miniserver_5c1e0a52-2f4e-4d0a-9d0b-0c7a1f3f9a11".into(),
            to: "worker-1_0e2f".into()
        }
    );
    assert!(
        matches!(&signals[1], SignalKind::LeaseRenewed { holder, .. } if holder == "worker-1_0e2f")
    );
    assert_eq!(
        kinds(&mut r, WatchedKind::Lease, EventType::Deleted, &lease),
        vec![SignalKind::LeaseDeleted {
            lease: "kube-system/kube-scheduler".into()
        }]
    );
}

#[test]
fn node_heartbeats_are_silent_and_ready_changes_are_not() {
    let mut r = Reducer::new();
    let mut node = fixture(NODE);
    assert!(kinds(&mut r, WatchedKind::Node, EventType::Added, &node).is_empty());
    set(
        &mut node,
        "/status/conditions/1/lastHeartbeatTime",
        json!("2026-11-24T10:00:10Z"),
    );
    assert!(kinds(&mut r, WatchedKind::Node, EventType::Modified, &node).is_empty());
    set(&mut node, "/status/conditions/1/status", json!("Unknown"));
    assert_eq!(
        kinds(&mut r, WatchedKind::Node, EventType::Modified, &node),
        vec![SignalKind::NodeReadyChanged {
            node: "worker-1".into(),
            ready: false
        }]
    );
}

#[test]
fn engine_replica_modes_rw_wo_rw_are_a_rebuild_on_the_replicas_node() {
    let mut r = Reducer::new();
    let longhorn = fixture(LONGHORN);
    for replica in longhorn["replicas"].as_array().expect("replicas") {
        assert!(
            kinds(
                &mut r,
                WatchedKind::LonghornReplica,
                EventType::Added,
                replica
            )
            .is_empty()
        );
    }
    let mut engine = longhorn["engine"].clone();
    assert!(
        kinds(
            &mut r,
            WatchedKind::LonghornEngine,
            EventType::Added,
            &engine
        )
        .is_empty()
    );
    let mode = "/status/replicaModeMap/pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-c27f3c2";
    let (volume, replica) = (
        "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31".to_owned(),
        "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-c27f3c2".to_owned(),
    );
    set(&mut engine, mode, json!("WO"));
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::LonghornEngine,
            EventType::Modified,
            &engine
        ),
        vec![SignalKind::ReplicaRebuildStarted {
            volume: volume.clone(),
            replica: replica.clone(),
            node: "worker-1".into()
        }]
    );
    set(&mut engine, mode, json!("RW"));
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::LonghornEngine,
            EventType::Modified,
            &engine
        ),
        vec![SignalKind::ReplicaRebuildFinished {
            volume: volume.clone(),
            replica: replica.clone(),
            node: "worker-1".into()
        }]
    );
    set(&mut engine, mode, json!("WO"));
    kinds(
        &mut r,
        WatchedKind::LonghornEngine,
        EventType::Modified,
        &engine,
    );
    set(&mut engine, mode, json!("ERR"));
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::LonghornEngine,
            EventType::Modified,
            &engine
        ),
        vec![SignalKind::ReplicaRebuildFailed {
            volume,
            replica,
            node: "worker-1".into()
        }]
    );
}

/// The gitea volume's replicas and engine as the reducer's baseline, with the worker's replica
/// (returned) just started rebuilding.
fn rebuilding_gitea(r: &mut Reducer) -> (Value, Vec<Value>, String) {
    let longhorn = fixture(LONGHORN);
    let replicas = longhorn["replicas"].as_array().expect("replicas").clone();
    for replica in &replicas {
        kinds(r, WatchedKind::LonghornReplica, EventType::Added, replica);
    }
    let mut engine = longhorn["engine"].clone();
    kinds(r, WatchedKind::LonghornEngine, EventType::Added, &engine);
    let replica = replicas[1]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    engine["status"]["replicaModeMap"][&replica] = json!("WO");
    let signals = kinds(r, WatchedKind::LonghornEngine, EventType::Modified, &engine);
    assert!(
        matches!(&signals[..], [SignalKind::ReplicaRebuildStarted { replica: started, .. }] if *started == replica),
        "{signals:?}"
    );
    (engine, replicas, replica)
}

fn with_modes(engine: &Value, modes: Value) -> Value {
    let mut engine = engine.clone();
    engine["status"]["replicaModeMap"] = modes;
    engine
}

#[test]
fn a_mode_map_emptied_and_refilled_during_one_rebuild_is_one_rebuild() {
    use crate::detect::{DetectPolicy, Detectors};
    let mut r = Reducer::new();
    let (engine, _, replica) = rebuilding_gitea(&mut r);
    let healthy = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-a07f3c2";
    let mut signals = Vec::new();
    // A 10 s rebuild during which the engine's status is emptied and refilled twice, once
    // as `null` and once as `{}`, as a real control plane was seen to do.
    for (s, modes) in [
        (1, json!({})),
        (2, json!({healthy: "RW", &replica: "WO"})),
        (4, Value::Null),
        (5, json!({healthy: "RW"})),
        (6, json!({healthy: "RW", &replica: "WO"})),
        (10, json!({healthy: "RW", &replica: "RW"})),
    ] {
        signals.extend(r.reduce(
            t(s),
            WatchedKind::LonghornEngine,
            EventType::Modified,
            &with_modes(&engine, modes),
        ));
    }
    let kinds: Vec<&SignalKind> = signals.iter().map(|s| &s.kind).collect();
    assert!(
        matches!(&kinds[..], [SignalKind::ReplicaRebuildFinished { replica: done, node, .. }] if *done == replica && node == "worker-1"),
        "one rebuild, finished: {kinds:?}"
    );

    // The same sequence three times within half an hour is three rebuilds, no more.
    let mut d = Detectors::new(&DetectPolicy::default());
    let alerts: Vec<_> = signals.iter().flat_map(|s| d.observe(s)).collect();
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn a_rebuild_that_drops_out_and_returns_failed_or_finished_is_then_a_new_one() {
    let mut r = Reducer::new();
    let (engine, _, replica) = rebuilding_gitea(&mut r);
    let healthy = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-a07f3c2";
    let mut step = |modes: Value| {
        kinds(
            &mut r,
            WatchedKind::LonghornEngine,
            EventType::Modified,
            &with_modes(&engine, modes),
        )
    };
    assert!(
        step(json!({healthy: "RW"})).is_empty(),
        "dropped out: still rebuilding"
    );
    assert!(
        matches!(
            &step(json!({healthy: "RW", &replica: "ERR"}))[..],
            [SignalKind::ReplicaRebuildFailed { .. }]
        ),
        "back in ERR: the rebuild failed"
    );
    assert!(
        matches!(
            &step(json!({healthy: "RW", &replica: "WO"}))[..],
            [SignalKind::ReplicaRebuildStarted { .. }]
        ),
        "WO after ERR: a new rebuild"
    );
    assert!(step(json!({})).is_empty());
    assert!(
        matches!(
            &step(json!({healthy: "RW", &replica: "RW"}))[..],
            [SignalKind::ReplicaRebuildFinished { .. }]
        ),
        "back in RW: the rebuild finished"
    );
    assert!(
        step(json!({healthy: "RW"})).is_empty(),
        "RW dropping out is no rebuild"
    );
    assert!(
        matches!(
            &step(json!({healthy: "RW", &replica: "WO"}))[..],
            [SignalKind::ReplicaRebuildStarted { .. }]
        ),
        "WO after RW: a new rebuild"
    );
}

#[test]
fn a_rebuild_out_of_the_map_fails_when_its_replica_fails_or_goes() {
    let healthy = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-a07f3c2";
    let drop_out = |r: &mut Reducer, engine: &Value| {
        let signals = kinds(
            r,
            WatchedKind::LonghornEngine,
            EventType::Modified,
            &with_modes(engine, json!({healthy: "RW"})),
        );
        assert!(signals.is_empty(), "{signals:?}");
    };
    let failed = |signals: &[SignalKind], replica: &str| {
        matches!(signals, [SignalKind::ReplicaRebuildFailed { replica: r, node, volume }]
            if r == replica && node == "worker-1" && volume == "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31")
    };

    // Marked failed by Longhorn.
    let mut r = Reducer::new();
    let (engine, replicas, replica) = rebuilding_gitea(&mut r);
    drop_out(&mut r, &engine);
    let mut object = replicas[1].clone();
    assert!(
        kinds(
            &mut r,
            WatchedKind::LonghornReplica,
            EventType::Modified,
            &object
        )
        .is_empty()
    );
    object["spec"]["failedAt"] = json!("2026-11-24T10:00:05Z");
    let signals = kinds(
        &mut r,
        WatchedKind::LonghornReplica,
        EventType::Modified,
        &object,
    );
    assert!(failed(&signals, &replica), "{signals:?}");
    assert!(
        kinds(
            &mut r,
            WatchedKind::LonghornReplica,
            EventType::Modified,
            &object
        )
        .is_empty()
    );

    // Deleted.
    let mut r = Reducer::new();
    let (engine, replicas, replica) = rebuilding_gitea(&mut r);
    drop_out(&mut r, &engine);
    let signals = kinds(
        &mut r,
        WatchedKind::LonghornReplica,
        EventType::Deleted,
        &replicas[1],
    );
    assert!(failed(&signals, &replica), "{signals:?}");

    // Its engine deleted.
    let mut r = Reducer::new();
    let (engine, _, replica) = rebuilding_gitea(&mut r);
    drop_out(&mut r, &engine);
    let signals = kinds(
        &mut r,
        WatchedKind::LonghornEngine,
        EventType::Deleted,
        &engine,
    );
    assert!(failed(&signals, &replica), "{signals:?}");
    assert_eq!(r.live_objects(), 2, "the two replicas");

    // Deleted before it dropped out: nothing could end the rebuild later.
    let mut r = Reducer::new();
    let (engine, replicas, replica) = rebuilding_gitea(&mut r);
    assert!(
        kinds(
            &mut r,
            WatchedKind::LonghornReplica,
            EventType::Deleted,
            &replicas[1]
        )
        .is_empty()
    );
    let signals = kinds(
        &mut r,
        WatchedKind::LonghornEngine,
        EventType::Modified,
        &with_modes(&engine, json!({healthy: "RW"})),
    );
    assert!(
        matches!(&signals[..], [SignalKind::ReplicaRebuildFailed { replica: r, .. }] if *r == replica),
        "{signals:?}"
    );
}

#[test]
fn volume_state_robustness_attachments_and_the_rebuild_limit() {
    let mut r = Reducer::new();
    let longhorn = fixture(LONGHORN);
    let mut volume = longhorn["volume"].clone();
    assert!(
        kinds(
            &mut r,
            WatchedKind::LonghornVolume,
            EventType::Added,
            &volume
        )
        .is_empty()
    );
    set(&mut volume, "/status/state", json!("detached"));
    set(&mut volume, "/status/robustness", json!("unknown"));
    let name = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31".to_owned();
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::LonghornVolume,
            EventType::Modified,
            &volume
        ),
        vec![
            SignalKind::VolumeStateChanged {
                volume: name.clone(),
                state: "detached".into()
            },
            SignalKind::VolumeRobustnessChanged {
                volume: name.clone(),
                robustness: "unknown".into()
            },
        ]
    );

    let mut va = longhorn["volumeAttachment"].clone();
    assert!(kinds(&mut r, WatchedKind::VolumeAttachment, EventType::Added, &va).is_empty());
    set(&mut va, "/status/attached", json!(false));
    let signals = kinds(
        &mut r,
        WatchedKind::VolumeAttachment,
        EventType::Modified,
        &va,
    );
    assert!(
        matches!(&signals[..], [SignalKind::VolumeAttachmentChanged { volume, node, attached: false, .. }] if *volume == name && node == "miniserver")
    );
    assert!(
        kinds(
            &mut r,
            WatchedKind::VolumeAttachment,
            EventType::Deleted,
            &va
        )
        .is_empty(),
        "already detached"
    );

    let setting = longhorn["setting"].clone();
    assert_eq!(
        kinds(
            &mut r,
            WatchedKind::LonghornSetting,
            EventType::Added,
            &setting
        ),
        vec![SignalKind::RebuildLimitChanged { limit: 1 }]
    );
    assert!(
        kinds(
            &mut r,
            WatchedKind::LonghornSetting,
            EventType::Modified,
            &setting
        )
        .is_empty()
    );
}

#[test]
fn watched_kinds_are_recognised_from_api_version_and_kind() {
    assert_eq!(
        WatchedKind::of("longhorn.io/v1beta2", "Engine"),
        Some(WatchedKind::LonghornEngine)
    );
    assert_eq!(
        WatchedKind::of("discovery.k8s.io/v1", "EndpointSlice"),
        Some(WatchedKind::EndpointSlice)
    );
    assert_eq!(WatchedKind::of("apps/v1", "Deployment"), None);
}

#[test]
fn a_relist_forgets_objects_deleted_while_the_watch_was_down() {
    let mut r = Reducer::new();
    let longhorn = fixture(LONGHORN);
    let mut va = longhorn["volumeAttachment"].clone();
    let pod = fixture(POD);
    kinds(&mut r, WatchedKind::Pod, EventType::Added, &pod);
    kinds(&mut r, WatchedKind::VolumeAttachment, EventType::Added, &va);
    let mut engine = longhorn["engine"].clone();
    engine["status"]["replicaModeMap"]["pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-c27f3c2"] =
        json!("WO");
    kinds(
        &mut r,
        WatchedKind::LonghornEngine,
        EventType::Added,
        &engine,
    );
    assert_eq!(r.live_objects(), 3);

    let signals: Vec<SignalKind> = r
        .relist(t(60), WatchedKind::Pod, &[])
        .into_iter()
        .map(|s| s.kind)
        .collect();
    assert!(
        matches!(&signals[..], [SignalKind::PodDeleted { pod, workload, .. }]
        if pod == "kube-system/coredns-6799fbcd5-x7k2p" && workload == "kube-system/coredns")
    );

    // The attachment is still listed but detached: compared, not recreated.
    set(&mut va, "/status/attached", json!(false));
    let signals = r.relist(
        t(60),
        WatchedKind::VolumeAttachment,
        std::slice::from_ref(&va),
    );
    assert!(
        matches!(&signals[..], [s] if matches!(&s.kind, SignalKind::VolumeAttachmentChanged { attached: false, .. }))
    );

    // A vanished engine fails its running rebuild, still naming the volume.
    let signals: Vec<SignalKind> = r
        .relist(t(60), WatchedKind::LonghornEngine, &[])
        .into_iter()
        .map(|s| s.kind)
        .collect();
    assert!(
        matches!(&signals[..], [SignalKind::ReplicaRebuildFailed { volume, .. }]
        if volume == "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31")
    );
    assert_eq!(r.live_objects(), 1, "only the listed attachment remains");
}

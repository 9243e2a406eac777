//! The Longhorn manager on the virtual clock.

mod support;

use posture_twin::Twin;
use posture_twin::fault::Fault;
use serde_json::{Value, json};
use support::*;

const LH: &str = "longhorn-system";
const QDRANT: &str = "pvc-6a1f0c3e-7b2d-4e9a-9c41-0d3b5e8f1a20"; // 20 GiB, 1 replica
const HA: &str = "pvc-2c44a8f0-91d3-4b7e-8a65-e3f1c2b0d942"; // 2 GiB, 2 replicas on one node
const NEXTCLOUD: &str = "pvc-e80b5d19-4a2c-4e8f-9f70-b6d2a1c3e053"; // 50 GiB, one per node
const MEDIA: &str = "pvc-51aa7c3d-2e6f-4d81-a9b0-c4e5f6a7b864"; // 200 GiB, degraded

fn volume(twin: &Twin, v: &str) -> Value {
    get(twin, "longhorn.io", "volumes", LH, v)
}

fn modes(twin: &Twin, v: &str) -> Vec<(String, String)> {
    let engine = get(twin, "longhorn.io", "engines", LH, &format!("{v}-e-0"));
    engine["status"]["replicaModeMap"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn replicas(twin: &Twin, v: &str) -> Vec<Value> {
    list(twin, "longhorn.io", "replicas", Some(LH))
        .into_iter()
        .filter(|r| r["spec"]["volumeName"] == v)
        .collect()
}

fn set_replicas(twin: &mut Twin, v: &str, n: i64, soft: &str) {
    edit(twin, "longhorn.io", "volumes", LH, v, |vol| {
        vol["spec"]["numberOfReplicas"] = json!(n);
        vol["spec"]["replicaSoftAntiAffinity"] = json!(soft);
    });
}

fn set_setting(twin: &mut Twin, name: &str, value: &str) {
    edit(twin, "longhorn.io", "settings", LH, name, |s| {
        s["value"] = json!(value)
    });
}

/// The engine's mode map always names exactly the volume's replicas (failed ones as ERR).
fn assert_consistent(twin: &Twin, v: &str) {
    let names: Vec<String> = replicas(twin, v)
        .iter()
        .map(|r| r["metadata"]["name"].as_str().unwrap_or("").to_owned())
        .collect();
    for (replica, _) in modes(twin, v) {
        assert!(names.contains(&replica), "{replica} exists");
    }
}

#[test]
fn hard_anti_affinity_on_two_nodes_cannot_place_a_third_replica() {
    let mut twin = homelab();
    set_replicas(&mut twin, NEXTCLOUD, 3, "disabled");
    twin.advance(secs(30));
    assert_eq!(replicas(&twin, NEXTCLOUD).len(), 2);
    let v = volume(&twin, NEXTCLOUD);
    assert_eq!(v["status"]["conditions"][0]["status"], "False");
    assert_eq!(
        v["status"]["conditions"][0]["reason"],
        "ReplicaSchedulingFailure"
    );
    assert_eq!(v["status"]["robustness"], "degraded");
}

#[test]
fn soft_anti_affinity_places_and_rebuilds_the_third_replica() {
    let mut twin = homelab();
    set_replicas(&mut twin, NEXTCLOUD, 3, "enabled");
    assert_eq!(replicas(&twin, NEXTCLOUD).len(), 3);
    let wo: Vec<_> = modes(&twin, NEXTCLOUD)
        .into_iter()
        .filter(|(_, m)| m == "WO")
        .collect();
    assert_eq!(wo.len(), 1);
    let engine = get(
        &twin,
        "longhorn.io",
        "engines",
        LH,
        &format!("{NEXTCLOUD}-e-0"),
    );
    let rebuild = engine["status"]["rebuildStatus"]
        .as_object()
        .expect("rebuild status");
    assert_eq!(rebuild.values().next().expect("one")["isRebuilding"], true);
    // 50 GiB at the default 1 GiB per second.
    twin.advance(secs(49));
    assert_eq!(
        modes(&twin, NEXTCLOUD)
            .iter()
            .filter(|(_, m)| m == "RW")
            .count(),
        2
    );
    twin.advance(secs(1));
    assert_eq!(
        modes(&twin, NEXTCLOUD)
            .iter()
            .filter(|(_, m)| m == "RW")
            .count(),
        3
    );
    assert_eq!(volume(&twin, NEXTCLOUD)["status"]["robustness"], "healthy");
    assert_consistent(&twin, NEXTCLOUD);
}

#[test]
fn global_setting_applies_when_the_volume_says_ignored() {
    let mut twin = homelab();
    set_setting(
        &mut twin,
        "replica-soft-anti-affinity",
        r#"{"v1":"false","v2":"false"}"#,
    );
    set_replicas(&mut twin, NEXTCLOUD, 3, "ignored");
    assert_eq!(replicas(&twin, NEXTCLOUD).len(), 2);
    set_setting(&mut twin, "replica-soft-anti-affinity", "true");
    assert_eq!(replicas(&twin, NEXTCLOUD).len(), 3);
}

#[test]
fn rebuilds_take_size_proportional_time_and_respect_the_per_node_limit() {
    let mut twin = homelab();
    set_setting(&mut twin, "concurrent-replica-rebuild-per-node-limit", "1");
    set_replicas(&mut twin, QDRANT, 3, "enabled");
    set_replicas(&mut twin, NEXTCLOUD, 3, "enabled");
    let mut done_at = None;
    for second in 1..=200 {
        twin.advance(secs(1));
        let mut per_node = std::collections::BTreeMap::<String, usize>::new();
        for v in [QDRANT, NEXTCLOUD] {
            for (replica, mode) in modes(&twin, v) {
                if mode == "WO" {
                    let r = get(&twin, "longhorn.io", "replicas", LH, &replica);
                    *per_node
                        .entry(r["spec"]["nodeID"].as_str().unwrap_or("").to_owned())
                        .or_default() += 1;
                }
            }
        }
        assert!(
            per_node.values().all(|n| *n <= 1),
            "second {second}: {per_node:?}"
        );
        if done_at.is_none() && volume(&twin, QDRANT)["status"]["robustness"] == "healthy" {
            done_at = Some(second);
        }
    }
    assert_eq!(volume(&twin, NEXTCLOUD)["status"]["robustness"], "healthy");
    // Two 20 GiB rebuilds, one per node at a time, possibly queued behind the 50 GiB one.
    assert!(done_at.is_some_and(|s| s >= 20), "{done_at:?}");
}

#[test]
fn zero_rebuild_limit_starts_nothing() {
    let mut twin = homelab();
    set_setting(&mut twin, "concurrent-replica-rebuild-per-node-limit", "0");
    set_replicas(&mut twin, QDRANT, 2, "enabled");
    twin.advance(secs(60));
    assert_eq!(replicas(&twin, QDRANT).len(), 2);
    assert_eq!(
        modes(&twin, QDRANT).len(),
        1,
        "the new replica waits outside the engine"
    );
    set_setting(&mut twin, "concurrent-replica-rebuild-per-node-limit", "2");
    twin.advance(secs(21));
    assert_eq!(volume(&twin, QDRANT)["status"]["robustness"], "healthy");
}

#[test]
fn decreasing_replicas_removes_the_doubled_up_newest_one() {
    let mut twin = homelab();
    set_replicas(&mut twin, HA, 1, "ignored");
    let left: Vec<_> = replicas(&twin, HA)
        .iter()
        .map(|r| r["metadata"]["name"].clone())
        .collect();
    assert_eq!(left, vec![json!(format!("{HA}-r-a07f3c2"))]);
    assert_eq!(modes(&twin, HA).len(), 1);
    // A failed replica goes first.
    set_replicas(&mut twin, MEDIA, 2, "enabled");
    assert!(
        replicas(&twin, MEDIA)
            .iter()
            .all(|r| r["status"]["currentState"] == "running")
    );
    assert_eq!(volume(&twin, MEDIA)["status"]["robustness"], "healthy");
    assert_consistent(&twin, MEDIA);
}

#[test]
fn failed_replica_is_replaced_only_after_the_replenishment_wait() {
    let mut twin = homelab();
    twin.advance(secs(599));
    assert_eq!(replicas(&twin, MEDIA).len(), 3);
    assert_eq!(
        modes(&twin, MEDIA)
            .iter()
            .filter(|(_, m)| m == "ERR")
            .count(),
        1
    );
    twin.advance(secs(1));
    let now: Vec<_> = modes(&twin, MEDIA);
    assert_eq!(now.iter().filter(|(_, m)| m == "WO").count(), 1, "{now:?}");
    assert_eq!(now.iter().filter(|(_, m)| m == "ERR").count(), 0);
    assert_eq!(replicas(&twin, MEDIA).len(), 3);
    twin.advance(secs(200));
    assert_eq!(volume(&twin, MEDIA)["status"]["robustness"], "healthy");
    assert_consistent(&twin, MEDIA);
}

#[test]
fn failing_rebuilds_retry_again_and_again() {
    let mut twin = homelab();
    twin.inject(&Fault::FailRebuilds {
        volume: Some(QDRANT.into()),
    });
    set_replicas(&mut twin, QDRANT, 2, "enabled");
    twin.advance(secs(120));
    let new: Vec<_> = replicas(&twin, QDRANT)
        .into_iter()
        .filter(|r| r["metadata"]["name"] != json!(format!("{QDRANT}-r-a07f3c2")))
        .collect();
    assert_eq!(new.len(), 1, "retried, not replaced");
    assert!(
        new[0]["spec"]["rebuildRetryCount"].as_i64() >= Some(3),
        "{}",
        new[0]["spec"]
    );
    assert!(
        new[0]["spec"]["lastFailedAt"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(volume(&twin, QDRANT)["status"]["robustness"], "degraded");
    twin.inject(&Fault::ClearAll);
    twin.advance(secs(40));
    assert_eq!(volume(&twin, QDRANT)["status"]["robustness"], "healthy");
}

#[test]
fn slow_rebuilds_take_longer() {
    let mut twin = homelab();
    twin.inject(&Fault::SlowRebuilds { factor: 2 });
    set_replicas(&mut twin, QDRANT, 2, "enabled");
    twin.advance(secs(39));
    assert_eq!(volume(&twin, QDRANT)["status"]["robustness"], "degraded");
    twin.advance(secs(1));
    assert_eq!(volume(&twin, QDRANT)["status"]["robustness"], "healthy");
}

#[test]
fn deleting_a_replica_drops_it_from_the_engine() {
    let mut twin = homelab();
    let name = format!("{MEDIA}-r-c27f3c2");
    twin.store
        .delete(&key("longhorn.io", "replicas", LH, &name), false)
        .expect("deleted");
    twin.settle();
    assert!(modes(&twin, MEDIA).iter().all(|(r, _)| *r != name));
    assert_consistent(&twin, MEDIA);
}

#[test]
fn storage_class_follows_its_config_map() {
    let mut twin = homelab();
    let before = get(&twin, "storage.k8s.io", "storageclasses", "", "longhorn");
    edit(
        &mut twin,
        "",
        "configmaps",
        LH,
        "longhorn-storageclass",
        |cm| {
            let yaml = cm["data"]["storageclass.yaml"]
                .as_str()
                .unwrap_or("")
                .replace("numberOfReplicas: \"3\"", "numberOfReplicas: \"2\"");
            cm["data"]["storageclass.yaml"] = json!(yaml);
        },
    );
    let after = get(&twin, "storage.k8s.io", "storageclasses", "", "longhorn");
    assert_eq!(after["parameters"]["numberOfReplicas"], "2");
    assert_ne!(
        after["metadata"]["uid"], before["metadata"]["uid"],
        "recreated"
    );
    assert_eq!(
        after["metadata"]["annotations"]["longhorn.io/last-applied-configmap"],
        "longhorn-storageclass"
    );
}

#[test]
fn best_effort_auto_balance_moves_a_doubled_up_replica_after_the_delay() {
    let mut twin = homelab();
    let nodes = |twin: &Twin| {
        let mut n: Vec<String> = replicas(twin, HA)
            .iter()
            .map(|r| r["spec"]["nodeID"].as_str().unwrap_or("").to_owned())
            .collect();
        n.sort();
        n
    };
    twin.advance(secs(299));
    assert_eq!(nodes(&twin), vec!["miniserver", "miniserver"]);
    twin.advance(secs(1));
    assert_eq!(nodes(&twin), vec!["miniserver", "miniserver", "worker-1"]);
    assert_eq!(
        volume(&twin, HA)["status"]["robustness"],
        "healthy",
        "no healthy replica goes early"
    );
    twin.advance(secs(3));
    assert_eq!(nodes(&twin), vec!["miniserver", "worker-1"]);
    assert_eq!(volume(&twin, HA)["status"]["robustness"], "healthy");
    assert_eq!(
        replicas(&twin, HA)
            .iter()
            .filter(|r| r["metadata"]["name"] == json!(format!("{HA}-r-a07f3c2")))
            .count(),
        1,
        "the older one stays"
    );
    assert_consistent(&twin, HA);
}

#[test]
fn disabled_auto_balance_leaves_replicas_where_they_are() {
    let mut twin = homelab();
    set_setting(&mut twin, "replica-auto-balance", "disabled");
    twin.advance(secs(400));
    assert!(
        replicas(&twin, HA)
            .iter()
            .all(|r| r["spec"]["nodeID"] == "miniserver")
    );
}

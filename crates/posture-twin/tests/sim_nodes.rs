//! Node loss and recovery, heartbeats, leader leases and pod faults on the virtual clock.

mod support;

use posture_twin::fault::Fault;
use serde_json::Value;
use support::*;

fn ready_condition(twin: &posture_twin::Twin, node: &str) -> Value {
    get(twin, "", "nodes", "", node)["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned())
        .expect("Ready condition")
}

fn taint_keys(twin: &posture_twin::Twin, node: &str) -> Vec<String> {
    get(twin, "", "nodes", "", node)["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    format!(
                        "{}:{}",
                        t["key"].as_str().unwrap_or(""),
                        t["effect"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn robustness(twin: &posture_twin::Twin, volume: &str) -> String {
    get(twin, "longhorn.io", "volumes", "longhorn-system", volume)["status"]["robustness"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

const NEXTCLOUD_VOLUME: &str = "pvc-e80b5d19-4a2c-4e8f-9f70-b6d2a1c3e053";

#[test]
fn heartbeats_renew_node_leases_every_ten_seconds() {
    let mut twin = homelab();
    let renew = |twin: &posture_twin::Twin| {
        get(
            twin,
            "coordination.k8s.io",
            "leases",
            "kube-node-lease",
            "worker-1",
        )["spec"]["renewTime"]
            .clone()
    };
    let first = renew(&twin);
    twin.advance(secs(9));
    assert_eq!(renew(&twin), first);
    twin.advance(secs(1));
    assert_ne!(renew(&twin), first);
    assert_eq!(
        ready_condition(&twin, "worker-1")["lastHeartbeatTime"],
        "2026-11-23T12:00:10Z"
    );
}

#[test]
fn stopped_primary_goes_not_ready_and_its_pods_are_evicted_after_toleration() {
    let mut twin = homelab();
    twin.inject(&Fault::StopNode {
        node: "miniserver".into(),
    });
    twin.advance(secs(39));
    assert_eq!(ready_condition(&twin, "miniserver")["status"], "True");
    twin.advance(secs(2));
    assert_eq!(ready_condition(&twin, "miniserver")["status"], "Unknown");
    assert!(
        taint_keys(&twin, "miniserver")
            .contains(&"node.kubernetes.io/unreachable:NoExecute".to_owned())
    );
    assert!(!events(&twin, "NodeNotReady", "miniserver").is_empty());
    // Pods on it are NotReady at once, so Services lose their endpoints.
    let gitea = pods(&twin, "apps", "gitea-");
    assert!(!is_ready(&gitea[0]));
    let dns = list(
        &twin,
        "discovery.k8s.io",
        "endpointslices",
        Some("kube-system"),
    );
    assert_eq!(dns[0]["endpoints"][0]["conditions"]["ready"], false);
    // Evicted after the default 300 s toleration, DaemonSet pods stay.
    twin.advance(secs(295));
    assert!(
        twin.store
            .get(&key("", "pods", "apps", "qdrant-0"))
            .expect("pod")["metadata"]
            .get("deletionTimestamp")
            .is_none()
    );
    twin.advance(secs(10));
    let qdrant = twin
        .store
        .get(&key("", "pods", "apps", "qdrant-0"))
        .expect("stays Terminating");
    assert!(qdrant["metadata"]["deletionTimestamp"].is_string());
    assert!(!events(&twin, "TaintManagerEviction", "qdrant-0").is_empty());
    let daemons = list(&twin, "", "pods", Some("longhorn-system"));
    assert!(
        daemons
            .iter()
            .all(|p| p["metadata"].get("deletionTimestamp").is_none())
    );
    // Replacements cannot go to the cordoned worker.
    let replacement = pods(&twin, "kube-system", "coredns-");
    assert_eq!(replacement.len(), 1);
    assert_eq!(node_of(&replacement[0]), "");
    // Leader leases held by the primary are no longer renewed.
    let renew = get(
        &twin,
        "coordination.k8s.io",
        "leases",
        "kube-system",
        "kube-scheduler",
    )["spec"]["renewTime"]
        .clone();
    twin.advance(secs(10));
    assert_eq!(
        get(
            &twin,
            "coordination.k8s.io",
            "leases",
            "kube-system",
            "kube-scheduler"
        )["spec"]["renewTime"],
        renew
    );
    // Started again: Ready, taints gone, Terminating pods finish, replacements run there.
    twin.inject(&Fault::StartNode {
        node: "miniserver".into(),
    });
    twin.advance(secs(10));
    assert_eq!(ready_condition(&twin, "miniserver")["status"], "True");
    assert!(taint_keys(&twin, "miniserver").is_empty());
    let all = list(&twin, "", "pods", None);
    assert_eq!(all.len(), 15);
    assert!(
        all.iter()
            .all(|p| is_ready(p) && p["metadata"].get("deletionTimestamp").is_none()),
        "all back"
    );
}

#[test]
fn stopped_worker_fails_its_replicas_and_recovers() {
    let mut twin = homelab();
    twin.inject(&Fault::StopNode {
        node: "worker-1".into(),
    });
    twin.advance(secs(4));
    assert_eq!(robustness(&twin, NEXTCLOUD_VOLUME), "healthy");
    twin.advance(secs(2));
    let replica = get(
        &twin,
        "longhorn.io",
        "replicas",
        "longhorn-system",
        &format!("{NEXTCLOUD_VOLUME}-r-b17f3c2"),
    );
    assert_eq!(replica["status"]["currentState"], "error");
    assert!(
        replica["spec"]["failedAt"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let engine = get(
        &twin,
        "longhorn.io",
        "engines",
        "longhorn-system",
        &format!("{NEXTCLOUD_VOLUME}-e-0"),
    );
    assert_eq!(
        engine["status"]["replicaModeMap"][format!("{NEXTCLOUD_VOLUME}-r-b17f3c2")],
        "ERR"
    );
    assert_eq!(robustness(&twin, NEXTCLOUD_VOLUME), "degraded");
    assert_eq!(
        robustness(&twin, "pvc-51aa7c3d-2e6f-4d81-a9b0-c4e5f6a7b864"),
        "degraded"
    );
    twin.advance(secs(60));
    twin.inject(&Fault::StartNode {
        node: "worker-1".into(),
    });
    twin.advance(secs(1));
    let engine = get(
        &twin,
        "longhorn.io",
        "engines",
        "longhorn-system",
        &format!("{NEXTCLOUD_VOLUME}-e-0"),
    );
    assert_eq!(
        engine["status"]["replicaModeMap"][format!("{NEXTCLOUD_VOLUME}-r-b17f3c2")],
        "WO"
    );
    // 50 GiB at 1 GiB/s.
    twin.advance(secs(51));
    assert_eq!(robustness(&twin, NEXTCLOUD_VOLUME), "healthy");
    assert_eq!(ready_condition(&twin, "worker-1")["status"], "True");
}

#[test]
fn partitioned_node_keeps_running_but_goes_unknown() {
    let mut twin = homelab();
    twin.inject(&Fault::PartitionNode {
        node: "worker-1".into(),
    });
    twin.advance(secs(45));
    assert_eq!(ready_condition(&twin, "worker-1")["status"], "Unknown");
    twin.inject(&Fault::HealNode {
        node: "worker-1".into(),
    });
    twin.advance(secs(1));
    assert_eq!(ready_condition(&twin, "worker-1")["status"], "True");
    assert!(list(&twin, "", "pods", None).iter().all(is_ready));
}

#[test]
fn crash_loop_raises_restarts_with_growing_back_off() {
    let mut twin = homelab();
    let pod = pods(&twin, "apps", "gitea-")[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod: pod.clone(),
    });
    let mut restarts_at = Vec::new();
    let mut last = 0;
    for second in 0..200 {
        twin.advance(secs(1));
        let p = get(&twin, "", "pods", "apps", &pod);
        let count = p["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .expect("count");
        if count > last {
            restarts_at.push(second);
            last = count;
            assert_eq!(
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
                "CrashLoopBackOff"
            );
            assert_eq!(
                p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
                1
            );
        }
    }
    assert!(restarts_at.len() >= 4, "{restarts_at:?}");
    let gaps: Vec<i64> = restarts_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "back-off grows: {gaps:?}"
    );
    assert!(!events(&twin, "BackOff", &pod).is_empty());
    twin.inject(&Fault::ClearAll);
    twin.advance(secs(400));
    assert!(is_ready(&get(&twin, "", "pods", "apps", &pod)));
}

#[test]
fn crash_loop_follows_the_pods_replacement() {
    let mut twin = homelab();
    twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod: "qdrant-0".into(),
    });
    twin.advance(secs(7));
    twin.store
        .delete(&key("", "pods", "apps", "qdrant-0"), false)
        .expect("deleted");
    twin.advance(secs(30));
    let p = get(&twin, "", "pods", "apps", "qdrant-0");
    assert!(p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1));
}

#[test]
fn readiness_flaps_with_the_period() {
    let mut twin = homelab();
    let pod = pods(&twin, "apps", "nextcloud-")[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    twin.inject(&Fault::FlapReadiness {
        namespace: "apps".into(),
        pod: pod.clone(),
        period_seconds: 5,
    });
    let mut states = Vec::new();
    for _ in 0..20 {
        twin.advance(secs(1));
        states.push(is_ready(&get(&twin, "", "pods", "apps", &pod)));
    }
    let flips = states.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(flips >= 3, "{states:?}");
}

#[test]
fn lease_thrash_changes_holders() {
    let mut twin = homelab();
    let lease = |twin: &posture_twin::Twin| {
        get(
            twin,
            "coordination.k8s.io",
            "leases",
            "kube-system",
            "kube-controller-manager",
        )
    };
    let before = lease(&twin);
    twin.advance(secs(2));
    assert_ne!(
        lease(&twin)["spec"]["renewTime"],
        before["spec"]["renewTime"],
        "renewed every 2 s"
    );
    assert_eq!(
        lease(&twin)["spec"]["holderIdentity"],
        before["spec"]["holderIdentity"]
    );
    twin.inject(&Fault::LeaseThrash {
        namespace: "kube-system".into(),
        name: "kube-controller-manager".into(),
        period_seconds: 3,
    });
    let mut holders = vec![lease(&twin)["spec"]["holderIdentity"].clone()];
    for _ in 0..4 {
        twin.advance(secs(3));
        holders.push(lease(&twin)["spec"]["holderIdentity"].clone());
    }
    assert!(holders.windows(2).all(|w| w[0] != w[1]), "{holders:?}");
    assert_eq!(lease(&twin)["spec"]["leaseTransitions"], 3 + 5);
}

#[test]
fn cordon_flag_and_taint_stay_in_step() {
    let mut twin = homelab();
    edit(&mut twin, "", "nodes", "", "worker-1", |n| {
        n["spec"]["unschedulable"] = Value::Bool(false)
    });
    assert!(taint_keys(&twin, "worker-1").is_empty());
    edit(&mut twin, "", "nodes", "", "miniserver", |n| {
        n["spec"]["unschedulable"] = Value::Bool(true)
    });
    assert_eq!(
        taint_keys(&twin, "miniserver"),
        vec!["node.kubernetes.io/unschedulable:NoSchedule".to_owned()]
    );
}

#[test]
fn pods_of_a_deleted_node_are_collected_and_replaced() {
    let mut twin = homelab();
    uncordon(&mut twin, "worker-1");
    twin.store
        .delete(&key("", "nodes", "", "miniserver"), false)
        .expect("deleted");
    twin.settle();
    twin.advance(secs(5));
    assert!(
        list(&twin, "", "pods", None)
            .iter()
            .all(|p| node_of(p) != "miniserver")
    );
    let coredns = pods(&twin, "kube-system", "coredns-");
    assert_eq!(node_of(&coredns[0]), "worker-1");
    assert!(is_ready(&coredns[0]));
}

#[test]
fn a_short_stop_freezes_starting_pods_until_the_node_returns() {
    let mut twin = homelab();
    twin.inject(&Fault::StopNode {
        node: "miniserver".into(),
    });
    edit(
        &mut twin,
        "apps",
        "deployments",
        "kube-system",
        "coredns",
        |d| d["spec"]["replicas"] = Value::from(2),
    );
    twin.advance(secs(10));
    let starting: Vec<_> = pods(&twin, "kube-system", "coredns-")
        .into_iter()
        .filter(|p| !is_ready(p))
        .collect();
    assert_eq!(starting.len(), 1);
    assert_eq!(
        starting[0]["status"]["phase"], "Pending",
        "a stopped kubelet starts nothing"
    );
    twin.inject(&Fault::StartNode {
        node: "miniserver".into(),
    });
    twin.advance(secs(5));
    assert!(pods(&twin, "kube-system", "coredns-").iter().all(is_ready));
}

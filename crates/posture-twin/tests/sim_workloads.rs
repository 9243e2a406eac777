//! Workload controllers: rolling updates (and their deadlock), Recreate, scaling, StatefulSets,
//! DaemonSets, garbage collection, PDB status.

mod support;

use serde_json::{Value, json};
use support::*;

fn anti_affine(strategy: Value) -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "replicas": 2,
            "strategy": strategy,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}},
                "containers": [{"name": "web", "image": "example/web:1"}]}},
        },
    })
}

fn two_node_rollout(strategy: Value) -> posture_twin::Twin {
    let mut twin = homelab();
    uncordon(&mut twin, "worker-1");
    create(&mut twin, "apps", "deployments", anti_affine(strategy));
    twin.advance(secs(10));
    assert_eq!(
        pods(&twin, "apps", "web-")
            .iter()
            .filter(|p| is_ready(p))
            .count(),
        2
    );
    edit(&mut twin, "apps", "deployments", "apps", "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example/web:2");
    });
    twin.advance(secs(60));
    twin
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or("")
}

#[test]
fn surge_rollout_under_required_anti_affinity_deadlocks() {
    let twin = two_node_rollout(
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
    );
    let all = pods(&twin, "apps", "web-");
    assert_eq!(all.len(), 3);
    let old: Vec<_> = all.iter().filter(|p| image(p) == "example/web:1").collect();
    let new: Vec<_> = all.iter().filter(|p| image(p) == "example/web:2").collect();
    assert_eq!(old.len(), 2, "old pods are kept");
    assert!(old.iter().all(|p| is_ready(p)));
    assert_eq!(new.len(), 1);
    assert_eq!(node_of(new[0]), "", "the surge pod stays Pending");
    assert!(
        !events(
            &twin,
            "FailedScheduling",
            new[0]["metadata"]["name"].as_str().expect("name")
        )
        .is_empty()
    );
    let d = get(&twin, "apps", "deployments", "apps", "web");
    assert_eq!(d["status"]["updatedReplicas"], 1);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert_eq!(
        list(&twin, "apps", "replicasets", Some("apps"))
            .iter()
            .filter(|r| r["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("web-")))
            .count(),
        2
    );
}

#[test]
fn unavailable_budget_rollout_completes() {
    let twin = two_node_rollout(
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
    );
    let all = pods(&twin, "apps", "web-");
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|p| image(p) == "example/web:2" && is_ready(p))
    );
    let mut nodes: Vec<_> = all.iter().map(node_of).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["miniserver", "worker-1"]);
    let d = get(&twin, "apps", "deployments", "apps", "web");
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert_eq!(
        d["status"]["conditions"][1]["reason"],
        "NewReplicaSetAvailable"
    );
}

#[test]
fn recreate_stops_old_pods_before_starting_new_ones() {
    let mut twin = homelab();
    let before = pods(&twin, "apps", "gitea-");
    edit(&mut twin, "apps", "deployments", "apps", "gitea", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("gitea/gitea:1.23.0");
    });
    let mid = list(&twin, "", "pods", Some("apps"));
    let gitea: Vec<_> = mid
        .iter()
        .filter(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("gitea-"))
        })
        .collect();
    assert!(
        gitea.iter().all(|p| image(p) == "gitea/gitea:1.22.3"),
        "no new pod while the old one exists"
    );
    twin.advance(secs(10));
    let after = pods(&twin, "apps", "gitea-");
    assert_eq!(after.len(), 1);
    assert_ne!(after[0]["metadata"]["name"], before[0]["metadata"]["name"]);
    assert_eq!(image(&after[0]), "gitea/gitea:1.23.0");
    assert!(is_ready(&after[0]));
    assert!(
        !events(
            &twin,
            "Killing",
            before[0]["metadata"]["name"].as_str().expect("n")
        )
        .is_empty()
    );
}

#[test]
fn scaling_and_pod_startup_timing() {
    let mut twin = homelab();
    edit(
        &mut twin,
        "apps",
        "deployments",
        "kube-system",
        "coredns",
        |d| d["spec"]["replicas"] = json!(3),
    );
    let fresh = pods(&twin, "kube-system", "coredns-");
    assert_eq!(fresh.len(), 3);
    twin.advance(secs(2));
    let running = pods(&twin, "kube-system", "coredns-")
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count();
    assert_eq!(running, 3);
    // Readiness after the probe's initialDelaySeconds (0) + periodSeconds (2).
    assert_eq!(
        pods(&twin, "kube-system", "coredns-")
            .iter()
            .filter(|p| is_ready(p))
            .count(),
        1
    );
    twin.advance(secs(2));
    assert_eq!(
        pods(&twin, "kube-system", "coredns-")
            .iter()
            .filter(|p| is_ready(p))
            .count(),
        3
    );
    let slices = list(
        &twin,
        "discovery.k8s.io",
        "endpointslices",
        Some("kube-system"),
    );
    assert_eq!(slices[0]["endpoints"].as_array().map(Vec::len), Some(3));
    edit(
        &mut twin,
        "apps",
        "deployments",
        "kube-system",
        "coredns",
        |d| d["spec"]["replicas"] = json!(1),
    );
    twin.advance(secs(1));
    assert_eq!(pods(&twin, "kube-system", "coredns-").len(), 1);
}

#[test]
fn stateful_set_scales_in_order() {
    let mut twin = homelab();
    edit(&mut twin, "apps", "statefulsets", "apps", "qdrant", |s| {
        s["spec"]["replicas"] = json!(3)
    });
    assert!(
        twin.store
            .get(&key("", "pods", "apps", "qdrant-1"))
            .is_some()
    );
    assert!(
        twin.store
            .get(&key("", "pods", "apps", "qdrant-2"))
            .is_none(),
        "waits for qdrant-1 to be ready"
    );
    twin.advance(secs(3));
    assert!(
        twin.store
            .get(&key("", "pods", "apps", "qdrant-2"))
            .is_some()
    );
    twin.advance(secs(3));
    assert_eq!(
        get(&twin, "apps", "statefulsets", "apps", "qdrant")["status"]["readyReplicas"],
        3
    );
    edit(&mut twin, "apps", "statefulsets", "apps", "qdrant", |s| {
        s["spec"]["replicas"] = json!(1)
    });
    twin.advance(secs(5));
    assert!(
        twin.store
            .get(&key("", "pods", "apps", "qdrant-2"))
            .is_none()
    );
    assert!(
        twin.store
            .get(&key("", "pods", "apps", "qdrant-1"))
            .is_none()
    );
}

#[test]
fn daemon_set_follows_node_eligibility() {
    let mut twin = homelab();
    create(
        &mut twin,
        "apps",
        "daemonsets",
        json!({
            "metadata": {"name": "agent", "namespace": "apps"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "a", "image": "example/agent:1"}]}}},
        }),
    );
    // DaemonSet pods tolerate the cordon like upstream's controller makes them.
    assert_eq!(pods(&twin, "apps", "agent-").len(), 2);
    edit(&mut twin, "", "nodes", "", "worker-1", |n| {
        n["spec"]["taints"] =
            json!([{"key": "dedicated", "value": "storage", "effect": "NoSchedule"}]);
    });
    edit(&mut twin, "apps", "daemonsets", "apps", "agent", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example/agent:2");
    });
    twin.advance(secs(10));
    let now: Vec<_> = pods(&twin, "apps", "agent-");
    assert_eq!(
        now.iter().map(node_of).collect::<Vec<_>>(),
        vec!["miniserver"]
    );
    assert_eq!(
        get(&twin, "apps", "daemonsets", "apps", "agent")["status"]["desiredNumberScheduled"],
        1
    );
    edit(&mut twin, "", "nodes", "", "worker-1", |n| {
        n["spec"]["taints"] = json!([])
    });
    twin.advance(secs(5));
    assert_eq!(pods(&twin, "apps", "agent-").len(), 2);
    assert_eq!(
        get(&twin, "apps", "daemonsets", "apps", "agent")["status"]["numberReady"],
        2
    );
}

#[test]
fn owned_objects_are_collected_with_their_owner() {
    let mut twin = homelab();
    twin.store
        .delete(&key("apps", "deployments", "apps", "nextcloud"), false)
        .expect("deleted");
    twin.advance(secs(2));
    assert!(pods(&twin, "apps", "nextcloud-").is_empty());
    assert!(
        list(&twin, "apps", "replicasets", Some("apps"))
            .iter()
            .all(|r| !r["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("nextcloud-"))
    );
}

#[test]
fn disruption_budget_status_counts_healthy_pods() {
    let mut twin = homelab();
    create(
        &mut twin,
        "policy",
        "poddisruptionbudgets",
        json!({
            "metadata": {"name": "dns", "namespace": "kube-system"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}},
        }),
    );
    let pdb = get(
        &twin,
        "policy",
        "poddisruptionbudgets",
        "kube-system",
        "dns",
    );
    assert_eq!(pdb["status"]["expectedPods"], 1);
    assert_eq!(pdb["status"]["currentHealthy"], 1);
    assert_eq!(pdb["status"]["desiredHealthy"], 1);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    edit(
        &mut twin,
        "apps",
        "deployments",
        "kube-system",
        "coredns",
        |d| d["spec"]["replicas"] = json!(2),
    );
    edit(
        &mut twin,
        "policy",
        "poddisruptionbudgets",
        "kube-system",
        "dns",
        |p| {
            p["spec"] = json!({"maxUnavailable": "50%", "selector": {"matchLabels": {"k8s-app": "kube-dns"}}});
        },
    );
    twin.advance(secs(5));
    let pdb = get(
        &twin,
        "policy",
        "poddisruptionbudgets",
        "kube-system",
        "dns",
    );
    assert_eq!(pdb["status"]["expectedPods"], 2);
    assert_eq!(pdb["status"]["desiredHealthy"], 1);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 1);
}

/// CoreDNS as the runbook wants it: one replica growing to two with preferred anti-affinity and
/// a ScheduleAnyway spread, rolled out without a surge. The new pods end up one per node, even
/// though the secondary is far emptier than the primary.
#[test]
fn preferred_spread_without_surge_places_one_pod_per_node() {
    let mut twin = homelab();
    uncordon(&mut twin, "worker-1");
    let mut web = json!({
        "metadata": {"name": "dns", "namespace": "apps"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "dns"}},
            "template": {"metadata": {"labels": {"app": "dns"}}, "spec": {
                "nodeSelector": {"kubernetes.io/hostname": "miniserver"},
                "containers": [{"name": "dns", "image": "example/dns:1"}]}},
        },
    });
    create(&mut twin, "apps", "deployments", web.clone());
    twin.advance(secs(10));
    web["spec"]["replicas"] = json!(2);
    web["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}});
    let selector = json!({"matchLabels": {"app": "dns"}});
    edit(&mut twin, "apps", "deployments", "apps", "dns", |d| {
        d["spec"] = web["spec"].clone();
        let spec = &mut d["spec"]["template"]["spec"];
        spec.as_object_mut().map(|s| s.remove("nodeSelector"));
        spec["affinity"] = json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}}]}});
        spec["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}]);
    });
    twin.advance(secs(120));
    let running: Vec<_> = pods(&twin, "apps", "dns-")
        .into_iter()
        .filter(is_ready)
        .collect();
    let mut nodes: Vec<&str> = running.iter().map(node_of).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, vec!["miniserver", "worker-1"], "{running:?}");
}

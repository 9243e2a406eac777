//! A loaded scenario is in steady state at t0, and the simulation is deterministic.

mod support;

use serde::Deserialize;
use serde_json::Value;
use support::*;

#[test]
fn homelab_pods_run_where_the_scenario_says() {
    let twin = homelab();
    let all = list(&twin, "", "pods", None);
    // 7 app/system Deployments and StatefulSets on the primary, 4 DaemonSets on both nodes.
    assert_eq!(all.len(), 7 + 4 * 2);
    for pod in &all {
        assert!(is_ready(pod), "{} ready", pod["metadata"]["name"]);
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
        assert!(pod["status"]["podIP"].is_string());
        let owner = &pod["metadata"]["ownerReferences"][0];
        assert_eq!(owner["controller"], true);
        if owner["kind"] != "DaemonSet" {
            assert_eq!(node_of(pod), "miniserver", "{}", pod["metadata"]["name"]);
        }
    }
    let workers: Vec<_> = all.iter().filter(|p| node_of(p) == "worker-1").collect();
    assert_eq!(workers.len(), 4);
    let qdrant = get(&twin, "", "pods", "apps", "qdrant-0");
    assert!(qdrant["metadata"]["labels"]["controller-revision-hash"].is_string());
    let coredns = pods(&twin, "kube-system", "coredns-");
    assert_eq!(coredns.len(), 1);
    let hash = coredns[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("hash");
    assert!(
        coredns[0]["metadata"]["name"]
            .as_str()
            .expect("name")
            .starts_with(&format!("coredns-{hash}-"))
    );
}

#[test]
fn workload_statuses_endpoints_and_leases_are_in_place() {
    let twin = homelab();
    let d = get(&twin, "apps", "deployments", "kube-system", "coredns");
    assert_eq!(d["status"]["readyReplicas"], 1);
    assert_eq!(d["status"]["availableReplicas"], 1);
    assert_eq!(d["status"]["updatedReplicas"], 1);
    assert_eq!(d["status"]["observedGeneration"], 1);
    let ds = get(
        &twin,
        "apps",
        "daemonsets",
        "longhorn-system",
        "longhorn-manager",
    );
    assert_eq!(ds["status"]["desiredNumberScheduled"], 2);
    assert_eq!(ds["status"]["numberReady"], 2);
    let sts = get(&twin, "apps", "statefulsets", "apps", "qdrant");
    assert_eq!(sts["status"]["readyReplicas"], 1);
    let slices = list(
        &twin,
        "discovery.k8s.io",
        "endpointslices",
        Some("kube-system"),
    );
    let dns = slices
        .iter()
        .find(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns")
        .expect("kube-dns slice");
    assert_eq!(dns["endpoints"][0]["conditions"]["ready"], true);
    assert_eq!(dns["endpoints"][0]["nodeName"], "miniserver");
    for node in ["miniserver", "worker-1"] {
        let lease = get(
            &twin,
            "coordination.k8s.io",
            "leases",
            "kube-node-lease",
            node,
        );
        assert_eq!(lease["spec"]["holderIdentity"], node);
    }
    assert_eq!(
        twin.store.list(rt("", "events"), None).count(),
        0,
        "a steady cluster has no news"
    );
}

#[test]
fn longhorn_objects_are_exactly_as_given_at_t0() {
    let twin = homelab();
    let mut checked = 0;
    for document in serde_norway::Deserializer::from_str(posture_twin::HOMELAB_SCENARIO) {
        let doc = Value::deserialize(document).expect("yaml");
        let api = doc["apiVersion"].as_str().unwrap_or("");
        if !api.starts_with("longhorn.io/") && doc["kind"] != "StorageClass" {
            continue;
        }
        let rt = posture_twin::resources::by_kind(api, doc["kind"].as_str().unwrap_or(""))
            .expect("known");
        let key = posture_twin::store::ObjectKey::new(
            rt,
            doc["metadata"]["namespace"].as_str().unwrap_or(""),
            doc["metadata"]["name"].as_str().unwrap_or(""),
        );
        let live = twin.store.get(&key).expect("present");
        for field in ["spec", "status", "value", "parameters"] {
            assert_eq!(live.get(field), doc.get(field), "{} {}", key.name, field);
        }
        checked += 1;
    }
    assert!(checked > 20);
}

fn scripted() -> Vec<Value> {
    let mut twin = homelab();
    twin.advance(secs(30));
    twin.inject(&posture_twin::fault::Fault::StopNode {
        node: "worker-1".into(),
    });
    twin.advance(secs(90));
    edit(
        &mut twin,
        "apps",
        "deployments",
        "kube-system",
        "coredns",
        |d| {
            d["spec"]["replicas"] = Value::from(2);
        },
    );
    twin.inject(&posture_twin::fault::Fault::StartNode {
        node: "worker-1".into(),
    });
    twin.advance(secs(120));
    dump(&twin)
}

#[test]
fn two_twins_with_the_same_inputs_end_identical() {
    assert_eq!(scripted(), scripted());
}

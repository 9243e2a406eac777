//! The scheduler's rules, each both ways, on the homelab (worker-1 cordoned).

mod support;

use serde_json::{Value, json};
use support::*;

fn deployment(name: &str, replicas: i64, pod_spec: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "example/c:1"}]});
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), pod_spec.as_object()) {
        s.extend(extra.clone());
    }
    json!({
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    })
}

fn run(twin: &mut posture_twin::Twin, object: Value) {
    create(twin, "apps", "deployments", object);
    twin.advance(secs(5));
}

fn failed_scheduling(twin: &posture_twin::Twin, prefix: &str) -> Vec<String> {
    events(twin, "FailedScheduling", prefix)
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn node_selector_places_or_leaves_pending() {
    let mut twin = homelab();
    run(
        &mut twin,
        deployment(
            "sel-ok",
            1,
            json!({"nodeSelector": {"kubernetes.io/hostname": "miniserver"}}),
        ),
    );
    let ok = pods(&twin, "apps", "sel-ok-");
    assert_eq!(node_of(&ok[0]), "miniserver");
    assert!(is_ready(&ok[0]));
    run(
        &mut twin,
        deployment("sel-no", 1, json!({"nodeSelector": {"disk": "ssd"}})),
    );
    let no = pods(&twin, "apps", "sel-no-");
    assert_eq!(node_of(&no[0]), "");
    assert_eq!(no[0]["status"]["phase"], "Pending");
    assert_eq!(no[0]["status"]["conditions"][0]["status"], "False");
    let messages = failed_scheduling(&twin, "sel-no-");
    assert_eq!(messages.len(), 1, "one event until the cluster changes");
    assert!(messages[0].starts_with("0/2 nodes are available: "));
    assert!(messages[0].contains("1 node(s) didn't match Pod's node affinity/selector"));
    assert!(messages[0].contains("1 node(s) were unschedulable"));
    // Retried as the cluster changes.
    edit(&mut twin, "", "nodes", "", "miniserver", |n| {
        n["metadata"]["labels"]["disk"] = json!("ssd")
    });
    twin.advance(secs(5));
    assert_eq!(node_of(&pods(&twin, "apps", "sel-no-")[0]), "miniserver");
}

#[test]
fn required_node_affinity_and_the_cordon() {
    let mut twin = homelab();
    let away = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["miniserver"]}]}]}}}});
    run(&mut twin, deployment("away", 1, away.clone()));
    assert_eq!(node_of(&pods(&twin, "apps", "away-")[0]), "");
    uncordon(&mut twin, "worker-1");
    twin.advance(secs(5));
    let placed = pods(&twin, "apps", "away-");
    assert_eq!(node_of(&placed[0]), "worker-1");
    assert!(is_ready(&placed[0]));
    let exists = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}]}}}});
    run(&mut twin, deployment("cp", 1, exists));
    assert_eq!(node_of(&pods(&twin, "apps", "cp-")[0]), "miniserver");
    let none = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "DoesNotExist"}]}]}}}});
    run(&mut twin, deployment("none", 1, none));
    assert_eq!(node_of(&pods(&twin, "apps", "none-")[0]), "");
}

#[test]
fn tolerations_open_tainted_and_cordoned_nodes() {
    let mut twin = homelab();
    let spec = |tolerate: bool| {
        let mut s = json!({"nodeSelector": {"kubernetes.io/hostname": "worker-1"}});
        if tolerate {
            s["tolerations"] = json!([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]);
        }
        s
    };
    run(&mut twin, deployment("tol", 1, spec(true)));
    run(&mut twin, deployment("notol", 1, spec(false)));
    assert_eq!(node_of(&pods(&twin, "apps", "tol-")[0]), "worker-1");
    assert_eq!(node_of(&pods(&twin, "apps", "notol-")[0]), "");
    edit(&mut twin, "", "nodes", "", "miniserver", |n| {
        n["spec"]["taints"] = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
    });
    run(&mut twin, deployment("tainted", 1, json!({})));
    let messages = failed_scheduling(&twin, "tainted-");
    assert!(
        messages[0].contains("1 node(s) had untolerated taint {dedicated: db}"),
        "{messages:?}"
    );
    run(
        &mut twin,
        deployment(
            "tainted-ok",
            1,
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}),
        ),
    );
    assert_eq!(
        node_of(&pods(&twin, "apps", "tainted-ok-")[0]),
        "miniserver"
    );
}

fn anti_affinity(name: &str) -> Value {
    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": name}}, "topologyKey": "kubernetes.io/hostname"}]}}})
}

#[test]
fn required_pod_anti_affinity_spreads_or_waits() {
    let mut twin = homelab();
    run(&mut twin, deployment("anti", 2, anti_affinity("anti")));
    let placed = pods(&twin, "apps", "anti-");
    let bound: Vec<_> = placed
        .iter()
        .map(node_of)
        .filter(|n| !n.is_empty())
        .collect();
    assert_eq!(bound, vec!["miniserver"]);
    let messages = failed_scheduling(&twin, "anti-");
    assert!(
        messages[0].contains("1 node(s) didn't match pod anti-affinity rules"),
        "{messages:?}"
    );
    assert!(messages[0].contains("1 node(s) were unschedulable"));
    uncordon(&mut twin, "worker-1");
    twin.advance(secs(5));
    let mut nodes: Vec<_> = pods(&twin, "apps", "anti-")
        .iter()
        .map(|p| node_of(p).to_owned())
        .collect();
    nodes.sort();
    assert_eq!(nodes, vec!["miniserver", "worker-1"]);
}

#[test]
fn an_existing_pods_required_anti_affinity_keeps_matching_pods_off_its_node() {
    let mut twin = homelab();
    // The guard repels pods labelled app=intruder; the intruder itself asks for nothing.
    let mut guard = deployment("guard", 1, anti_affinity("intruder"));
    guard["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/hostname": "miniserver"});
    run(&mut twin, guard);
    assert_eq!(node_of(&pods(&twin, "apps", "guard-")[0]), "miniserver");
    run(
        &mut twin,
        deployment(
            "intruder",
            1,
            json!({"nodeSelector": {"kubernetes.io/hostname": "miniserver"}}),
        ),
    );
    let intruder = pods(&twin, "apps", "intruder-");
    assert_eq!(node_of(&intruder[0]), "", "the guard's anti-affinity holds");
    let messages = failed_scheduling(&twin, "intruder-");
    assert!(
        messages[0].contains("didn't match pod anti-affinity rules"),
        "{messages:?}"
    );
}

#[test]
fn topology_spread_keeps_skew_or_waits() {
    let mut twin = homelab();
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "spread"}}}]});
    run(&mut twin, deployment("spread", 2, spread.clone()));
    let bound = pods(&twin, "apps", "spread-")
        .iter()
        .filter(|p| !node_of(p).is_empty())
        .count();
    assert_eq!(bound, 1, "the cordoned node still counts as a domain");
    assert!(
        failed_scheduling(&twin, "spread-")[0]
            .contains("didn't match pod topology spread constraints")
    );
    uncordon(&mut twin, "worker-1");
    edit(&mut twin, "apps", "deployments", "apps", "spread", |d| {
        d["spec"]["replicas"] = json!(4)
    });
    twin.advance(secs(5));
    let on = |n: &str| {
        pods(&twin, "apps", "spread-")
            .iter()
            .filter(|p| node_of(p) == n)
            .count()
    };
    assert_eq!((on("miniserver"), on("worker-1")), (2, 2));
}

#[test]
fn resource_requests_must_fit_allocatable() {
    let mut twin = homelab();
    let big = |cpu: &str| json!({"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]});
    run(&mut twin, deployment("fits", 1, big("7")));
    assert_eq!(node_of(&pods(&twin, "apps", "fits-")[0]), "miniserver");
    run(&mut twin, deployment("toobig", 1, big("2")));
    assert_eq!(node_of(&pods(&twin, "apps", "toobig-")[0]), "");
    assert!(failed_scheduling(&twin, "toobig-")[0].contains("1 Insufficient cpu"));
    edit(&mut twin, "apps", "deployments", "apps", "fits", |d| {
        d["spec"]["replicas"] = json!(0)
    });
    twin.advance(secs(5));
    assert_eq!(node_of(&pods(&twin, "apps", "toobig-")[0]), "miniserver");
}

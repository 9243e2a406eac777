//! The judge on signal sequences, and the restore gate and respread on small clusters whose
//! node names are not the homelab's.

use jiff::Timestamp;

use super::restore::{Before, before, respread, unmet};
use super::*;
use crate::ObjectRef;
use crate::detect::{DetectPolicy, Signal, SignalKind};
use crate::load::load_snapshot_str;
use crate::policy::Policy;
use crate::snapshot::Snapshot;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).expect("valid time")
}

fn renewed(lease: &str, holder: &str, seconds: i64) -> Signal {
    let (namespace, name) = lease.split_once('/').expect("namespace/name");
    Signal::new(
        at(seconds),
        SignalKind::LeaseRenewed {
            lease: format!("{namespace}/{name}"),
            holder: holder.into(),
            renew_time: Some(at(seconds)),
            duration_seconds: 15,
        },
    )
}

fn judge(node: &str, leases: &[ObjectRef]) -> Judge {
    Judge::new(&DetectPolicy::default(), node, leases)
}

/// Renews `lease` every 5 s until `stop`, then lets time pass to `until`.
fn run(judge: &mut Judge, lease: &str, stop: i64, until: i64) {
    for second in (0..stop).step_by(5) {
        judge.observe(&renewed(lease, "holder-a", second));
    }
    for second in stop..until {
        judge.observe(&Signal::tick(at(second)));
    }
}

#[test]
fn a_control_plane_lease_that_stops_renewing_breaches_leader_elections() {
    let mut judge = judge("edge-b", &[]);
    judge.begin();
    run(&mut judge, "kube-system/kube-scheduler", 30, 200);
    let breaches = judge.breaches();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(breaches[0].criterion, Criterion::LeaderElectionsSteady);
    assert_eq!(breaches[0].subject, "kube-system/kube-scheduler");
    let results = judge.results();
    let leader = results
        .iter()
        .find(|r| r.criterion == Criterion::LeaderElectionsSteady)
        .expect("judged");
    assert!(!leader.passed);
    assert!(results.iter().filter(|r| r.passed).count() == 4);
    // A gap a read of the lease disproves is taken back, and the criterion holds again.
    for breach in judge.breaches().to_vec() {
        judge.dismiss(&breach);
    }
    assert!(judge.results().iter().all(|r| r.passed));
}

#[test]
fn the_lost_nodes_own_lease_and_leases_held_from_it_may_stop() {
    let held = ObjectRef::new(
        "coordination.k8s.io/v1",
        "Lease",
        Some("kube-system"),
        "ctl",
    );
    let mut judge = judge("edge-b", std::slice::from_ref(&held));
    judge.begin();
    run(&mut judge, "kube-node-lease/edge-b", 30, 200);
    run(&mut judge, "kube-system/ctl", 30, 200);
    assert!(judge.breaches().is_empty(), "{:?}", judge.breaches());
    assert!(judge.results().iter().all(|r| r.passed));
}

#[test]
fn alerts_standing_before_the_drill_are_not_held_against_it() {
    let mut judge = judge("edge-b", &[]);
    run(&mut judge, "kube-system/kube-scheduler", 30, 200);
    let standing = judge.begin();
    assert_eq!(standing.len(), 1);
    let before = judge.breaches().len();
    for second in 200..260 {
        judge.observe(&Signal::tick(at(second)));
    }
    assert_eq!(judge.breaches().len(), before);
}

#[test]
fn evictions_and_node_ready_changes_are_expected_of_a_node_loss() {
    assert_eq!(
        Criterion::of(crate::detect::DetectorKind::EvictionLoop),
        None
    );
    assert_eq!(
        Criterion::of(crate::detect::DetectorKind::NodeReadyFlap),
        None
    );
    assert_eq!(
        Criterion::of(crate::detect::DetectorKind::NoReadyEndpoints),
        Some(Criterion::DnsAndIngressServe)
    );
    // Every criterion is judged by at least one detector.
    for criterion in Criterion::ALL {
        assert!(
            crate::detect::DetectorKind::ALL
                .iter()
                .any(|d| Criterion::of(*d) == Some(criterion)),
            "{criterion:?}"
        );
    }
}

fn node(name: &str, ready: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}}}}}\n\
         spec: {{{extra_spec}}}\nstatus: {{conditions: [{{type: Ready, status: \"{ready}\"}}]}}\n"
    )
}

fn replica(volume: &str, node: &str, state: &str) -> String {
    format!(
        "apiVersion: longhorn.io/v1beta2\nkind: Replica\nmetadata: {{name: {volume}-r-{node}, namespace: longhorn-system}}\n\
         spec: {{volumeName: {volume}, nodeID: {node}}}\nstatus: {{currentState: {state}}}\n"
    )
}

fn volume(name: &str, robustness: &str) -> String {
    format!(
        "apiVersion: longhorn.io/v1beta2\nkind: Volume\nmetadata: {{name: {name}, namespace: longhorn-system}}\n\
         spec: {{numberOfReplicas: 2}}\nstatus: {{state: attached, robustness: {robustness}}}\n"
    )
}

fn snapshot(docs: &[String]) -> Snapshot {
    load_snapshot_str("test.yaml", &docs.join("\n---\n")).expect("fixture loads")
}

const CORDONED: &str =
    "unschedulable: true, taints: [{key: node.kubernetes.io/unschedulable, effect: NoSchedule}]";

fn gate_before() -> Before {
    let docs = [
        node("edge-a", "True", ""),
        node("edge-b", "True", CORDONED),
        volume("vol-1", "healthy"),
        replica("vol-1", "edge-a", "running"),
        replica("vol-1", "edge-b", "running"),
    ];
    before(&snapshot(&docs), "edge-b").expect("node exists")
}

#[test]
fn the_gate_opens_when_the_node_and_its_replicas_are_back_as_before() {
    let before = gate_before();
    assert!(before.unschedulable);
    assert_eq!(before.volumes_on_node.len(), 1);
    let back = [
        node("edge-a", "True", ""),
        node("edge-b", "True", CORDONED),
        volume("vol-1", "healthy"),
        replica("vol-1", "edge-a", "running"),
        replica("vol-1", "edge-b", "running"),
    ];
    assert_eq!(
        unmet(&snapshot(&back), "edge-b", &before),
        Vec::<String>::new()
    );
}

#[test]
fn the_gate_stays_shut_on_a_node_still_down_tainted_or_without_its_replica() {
    let before = gate_before();
    let down = [
        node(
            "edge-b",
            "Unknown",
            "unschedulable: true, taints: [{key: node.kubernetes.io/unschedulable, effect: NoSchedule}, {key: node.kubernetes.io/unreachable, effect: NoExecute}]",
        ),
        volume("vol-1", "degraded"),
        replica("vol-1", "edge-a", "running"),
        replica("vol-1", "edge-b", "error"),
    ];
    let unmet = unmet(&snapshot(&down), "edge-b", &before);
    assert_eq!(unmet.len(), 4, "{unmet:#?}");
    assert!(unmet[0].contains("not Ready"));
    assert!(unmet[1].contains("node.kubernetes.io/unreachable:NoExecute"));
    assert!(unmet[2].contains("vol-1"));
    assert!(unmet[3].contains("vol-1 (degraded)"));
    let uncordoned = [
        node("edge-b", "True", ""),
        replica("vol-1", "edge-b", "running"),
    ];
    let unmet = super::restore::unmet(&snapshot(&uncordoned), "edge-b", &before);
    assert_eq!(unmet.len(), 2, "{unmet:#?}");
    assert!(unmet[0].contains("spec.unschedulable is false, was true"));
}

fn dns_pod(name: &str, node: &str, ready: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: dns, labels: {{app: dns}}, ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: dns-1, uid: u1, controller: true}}]}}\n\
         spec: {{nodeName: {node}, containers: [{{name: c, image: dns}}]}}\nstatus: {{phase: Running, conditions: [{{type: Ready, status: \"{ready}\"}}]}}\n"
    )
}

const DNS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dns, namespace: dns}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: dns}}\n  template:\n    metadata: {labels: {app: dns}}\n    spec: {containers: [{name: c, image: dns}]}\n---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: dns-1, namespace: dns, ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: dns, uid: u0, controller: true}]}\nspec: {selector: {matchLabels: {app: dns}}}\n";

#[test]
fn respread_evicts_one_pod_of_a_workload_the_drill_crowded_onto_one_node() {
    let nodes = [node("edge-a", "True", ""), node("edge-b", "True", "")];
    let mut was = nodes.to_vec();
    was.extend([
        DNS.to_owned(),
        dns_pod("dns-x", "edge-a", "True"),
        dns_pod("dns-y", "edge-b", "True"),
    ]);
    let mut crowded = nodes.to_vec();
    crowded.extend([
        DNS.to_owned(),
        dns_pod("dns-x", "edge-a", "True"),
        dns_pod("dns-z", "edge-a", "True"),
    ]);
    let policy = Policy::default();
    let evict = respread(&snapshot(&was), &snapshot(&crowded), "edge-b", &policy);
    assert_eq!(evict.len(), 1, "{evict:?}");
    assert_eq!(evict[0].name, "dns-z");
    // Back on both nodes already, or a replacement not yet ready: nothing to do.
    assert!(respread(&snapshot(&was), &snapshot(&was), "edge-b", &policy).is_empty());
    let mut unready = nodes.to_vec();
    unready.extend([
        DNS.to_owned(),
        dns_pod("dns-x", "edge-a", "True"),
        dns_pod("dns-z", "edge-a", "False"),
    ]);
    assert!(respread(&snapshot(&was), &snapshot(&unready), "edge-b", &policy).is_empty());
}

#[test]
fn placement_lists_pods_and_replicas_per_node_without_daemon_sets() {
    let docs = [
        node("edge-a", "True", ""),
        node("edge-b", "True", CORDONED),
        DNS.to_owned(),
        dns_pod("dns-x", "edge-a", "True"),
        dns_pod("dns-y", "edge-b", "False"),
        volume("vol-1", "degraded"),
        replica("vol-1", "edge-a", "running"),
        replica("vol-1", "edge-b", "error"),
    ];
    let phase = placement::phase("during", &snapshot(&docs));
    assert_eq!(phase.nodes.len(), 2);
    assert_eq!(phase.nodes[0].pods, vec!["dns/dns-x"]);
    assert_eq!(phase.nodes[1].pods, vec!["dns/dns-y (not ready)"]);
    assert_eq!(phase.nodes[1].replicas, vec!["vol-1 (failed)"]);
    assert!(phase.nodes[1].unschedulable);
}

const TRAEFIK: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: traefik, namespace: kube-system}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app.kubernetes.io/name: traefik}}\n  template:\n    metadata: {labels: {app.kubernetes.io/name: traefik, app.kubernetes.io/instance: traefik-kube-system}}\n    spec: {containers: [{name: traefik, image: 'rancher/mirrored-library-traefik:2.11.2'}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: traefik, namespace: kube-system}\nspec:\n  selector: {app.kubernetes.io/name: traefik}\n  ports: [{name: websecure, port: 443}, {name: web, port: 80}]\n";

#[test]
fn the_probe_asks_the_ingress_service_from_a_ready_node_that_stays() {
    let docs = [
        node("edge-a", "True", ""),
        node("edge-b", "True", ""),
        node("edge-c", "False", ""),
        TRAEFIK.to_owned(),
    ];
    let target = probe::target(&snapshot(&docs), &Policy::default(), "edge-a").expect("a target");
    assert_eq!(
        target.node, "edge-b",
        "not the lost node, nor a NotReady one"
    );
    assert_eq!(target.host, "traefik.kube-system.svc.cluster.local");
    assert_eq!(target.port, 80);
    let pod = probe::pod(&target, "p-1");
    assert_eq!(pod["spec"]["nodeName"], "edge-b");
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let script = pod["spec"]["containers"][0]["command"][2]
        .as_str()
        .expect("a script");
    assert!(script.contains("nslookup traefik.kube-system.svc.cluster.local"));
    assert!(script.contains("http://traefik.kube-system.svc.cluster.local:80/"));
    let alone = [node("edge-a", "True", ""), TRAEFIK.to_owned()];
    assert!(probe::target(&snapshot(&alone), &Policy::default(), "edge-a").is_err());
    let no_ingress = [node("edge-a", "True", ""), node("edge-b", "True", "")];
    assert!(probe::target(&snapshot(&no_ingress), &Policy::default(), "edge-a").is_err());
}

//! `posture drill NODE`'s what-if on the shared homelab scenario and its variants: the only
//! server can never be drilled, the cordoned agent only degrades volumes, the runbook's end state
//! loses one ingress replica and a replica of each volume, and a budget that allows no
//! disruption blocks the drain. The twin's own scheduler places the same pods as the inference.

use posture_core::drill::{
    Blocker, DrillError, PodSource, Verdict, VolumeFate, WhatIf, WorkloadStatus, what_if,
};
use posture_core::{Policy, Snapshot, load_snapshot_str};
use serde_json::Value;

const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");
const FIXED: &str = include_str!("../../../scenarios/homelab-fixed.yaml");
const STRICT_PDB: &str = include_str!("../../../scenarios/homelab-fixed-strict-pdb.yaml");
const DOC: &str = include_str!("../../../docs/drill.md");
const VERDICT_SOURCES: [&str; 4] = [
    include_str!("../src/drill/mod.rs"),
    include_str!("../src/drill/verdict/mod.rs"),
    include_str!("../src/drill/verdict/volumes.rs"),
    include_str!("../src/drill/verdict/workloads.rs"),
];

const QDRANT_VOL: &str = "pvc-6a1f0c3e-7b2d-4e9a-9c41-0d3b5e8f1a20";
const GITEA_VOL: &str = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31";
const HA_VOL: &str = "pvc-2c44a8f0-91d3-4b7e-8a65-e3f1c2b0d942";
const NEXTCLOUD_VOL: &str = "pvc-e80b5d19-4a2c-4e8f-9f70-b6d2a1c3e053";
const MEDIA_VOL: &str = "pvc-51aa7c3d-2e6f-4d81-a9b0-c4e5f6a7b864";

fn snapshot(name: &str, text: &str) -> Snapshot {
    load_snapshot_str(name, text).expect("scenario loads")
}

fn drill(name: &str, text: &str, node: &str) -> WhatIf {
    what_if(&snapshot(name, text), node, &Policy::default()).expect("the node exists")
}

/// `id` on an object named `name`, in `list`.
#[track_caller]
fn named<'a, T>(list: &'a [T], id: &str, name: &str, of: impl Fn(&T) -> (&str, &str)) -> &'a T {
    list.iter()
        .find(|x| of(x) == (id, name))
        .unwrap_or_else(|| {
            let have: Vec<(&str, &str)> = list.iter().map(&of).collect();
            panic!("no {id} on {name}; have {have:?}")
        })
}

#[track_caller]
fn blocker<'a>(w: &'a WhatIf, id: &str, name: &str) -> &'a Blocker {
    named(&w.blockers, id, name, |b| {
        (b.id.as_str(), b.object.name.as_str())
    })
}

fn volumes_by_fate(w: &WhatIf, fate: VolumeFate) -> Vec<&str> {
    let mut names: Vec<&str> = (w.volumes.iter())
        .filter(|v| v.fate == fate)
        .map(|v| v.volume.name.as_str())
        .collect();
    names.sort_unstable();
    names
}

#[test]
fn the_only_server_is_unsafe_naming_the_api_its_volumes_coredns_and_haproxy() {
    let w = drill("homelab.yaml", HOMELAB, "miniserver");
    assert_eq!(w.verdict, Verdict::Unsafe);
    assert!(
        matches!(w.pods, PodSource::Inferred { .. }),
        "the scenario lists no pods"
    );

    let api = blocker(&w, "drill.control-plane.api", "miniserver");
    assert!(api.message.contains("only k3s server"), "{}", api.message);
    assert!(
        api.message.contains("can never be drilled for real"),
        "{}",
        api.message
    );
    let cp = w
        .control_plane
        .as_ref()
        .expect("the control plane goes with it");
    assert!(!cp.drillable);
    let down: Vec<&str> = cp.apps_down.iter().map(|o| o.name.as_str()).collect();
    for app in [
        "coredns",
        "haproxy-kubernetes-ingress",
        "qdrant",
        "gitea",
        "home-assistant",
        "nextcloud",
        "jellyfin",
    ] {
        assert!(
            down.contains(&app),
            "{app} is down with the server: {down:?}"
        );
    }
    let pinned: Vec<&str> = cp.pinned.iter().map(|o| o.name.as_str()).collect();
    assert!(
        pinned.contains(&"haproxy-kubernetes-ingress") && !pinned.contains(&"qdrant"),
        "{pinned:?}"
    );
    assert_eq!(
        cp.attached_volumes.len(),
        5,
        "every volume is attached on the server"
    );
    let leases: Vec<&str> = api
        .evidence
        .iter()
        .filter(|e| e.object.kind == "Lease")
        .map(|e| e.object.name.as_str())
        .collect();
    assert_eq!(leases, ["kube-scheduler", "kube-controller-manager"]);

    // The single-replica volume, and the one whose two replicas share the server, fault.
    assert_eq!(
        volumes_by_fate(&w, VolumeFate::Faulted),
        [HA_VOL, QDRANT_VOL]
    );
    let qdrant = blocker(&w, "drill.volume.faulted", QDRANT_VOL);
    assert!(
        qdrant.message.contains("apps/qdrant-storage"),
        "{}",
        qdrant.message
    );
    assert!(
        qdrant.message.contains("block-if-contains-last-replica"),
        "{}",
        qdrant.message
    );
    assert!(
        qdrant
            .evidence
            .iter()
            .any(|e| e.field == "spec.nodeID" && e.value == "miniserver")
    );
    assert_eq!(
        volumes_by_fate(&w, VolumeFate::Degraded),
        [MEDIA_VOL, GITEA_VOL, NEXTCLOUD_VOL]
    );

    // The single CoreDNS and HAProxy go, and so do the Services every app is reached by.
    let coredns = blocker(&w, "drill.workload.down", "coredns");
    assert!(
        coredns
            .message
            .contains("goes Pending by the cordon on worker-1"),
        "{}",
        coredns.message
    );
    let haproxy = blocker(&w, "drill.workload.down", "haproxy-kubernetes-ingress");
    assert!(
        haproxy
            .message
            .contains("the cordon and node selector / node affinity on worker-1"),
        "{}",
        haproxy.message
    );
    assert!(
        haproxy
            .evidence
            .iter()
            .any(|e| e.field == "spec.template.spec.nodeSelector"
                && e.value == serde_json::json!({"kubernetes.io/hostname": "miniserver"}))
    );
    blocker(&w, "drill.service.no-endpoints", "kube-dns");
    blocker(
        &w,
        "drill.service.no-endpoints",
        "haproxy-kubernetes-ingress",
    );
    for app in ["qdrant", "gitea", "home-assistant", "nextcloud", "jellyfin"] {
        blocker(&w, "drill.workload.down", app);
    }
}

#[test]
fn the_cordoned_agent_is_safe_degraded_as_only_volumes_lose_a_replica() {
    let w = drill("homelab.yaml", HOMELAB, "worker-1");
    assert_eq!(w.verdict, Verdict::SafeDegraded, "{:#?}", w.blockers);
    assert!(w.blockers.is_empty());
    assert!(w.control_plane.is_none());
    // Only DaemonSets run there; their pods belong to the node.
    assert_eq!(w.workloads.len(), 4);
    assert!(
        w.workloads
            .iter()
            .all(|o| o.status == WorkloadStatus::NodeLocal)
    );
    assert!(w.services.is_empty() && w.disruption_budgets.is_empty() && w.leases.is_empty());
    // gitea, nextcloud and media keep a replica on worker-1; qdrant and ha-config have none there.
    assert_eq!(
        volumes_by_fate(&w, VolumeFate::Degraded),
        [MEDIA_VOL, GITEA_VOL, NEXTCLOUD_VOL]
    );
    assert_eq!(w.volumes.len(), 3);
    let elsewhere = |name: &str| {
        let v = w
            .volumes
            .iter()
            .find(|v| v.volume.name == name)
            .expect("listed");
        v.healthy_elsewhere.clone()
    };
    assert_eq!(elsewhere(GITEA_VOL), ["miniserver", "miniserver"]);
    assert_eq!(
        elsewhere(MEDIA_VOL),
        ["miniserver"],
        "its failed replica does not count"
    );
    let [only] = w.degradations.as_slice() else {
        panic!("one degradation: {:#?}", w.degradations)
    };
    assert_eq!(only.id, "drill.volume.degraded");
    assert!(
        only.message.starts_with("3 volumes degraded, 0 faulted"),
        "{}",
        only.message
    );
}

#[test]
fn the_runbooks_end_state_keeps_one_ingress_replica_and_degrades_every_volume() {
    let w = drill("homelab-fixed.yaml", FIXED, "worker-1");
    assert_eq!(w.verdict, Verdict::SafeDegraded, "{:#?}", w.blockers);
    let ids: Vec<&str> = w.degradations.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["drill.workload.partial", "drill.volume.degraded"]);
    let haproxy = &w.degradations[0];
    assert_eq!(haproxy.object.name, "haproxy-kubernetes-ingress");
    assert!(
        haproxy.message.contains("1 of 2 ready"),
        "{}",
        haproxy.message
    );
    assert!(
        haproxy
            .message
            .contains("Pending by required pod anti-affinity"),
        "{}",
        haproxy.message
    );
    assert!(
        w.degradations[1]
            .message
            .starts_with("5 volumes degraded, 0 faulted")
    );
    // CoreDNS prefers spreading but may share a node: its pod moves to the server.
    let coredns = w
        .workloads
        .iter()
        .find(|o| o.workload.name == "coredns")
        .expect("listed");
    assert_eq!(
        (coredns.status, coredns.ready_after),
        (WorkloadStatus::Moves, 2)
    );
    let dns = w
        .services
        .iter()
        .find(|s| s.service.name == "kube-dns")
        .expect("listed");
    assert_eq!((dns.critical, dns.ready_now, dns.ready_left), (true, 2, 1));
    // Both budgets allow one disruption: neither holds the drain.
    assert_eq!(w.disruption_budgets.len(), 2);
    assert!(
        w.disruption_budgets
            .iter()
            .all(|b| b.disruptions_allowed == 1 && b.blocked.is_empty())
    );
}

#[test]
fn a_budget_that_allows_no_disruption_makes_the_drill_unsafe_naming_it() {
    let w = drill("homelab-fixed-strict-pdb.yaml", STRICT_PDB, "worker-1");
    assert_eq!(w.verdict, Verdict::Unsafe);
    let [only] = w.blockers.as_slice() else {
        panic!("one blocker: {:#?}", w.blockers)
    };
    assert_eq!(only.id, "drill.pdb.blocks-eviction");
    assert_eq!(
        only.object.to_string(),
        "PodDisruptionBudget haproxy-controller/haproxy-kubernetes-ingress"
    );
    assert!(
        only.message.contains("needs 2 healthy pods and has 2"),
        "{}",
        only.message
    );
    let evidence = &only.evidence[0];
    assert_eq!(
        (evidence.field.as_str(), &evidence.value),
        ("status.disruptionsAllowed", &Value::from(0))
    );
    assert_eq!(
        evidence.command,
        "kubectl get poddisruptionbudget haproxy-kubernetes-ingress -n haproxy-controller -o jsonpath='{.status.disruptionsAllowed}'"
    );
}

/// The variant stays homelab-fixed.yaml but for its budget, so the two cannot drift apart.
#[test]
fn the_strict_budget_variant_differs_from_the_fixed_scenario_only_in_its_budget() {
    let documents = |text: &str| -> Vec<Value> {
        use serde::Deserialize;
        serde_norway::Deserializer::from_str(text)
            .map(|d| Value::deserialize(d).expect("valid YAML"))
            .collect()
    };
    let (fixed, strict) = (documents(FIXED), documents(STRICT_PDB));
    assert_eq!(fixed.len(), strict.len());
    let differing: Vec<(&Value, &Value)> =
        fixed.iter().zip(&strict).filter(|(a, b)| a != b).collect();
    let [(before, after)] = differing.as_slice() else {
        panic!("exactly one document differs, not {}", differing.len())
    };
    assert_eq!(before["kind"], "PodDisruptionBudget");
    assert_eq!(before["spec"]["maxUnavailable"], 1);
    assert_eq!(after["spec"]["minAvailable"], 2);
}

#[test]
fn an_unknown_node_is_an_error_naming_the_nodes_there_are() {
    let err = what_if(
        &snapshot("homelab.yaml", HOMELAB),
        "worker-2",
        &Policy::default(),
    )
    .expect_err("no such node");
    assert!(
        matches!(&err, DrillError::UnknownNode { known, .. } if known == &["miniserver", "worker-1"])
    );
    assert_eq!(
        err.to_string(),
        "node worker-2 is not in the snapshot (its nodes: miniserver, worker-1)"
    );
}

#[test]
fn every_blocker_and_degradation_carries_evidence_a_person_can_check() {
    for (name, text) in [
        ("homelab.yaml", HOMELAB),
        ("homelab-fixed.yaml", FIXED),
        ("strict.yaml", STRICT_PDB),
    ] {
        for node in ["miniserver", "worker-1"] {
            let w = drill(name, text, node);
            let issues = (w.blockers.iter().map(|b| (&b.id, &b.evidence)))
                .chain(w.degradations.iter().map(|d| (&d.id, &d.evidence)));
            for (id, evidence) in issues {
                assert!(!evidence.is_empty(), "{name} {node}: {id} has no evidence");
                for e in evidence {
                    assert!(e.command.starts_with("kubectl "), "{id}: {}", e.command);
                }
            }
        }
    }
}

#[test]
fn the_answer_serialises_with_kebab_case_verdicts_and_reads_back() {
    let w = drill("homelab-fixed.yaml", FIXED, "worker-1");
    let json = serde_json::to_value(&w).expect("serialises");
    assert_eq!(json["schema"], "posture.dev/v1/drill");
    assert_eq!(json["verdict"], "safe-degraded");
    assert_eq!(json["pods"]["from"], "inferred");
    assert_eq!(
        json["workloads"][1]["replacements"][0]["outcome"],
        "pending"
    );
    let back: WhatIf = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, w);
}

/// docs/drill.md lists every id a blocker or degradation can carry, and no other.
#[test]
fn every_id_is_documented() {
    let mut made: Vec<&str> = VERDICT_SOURCES
        .iter()
        .flat_map(|source| source.split('"').skip(1).step_by(2))
        .filter(|literal| literal.starts_with("drill.") && !literal.contains(' '))
        .collect();
    made.sort_unstable();
    made.dedup();
    let mut documented: Vec<&str> = DOC
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with("drill.") && !code.contains(' '))
        .collect();
    documented.sort_unstable();
    documented.dedup();
    assert_eq!(made.len(), 11, "{made:?}");
    assert_eq!(documented, made);
}

/// Whatever a scenario holds (pods listed or not, pods unreadable, other node names, no
/// Longhorn), every node of it gets an answer.
#[test]
fn every_node_of_every_scenario_gets_an_answer() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut judged = 0;
    for entry in std::fs::read_dir(&dir).expect("the scenarios") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        let snap = snapshot(&path.display().to_string(), &text);
        for node in &snap.nodes {
            let name = node.metadata.name.as_deref().expect("named");
            let w = what_if(&snap, name, &Policy::default()).expect("the node exists");
            assert_eq!(
                w.verdict == Verdict::Unsafe,
                !w.blockers.is_empty(),
                "{}",
                path.display()
            );
            judged += 1;
        }
    }
    assert!(judged >= 12, "{judged}");
}

/// The twin's scheduler, controllers and kubelets make the pods; the what-if on the cluster it
/// settles to, pods listed, agrees with the one that had to infer them.
#[test]
fn listed_pods_from_the_twin_give_the_same_answer_as_inferred_ones() {
    for (name, text) in [
        ("homelab.yaml", HOMELAB),
        ("homelab-fixed.yaml", FIXED),
        ("strict.yaml", STRICT_PDB),
    ] {
        let listed = twin_snapshot(name, text);
        assert!(!listed.pods.is_empty());
        for node in ["miniserver", "worker-1"] {
            let inferred = drill(name, text, node);
            let seen = what_if(&listed, node, &Policy::default()).expect("the node exists");
            assert_eq!(seen.pods, PodSource::Listed);
            // The store lists objects by name, the scenario in its own order.
            let issues = |w: &WhatIf| -> Vec<(String, String)> {
                let mut all: Vec<(String, String)> = (w.blockers.iter())
                    .map(|b| (b.id.clone(), b.object.to_string()))
                    .chain(
                        w.degradations
                            .iter()
                            .map(|d| (d.id.clone(), d.object.to_string())),
                    )
                    .collect();
                all.sort();
                all
            };
            assert_eq!(seen.verdict, inferred.verdict, "{name} {node}");
            assert_eq!(issues(&seen), issues(&inferred), "{name} {node}");
            let statuses = |w: &WhatIf| -> Vec<(String, WorkloadStatus, usize)> {
                let mut all: Vec<_> = (w.workloads.iter())
                    .map(|o| (o.workload.to_string(), o.status, o.on_node))
                    .collect();
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all
            };
            assert_eq!(statuses(&seen), statuses(&inferred), "{name} {node}");
        }
    }
}

fn twin_snapshot(name: &str, text: &str) -> Snapshot {
    let mut twin = posture_twin::Twin::new("2026-11-23T12:00:00Z".parse().expect("a time"));
    twin.load_scenario(name, text).expect("the twin loads it");
    twin.advance(jiff::SignedDuration::from_secs(60));
    let mut snapshot = Snapshot::default();
    for rt in posture_twin::resources::RESOURCES {
        for (_, object) in twin.store.list(rt, None) {
            let mut object = object.clone();
            object["apiVersion"] = Value::from(rt.api_version());
            object["kind"] = Value::from(rt.kind);
            posture_core::load::add_object(&mut snapshot, object, "twin")
                .expect("the twin's objects load");
        }
    }
    snapshot
}

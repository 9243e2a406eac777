//! 2.4 Longhorn: settings in both formats, StorageClass and ConfigMap, and every volume check.

use serde_json::json;

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Severity};
use crate::snapshot::{Longhorn, Snapshot};

fn runbook_settings() -> Vec<crate::longhorn::Setting> {
    vec![
        setting("default-replica-count", r#"{"v1":"2","v2":"2"}"#),
        setting("replica-soft-anti-affinity", "false"),
        setting("replica-auto-balance", "disabled"),
        setting("replica-replenishment-wait-interval", "600"),
        setting("concurrent-replica-rebuild-per-node-limit", "1"),
        setting("node-drain-policy", "block-if-contains-last-replica"),
    ]
}

/// One volume `v` with replicas on the given nodes, all RW, plus two Longhorn nodes.
fn one_volume(count: i64, nodes: &[&str]) -> Longhorn {
    let replicas: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| replica("v", &format!("v-r-{i}"), n).build())
        .collect();
    let names: Vec<String> = (0..nodes.len()).map(|i| format!("v-r-{i}")).collect();
    let modes: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "RW")).collect();
    let mut settings = runbook_settings();
    settings.push(setting(
        "node-down-pod-deletion-policy",
        "delete-both-statefulset-and-deployment-pod",
    ));
    Longhorn {
        settings,
        volumes: vec![volume("v", count).build()],
        replicas,
        engines: vec![engine("v", &modes).build()],
        nodes: vec![lh_node("p"), lh_node("s")],
    }
}

fn lh_mut(snap: &mut Snapshot) -> &mut Longhorn {
    snap.longhorn.as_mut().expect("longhorn present")
}

#[test]
fn a_volume_meeting_the_runbook_passes_every_check() {
    let r = run(&with_longhorn(one_volume(2, &["p", "s"])));
    for c in r
        .checks
        .iter()
        .filter(|c| c.id.starts_with("longhorn.") && c.id != "longhorn.storageclass.replicas")
    {
        assert_eq!(c.status, CheckStatus::Pass, "{} {:?}", c.id, c.detail);
    }
}

#[test]
fn settings_are_judged_in_both_formats() {
    let mut snap = with_longhorn(one_volume(2, &["p", "s"]));
    lh_mut(&mut snap).settings[0] = setting("default-replica-count", r#"{"v1":"3","v2":"2"}"#);
    lh_mut(&mut snap).settings[1] = setting("replica-soft-anti-affinity", "True");
    let r = run(&snap);
    assert_eq!(
        findings(&r, "longhorn.setting.default-replica-count"),
        vec![("default-replica-count".into(), Severity::Warning)]
    );
    assert!(r.findings.iter().any(|f| {
        f.remediation
            .as_deref()
            .is_some_and(|m| m.contains(r#"{\"v1\":\"2\",\"v2\":\"2\"}"#))
    }));
    assert_eq!(
        findings(&r, "longhorn.setting.replica-soft-anti-affinity").len(),
        1
    );
    lh_mut(&mut snap).settings[0] = setting("default-replica-count", "2");
    lh_mut(&mut snap).settings[1] = setting("replica-soft-anti-affinity", "FALSE");
    let r = run(&snap);
    assert_eq!(
        status(&r, "longhorn.setting.default-replica-count").0,
        CheckStatus::Pass
    );
    assert_eq!(
        status(&r, "longhorn.setting.replica-soft-anti-affinity").0,
        CheckStatus::Pass
    );
    lh_mut(&mut snap).settings.remove(2);
    assert_eq!(
        status(&run(&snap), "longhorn.setting.replica-auto-balance").0,
        CheckStatus::Unknown
    );
}

/// Each refused value says what it does on two nodes: `block-for-eviction` under hard
/// anti-affinity waits for an eviction that has nowhere to go.
#[test]
fn node_drain_policy_findings_say_what_each_value_does_on_two_nodes() {
    let message = |value: &str, soft: &str| {
        let mut snap = with_longhorn(one_volume(2, &["p", "s"]));
        lh_mut(&mut snap).settings[1] = setting("replica-soft-anti-affinity", soft);
        lh_mut(&mut snap).settings[5] = setting("node-drain-policy", value);
        let report = run(&snap);
        let found: Vec<_> = (report.findings.iter())
            .filter(|f| f.id == "longhorn.node-drain-policy")
            .map(|f| f.message.clone())
            .collect();
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        found[0].clone()
    };
    let blocked = message("block-for-eviction", "false");
    assert!(
        blocked.contains("nowhere to go") && blocked.contains("never completes"),
        "{blocked}"
    );
    let waits = message("block-for-eviction", "true");
    assert!(waits.contains("rebuilt on other nodes"), "{waits}");
    let faults = message("always-allow", "false");
    assert!(faults.contains("last healthy replica"), "{faults}");
    let per_engine = message(
        r#"{"v1":"block-if-contains-last-replica","v2":"always-allow"}"#,
        "false",
    );
    assert!(per_engine.contains("last healthy replica"), "{per_engine}");
}

#[test]
fn node_drain_policy_must_protect_the_last_replica() {
    let mut snap = with_longhorn(one_volume(2, &["p", "s"]));
    lh_mut(&mut snap).settings[5] = setting("node-drain-policy", "always-allow");
    assert_eq!(findings(&run(&snap), "longhorn.node-drain-policy").len(), 1);
    lh_mut(&mut snap).settings[5] = setting(
        "node-drain-policy",
        "block-for-eviction-if-contains-last-replica",
    );
    assert_eq!(
        status(&run(&snap), "longhorn.node-drain-policy").0,
        CheckStatus::Pass
    );
}

#[test]
fn replica_count_must_be_exactly_two() {
    for (count, ok) in [(1, false), (2, true), (3, false)] {
        let r = run(&with_longhorn(one_volume(count, &["p", "s"])));
        let got = findings(&r, "longhorn.volume.replica-count");
        assert_eq!(got.is_empty(), ok, "{count}: {got:?}");
        if !ok {
            assert_eq!(got[0].1, Severity::Error);
        }
    }
}

#[test]
fn placement_needs_one_healthy_replica_per_node() {
    let both_on_p = run(&with_longhorn(one_volume(2, &["p", "p"])));
    assert_eq!(
        findings(&both_on_p, "longhorn.volume.replica-placement"),
        vec![("v".into(), Severity::Error)]
    );
    let only_p = run(&with_longhorn(one_volume(1, &["p"])));
    assert_eq!(
        findings(&only_p, "longhorn.volume.replica-placement").len(),
        1
    );
    // A failed third replica does not count against placement; a failed second one does.
    let mut lh = one_volume(3, &["p", "s", "p"]);
    lh.replicas[2] = replica("v", "v-r-2", "p").failed().build();
    lh.engines = vec![engine("v", &[("v-r-0", "RW"), ("v-r-1", "RW"), ("v-r-2", "ERR")]).build()];
    assert!(
        findings(
            &run(&with_longhorn(lh.clone())),
            "longhorn.volume.replica-placement"
        )
        .is_empty()
    );
    lh.replicas[1] = replica("v", "v-r-1", "s").failed().build();
    assert_eq!(
        findings(
            &run(&with_longhorn(lh)),
            "longhorn.volume.replica-placement"
        )
        .len(),
        1
    );
    // A rebuilding (WO) replica is not yet healthy.
    let mut lh = one_volume(2, &["p", "s"]);
    lh.engines = vec![engine("v", &[("v-r-0", "RW"), ("v-r-1", "WO")]).build()];
    assert_eq!(
        findings(
            &run(&with_longhorn(lh)),
            "longhorn.volume.replica-placement"
        )
        .len(),
        1
    );
}

#[test]
fn detached_volumes_are_placed_by_their_replicas() {
    let mut lh = one_volume(2, &["p", "s"]);
    lh.volumes = vec![
        volume("v", 2)
            .set(
                "status",
                json!({"state": "detached", "robustness": "unknown"}),
            )
            .build(),
    ];
    lh.engines.clear();
    lh.replicas = vec![
        replica("v", "v-r-0", "p")
            .set("status.currentState", json!("stopped"))
            .build(),
        replica("v", "v-r-1", "s")
            .set("status.currentState", json!("stopped"))
            .build(),
    ];
    let r = run(&with_longhorn(lh));
    assert_eq!(
        status(&r, "longhorn.volume.replica-placement").0,
        CheckStatus::Pass
    );
    assert_eq!(
        status(&r, "longhorn.volume.robustness").0,
        CheckStatus::Pass
    );
}

#[test]
fn degraded_or_faulted_volumes_are_errors() {
    for (state, bad) in [("healthy", false), ("degraded", true), ("faulted", true)] {
        let mut lh = one_volume(2, &["p", "s"]);
        lh.volumes = vec![
            volume("v", 2)
                .set("status.robustness", json!(state))
                .build(),
        ];
        let got = findings(&run(&with_longhorn(lh)), "longhorn.volume.robustness");
        assert_eq!(!got.is_empty(), bad, "{state}");
    }
}

#[test]
fn per_volume_overrides_defeat_the_globals() {
    let mut lh = one_volume(2, &["p", "s"]);
    lh.volumes = vec![
        volume("v", 2)
            .set("spec.replicaSoftAntiAffinity", json!("enabled"))
            .set("spec.replicaAutoBalance", json!("least-effort"))
            .build(),
    ];
    assert_eq!(
        findings(
            &run(&with_longhorn(lh.clone())),
            "longhorn.volume.overrides"
        )
        .len(),
        2
    );
    lh.volumes = vec![
        volume("v", 2)
            .set("spec.replicaSoftAntiAffinity", json!("disabled"))
            .set("spec.replicaAutoBalance", json!("disabled"))
            .build(),
    ];
    assert!(findings(&run(&with_longhorn(lh)), "longhorn.volume.overrides").is_empty());
}

/// Zone anti-affinity made hard on a volume, or globally, leaves the second replica nowhere to go
/// when both nodes share a zone (or have none); in two zones it is harmless.
#[test]
fn hard_zone_anti_affinity_in_one_zone_leaves_replicas_unscheduled() {
    let zone = |snap: &mut Snapshot, zones: [&str; 2]| {
        for (node, zone) in snap.nodes.iter_mut().zip(zones) {
            node.metadata
                .labels
                .get_or_insert_default()
                .insert("topology.kubernetes.io/zone".into(), zone.into());
        }
    };
    let hard_zone = |lh: &mut Longhorn| {
        lh.volumes = vec![
            volume("v", 2)
                .set("spec.replicaZoneSoftAntiAffinity", json!("disabled"))
                .build(),
        ];
    };
    let mut lh = one_volume(2, &["p", "s"]);
    hard_zone(&mut lh);
    let report = run(&with_longhorn(lh.clone()));
    let got: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.id == "longhorn.volume.overrides")
        .collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].severity, Severity::Error);
    assert!(
        got[0].message.contains("1 zone(s) (no zone label)"),
        "{}",
        got[0].message
    );
    assert!(
        got[0].message.contains("only 1 of its 2 replicas"),
        "{}",
        got[0].message
    );

    let mut two_zones = with_longhorn(lh.clone());
    zone(&mut two_zones, ["zone-a", "zone-b"]);
    assert!(findings(&run(&two_zones), "longhorn.volume.overrides").is_empty());

    // The global setting false does the same to a volume that does not override it.
    let mut global = one_volume(2, &["p", "s"]);
    global
        .settings
        .push(setting("replica-zone-soft-anti-affinity", "false"));
    let mut one_zone = with_longhorn(global);
    zone(&mut one_zone, ["zone-a", "zone-a"]);
    let report = run(&one_zone);
    let got: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.id == "longhorn.volume.overrides")
        .collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].message.contains("(zone-a)"), "{}", got[0].message);
    assert!(
        got[0].evidence[0].object.kind == "Setting",
        "{:?}",
        got[0].evidence
    );
}

#[test]
fn disk_anti_affinity_matters_only_once_replicas_may_share_a_node() {
    let mut lh = one_volume(2, &["p", "s"]);
    lh.volumes = vec![
        volume("v", 2)
            .set("spec.replicaDiskSoftAntiAffinity", json!("enabled"))
            .build(),
    ];
    assert!(
        findings(
            &run(&with_longhorn(lh.clone())),
            "longhorn.volume.overrides"
        )
        .is_empty()
    );
    lh.volumes = vec![
        volume("v", 2)
            .set("spec.replicaDiskSoftAntiAffinity", json!("enabled"))
            .set("spec.replicaSoftAntiAffinity", json!("enabled"))
            .build(),
    ];
    let report = run(&with_longhorn(lh));
    let messages: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.id == "longhorn.volume.overrides")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages.iter().any(|m| m.contains("one disk")),
        "{messages:#?}"
    );
}

#[test]
fn replica_modes_other_than_rw_are_reported() {
    let mut lh = one_volume(2, &["p", "s"]);
    lh.engines = vec![engine("v", &[("v-r-0", "RW"), ("v-r-1", "WO")]).build()];
    let r = run(&with_longhorn(lh));
    assert_eq!(
        findings(&r, "longhorn.volume.replica-modes"),
        vec![("v".into(), Severity::Warning)]
    );
}

#[test]
fn storage_class_and_its_configmap_both_need_two_replicas() {
    let sc_yaml =
        |n: &str| format!("kind: StorageClass\nparameters:\n  numberOfReplicas: \"{n}\"\n");
    let mut snap = with_longhorn(one_volume(2, &["p", "s"]));
    snap.storage_classes = vec![storage_class("longhorn", "2").build()];
    assert_eq!(
        status(&run(&snap), "longhorn.storageclass.replicas").0,
        CheckStatus::Pass
    );
    snap.storage_classes = vec![
        storage_class("longhorn", "3")
            .annotate(
                "longhorn.io/last-applied-configmap",
                "longhorn-storageclass",
            )
            .build(),
    ];
    snap.config_maps = vec![config_map(
        LH_NS,
        "longhorn-storageclass",
        "storageclass.yaml",
        &sc_yaml("3"),
    )];
    let r = run(&snap);
    assert_eq!(
        findings(&r, "longhorn.storageclass.replicas"),
        vec![("longhorn-storageclass".into(), Severity::Warning)]
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "longhorn.storageclass.replicas")
        .expect("finding");
    assert_eq!(
        f.evidence.len(),
        2,
        "evidence for the StorageClass and the ConfigMap"
    );
    // The StorageClass already says 2 but Longhorn would render 3 from the ConfigMap again.
    snap.storage_classes = vec![storage_class("longhorn", "2").build()];
    assert_eq!(
        findings(&run(&snap), "longhorn.storageclass.replicas").len(),
        1
    );
    snap.config_maps = vec![config_map(
        LH_NS,
        "longhorn-storageclass",
        "storageclass.yaml",
        &sc_yaml("2"),
    )];
    assert_eq!(
        status(&run(&snap), "longhorn.storageclass.replicas").0,
        CheckStatus::Pass
    );
}

#[test]
fn absent_or_unreadable_longhorn() {
    let mut snap = two_nodes();
    let r = run(&snap);
    for c in r.checks.iter().filter(|c| c.id.starts_with("longhorn.")) {
        assert_eq!(c.status, CheckStatus::Skipped, "{}", c.id);
        assert_eq!(c.detail.as_deref(), Some("Longhorn is not installed"));
    }
    forbid(&mut snap, "volumes.longhorn.io");
    assert_eq!(
        status(&run(&snap), "longhorn.volume.replica-count").0,
        CheckStatus::Unknown
    );
    let mut snap = with_longhorn(one_volume(2, &["p", "s"]));
    forbid(&mut snap, "replicas.longhorn.io");
    let r = run(&snap);
    assert_eq!(
        status(&r, "longhorn.volume.replica-placement").0,
        CheckStatus::Unknown
    );
    assert_eq!(
        status(&r, "longhorn.volume.replica-count").0,
        CheckStatus::Pass
    );
}

#[test]
fn three_nodes_need_two_replicas_on_distinct_nodes() {
    let mut lh = one_volume(2, &["p", "s"]);
    lh.nodes.push(lh_node("t"));
    let mut snap = with_longhorn(lh);
    snap.nodes.push(node("t").agent().build());
    assert_eq!(
        status(&run(&snap), "longhorn.volume.replica-placement").0,
        CheckStatus::Pass
    );
}

#[test]
fn pods_on_a_lost_node_let_go_of_their_volumes_only_with_delete_both() {
    let id = "longhorn.node-down-pod-deletion-policy";
    let mut lh = one_volume(2, &["p", "s"]);
    lh.settings
        .retain(|s| s.name() != "node-down-pod-deletion-policy");
    let report = run(&with_longhorn(lh.clone()));
    let got: Vec<_> = report.findings.iter().filter(|f| f.id == id).collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].message.contains("do-nothing (Longhorn's default"),
        "{}",
        got[0].message
    );
    let mut partial = lh.clone();
    partial.settings.push(setting(
        "node-down-pod-deletion-policy",
        "delete-statefulset-pod",
    ));
    let report = run(&with_longhorn(partial));
    let got: Vec<_> = report.findings.iter().filter(|f| f.id == id).collect();
    assert!(
        got[0].message.contains("a Deployment's pod"),
        "{}",
        got[0].message
    );
    let mut both = lh;
    both.settings.push(setting(
        "node-down-pod-deletion-policy",
        "delete-both-statefulset-and-deployment-pod",
    ));
    assert!(findings(&run(&with_longhorn(both)), id).is_empty());
}

#[test]
fn a_stale_replica_timeout_shorter_than_the_replenishment_wait_means_full_rebuilds() {
    let id = "longhorn.stale-replica-timeout";
    let mut lh = one_volume(2, &["p", "s"]);
    lh.settings
        .push(setting("replica-replenishment-wait-interval", "600"));
    lh.volumes = vec![
        volume("v", 2)
            .set("spec.staleReplicaTimeout", json!(5))
            .build(),
    ];
    let report = run(&with_longhorn(lh.clone()));
    let got: Vec<_> = report.findings.iter().filter(|f| f.id == id).collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].message.contains(
            "staleReplicaTimeout 5 min, shorter than replica-replenishment-wait-interval (600 s)"
        ),
        "{}",
        got[0].message
    );
    lh.volumes = vec![
        volume("v", 2)
            .set("spec.staleReplicaTimeout", json!("30"))
            .build(),
    ];
    assert!(findings(&run(&with_longhorn(lh.clone())), id).is_empty());
    // A wait shorter than a reboot of the secondary: Longhorn gives up on its replicas.
    lh.settings
        .retain(|s| s.name() != "replica-replenishment-wait-interval");
    lh.settings
        .push(setting("replica-replenishment-wait-interval", "120"));
    let report = run(&with_longhorn(lh));
    let got: Vec<_> = report.findings.iter().filter(|f| f.id == id).collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0]
            .message
            .contains("shorter than a reboot of the secondary (300 s"),
        "{}",
        got[0].message
    );
}

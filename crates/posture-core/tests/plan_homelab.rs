//! The planner on the shared homelab scenario.

use json_patch::Patch;
use posture_core::Snapshot;
use posture_core::load_snapshot_str;
use posture_core::longhorn::Replica;
use posture_core::object::ObjectRef;
use posture_core::plan::patch::{starts_with_tests, to_json};
use posture_core::plan::{
    Action, ClusterIdentity, Delivery, Plan, PlanFileError, PlanInputs, PlanOptions, PostCondition,
    plan, render_diff,
};
use posture_core::policy::Policy;
use posture_core::report::Section;
use serde::Serialize;
use serde::de::DeserializeOwned;

const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");
const QDRANT_VOLUME: &str = "pvc-6a1f0c3e-7b2d-4e9a-9c41-0d3b5e8f1a20";
const HA_CONFIG_VOLUME: &str = "pvc-2c44a8f0-91d3-4b7e-8a65-e3f1c2b0d942";
const GITEA_VOLUME: &str = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31";
const MEDIA_VOLUME: &str = "pvc-51aa7c3d-2e6f-4d81-a9b0-c4e5f6a7b864";

fn inputs(options: PlanOptions) -> PlanInputs {
    PlanInputs {
        cluster: ClusterIdentity {
            server: "https://192.168.1.10:6443".into(),
            kube_system_uid: "3f1c0d2e-0000-4000-8000-000000000001".into(),
        },
        options,
    }
}

fn homelab() -> Snapshot {
    load_snapshot_str("homelab.yaml", HOMELAB).expect("scenario loads")
}

fn homelab_plan(options: PlanOptions) -> Plan {
    plan(&homelab(), &Policy::default(), &inputs(options)).expect("plans")
}

#[test]
fn stages_follow_the_runbook_order() {
    let p = homelab_plan(PlanOptions::default());
    let ids: Vec<&str> = p.stages.iter().map(|s| s.id.as_str()).collect();
    let volume = |v: &str| format!("volume/{v}");
    assert_eq!(
        ids,
        vec![
            "preconditions",
            "ingress",
            "coredns",
            "longhorn-settings",
            "longhorn-storageclass",
            &volume(QDRANT_VOLUME),
            &volume(HA_CONFIG_VOLUME),
            &volume(GITEA_VOLUME),
            &volume(MEDIA_VOLUME),
        ]
    );
    // The runbook's approval flags.
    let approvals: Vec<bool> = p
        .stages
        .iter()
        .map(|s| s.runbook_approval_required)
        .collect();
    assert_eq!(
        approvals,
        vec![false, false, false, true, true, true, true, true, true]
    );
    // qdrant is the only app pinned, with a nodeSelector on the primary.
    let pre = &p.stages[0];
    assert_eq!(pre.changes.len(), 1);
    assert_eq!(pre.changes[0].object.name, "qdrant");
    assert_eq!(p.primary.as_deref(), Some("miniserver"));
    assert_eq!(p.secondary.as_deref(), Some("worker-1"));
}

#[test]
fn the_single_replica_volume_gains_its_second_first() {
    let p = homelab_plan(PlanOptions::default());
    let first_volume_stage = p
        .stages
        .iter()
        .find(|s| s.id.starts_with("volume/"))
        .expect("volume stages");
    assert_eq!(first_volume_stage.id, format!("volume/{QDRANT_VOLUME}"));
    assert_eq!(first_volume_stage.changes.len(), 1);
    let change = &first_volume_stage.changes[0];
    let Action::Patch { forward, .. } = &change.action else {
        panic!("volume changes are patches");
    };
    let ops = serde_json::to_value(forward).expect("json");
    assert_eq!(
        ops,
        serde_json::json!([
            {"op": "test", "path": "/spec/numberOfReplicas", "value": 1},
            {"op": "replace", "path": "/spec/numberOfReplicas", "value": 2}
        ])
    );
    assert!(matches!(
        &change.post_condition,
        PostCondition::VolumeHealthy { number_of_replicas: 2, one_replica_per_node, .. }
            if one_replica_per_node == &["miniserver".to_string(), "worker-1".to_string()]
    ));
}

#[test]
fn a_volume_with_replicas_on_one_node_adds_before_it_removes() {
    let p = homelab_plan(PlanOptions::default());
    let stage = p
        .stage(&format!("volume/{HA_CONFIG_VOLUME}"))
        .expect("ha-config stage");
    assert_eq!(stage.changes.len(), 2);
    let replicas_set = |i: usize| -> serde_json::Value {
        let Action::Patch { forward, .. } = &stage.changes[i].action else {
            panic!("patch");
        };
        serde_json::to_value(forward).expect("json")[1]["value"].clone()
    };
    assert_eq!(replicas_set(0), 3);
    assert_eq!(replicas_set(1), 2);
    assert!(matches!(
        &stage.changes[0].post_condition,
        PostCondition::VolumeReplicas { number_of_replicas: 3, healthy_on, .. } if healthy_on.len() == 2
    ));
    assert!(matches!(
        &stage.changes[1].post_condition,
        PostCondition::VolumeHealthy {
            number_of_replicas: 2,
            ..
        }
    ));
    // The degraded volume drops its failed replica and loses its soft anti-affinity override.
    let media = p.stage(&format!("volume/{MEDIA_VOLUME}")).expect("media");
    assert!(media.changes[0].summary.contains("failed replica"));
    let Action::Patch { forward, .. } = &media.changes[0].action else {
        panic!("patch");
    };
    let text = serde_json::to_string(forward).expect("json");
    assert!(text.contains(r#""path":"/spec/replicaSoftAntiAffinity","value":"ignored""#));
}

#[test]
fn every_patch_and_inverse_starts_with_tests() {
    for options in [
        PlanOptions::default(),
        PlanOptions {
            allow_owned: true,
            ingress_daemonset: true,
            ..PlanOptions::default()
        },
    ] {
        let p = homelab_plan(options);
        for change in p.stages.iter().flat_map(|s| &s.changes) {
            if let Action::Patch { forward, inverse } = &change.action {
                assert!(starts_with_tests(forward), "{}: forward", change.id);
                assert!(starts_with_tests(inverse), "{}: inverse", change.id);
            }
        }
    }
}

#[test]
fn longhorn_settings_keep_the_per_engine_format() {
    let p = homelab_plan(PlanOptions::default());
    let stage = p.stage("longhorn-settings").expect("settings");
    let names: Vec<&str> = stage
        .changes
        .iter()
        .map(|c| c.object.name.as_str())
        .collect();
    // replica-replenishment-wait-interval is already 600.
    assert_eq!(
        names,
        vec![
            "default-replica-count",
            "replica-soft-anti-affinity",
            "replica-auto-balance",
            "concurrent-replica-rebuild-per-node-limit"
        ]
    );
    assert!(matches!(
        &stage.changes[0].post_condition,
        PostCondition::SettingApplied { value, .. } if value == r#"{"v1":"2","v2":"2"}"#
    ));
}

#[test]
fn owned_objects_become_source_files_unless_allowed() {
    let p = homelab_plan(PlanOptions::default());
    let all: Vec<_> = p.stages.iter().flat_map(|s| &s.changes).collect();
    // nextcloud (Argo CD) needs nothing, so it is not touched at all.
    assert!(all.iter().all(|c| c.object.name != "nextcloud"));
    let coredns = all
        .iter()
        .find(|c| c.object.kind == "Deployment" && c.object.name == "coredns")
        .expect("coredns change");
    match &coredns.delivery {
        Delivery::SourceFile {
            content,
            instructions,
            ..
        } => {
            assert!(instructions.iter().any(|i| i.contains("coredns.yaml.skip")));
            assert!(content.contains("k3s packaged addon coredns"));
            assert!(!content.contains("op: test"));
        }
        Delivery::Live => panic!("CoreDNS is a k3s addon"),
    }
    // The PDB is a new object no one owns: it is created live.
    assert!(all.iter().any(|c| c.object.kind == "PodDisruptionBudget"
        && c.object.name == "coredns"
        && c.is_live()));
    let allowed = homelab_plan(PlanOptions {
        allow_owned: true,
        ..PlanOptions::default()
    });
    assert!(
        allowed
            .stages
            .iter()
            .flat_map(|s| &s.changes)
            .all(|c| c.is_live())
    );
}

#[test]
fn sections_limit_the_plan() {
    let p = homelab_plan(PlanOptions {
        sections: vec![Section::Longhorn],
        ..PlanOptions::default()
    });
    assert!(p.stages.iter().all(|s| s.section == Section::Longhorn));
    assert_eq!(p.stages.len(), 6);
}

#[test]
fn the_daemonset_option_creates_a_daemonset_and_scales_the_deployment_down() {
    let p = homelab_plan(PlanOptions {
        ingress_daemonset: true,
        ..PlanOptions::default()
    });
    let stage = p.stage("ingress").expect("ingress");
    let kinds: Vec<&str> = stage
        .changes
        .iter()
        .map(|c| c.object.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        vec!["DaemonSet", "Deployment", "PodDisruptionBudget"]
    );
    let Action::Create { manifest } = &stage.changes[0].action else {
        panic!("create");
    };
    assert!(
        manifest
            .pointer("/spec/template/spec/containers/0/readinessProbe")
            .is_some()
    );
}

#[test]
fn plan_files_verify_and_detect_tampering() {
    let p = homelab_plan(PlanOptions::default());
    p.verify().expect("fresh plan verifies");
    let text = p.to_json_pretty();
    let back = Plan::from_json(text.as_bytes()).expect("reads back");
    assert_eq!(back, p);
    let tampered = text.replace("\"value\": 2", "\"value\": 1");
    assert!(matches!(
        Plan::from_json(tampered.as_bytes()),
        Err(PlanFileError::HashMismatch { .. })
    ));
    let other = ClusterIdentity {
        server: "https://elsewhere:6443".into(),
        kube_system_uid: "different".into(),
    };
    assert!(matches!(
        p.verify_cluster(&other),
        Err(PlanFileError::WrongCluster { .. })
    ));
    // The same inputs always give the same plan and hash.
    assert_eq!(homelab_plan(PlanOptions::default()).sha256, p.sha256);
}

#[test]
fn a_stale_plan_fails_its_tests() {
    let p = homelab_plan(PlanOptions::default());
    let change = &p.stage("ingress").expect("ingress").changes[0];
    let Action::Patch { forward, .. } = &change.action else {
        panic!("patch");
    };
    let snap = homelab();
    let deployment = snap
        .deployments
        .iter()
        .find(|d| ObjectRef::of(*d) == change.object)
        .expect("deployment");
    let mut current = to_json(deployment);
    json_patch::patch(&mut current.clone(), forward).expect("applies to what was observed");
    // Someone scales the controller after the plan was made.
    current["spec"]["replicas"] = serde_json::json!(3);
    let before = current.clone();
    assert!(json_patch::patch(&mut current, forward).is_err());
    assert_eq!(current, before, "a failed patch changes nothing");
}

#[test]
fn render_marks_old_and_new_values() {
    let p = homelab_plan(PlanOptions::default());
    let lines: Vec<String> = render_diff(&p).iter().map(ToString::to_string).collect();
    assert!(
        lines.iter().any(|l| l == "    - /spec/replicas: 1"),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l == "    + /spec/replicas: 2"));
    assert!(lines.iter().any(|l| l.contains("[APPROVAL REQUIRED]")));
}

#[test]
fn one_stage_renders_with_its_number_in_the_whole_plan() {
    let p = homelab_plan(PlanOptions::default());
    assert!(p.stages.len() > 2);
    let lines: Vec<String> = posture_core::plan::render_stage_diff(&p, 1)
        .iter()
        .map(ToString::to_string)
        .collect();
    let heading = format!("Stage 2 of {}: {}", p.stages.len(), p.stages[1].title);
    assert!(lines[0].starts_with(&heading), "{lines:#?}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("Stage ")).count(),
        1,
        "{lines:#?}"
    );
}

#[test]
fn a_cluster_whose_apps_cannot_start_blocks_the_plan() {
    const APPS_DOWN: &str = include_str!("../../../scenarios/homelab-apps-down.yaml");
    let snapshot = load_snapshot_str("homelab-apps-down.yaml", APPS_DOWN).expect("scenario loads");
    let p = plan(
        &snapshot,
        &Policy::default(),
        &inputs(PlanOptions::default()),
    )
    .expect("plans");
    assert!(p.stages.is_empty(), "{:#?}", p.stages);
    assert!(
        p.blockers
            .iter()
            .any(|b| b.starts_with("preconditions.claims.bound")),
        "{:#?}",
        p.blockers
    );
    assert!(
        p.blockers
            .iter()
            .any(|b| b.starts_with("preconditions.pods.scheduled")),
        "{:#?}",
        p.blockers
    );
    let lines: Vec<String> = render_diff(&p).iter().map(ToString::to_string).collect();
    assert!(lines[0].starts_with("Blocked"), "{lines:#?}");
    assert!(homelab_plan(PlanOptions::default()).blockers.is_empty());
}

#[test]
fn homelab_plan_snapshot() {
    insta::assert_json_snapshot!("homelab_plan", homelab_plan(PlanOptions::default()));
}

// ---- A fixed cluster plans nothing -------------------------------------------------------------

fn patch_in<T: Serialize + DeserializeOwned>(
    items: &mut [T],
    object_ref: impl Fn(&T) -> ObjectRef,
    target: &ObjectRef,
    patch: &Patch,
) -> bool {
    for item in items.iter_mut() {
        if object_ref(item) == *target {
            let mut value = to_json(&*item);
            json_patch::patch(&mut value, patch).expect("forward patch applies");
            *item = serde_json::from_value(value).expect("patched object still parses");
            return true;
        }
    }
    false
}

/// Carries out a plan on a snapshot the way the cluster would: patches and creates, then the
/// Longhorn manager's reaction (one healthy replica per node per volume).
fn carry_out(snap: &Snapshot, plan: &Plan) -> Snapshot {
    let mut s = snap.clone();
    for change in plan.stages.iter().flat_map(|st| &st.changes) {
        match &change.action {
            Action::Patch { forward, .. } => {
                let target = &change.object;
                let lh = s.longhorn.as_mut().expect("longhorn");
                let done = patch_in(&mut s.deployments, ObjectRef::of, target, forward)
                    || patch_in(&mut s.stateful_sets, ObjectRef::of, target, forward)
                    || patch_in(&mut s.config_maps, ObjectRef::of, target, forward)
                    || patch_in(&mut lh.settings, |x| x.object_ref(), target, forward)
                    || patch_in(&mut lh.volumes, |x| x.object_ref(), target, forward);
                assert!(done, "{target} not found");
            }
            Action::Create { manifest } => match change.object.kind.as_str() {
                "PodDisruptionBudget" => s
                    .pod_disruption_budgets
                    .push(serde_json::from_value(manifest.clone()).expect("pdb")),
                "DaemonSet" => s
                    .daemon_sets
                    .push(serde_json::from_value(manifest.clone()).expect("ds")),
                other => panic!("unexpected create of {other}"),
            },
        }
    }
    let nodes = ["miniserver", "worker-1"];
    let lh = s.longhorn.as_mut().expect("longhorn");
    for volume in &mut lh.volumes {
        volume.status.robustness = Some("healthy".into());
        let name = volume.name().to_owned();
        let mine: Vec<Replica> = lh
            .replicas
            .iter()
            .filter(|r| r.volume_name() == Some(name.as_str()) && !r.is_failed())
            .cloned()
            .collect();
        lh.replicas
            .retain(|r| r.volume_name() != Some(name.as_str()));
        let template = mine.first().cloned().expect("a healthy replica");
        for node in nodes {
            let mut replica = mine
                .iter()
                .find(|r| r.node_id() == Some(node))
                .cloned()
                .unwrap_or_else(|| {
                    let mut r = template.clone();
                    r.metadata.name = Some(format!("{name}-r-{node}"));
                    r
                });
            replica.spec.node_id = Some(node.into());
            lh.replicas.push(replica);
        }
    }
    s
}

#[test]
fn a_cluster_that_is_already_right_gets_an_empty_plan() {
    let snap = homelab();
    let options = PlanOptions {
        allow_owned: true,
        ..PlanOptions::default()
    };
    let first = plan(&snap, &Policy::default(), &inputs(options.clone())).expect("plans");
    let fixed = carry_out(&snap, &first);
    let second = plan(&fixed, &Policy::default(), &inputs(options)).expect("plans");
    assert!(
        second.is_empty(),
        "{:#?}",
        render_diff(&second)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert!(second.notes.is_empty(), "{:?}", second.notes);
}

/// Every object a plan touches, as JSON, from the snapshot.
fn objects_of(snap: &Snapshot) -> std::collections::BTreeMap<ObjectRef, serde_json::Value> {
    let lh = snap.longhorn.as_ref().expect("longhorn");
    let mut map = std::collections::BTreeMap::new();
    for d in &snap.deployments {
        map.insert(ObjectRef::of(d), to_json(d));
    }
    for s in &snap.stateful_sets {
        map.insert(ObjectRef::of(s), to_json(s));
    }
    for c in &snap.config_maps {
        map.insert(ObjectRef::of(c), to_json(c));
    }
    for s in &lh.settings {
        map.insert(s.object_ref(), to_json(s));
    }
    for v in &lh.volumes {
        map.insert(v.object_ref(), to_json(v));
    }
    map
}

#[test]
fn applying_every_change_then_every_inverse_gives_back_the_cluster() {
    let snap = homelab();
    let p = plan(
        &snap,
        &Policy::default(),
        &inputs(PlanOptions {
            allow_owned: true,
            ..PlanOptions::default()
        }),
    )
    .expect("plans");
    let original = objects_of(&snap);
    let mut objects = original.clone();
    let patches: Vec<_> = p
        .stages
        .iter()
        .flat_map(|s| &s.changes)
        .filter_map(|c| match &c.action {
            Action::Patch { forward, inverse } => Some((c.object.clone(), forward, inverse)),
            Action::Create { .. } => None,
        })
        .collect();
    for (object, forward, _) in &patches {
        let doc = objects.get_mut(object).expect("object in snapshot");
        json_patch::patch(doc, forward).expect("forward applies in plan order");
    }
    assert_ne!(objects, original);
    for (object, _, inverse) in patches.iter().rev() {
        let doc = objects.get_mut(object).expect("object in snapshot");
        json_patch::patch(doc, inverse).expect("inverse applies newest first");
    }
    assert_eq!(objects, original);
}

#[test]
fn homelab_plan_renders_as_a_diff() {
    let lines: Vec<String> = render_diff(&homelab_plan(PlanOptions::default()))
        .iter()
        .map(ToString::to_string)
        .collect();
    insta::assert_snapshot!("homelab_plan_diff", lines.join("\n"));
}

fn coredns_delivery(p: &Plan) -> &Delivery {
    &p.stages
        .iter()
        .flat_map(|s| &s.changes)
        .find(|c| c.object.kind == "Deployment" && c.object.name == "coredns")
        .expect("coredns change")
        .delivery
}

fn server_facts(host: &str, skipped: &[&str]) -> posture_core::host::HostFacts {
    posture_core::host::HostFacts {
        host: host.into(),
        role: posture_core::host::HostRole::Server,
        addons: posture_core::host::AddonFacts {
            manifests_dir: "/var/lib/rancher/k3s/server/manifests".into(),
            skipped: skipped.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn a_coredns_manifest_skipped_on_every_server_is_changed_live_without_allow_owned() {
    let mut snapshot = homelab();
    snapshot.host_facts = vec![server_facts("miniserver", &["coredns.yaml"])];
    let p = plan(
        &snapshot,
        &Policy::default(),
        &inputs(PlanOptions::default()),
    )
    .expect("plans");
    assert!(matches!(coredns_delivery(&p), Delivery::Live));
    assert!(
        p.notes.iter().any(|n| n.contains(
            "seen: /var/lib/rancher/k3s/server/manifests/coredns.yaml.skip on miniserver"
        )),
        "{:?}",
        p.notes
    );
    // Other k3s addons stay files; other owners are not touched by a skip file.
    assert!(
        p.stages
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.object.name != "coredns")
            .all(|c| c.owner.is_none() || !c.is_live()),
    );

    // A server that does not skip it would put the change back: still a file, and it says where.
    snapshot.host_facts.push(server_facts("server-2", &[]));
    let p = plan(
        &snapshot,
        &Policy::default(),
        &inputs(PlanOptions::default()),
    )
    .expect("plans");
    match coredns_delivery(&p) {
        Delivery::SourceFile { instructions, .. } => assert!(
            instructions
                .iter()
                .any(|i| i.contains("coredns.yaml.skip is on miniserver but not on server-2")),
            "{instructions:?}"
        ),
        Delivery::Live => panic!("server-2 re-applies coredns.yaml"),
    }
}

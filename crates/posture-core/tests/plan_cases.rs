//! Planner cases beyond the homelab as it ships: renamed nodes, other value formats, other
//! replica layouts.

use posture_core::load_snapshot_str;
use posture_core::plan::{
    Action, ClusterIdentity, PlanInputs, PlanOptions, PostCondition, parse_section, plan,
};
use posture_core::policy::Policy;
use posture_core::report::Section;

const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");
const GITEA_VOLUME: &str = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31";

fn inputs() -> PlanInputs {
    PlanInputs {
        cluster: ClusterIdentity {
            server: "https://k3s:6443".into(),
            kube_system_uid: "uid".into(),
        },
        options: PlanOptions::default(),
    }
}

#[test]
fn node_names_do_not_matter() {
    let renamed = HOMELAB
        .replace("miniserver", "nas")
        .replace("worker-1", "pi");
    let snap = load_snapshot_str("renamed.yaml", &renamed).expect("loads");
    let original = plan(
        &load_snapshot_str("homelab.yaml", HOMELAB).expect("loads"),
        &Policy::default(),
        &inputs(),
    )
    .expect("plans");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    assert_eq!(p.primary.as_deref(), Some("nas"));
    assert_eq!(p.secondary.as_deref(), Some("pi"));
    let shape = |p: &posture_core::plan::Plan| {
        p.stages
            .iter()
            .map(|s| (s.id.clone(), s.changes.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&p), shape(&original));
}

#[test]
fn a_plain_setting_stays_plain() {
    let text = HOMELAB.replace(r#"value: '{"v1":"3","v2":"3"}'"#, "value: \"3\"");
    let snap = load_snapshot_str("plain.yaml", &text).expect("loads");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    let change = &p.stage("longhorn-settings").expect("settings").changes[0];
    assert_eq!(change.object.name, "default-replica-count");
    assert!(matches!(
        &change.post_condition,
        PostCondition::SettingApplied { value, .. } if value == "2"
    ));
}

#[test]
fn replicas_all_on_one_node_fill_the_other_node_before_shrinking() {
    // Move gitea's replica from the secondary to the primary: three replicas on one node.
    let text = HOMELAB.replace(
        &format!("labels: {{longhornvolume: {GITEA_VOLUME}, longhornnode: worker-1}}\nspec: {{volumeName: {GITEA_VOLUME}, nodeID: worker-1"),
        &format!("labels: {{longhornvolume: {GITEA_VOLUME}, longhornnode: miniserver}}\nspec: {{volumeName: {GITEA_VOLUME}, nodeID: miniserver"),
    );
    assert_ne!(text, HOMELAB, "the replica was moved");
    let snap = load_snapshot_str("crowded.yaml", &text).expect("loads");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    let stage = p
        .stage(&format!("volume/{GITEA_VOLUME}"))
        .expect("gitea stage");
    let counts: Vec<i64> = stage
        .changes
        .iter()
        .map(|c| match &c.post_condition {
            PostCondition::VolumeReplicas {
                number_of_replicas, ..
            }
            | PostCondition::VolumeHealthy {
                number_of_replicas, ..
            } => *number_of_replicas,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        counts,
        vec![4, 2],
        "3 healthy + 1 on the empty node, then down to 2"
    );
}

#[test]
fn a_volume_without_a_healthy_replica_is_left_alone_with_a_note() {
    let text = HOMELAB.replace(
        "failedAt: '', lastFailedAt: '', rebuildRetryCount: 0, hardNodeAffinity: ''}\nstatus: {currentState: running, ownerID: miniserver, instanceManagerName: instance-manager-miniserver, started: true, currentImage: 'longhornio/longhorn-engine:v1.12.1'}\n---\napiVersion: longhorn.io/v1beta2\nkind: Engine\nmetadata:\n  name: pvc-6a1f0c3e",
        "failedAt: '2026-11-23T00:00:00Z', lastFailedAt: '', rebuildRetryCount: 0, hardNodeAffinity: ''}\nstatus: {currentState: error, ownerID: miniserver, instanceManagerName: instance-manager-miniserver, started: true, currentImage: 'longhornio/longhorn-engine:v1.12.1'}\n---\napiVersion: longhorn.io/v1beta2\nkind: Engine\nmetadata:\n  name: pvc-6a1f0c3e",
    );
    assert_ne!(text, HOMELAB, "the qdrant replica was failed");
    let snap = load_snapshot_str("faulted.yaml", &text).expect("loads");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    assert!(
        p.stage("volume/pvc-6a1f0c3e-7b2d-4e9a-9c41-0d3b5e8f1a20")
            .is_none()
    );
    assert!(p.notes.iter().any(|n| n.contains("no healthy replica")));
}

#[test]
fn without_longhorn_only_workload_stages_remain() {
    let snap = posture_core::Snapshot {
        longhorn: None,
        ..load_snapshot_str("homelab.yaml", HOMELAB).expect("loads")
    };
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    assert!(p.stages.iter().all(|s| s.section != Section::Longhorn));
    assert!(!p.stages.is_empty());
}

#[test]
fn without_a_primary_nothing_is_planned() {
    let snap = posture_core::Snapshot::default();
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    assert!(p.is_empty());
    assert!(!p.notes.is_empty());
}

#[test]
fn section_names_parse() {
    assert_eq!(parse_section("longhorn"), Some(Section::Longhorn));
    assert_eq!(parse_section(" coredns"), Some(Section::Coredns));
    assert_eq!(parse_section("risks"), None);
}

#[test]
fn the_pinned_workload_change_tests_the_pod_spec_it_extends() {
    let snap = load_snapshot_str("homelab.yaml", HOMELAB).expect("loads");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    let Action::Patch { forward, inverse } = &p.stages[0].changes[0].action else {
        panic!("patch");
    };
    let forward = serde_json::to_value(forward).expect("json");
    assert_eq!(forward[0]["op"], "test");
    assert_eq!(forward[0]["path"], "/spec/template/spec");
    let inverse = serde_json::to_value(inverse).expect("json");
    assert_eq!(
        inverse,
        serde_json::json!([
            {"op": "test", "path": "/spec/template/spec/nodeSelector", "value": {"kubernetes.io/hostname": "miniserver"}},
            {"op": "remove", "path": "/spec/template/spec/nodeSelector"}
        ])
    );
}

#[test]
fn an_ingress_pinned_by_node_affinity_is_unpinned() {
    let text = HOMELAB.replace(
        "      serviceAccountName: haproxy-kubernetes-ingress\n      nodeSelector: {kubernetes.io/hostname: miniserver}\n",
        "      serviceAccountName: haproxy-kubernetes-ingress\n      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [miniserver]}]}]\n",
    );
    assert_ne!(text, HOMELAB);
    let snap = load_snapshot_str("affinity.yaml", &text).expect("loads");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    let Action::Patch { forward, .. } = &p.stage("ingress").expect("ingress").changes[0].action
    else {
        panic!("patch");
    };
    let text = serde_json::to_string(forward).expect("json");
    assert!(
        text.contains(r#"{"op":"remove","path":"/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"}"#),
        "{text}"
    );
}

/// An ingress budget with `minAvailable` equal to its two replicas would hold every drain: the
/// ingress stage changes it to `maxUnavailable: 1`, and the inverse puts `minAvailable: 2` back.
#[test]
fn a_budget_that_forbids_every_eviction_is_changed_to_let_one_pod_go() {
    let text = include_str!("../../../scenarios/homelab-fixed-strict-pdb.yaml");
    let snapshot = load_snapshot_str("homelab-fixed-strict-pdb.yaml", text).expect("loads");
    let plan = plan(&snapshot, &Policy::default(), &inputs()).expect("plans");
    let change = plan
        .stages
        .iter()
        .flat_map(|s| &s.changes)
        .find(|c| c.object.kind == "PodDisruptionBudget")
        .expect("the ingress budget is changed");
    assert_eq!(change.object.name, "haproxy-kubernetes-ingress");
    assert!(
        change.summary.contains("minAvailable 2"),
        "{}",
        change.summary
    );
    let Action::Patch { forward, inverse } = &change.action else {
        panic!("a patch: {:?}", change.action);
    };
    let budget = snapshot
        .pod_disruption_budgets
        .iter()
        .find(|b| b.metadata.name.as_deref() == Some("haproxy-kubernetes-ingress"))
        .expect("the budget");
    let observed = serde_json::to_value(budget).expect("json");
    let mut after = observed.clone();
    json_patch::patch(&mut after, forward).expect("forward applies");
    assert_eq!(after["spec"]["maxUnavailable"], 1);
    assert!(after["spec"].get("minAvailable").is_none());
    json_patch::patch(&mut after, inverse).expect("inverse applies");
    assert_eq!(after, observed);
    // The CoreDNS budget lets one pod go already: left alone.
    assert!(
        plan.stages
            .iter()
            .flat_map(|s| &s.changes)
            .all(|c| c.object.name != "coredns" || c.object.kind != "PodDisruptionBudget")
    );
}

/// The volume stages would wait on a secondary whose Longhorn node takes no replicas: they are
/// left out, with a note saying why, and the other stages are planned as usual.
#[test]
fn volume_stages_wait_for_a_secondary_that_can_take_replicas() {
    let text = include_str!("../../../scenarios/homelab-secondary-unschedulable.yaml");
    let snapshot = load_snapshot_str("homelab-secondary-unschedulable.yaml", text).expect("loads");
    let plan = plan(&snapshot, &Policy::default(), &inputs()).expect("plans");
    assert!(
        plan.stages.iter().all(|s| !s.id.starts_with("volume/")),
        "{:?}",
        plan.stages.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
    assert!(plan.stages.iter().any(|s| s.id == "ingress"));
    let note = plan
        .notes
        .iter()
        .find(|n| n.starts_with("volume stages not planned"))
        .expect("a note says why");
    assert!(
        note.contains("scheduling is disabled on Longhorn node worker-1"),
        "{note}"
    );
    let homelab = load_snapshot_str("homelab.yaml", HOMELAB).expect("loads");
    let planned = plan_of(&homelab);
    assert!(planned.stages.iter().any(|s| s.id.starts_with("volume/")));
}

fn plan_of(snapshot: &posture_core::Snapshot) -> posture_core::plan::Plan {
    plan(snapshot, &Policy::default(), &inputs()).expect("plans")
}

/// The homelab with its ingress controller as a Traefik DaemonSet that a chart value pins to
/// the control plane: the plan frees it to run on every node, and nothing else about ingress.
#[test]
fn an_ingress_daemonset_pinned_to_the_primary_is_unpinned() {
    let docs: Vec<&str> = HOMELAB
        .split("\n---\n")
        .filter(|d| !(d.contains("kind: Deployment") && d.contains("haproxy")))
        .collect();
    let daemon = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: traefik, namespace: kube-system, resourceVersion: '7'}\nspec:\n  selector: {matchLabels: {app.kubernetes.io/name: traefik}}\n  template:\n    metadata: {labels: {app.kubernetes.io/name: traefik}}\n    spec:\n      nodeSelector: {node-role.kubernetes.io/control-plane: 'true', kubernetes.io/os: linux}\n      containers: [{name: traefik, image: 'rancher/mirrored-library-traefik:2.11.2'}]\n";
    let text = format!("{}\n---\n{daemon}", docs.join("\n---\n"));
    let snap = load_snapshot_str("traefik.yaml", &text).expect("loads");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    let stage = p.stage("ingress").expect("an ingress stage");
    assert_eq!(stage.changes.len(), 1);
    let change = &stage.changes[0];
    assert_eq!(change.object.kind, "DaemonSet");
    assert!(stage.rationale.contains("worker-1"), "{}", stage.rationale);
    let Action::Patch { forward, .. } = &change.action else {
        panic!("a patch: {:?}", change.action);
    };
    let ops = serde_json::to_string(forward).expect("json");
    assert!(
        ops.contains(r#""op":"remove","path":"/spec/template/spec/nodeSelector/node-role.kubernetes.io~1control-plane""#),
        "{ops}"
    );
    assert!(
        !ops.contains("kubernetes.io~1os"),
        "a key every node has stays: {ops}"
    );
    assert!(matches!(
        &change.post_condition,
        PostCondition::RolloutComplete { replicas: 2, .. }
    ));
}

#[test]
fn a_helm_owned_ingress_controller_gets_the_charts_values_not_a_kustomize_patch() {
    let text = HOMELAB.replace(
        "  labels: {run: haproxy-ingress, app.kubernetes.io/name: kubernetes-ingress}\nspec:\n  replicas: 1",
        "  labels: {run: haproxy-ingress, app.kubernetes.io/name: kubernetes-ingress, app.kubernetes.io/managed-by: Helm, helm.sh/chart: kubernetes-ingress-1.39.4}\n  annotations: {meta.helm.sh/release-name: haproxy, meta.helm.sh/release-namespace: haproxy-controller}\nspec:\n  replicas: 1",
    );
    assert_ne!(
        text, HOMELAB,
        "the scenario still has the ingress Deployment"
    );
    let snap = load_snapshot_str("helm.yaml", &text).expect("loads");
    let p = plan(&snap, &Policy::default(), &inputs()).expect("plans");
    let change = (p.stages.iter())
        .flat_map(|s| &s.changes)
        .find(|c| c.object.kind == "Deployment" && c.object.name == "haproxy-kubernetes-ingress")
        .expect("the ingress change");
    let posture_core::plan::Delivery::SourceFile {
        file_name,
        content,
        instructions,
    } = &change.delivery
    else {
        panic!("a Helm-owned object is not patched live");
    };
    assert!(file_name.ends_with(".values.yaml"), "{file_name}");
    let values: serde_json::Value = serde_norway::from_str(content).expect("values YAML");
    assert_eq!(values["controller"]["replicaCount"], 2, "{content}");
    assert!(
        values["controller"]["topologySpreadConstraints"].is_array(),
        "{content}"
    );
    assert!(!content.contains("patches:"), "{content}");
    assert!(
        instructions[0].contains(
            "helm upgrade haproxy <repo>/kubernetes-ingress -n haproxy-controller --reuse-values"
        ),
        "{instructions:?}"
    );
}

use serde_json::json;

use super::*;
use crate::plan::Action;

#[test]
fn a_cordon_pins_and_restores_the_taints_and_is_a_no_op_on_a_cordoned_node() {
    let node = json!({"metadata": {"name": "n2"}, "spec": {"podCIDR": "10.42.1.0/24",
        "taints": [{"key": "gpu", "effect": "NoSchedule"}]}});
    let pinned = build(&node, &cordon_edits(&node))
        .expect("builds")
        .expect("a change");
    assert_eq!(pinned.after["spec"]["unschedulable"], true);
    assert_eq!(
        pinned.after["spec"]["taints"][1],
        json!({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"})
    );
    let inverse_tests: Vec<String> = pinned
        .inverse
        .0
        .iter()
        .filter(|op| matches!(op, json_patch::PatchOperation::Test(_)))
        .map(|op| op.path().to_string())
        .collect();
    assert!(
        inverse_tests.contains(&"/spec/taints".to_owned()),
        "{inverse_tests:?}"
    );
    let mut undone = pinned.after.clone();
    json_patch::patch(&mut undone, &pinned.inverse).expect("inverse applies");
    assert_eq!(undone, node);
    assert!(
        build(&pinned.after, &cordon_edits(&pinned.after))
            .expect("builds")
            .is_none()
    );
}

#[test]
fn the_setting_patch_is_pinned_and_reversible() {
    let observed = json!({"metadata": {"name": "replica-auto-balance"}, "value": "best-effort"});
    let pinned = setting_patch(&observed, "disabled")
        .expect("builds")
        .expect("a change");
    assert!(crate::plan::patch::starts_with_tests(&pinned.forward));
    assert_eq!(pinned.after["value"], "disabled");
    let mut undone = pinned.after.clone();
    json_patch::patch(&mut undone, &pinned.inverse).expect("inverse applies");
    assert_eq!(undone, observed);
    assert!(
        setting_patch(&pinned.after, "disabled")
            .expect("builds")
            .is_none()
    );
}

fn cluster() -> ClusterIdentity {
    ClusterIdentity {
        server: "https://lab:6443".into(),
        kube_system_uid: "uid-1".into(),
    }
}

#[test]
fn a_counter_move_is_a_verified_one_stage_plan_named_as_rollback_names_it() {
    let object = ObjectRef::new(
        "longhorn.io/v1beta2",
        "Setting",
        Some("longhorn-system"),
        "replica-auto-balance",
    );
    let observed = json!({"metadata": {"name": "replica-auto-balance", "namespace": "longhorn-system",
        "resourceVersion": "41"}, "value": "best-effort"});
    let plan = plan(&Act::DisableAutoBalance, &object, &observed, cluster())
        .expect("builds")
        .expect("a change");
    assert!(plan.verify().is_ok());
    assert_eq!(plan.cluster, cluster());
    assert_eq!(plan.stages.len(), 1);
    let stage = &plan.stages[0];
    assert_eq!(stage.id, "act-disable-auto-balance");
    assert_eq!(stage.changes.len(), 1);
    let change = &stage.changes[0];
    assert_eq!(change.id, "longhorn-system/replica-auto-balance");
    assert_eq!(change.resource_version.as_deref(), Some("41"));
    assert!(change.is_live());
    let Action::Patch { forward, .. } = &change.action else {
        panic!("a counter-move patches: {:?}", change.action);
    };
    let mut after = observed.clone();
    json_patch::patch(&mut after, forward).expect("forward applies");
    assert_eq!(after["value"], "disabled");
}

#[test]
fn a_counter_move_already_in_place_plans_nothing() {
    let object = ObjectRef::new("v1", "Node", None, "n2");
    let observed = json!({"metadata": {"name": "n2"}, "spec": {"unschedulable": true,
        "taints": [{"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}]}});
    let act = Act::Cordon { node: "n2".into() };
    assert_eq!(act.target(), Target::Node("n2".into()));
    assert!(
        plan(&act, &object, &observed, cluster())
            .expect("builds")
            .is_none()
    );
}

#[test]
fn pinning_sets_the_hostname_selector_and_nothing_else() {
    let workload = ObjectRef::new("apps/v1", "Deployment", Some("apps"), "qdrant");
    let act = Act::Pin {
        workload: workload.clone(),
        node: "n1".into(),
    };
    let observed = json!({"metadata": {"name": "qdrant", "namespace": "apps"},
        "spec": {"template": {"spec": {"containers": []}}}});
    let plan = plan(&act, &workload, &observed, cluster())
        .expect("builds")
        .expect("a change");
    let Action::Patch { forward, inverse } = &plan.stages[0].changes[0].action else {
        panic!("a patch");
    };
    let mut after = observed.clone();
    json_patch::patch(&mut after, forward).expect("forward applies");
    assert_eq!(
        after["spec"]["template"]["spec"]["nodeSelector"],
        json!({"kubernetes.io/hostname": "n1"})
    );
    json_patch::patch(&mut after, inverse).expect("inverse applies");
    assert_eq!(after, observed);
}

#[test]
fn alert_subjects_name_objects_and_what_runs_under_them() {
    let alerts = vec![
        "apps/web-5d8f9-abcde/web".to_owned(),
        "longhorn-system/pvc-1".to_owned(),
    ];
    assert!(alert_names(&alerts, Some("apps"), "web"));
    assert!(!alert_names(&alerts, Some("apps"), "we"));
    assert!(!alert_names(&alerts, Some("other"), "web"));
    assert!(alert_names(&alerts, None, "pvc-1"));
    assert!(!alert_names(&alerts, None, "pvc"));
}

#[test]
fn the_drill_taint_cordons_adds_its_own_taint_and_undoes_both_on_an_already_cordoned_node() {
    let node = json!({"metadata": {"name": "edge-b"}, "spec": {"unschedulable": true,
        "taints": [{"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}]}});
    let act = Act::DrillTaint {
        node: "edge-b".into(),
    };
    let pinned = build(&node, &act.edits(&node))
        .expect("builds")
        .expect("a change");
    assert_eq!(
        pinned.after["spec"]["taints"],
        json!([{"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"},
               {"key": DRILL_TAINT_KEY, "effect": "NoSchedule"}])
    );
    let mut undone = pinned.after.clone();
    json_patch::patch(&mut undone, &pinned.inverse).expect("inverse applies");
    assert_eq!(undone, node);
    assert!(
        build(&pinned.after, &act.edits(&pinned.after))
            .expect("builds")
            .is_none(),
        "a second run changes nothing"
    );
}

use super::*;

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
    assert!(posture_core::plan::patch::starts_with_tests(
        &pinned.forward
    ));
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

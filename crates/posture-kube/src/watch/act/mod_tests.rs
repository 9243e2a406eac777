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

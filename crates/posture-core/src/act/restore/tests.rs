use super::*;
use serde_json::json;

const HOMELAB: &str = include_str!("../../../../../scenarios/homelab.yaml");
const MEDIA: &str = "pvc-51aa7c3d-2e6f-4d81-a9b0-c4e5f6a7b864";
const QDRANT: &str = "pvc-6a1f0c3e-7b2d-4e9a-9c41-0d3b5e8f1a20";

fn homelab() -> Snapshot {
    crate::load_snapshot_str("homelab.yaml", HOMELAB).expect("the scenario loads")
}

fn snap(name: &str, volume: &str, created: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Snapshot",
        "metadata": {"name": name, "namespace": "longhorn-system"},
        "spec": {"volume": volume},
        "status": {"creationTime": created, "readyToUse": ready},
    })
}

fn commands(volume: &VolumeRestore) -> Vec<&str> {
    volume
        .steps
        .iter()
        .filter_map(|s| s.command.as_deref())
        .collect()
}

#[test]
fn without_alerts_the_degraded_volume_is_chosen_with_its_claim_workload_and_newest_snapshot() {
    let snapshots = vec![
        snap("old", MEDIA, "2026-11-20T01:00:00Z", true),
        snap("newest-not-ready", MEDIA, "2026-11-23T01:00:00Z", false),
        snap("newer", MEDIA, "2026-11-22T01:00:00Z", true),
        snap("elsewhere", QDRANT, "2026-11-23T02:00:00Z", true),
    ];
    let plan = select(
        &homelab(),
        &crate::Policy::default(),
        &snapshots,
        None,
        None,
    );
    assert_eq!(plan.rule, VolumeRule::NotHealthy);
    assert_eq!(plan.longhorn_namespace.as_deref(), Some("longhorn-system"));
    assert!(!plan.backups_listed);
    assert_eq!(plan.volumes.len(), 1);
    let media = &plan.volumes[0];
    assert_eq!(media.name, MEDIA);
    assert_eq!(media.pvc.as_deref(), Some("apps/media"));
    assert_eq!(media.pv.as_deref(), Some(MEDIA));
    assert_eq!(media.node.as_deref(), Some("miniserver"));
    let names: Vec<&str> = media.snapshots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["newest-not-ready", "newer", "old"]);
    assert_eq!(media.revert_to.as_deref(), Some("newer"));
    assert_eq!(media.workloads.len(), 1);
    assert_eq!(media.workloads[0].object.name, "jellyfin");
    let commands = commands(media);
    assert_eq!(
        commands[0],
        "kubectl -n apps scale deploy/jellyfin --replicas=0"
    );
    assert!(
        commands.contains(&"kubectl -n longhorn-system port-forward svc/longhorn-frontend 8080:80")
    );
    assert!(commands.contains(&format!(
        "curl -X POST 'http://localhost:8080/v1/volumes/{MEDIA}?action=snapshotRevert' -H 'Content-Type: application/json' -d '{{\"name\":\"newer\"}}'"
    ).as_str()));
    assert!(commands.iter().any(|c| c.contains("action=attach")
        && c.contains(r#""disableFrontend":true"#)
        && c.contains("miniserver")));
    assert_eq!(
        commands.last(),
        Some(&"kubectl -n apps scale deploy/jellyfin --replicas=1")
    );
}

#[test]
fn alerts_choose_the_named_volume_and_a_stateful_set_scales_as_sts() {
    let alerts = vec![QDRANT.to_owned()];
    let plan = select(
        &homelab(),
        &crate::Policy::default(),
        &[],
        Some(&[]),
        Some(&alerts),
    );
    assert_eq!(plan.rule, VolumeRule::NamedInAlerts);
    assert!(plan.backups_listed);
    let qdrant = &plan.volumes[0];
    assert_eq!(qdrant.name, QDRANT);
    assert_eq!(qdrant.workloads[0].object.kind, "StatefulSet");
    assert_eq!(
        commands(qdrant)[0],
        "kubectl -n apps scale sts/qdrant --replicas=0"
    );
    assert_eq!(qdrant.revert_to, None);
    assert!(
        qdrant.notes[0].contains("no Longhorn snapshot"),
        "{:?}",
        qdrant.notes
    );
}

#[test]
fn with_every_volume_healthy_all_are_listed() {
    let mut snapshot = homelab();
    for volume in &mut snapshot.longhorn.as_mut().expect("longhorn").volumes {
        volume.status.robustness = Some("healthy".into());
    }
    let plan = select(&snapshot, &crate::Policy::default(), &[], None, None);
    assert_eq!(plan.rule, VolumeRule::All);
    assert_eq!(plan.volumes.len(), 5);
}

#[test]
fn backups_of_the_volume_are_listed_newest_first() {
    let backups = vec![
        json!({"metadata": {"name": "b1"}, "spec": {"snapshotName": "old"},
               "status": {"volumeName": MEDIA, "state": "Completed", "backupCreatedAt": "2026-11-20T02:00:00Z"}}),
        json!({"metadata": {"name": "b2"}, "spec": {"snapshotName": "newer"},
               "status": {"volumeName": MEDIA, "state": "Completed", "backupCreatedAt": "2026-11-22T02:00:00Z"}}),
        json!({"metadata": {"name": "b3"}, "status": {"volumeName": QDRANT}}),
    ];
    let plan = select(
        &homelab(),
        &crate::Policy::default(),
        &[],
        Some(&backups),
        None,
    );
    let names: Vec<&str> = plan.volumes[0]
        .backups
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(names, vec!["b2", "b1"]);
}

#[test]
fn a_detached_volume_is_attached_for_the_revert_on_the_primary() {
    let mut snapshot = homelab();
    for volume in &mut snapshot.longhorn.as_mut().expect("longhorn").volumes {
        volume.status.current_node_id = None;
        volume.spec.node_id = None;
        volume.status.state = Some("detached".into());
    }
    let plan = select(&snapshot, &crate::Policy::default(), &[], None, None);
    let media = &plan.volumes[0];
    assert_eq!(media.node.as_deref(), Some("miniserver"));
    assert!(
        media
            .notes
            .iter()
            .any(|n| n.contains("attach it on the primary, miniserver")),
        "{:?}",
        media.notes
    );
}

//! The shared homelab scenario loads into a complete snapshot.

use posture_core::load_snapshot_str;

const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");

#[test]
fn homelab_scenario_loads_every_kind() {
    let snap = load_snapshot_str("homelab.yaml", HOMELAB).expect("scenario loads");
    assert_eq!(snap.nodes.len(), 2);
    assert_eq!(snap.deployments.len(), 6);
    assert_eq!(snap.daemon_sets.len(), 4);
    assert_eq!(snap.stateful_sets.len(), 1);
    assert_eq!(snap.leases.len(), 2);
    let lh = snap.longhorn.as_ref().expect("longhorn objects present");
    assert_eq!(lh.volumes.len(), 5);
    assert_eq!(lh.settings.len(), 6);
    assert_eq!(lh.nodes.len(), 2);
    assert!(lh.replicas.len() >= 9);
    assert_eq!(lh.engines.len(), 5);
    assert_eq!(
        snap.observed_at().map(|t| t.to_string()).as_deref(),
        Some("2026-11-23T12:00:00Z")
    );
}

#[test]
fn repository_copy_matches_the_shared_scenario_when_present() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scenario/homelab.yaml"
    );
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(
            text, HOMELAB,
            "scenarios/homelab.yaml drifted from ../shared/scenario/homelab.yaml"
        );
    }
}

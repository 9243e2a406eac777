//! Odd data never panics: objects with every optional field missing, empty lists, no nodes.

use crate::checks::testkit::run;
use crate::longhorn::{LonghornEngine, LonghornNode, Replica, Setting, Volume};
use crate::report::CheckStatus;
use crate::snapshot::{Longhorn, Snapshot};

#[test]
fn an_empty_snapshot_is_judged_without_panicking() {
    let r = run(&Snapshot::default());
    assert!(!r.checks.is_empty());
    assert!(
        r.checks
            .iter()
            .all(|c| c.status != CheckStatus::Fail || c.id == "preconditions.topology")
    );
}

#[test]
fn objects_with_nothing_but_defaults_are_judged_without_panicking() {
    let snap = Snapshot {
        nodes: vec![Default::default(), Default::default()],
        pods: vec![Default::default()],
        deployments: vec![Default::default()],
        daemon_sets: vec![Default::default()],
        stateful_sets: vec![Default::default()],
        replica_sets: vec![Default::default()],
        pod_disruption_budgets: vec![Default::default()],
        services: vec![Default::default()],
        endpoint_slices: vec![Default::default()],
        leases: vec![Default::default()],
        storage_classes: vec![Default::default()],
        persistent_volumes: vec![Default::default()],
        config_maps: vec![Default::default()],
        longhorn: Some(Longhorn {
            settings: vec![Setting::default()],
            volumes: vec![Volume::default()],
            replicas: vec![Replica::default()],
            engines: vec![LonghornEngine::default()],
            nodes: vec![LonghornNode::default()],
        }),
        ..Snapshot::default()
    };
    let r = run(&snap);
    assert!(!r.checks.is_empty());
}

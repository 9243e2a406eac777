//! The stability gate (`until_stable`) and the approved actions, against a served twin.

mod watch_support;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use posture_core::detect::{DetectorKind, StabilityVerdict};
use posture_twin::fault::Fault;

use watch_support::*;

// The twin serves from the same runtime: on one thread its lease renewals wait behind the
// watch's work, which a busy machine stretches into a renew gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_stable_passes_on_a_quiet_twin() {
    let (twin, client, _dir) = fast_twin().await;
    let verdict = gate(&client, 2 * MINUTE).await;
    match verdict {
        StabilityVerdict::Stable { since, at } => {
            assert_eq!(at.duration_since(since), 2 * MINUTE);
            assert!(at <= twin.now());
        }
        other => panic!("expected stable, got {other:?}"),
    }
}

#[tokio::test]
async fn until_stable_fails_when_an_alert_fires_first() {
    let (twin, client, _dir) = fast_twin().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "apps");
    let pod = pods
        .list(&ListParams::default().labels("app=gitea"))
        .await
        .expect("pods listed")
        .items
        .first()
        .and_then(|p| p.metadata.name.clone())
        .expect("a gitea pod");
    twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod,
    });
    let verdict = gate(&client, 30 * MINUTE).await;
    assert!(
        matches!(&verdict, StabilityVerdict::Alerted(alert)
            if matches!(alert.detector(), DetectorKind::RestartLoop | DetectorKind::CrashLoop)),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn stopping_rebuilds_is_dry_run_first_then_journaled_with_its_inverse() {
    use posture_core::apply::journal::{Operation, Record};
    use posture_kube::watch::act::{Act, act};

    let h = Harness::start().await;
    let resource = kube::api::ApiResource {
        group: "longhorn.io".into(),
        version: "v1beta2".into(),
        api_version: "longhorn.io/v1beta2".into(),
        kind: "Setting".into(),
        plural: "settings".into(),
    };
    let settings: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), "longhorn-system", &resource);
    let name = "concurrent-replica-rebuild-per-node-limit";
    let value = |o: &kube::api::DynamicObject| o.data["value"].clone();
    let before = value(&settings.get(name).await.expect("setting"));
    let cluster = posture_kube::ClusterEndpoint {
        server: h.twin.url(),
        context: "twin".into(),
    };

    let dry = act(&h.client, &cluster, &Act::StopRebuilds, None)
        .await
        .expect("dry run");
    assert!(!dry.applied && dry.forward.is_some());
    assert_eq!(value(&settings.get(name).await.expect("setting")), before);

    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("act.journal");
    let done = act(&h.client, &cluster, &Act::StopRebuilds, Some(&journal))
        .await
        .expect("applied");
    assert!(done.applied);
    assert_eq!(value(&settings.get(name).await.expect("setting")), "0");

    let parsed = posture_kube::journal::read_journal(&journal).expect("journal reads");
    let inverse = parsed
        .records
        .iter()
        .find_map(|r| match r {
            Record::Applied {
                inverse: Operation::Patch { patch },
                ..
            } => Some(patch.clone()),
            _ => None,
        })
        .expect("an applied record with its inverse");
    let wire: kube::api::Patch<()> = kube::api::Patch::Json(
        serde_json::from_value(serde_json::to_value(&inverse).expect("json")).expect("patch"),
    );
    settings
        .patch(name, &kube::api::PatchParams::default(), &wire)
        .await
        .expect("the inverse applies");
    assert_eq!(value(&settings.get(name).await.expect("setting")), before);
}

#[tokio::test]
async fn recordoning_the_secondary_finds_it_from_the_topology_and_journals_the_uncordon() {
    use posture_core::apply::journal::{Operation, Record};
    use posture_kube::watch::act::{Act, act, secondary_node};

    let h = Harness::start().await;
    let cluster = posture_kube::ClusterEndpoint {
        server: h.twin.url(),
        context: "twin".into(),
    };
    let node = secondary_node(&h.client, &cluster, &posture_core::Policy::default())
        .await
        .expect("a secondary");
    assert_eq!(node, "worker-1");
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(h.client.clone());
    // The scenario's secondary starts cordoned: nothing to do until someone uncordons it.
    let unchanged = act(
        &h.client,
        &cluster,
        &Act::Cordon { node: node.clone() },
        None,
    )
    .await
    .expect("dry run");
    assert!(unchanged.forward.is_none());
    nodes
        .patch(
            &node,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"unschedulable": false}})),
        )
        .await
        .expect("uncordoned");
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("act.journal");
    let done = act(
        &h.client,
        &cluster,
        &Act::Cordon { node: node.clone() },
        Some(&journal),
    )
    .await
    .expect("applied");
    assert!(done.applied);
    let cordoned = nodes.get(&node).await.expect("node");
    assert_eq!(cordoned.spec.and_then(|s| s.unschedulable), Some(true));
    let parsed = posture_kube::journal::read_journal(&journal).expect("journal reads");
    assert!(parsed.records.iter().any(|r| matches!(r,
        Record::Applied { inverse: Operation::Patch { .. }, object, .. } if object.name == node)));
}

#[tokio::test]
async fn unpinned_workloads_with_storage_are_pinned_to_the_primary() {
    use posture_kube::watch::act::{Act, act, primary_node, unpinned_workloads};

    let h = Harness::start().await;
    let cluster = posture_kube::ClusterEndpoint {
        server: h.twin.url(),
        context: "twin".into(),
    };
    let primary = primary_node(&h.client, &cluster, &posture_core::Policy::default())
        .await
        .expect("a primary");
    let workloads = unpinned_workloads(&h.client).await.expect("listed");
    let names: Vec<&str> = workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        ["qdrant"],
        "the scenario's one workload without guardrails"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("act.journal");
    for workload in workloads {
        let done = act(
            &h.client,
            &cluster,
            &Act::Pin {
                workload,
                node: primary.clone(),
            },
            Some(&journal),
        )
        .await
        .expect("applied");
        assert!(done.applied);
    }
    assert!(
        unpinned_workloads(&h.client)
            .await
            .expect("listed")
            .is_empty()
    );
}

//! Each fault the twin can inject raises the right alert through `posture_kube::watch`, and
//! the alert clears once the fault stops.

mod watch_support;

use jiff::SignedDuration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use posture_core::detect::DetectorKind;
use posture_twin::fault::Fault;

use watch_support::*;

/// The crash loop was raised once, neither lost nor doubled by the interrupted watches, and
/// clears once the fault stops.
async fn one_restart_loop_that_clears(h: &mut Harness) {
    assert_eq!(
        raised(&h.alerts, DetectorKind::RestartLoop),
        1,
        "{:#?}",
        h.alerts
    );
    h.clear_faults_until_cleared(30 * MINUTE, &[DetectorKind::RestartLoop])
        .await;
    assert_eq!(raised(&h.alerts, DetectorKind::RestartLoop), 1);
}

#[tokio::test]
async fn a_steady_twin_raises_nothing_in_a_virtual_hour() {
    let mut h = Harness::start().await;
    h.run(SignedDuration::from_hours(1), SignedDuration::from_secs(10))
        .await;
    assert!(h.alerts.is_empty(), "alerts: {:#?}", h.alerts);
    assert!(
        h.detectors
            .is_stable_for(SignedDuration::from_mins(59), h.twin.now())
    );
}

#[tokio::test]
async fn a_crash_loop_raises_a_restart_loop_that_clears_after_the_fault() {
    let mut h = Harness::start().await;
    let pod = h.pod("apps", "app=gitea").await;
    h.twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod: pod.clone(),
    });
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::RestartLoop) > 0)
        .await;
    assert!(
        h.active().iter().any(|id| id.contains(&pod)),
        "{:?}",
        h.active()
    );
    h.clear_faults_until_cleared(
        30 * MINUTE,
        &[DetectorKind::RestartLoop, DetectorKind::CrashLoop],
    )
    .await;
}

#[tokio::test]
async fn flapping_readiness_raises_endpoint_churn_that_clears() {
    let mut h = Harness::start().await;
    let pod = h.pod("kube-system", "k8s-app=kube-dns").await;
    h.twin.inject(&Fault::FlapReadiness {
        namespace: "kube-system".into(),
        pod,
        period_seconds: 20,
    });
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::EndpointChurn) > 0)
        .await;
    assert!(
        h.active()
            .contains(&"endpoint-churn/kube-system/kube-dns".to_owned()),
        "{:?}",
        h.active()
    );
    h.clear_faults_until_cleared(30 * MINUTE, &[DetectorKind::EndpointChurn])
        .await;
    assert!(h.active().is_empty(), "{:?}", h.active());
}

#[tokio::test]
async fn lease_thrash_raises_and_clears() {
    let mut h = Harness::start().await;
    h.twin.inject(&Fault::LeaseThrash {
        namespace: "kube-system".into(),
        name: "kube-scheduler".into(),
        period_seconds: 30,
    });
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::LeaseThrash) > 0)
        .await;
    assert!(
        h.active()
            .contains(&"lease-thrash/kube-system/kube-scheduler".to_owned()),
        "{:?}",
        h.active()
    );
    h.clear_faults_until_cleared(30 * MINUTE, &[DetectorKind::LeaseThrash])
        .await;
}

#[tokio::test]
async fn a_restarted_api_server_loses_and_doubles_no_alert() {
    let mut h = Harness::start().await;
    let pod = h.pod("apps", "app=gitea").await;
    h.twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod,
    });
    h.run(2 * MINUTE, SignedDuration::from_secs(5)).await;
    h.twin.inject(&Fault::RestartApi);
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::RestartLoop) > 0)
        .await;
    h.twin.inject(&Fault::RestartApi);
    h.run(2 * MINUTE, SignedDuration::from_secs(5)).await;
    one_restart_loop_that_clears(&mut h).await;
}

#[tokio::test]
async fn a_stopped_node_drops_endpoints_and_all_clears_once_it_starts() {
    let mut h = Harness::start().await;
    // The node the ingress controller is pinned to.
    let node = "miniserver";
    h.twin.inject(&Fault::StopNode { node: node.into() });
    h.run_until(15 * MINUTE, |a| {
        raised(a, DetectorKind::NoReadyEndpoints) > 0
    })
    .await;
    assert!(
        h.active().contains(
            &"no-ready-endpoints/haproxy-controller/haproxy-kubernetes-ingress".to_owned()
        ),
        "{:?}",
        h.active()
    );
    h.twin.inject(&Fault::StartNode { node: node.into() });
    h.run_until_quiet(60 * MINUTE).await;
    assert_eq!(
        h.alerts.iter().filter(|a| a.is_raised()).count(),
        h.alerts.iter().filter(|a| !a.is_raised()).count(),
        "every raised alert cleared: {:#?}",
        h.alerts
    );
}

#[tokio::test]
async fn failing_rebuilds_after_a_replica_increase_raise_a_rebuild_storm_that_clears() {
    let mut h = Harness::start().await;
    let resource = kube::api::ApiResource {
        group: "longhorn.io".into(),
        version: "v1beta2".into(),
        api_version: "longhorn.io/v1beta2".into(),
        kind: "Volume".into(),
        plural: "volumes".into(),
    };
    let volumes: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), "longhorn-system", &resource);
    let list = volumes.list(&ListParams::default()).await.expect("volumes");
    let volume = list
        .items
        .iter()
        .find(|v| v.data["spec"]["numberOfReplicas"] == 1)
        .and_then(|v| v.metadata.name.clone())
        .expect("a single-replica volume");
    h.twin.inject(&Fault::FailRebuilds { volume: None });
    volumes
        .patch(
            &volume,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"numberOfReplicas": 2}})),
        )
        .await
        .expect("replicas raised");
    h.run_until(30 * MINUTE, |a| {
        raised(a, DetectorKind::RebuildRepeated) > 0
    })
    .await;
    assert!(
        h.active().contains(&format!("rebuild-repeated/{volume}")),
        "{:?}",
        h.active()
    );
    h.clear_faults_until_cleared(2 * 60 * MINUTE, &[DetectorKind::RebuildRepeated])
        .await;
}

#[tokio::test]
async fn a_watch_resumed_past_the_history_relists_without_losing_or_doubling_alerts() {
    let mut h = Harness::start().await;
    let pod = h.pod("apps", "app=gitea").await;
    h.twin.inject(&Fault::CrashLoop {
        namespace: "apps".into(),
        pod,
    });
    h.run_until(10 * MINUTE, |a| raised(a, DetectorKind::RestartLoop) > 0)
        .await;
    // The API server restarts and, while the watches are down, the cluster moves on and its
    // change history is compacted: resuming is 410 Gone, so every watcher lists again.
    h.twin.inject(&Fault::RestartApi);
    h.twin.advance(SignedDuration::from_secs(30));
    h.twin.with_twin(|twin| twin.store.compact());
    h.run(2 * MINUTE, SignedDuration::from_secs(5)).await;
    h.wait_for_note("relisted Pod").await;
    assert!(
        h.notes.iter().any(|n| n.starts_with("relisted Pod")),
        "{:?}",
        h.notes
    );
    one_restart_loop_that_clears(&mut h).await;
}

#[tokio::test]
async fn a_rollout_of_many_replicas_is_no_eviction_loop_nor_churn_but_deleting_them_is() {
    let mut h = Harness::start().await;
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), "apps");
    let web: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "replicas": 6,
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "example/web:1"}]}},
        },
    }))
    .expect("a Deployment");
    deployments
        .create(&PostParams::default(), &web)
        .await
        .expect("created");
    let service: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }))
    .expect("a Service");
    Api::<Service>::namespaced(h.client.clone(), "apps")
        .create(&PostParams::default(), &service)
        .await
        .expect("created");
    h.run(2 * MINUTE, SignedDuration::from_secs(5)).await;
    // A new image replaces all six pods one at a time: six deletions, all of them a rollout's,
    // and the ready count moving twelve times.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "example/web:2"}]}}}}),
            ),
        )
        .await
        .expect("patched");
    h.run(5 * MINUTE, SignedDuration::from_secs(5)).await;
    assert_eq!(
        raised(&h.alerts, DetectorKind::EvictionLoop),
        0,
        "{:#?}",
        h.alerts
    );
    // Its endpoints came and went, none flipped: no churn either.
    assert_eq!(
        raised(&h.alerts, DetectorKind::EndpointChurn),
        0,
        "{:#?}",
        h.alerts
    );
    // Deleting the same revision's pods over and over is the loop the detector is for.
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "apps");
    pods.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=web"),
    )
    .await
    .expect("deleted");
    h.run(MINUTE, SignedDuration::from_secs(5)).await;
    assert_eq!(
        raised(&h.alerts, DetectorKind::EvictionLoop),
        1,
        "{:#?}",
        h.alerts
    );
}

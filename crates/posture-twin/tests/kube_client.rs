//! kube-rs against a served twin: typed calls, eviction, conflicts, dry runs, status
//! subresources, finalizers and collections.

mod common;

use jiff::SignedDuration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use common::{api_status, config_map, value_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_get_list_and_patch() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let listed = nodes.list(&ListParams::default()).await.expect("list");
    assert_eq!(listed.items.len(), 2);
    let worker = nodes.get("worker-1").await.expect("get");
    assert_eq!(worker.spec.and_then(|s| s.unschedulable), Some(true));
    let control_plane = nodes
        .list(&ListParams::default().labels("node-role.kubernetes.io/control-plane"))
        .await
        .expect("list by label");
    assert_eq!(control_plane.items.len(), 1);

    let deployments: Api<Deployment> = Api::all(client.clone());
    let first = deployments
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .remove(0);
    let namespace = first.metadata.namespace.clone().expect("namespaced");
    let name = first.metadata.name.clone().expect("named");
    let scoped: Api<Deployment> = Api::namespaced(client, &namespace);
    let patched = scoped
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"checked": "yes"}}})),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched
            .metadata
            .annotations
            .and_then(|a| a.get("checked").cloned()),
        Some("yes".to_owned())
    );
    let missing = scoped.get("does-not-exist").await.expect_err("not found");
    assert_eq!(api_status(missing), (404, "NotFound".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_is_refused_while_the_budget_allows_no_disruption() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "apps");
    for (name, app) in [("guarded", "guarded"), ("free", "free")] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }))
        .expect("valid pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("pod created");
    }
    // The simulated kubelet starts the pods; the disruption controller computes budgets.
    served.twin.advance(SignedDuration::from_secs(10));
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client, "apps");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "guard"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
    }))
    .expect("valid pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb created");
    let computed = pdbs.get_status("guard").await.expect("pdb read");
    let status = computed.status.expect("status computed");
    assert_eq!((status.current_healthy, status.disruptions_allowed), (1, 0));

    let refused = pods
        .evict("guarded", &EvictParams::default())
        .await
        .expect_err("the budget forbids it");
    assert_eq!(api_status(refused), (429, "TooManyRequests".to_owned()));
    assert!(pods.get("guarded").await.is_ok());

    pdbs.patch(
        "guard",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 0}})),
    )
    .await
    .expect("budget relaxed");
    // The controller reacts to the write; the status it computed is read back.
    let allowing = pdbs.get_status("guard").await.expect("pdb read");
    assert_eq!(
        allowing.status.as_ref().map(|s| s.disruptions_allowed),
        Some(1),
        "the relaxed budget allows one disruption"
    );
    let allowed_at: u64 = allowing
        .metadata
        .resource_version
        .expect("versioned")
        .parse()
        .expect("numeric");
    pods.evict("guarded", &EvictParams::default())
        .await
        .expect("the budget allows one disruption");
    let spent = served.twin.with_twin(|twin| {
        twin.store.history().any(|change| {
            change.key.plural == "poddisruptionbudgets"
                && change.object["status"]["disruptionsAllowed"] == 0
                && change.object["metadata"]["name"] == "guard"
                && change.resource_version > allowed_at
        })
    });
    assert!(spent, "the eviction spent the budget's disruption");
    assert_eq!(
        api_status(pods.get("guarded").await.expect_err("evicted")).0,
        404
    );

    pods.evict("free", &EvictParams::default())
        .await
        .expect("no budget covers it");
    let gone = pods.get("free").await.expect_err("evicted");
    assert_eq!(api_status(gone).0, 404);
}

/// As the API server's eviction does: a pod that is Pending has nothing to disrupt, so its
/// budget is not asked, while its running sibling is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_pod_is_evicted_whatever_its_budget_says() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "apps");
    for (name, node) in [("running", "miniserver"), ("stuck", "no-such-node")] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "pair"}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                     "containers": [{"name": "c", "image": "busybox"}]},
        }))
        .expect("valid pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("pod created");
    }
    served.twin.advance(SignedDuration::from_secs(10));
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client, "apps");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "pair"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "pair"}}},
    }))
    .expect("valid pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb created");
    let status = pdbs
        .get_status("pair")
        .await
        .expect("read")
        .status
        .expect("computed");
    assert_eq!((status.current_healthy, status.disruptions_allowed), (1, 0));
    let stuck = pods.get("stuck").await.expect("read");
    assert_eq!(
        stuck.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );

    let refused = pods
        .evict("running", &EvictParams::default())
        .await
        .expect_err("the budget forbids it");
    assert_eq!(api_status(refused), (429, "TooManyRequests".to_owned()));
    pods.evict("stuck", &EvictParams::default())
        .await
        .expect("a Pending pod goes whatever the budget says");
    assert_eq!(
        api_status(pods.get("stuck").await.expect_err("evicted")).0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_lists_and_gets_answer_partial_object_metadata() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let deployments: Api<Deployment> = Api::all(client.clone());
    let full = deployments
        .list(&ListParams::default())
        .await
        .expect("list");
    let meta = deployments
        .list_metadata(&ListParams::default())
        .await
        .expect("a metadata-only list");
    assert_eq!(meta.items.len(), full.items.len());
    assert!(meta.items.iter().all(|m| m.metadata.name.is_some()));
    let gitea = Api::<Deployment>::namespaced(client.clone(), "apps")
        .get_metadata("gitea")
        .await
        .expect("a metadata-only get");
    assert_eq!(gitea.metadata.name.as_deref(), Some("gitea"));
    assert_eq!(
        gitea.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_update_conflicts() {
    let served = common::serve_homelab().await;
    let api: Api<ConfigMap> = Api::namespaced(served.client().await, "apps");
    let created = api
        .create(&PostParams::default(), &config_map("probe", "1"))
        .await
        .expect("created");
    let mut first = created.clone();
    first.data = Some([("value".to_owned(), "2".to_owned())].into());
    api.replace("probe", &PostParams::default(), &first)
        .await
        .expect("first writer wins");
    let mut stale = created;
    stale.data = Some([("value".to_owned(), "3".to_owned())].into());
    let conflict = api
        .replace("probe", &PostParams::default(), &stale)
        .await
        .expect_err("stale resourceVersion");
    assert_eq!(api_status(conflict), (409, "Conflict".to_owned()));
    let current = api.get("probe").await.expect("get");
    assert_eq!(value_of(&current), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_leave_the_store_unchanged() {
    let served = common::serve_homelab().await;
    let api: Api<ConfigMap> = Api::namespaced(served.client().await, "apps");
    api.create(&PostParams::default(), &config_map("kept", "1"))
        .await
        .expect("created");
    let rv = served.twin.with_twin(|twin| twin.store.resource_version());
    let dry_post = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let would_be = api
        .create(&dry_post, &config_map("phantom", "1"))
        .await
        .expect("dry-run create");
    assert_eq!(would_be.metadata.name.as_deref(), Some("phantom"));
    let patched = api
        .patch(
            "kept",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"data": {"value": "9"}})),
        )
        .await
        .expect("dry-run patch");
    assert_eq!(value_of(&patched), Some("9"));
    api.delete("kept", &DeleteParams::default().dry_run())
        .await
        .expect("dry-run delete");

    assert_eq!(
        served.twin.with_twin(|twin| twin.store.resource_version()),
        rv
    );
    assert_eq!(value_of(&api.get("kept").await.expect("kept")), Some("1"));
    assert_eq!(
        api_status(api.get("phantom").await.expect_err("absent")).0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_main_resource_each_change_only_their_part() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let all: Api<Deployment> = Api::all(client.clone());
    let first = all
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .remove(0);
    let namespace = first.metadata.namespace.clone().expect("namespaced");
    let name = first.metadata.name.clone().expect("named");
    let api: Api<Deployment> = Api::namespaced(client, &namespace);
    let replicas = first.spec.as_ref().and_then(|s| s.replicas);

    let main = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 42}})),
        )
        .await
        .expect("main resource patch");
    assert_ne!(main.status.and_then(|s| s.observed_generation), Some(42));

    let status = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"observedGeneration": 42}})),
        )
        .await
        .expect("status patch");
    assert_eq!(status.status.and_then(|s| s.observed_generation), Some(42));
    assert_eq!(status.spec.and_then(|s| s.replicas), replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_a_delete_until_they_are_removed() {
    let served = common::serve_homelab().await;
    let api: Api<ConfigMap> = Api::namespaced(served.client().await, "apps");
    let mut held = config_map("held", "1");
    held.metadata.finalizers = Some(vec!["example.com/keep".to_owned()]);
    api.create(&PostParams::default(), &held)
        .await
        .expect("created");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("deletion requested");
    let deleting = api.get("held").await.expect("still there");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizer removed");
    assert_eq!(api_status(api.get("held").await.expect_err("gone")).0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_collection_removes_only_selected_objects() {
    let served = common::serve_homelab().await;
    let api: Api<ConfigMap> = Api::namespaced(served.client().await, "apps");
    for (name, tier) in [("one", "a"), ("two", "a"), ("three", "b")] {
        let mut cm = config_map(name, "1");
        cm.metadata.labels = Some([("tier".to_owned(), tier.to_owned())].into());
        api.create(&PostParams::default(), &cm)
            .await
            .expect("created");
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=a"),
    )
    .await
    .expect("collection deleted");
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    assert!(left.contains(&"three".to_owned()), "{left:?}");
    assert!(!left.contains(&"one".to_owned()) && !left.contains(&"two".to_owned()));
}

//! kube-rs against a served twin: typed calls, watches across restarts and compaction,
//! eviction, conflicts, dry runs and injected API errors.

mod common;

use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::watcher;
use posture_twin::fault::Fault;
use posture_twin::resources;
use posture_twin::store::ObjectKey;
use serde_json::json;

/// Failure guard for awaited events; never a synchronisation delay.
const GUARD: Duration = Duration::from_secs(20);

fn api_status(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "apps"},
        "data": {"value": value},
    }))
    .expect("valid config map")
}

fn value_of(cm: &ConfigMap) -> Option<&str> {
    cm.data
        .as_ref()
        .and_then(|d| d.get("value"))
        .map(String::as_str)
}

/// Waits for a watcher event carrying `value`, noting whether a re-list happened first.
async fn await_value(
    stream: &mut (impl Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin),
    value: &str,
) -> bool {
    let mut relisted = false;
    tokio::time::timeout(GUARD, async {
        loop {
            match stream.next().await {
                Some(Ok(watcher::Event::Init)) => relisted = true,
                Some(Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)))
                    if value_of(&cm) == Some(value) =>
                {
                    return;
                }
                Some(_) => {}
                None => panic!("the watcher ended"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event with value {value}"));
    relisted
}

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
async fn watcher_survives_an_api_restart_without_losing_changes() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "apps");
    api.create(&PostParams::default(), &config_map("probe", "1"))
        .await
        .expect("created");
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    await_value(&mut stream, "1").await;

    api.patch(
        "probe",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"value": "2"}})),
    )
    .await
    .expect("patched");
    await_value(&mut stream, "2").await;

    served.twin.inject(&Fault::RestartApi);
    let key = ObjectKey::new(
        resources::by_plural("", "configmaps").expect("registered"),
        "apps",
        "probe",
    );
    served.twin.with_twin(|twin| {
        twin.store
            .modify(&key, |cm| cm["data"]["value"] = json!("3"))
    });
    let relisted = await_value(&mut stream, "3").await;
    assert!(!relisted, "the watch resumed from history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_version_is_gone_and_the_watcher_relists() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "apps");
    api.create(&PostParams::default(), &config_map("probe", "1"))
        .await
        .expect("created");
    served.twin.with_twin(|twin| twin.store.compact());
    let raw = api
        .watch(&WatchParams::default(), "1")
        .await
        .expect("watch opens");
    let mut raw = Box::pin(raw);
    let first = tokio::time::timeout(GUARD, raw.next())
        .await
        .expect("an event arrives")
        .expect("the stream has an event")
        .expect("the event decodes");
    match first {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }

    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    await_value(&mut stream, "1").await;
    served.twin.inject(&Fault::RestartApi);
    let key = ObjectKey::new(
        resources::by_plural("", "configmaps").expect("registered"),
        "apps",
        "probe",
    );
    served.twin.with_twin(|twin| {
        twin.store
            .modify(&key, |cm| cm["data"]["value"] = json!("2"));
        twin.store.compact();
    });
    let relisted = await_value(&mut stream, "2").await;
    assert!(relisted, "a 410 makes the watcher list again");
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
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client, "apps");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "guard"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
    }))
    .expect("valid pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb created");
    pdbs.patch_status(
        "guard",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1,
            "expectedPods": 1, "observedGeneration": 1,
        }})),
    )
    .await
    .expect("status patched");

    let refused = pods
        .evict("guarded", &EvictParams::default())
        .await
        .expect_err("the budget forbids it");
    assert_eq!(api_status(refused), (429, "TooManyRequests".to_owned()));
    assert!(pods.get("guarded").await.is_ok());

    let allowing = pdbs
        .patch_status(
            "guard",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"disruptionsAllowed": 1}})),
        )
        .await
        .expect("status patched");
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
async fn injected_api_errors_hit_the_requested_share() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    served.twin.inject(&Fault::ApiErrors {
        rate: 0.25,
        status: 500,
    });
    let mut failures = 0;
    for _ in 0..40 {
        if let Err(error) = nodes.get("worker-1").await {
            assert_eq!(api_status(error), (500, "InternalError".to_owned()));
            failures += 1;
        }
        client
            .apiserver_version()
            .await
            .expect("discovery is never faulted");
    }
    assert_eq!(failures, 10);
    served.twin.inject(&Fault::ClearAll);
    for _ in 0..8 {
        nodes.get("worker-1").await.expect("faults cleared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoint_advances_virtual_time_reported_in_date_headers() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let request = http::Request::post("/twin/v1/advance")
        .header("content-type", "application/json")
        .body(br#"{"seconds": 90}"#.to_vec())
        .expect("request");
    let answer: serde_json::Value = client.request(request).await.expect("advanced");
    assert_eq!(answer["now"], "2026-11-23T12:01:30Z");
    assert_eq!(
        served.twin.now(),
        common::start_time() + jiff::SignedDuration::from_secs(90)
    );
    let response = client
        .send(
            http::Request::get("/readyz")
                .body(kube::client::Body::empty())
                .expect("request"),
        )
        .await
        .expect("readyz");
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
        .expect("a Date header");
    assert_eq!(date, "Mon, 23 Nov 2026 12:01:30 GMT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_timeouts_hold_requests_until_cleared() {
    let served = common::serve_homelab().await;
    let nodes: Api<Node> = Api::all(served.client().await);
    served.twin.inject(&Fault::ApiTimeouts { rate: 1.0 });
    let held = tokio::spawn({
        let nodes = nodes.clone();
        async move { nodes.get("worker-1").await }
    });
    tokio::time::timeout(GUARD, async {
        while served.twin.held_requests() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the request is held");
    assert!(!held.is_finished());
    served.twin.inject(&Fault::ClearAll);
    let answer = tokio::time::timeout(GUARD, held)
        .await
        .expect("released when cleared")
        .expect("task");
    assert_eq!(api_status(answer.expect_err("timed out")).0, 504);
    assert_eq!(served.twin.held_requests(), 0);
    nodes.get("worker-1").await.expect("answered again");
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
async fn a_selected_watch_sees_objects_leave_its_selection() {
    let served = common::serve_homelab().await;
    let api: Api<ConfigMap> = Api::namespaced(served.client().await, "apps");
    let mut stream = watcher(api.clone(), watcher::Config::default().labels("tier=a")).boxed();
    let mut labelled = config_map("probe", "1");
    labelled.metadata.labels = Some([("tier".to_owned(), "a".to_owned())].into());
    api.create(&PostParams::default(), &labelled)
        .await
        .expect("created");
    await_value(&mut stream, "1").await;
    api.patch(
        "probe",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "b"}}})),
    )
    .await
    .expect("relabelled");
    let deleted = tokio::time::timeout(GUARD, async {
        loop {
            match stream.next().await {
                Some(Ok(watcher::Event::Delete(cm))) => return cm,
                Some(_) => {}
                None => panic!("the watcher ended"),
            }
        }
    })
    .await
    .expect("a delete event");
    assert_eq!(deleted.metadata.name.as_deref(), Some("probe"));
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

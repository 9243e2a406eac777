//! kube-rs watches against a served twin: restarts, compaction and selections.

mod common;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use posture_twin::fault::Fault;
use posture_twin::resources;
use posture_twin::store::ObjectKey;
use serde_json::json;

use common::{GUARD, config_map, value_of};

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

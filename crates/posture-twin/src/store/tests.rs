//! The store's counters, history, dry runs, finalizers and scoping.

use super::*;
use crate::resources;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("valid")
}

fn deployments() -> &'static ResourceType {
    resources::by_plural("apps", "deployments").expect("registered")
}

#[test]
fn create_update_delete_bump_one_counter() {
    let mut store = Store::default();
    let rt = deployments();
    let created = store
        .create(
            rt,
            json!({"metadata": {"name": "a", "namespace": "n"}, "spec": {"replicas": 1}}),
            now(),
            false,
        )
        .expect("created");
    assert_eq!(created["metadata"]["resourceVersion"], "2");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["kind"], "Deployment");
    let key = ObjectKey::new(rt, "n", "a");
    let mut stale = created.clone();
    stale["spec"]["replicas"] = json!(2);
    store
        .update(&key, stale.clone(), false)
        .expect("first update wins");
    let err = store
        .update(&key, stale, false)
        .expect_err("stale resourceVersion");
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(
        store.get(&key).expect("exists")["metadata"]["generation"],
        2
    );
    store.delete(&key, false).expect("deleted");
    assert!(store.get(&key).is_none());
    let changes: Vec<_> = store
        .changes_since(0)
        .expect("history")
        .iter()
        .map(|c| c.change)
        .collect();
    assert_eq!(
        changes,
        vec![ChangeType::Added, ChangeType::Modified, ChangeType::Deleted]
    );
}

#[test]
fn dry_run_changes_nothing() {
    let mut store = Store::default();
    let rt = deployments();
    store
        .create(
            rt,
            json!({"metadata": {"name": "a", "namespace": "n"}}),
            now(),
            true,
        )
        .expect("ok");
    assert!(store.is_empty());
    assert_eq!(store.resource_version(), 1);
}

#[test]
fn history_is_bounded_and_old_versions_are_gone() {
    let mut store = Store::with_history_limit(2);
    let rt = deployments();
    for i in 0..4 {
        store
            .create(
                rt,
                json!({"metadata": {"name": format!("d{i}"), "namespace": "n"}}),
                now(),
                false,
            )
            .expect("ok");
    }
    assert!(matches!(
        store.changes_since(1),
        Err(StoreError::Gone { .. })
    ));
    assert_eq!(store.changes_since(3).expect("recent").len(), 2);
    store.compact();
    assert!(store.changes_since(4).is_err());
    assert!(
        store
            .changes_since(store.resource_version())
            .expect("current")
            .is_empty()
    );
}

#[test]
fn finalizers_hold_a_deletion_until_removed() {
    let mut store = Store::default();
    let rt = deployments();
    store
        .create(
            rt,
            json!({"metadata": {"name": "a", "namespace": "n", "finalizers": ["x/y"]}}),
            now(),
            false,
        )
        .expect("created");
    let key = ObjectKey::new(rt, "n", "a");
    let marked = store
        .request_deletion(&key, now(), false)
        .expect("deletion requested");
    assert_eq!(
        marked["metadata"]["deletionTimestamp"],
        "2026-11-23T12:00:00Z"
    );
    assert!(store.get(&key).is_some());
    store.modify(&key, |object| {
        object["metadata"]["finalizers"] = json!([]);
    });
    assert!(store.get(&key).is_none());
    let last = store.changes_since(0).expect("history");
    assert_eq!(last.last().map(|c| c.change), Some(ChangeType::Deleted));
}

#[test]
fn list_is_scoped_by_resource_and_namespace() {
    let mut store = Store::default();
    let rt = deployments();
    for (ns, name) in [("a", "x"), ("b", "y"), ("b", "z")] {
        store
            .create(
                rt,
                json!({"metadata": {"name": name, "namespace": ns}}),
                now(),
                false,
            )
            .expect("ok");
    }
    let pods = resources::by_plural("", "pods").expect("registered");
    store
        .create(
            pods,
            json!({"metadata": {"name": "p", "namespace": "b"}}),
            now(),
            false,
        )
        .expect("ok");
    assert_eq!(store.list(rt, None).count(), 3);
    assert_eq!(store.list(rt, Some("b")).count(), 2);
    assert_eq!(store.list(pods, None).count(), 1);
}
